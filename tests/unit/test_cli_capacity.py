"""`pluma capacity ...` and `pluma kpis` against a real workspace."""

from __future__ import annotations

import json

from click.testing import CliRunner

from pluma.cli import cli
from tests.conftest import fill_cad, make_program


def test_capacity_forecast_request_approve_and_kpis(local_ws, tmp_path):
    admin = local_ws("admin")
    make_program(admin, members={"ana": ["engineer"], "raj": ["chief_engineer"], "pam": ["program_manager"],
                                 "fin": ["finance"]})
    fill_cad(local_ws("ana").program("AMPEL360").context)
    home = str(tmp_path / "ws")
    run = CliRunner().invoke
    out = run(cli, ["--home", home, "--user", "raj", "capacity", "forecast", "AMPEL360", "--json"])
    assert out.exit_code == 0, out.output
    fc = json.loads(out.output)
    assert fc["phases"] == ["CAD"] and fc["cost"]["p10"] <= fc["cost"]["p90"] and fc["quotas"]["cores"] >= 1
    local_ws("pam").program("AMPEL360").set_capacity_threshold(0.0)
    out = run(cli, ["--home", home, "--user", "raj", "capacity", "request", "AMPEL360", "--json"])
    request = json.loads(out.output)
    assert request["status"] == "pending"
    out = run(cli, ["--home", home, "--user", "raj", "capacity", "approve", "AMPEL360", request["id"]])
    assert out.exit_code == 3 and "needs finance" in out.output
    out = run(cli, ["--home", home, "--user", "fin", "capacity", "approve", "AMPEL360", request["id"]])
    assert out.exit_code == 0, out.output
    out = run(cli, ["--home", home, "--user", "ana", "capacity", "requests", "AMPEL360", "--json"])
    assert json.loads(out.output)[0]["decided_by"] == "fin"
    out = run(cli, ["--home", home, "--user", "admin", "kpis", "--json", "--probes", "2"])
    report = json.loads(out.output)
    values = {k["name"]: k for k in report["kpis"]}
    assert values["ptr"]["value"] == 1 and values["fsl_p99"]["value"] is None
