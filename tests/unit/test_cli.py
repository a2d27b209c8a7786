"""The ``pluma`` command line against real workspaces in tmp_path (no mocks)."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from pluma.cli import cli
from tests.conftest import fill_cad, make_program, mass_breakdown


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("PLUMA_HOME", "PLUMA_USER", "JUPYTERHUB_USER", "COLUMNS"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def home(tmp_path):
    return str(tmp_path / "ws")


@pytest.fixture
def pluma_cli(home):
    """pluma_cli(*args, user="admin", json=False) -> click Result, run against ``home``."""
    runner = CliRunner()

    def run(*args: str, user: str = "admin", json: bool = False, expect: int | None = 0):
        argv = ["--home", home, "--user", user] + (["--json"] if json else []) + list(args)
        result = runner.invoke(cli, argv)
        if expect is not None:
            assert result.exit_code == expect, (argv, result.output, result.exception)
        return result

    return run


def out_json(result):
    return json.loads(result.stdout)


@pytest.fixture
def ampel(local_ws, home):
    """AMPEL360 made with the library: ana engineer, raj chief_engineer, lin quality, pam program_manager."""
    assert home.endswith("ws")  # local_ws opens tmp_path / "ws" too
    make_program(local_ws("admin"))
    return local_ws


# -- help ---------------------------------------------------------------------
def test_help_documents_exit_codes_and_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for text in ("Exit codes", "access denied", "not found", "conflict", "--storage-option", "advance", "demo"):
        assert text in result.output
    assert "exit code 0 when the gate passes, 1 when" in " ".join(
        CliRunner().invoke(cli, ["gate", "evaluate", "--help"]).output.split()).lower()


def test_demo_help():
    result = CliRunner().invoke(cli, ["demo", "--help"])
    assert result.exit_code == 0
    assert "--fresh" in result.output and "--small" in result.output and "--home" in result.output


# -- workspace and users ---------------------------------------------------------
def test_init_makes_the_invoker_admin(pluma_cli, home):
    result = pluma_cli("init", user="boss")
    assert "created" in result.output and home in result.output and "admin" in result.output
    again = out_json(pluma_cli("init", user="boss", json=True))
    assert again == {"location": home, "created": False, "user": "boss", "admin": True}
    other = out_json(pluma_cli("init", user="ana", json=True))
    assert other["admin"] is False


def test_commands_refuse_a_location_without_a_workspace(pluma_cli, tmp_path):
    result = pluma_cli("program", "list", expect=4)
    assert result.stderr.startswith("error: no PLUMA workspace") and "pluma init" in result.stderr
    assert not (tmp_path / "ws").exists()  # a mistyped --home does not become a workspace


def test_user_add_list_set(pluma_cli):
    pluma_cli("init")
    assert "added user ana" in pluma_cli("user", "add", "ana", "--display-name", "Ana Pérez").output
    pluma_cli("user", "add", "raj", "--itar-cleared")
    users = {u["name"]: u for u in out_json(pluma_cli("user", "list", json=True))}
    assert set(users) == {"admin", "ana", "raj"}
    assert users["ana"]["display_name"] == "Ana Pérez" and users["raj"]["clearance"]["itar"] is True
    assert users["admin"]["admin"] is True and users["ana"]["admin"] is False

    record = out_json(pluma_cli("user", "set", "raj", "--admin", "--no-itar-cleared", json=True))
    assert record["admin"] is True and record["clearance"]["itar"] is False
    assert "Ana Pérez" in pluma_cli("user", "list").output  # the table

    denied = pluma_cli("user", "add", "zed", user="ana", expect=3)
    assert denied.stderr.startswith("error: ana may not add users")
    assert pluma_cli("user", "set", "ana", expect=2).exit_code == 2  # nothing to change: usage error
    assert pluma_cli("user", "add", "ANA", expect=2).stderr.count("\n") == 1  # exists already, one line


# -- programs ---------------------------------------------------------------------
def test_program_create_list_show_member(pluma_cli):
    pluma_cli("init")
    result = pluma_cli("program", "create", "AMPEL360", "--priority", "research", "--classification", "EAR99",
                       "--domain", "AAA", "--domain", "ppp", "--quota", "cores=80", "--quota", "memory_gb=160.5",
                       "--member", "ana=engineer", "--member", "raj=chief_engineer,quality")
    assert "created program AMPEL360" in result.output
    listed = out_json(pluma_cli("program", "list", json=True))
    assert [p["name"] for p in listed] == ["AMPEL360"] and listed[0]["my_roles"] == ["program_manager"]
    shown = out_json(pluma_cli("program", "show", "ampel360", json=True))
    assert shown["priority"] == "research" and shown["classification"] == "EAR99"
    assert shown["domains"] == ["AAA", "PPP"] and shown["quotas"] == {"cores": 80, "memory_gb": 160.5}
    assert shown["members"] == {"ana": ["engineer"], "raj": ["chief_engineer", "quality"],
                                "admin": ["program_manager"]}
    assert shown["phase"] == "CAD" and shown["history"] == []
    assert "AMPEL360" in pluma_cli("program", "list").output and "EAR99" in pluma_cli("program", "show", "AMPEL360").output

    assert "lin on AMPEL360: viewer" in pluma_cli("program", "member", "AMPEL360", "lin", "viewer").output
    members = out_json(pluma_cli("program", "member", "AMPEL360", "lin", "--remove", json=True))["members"]
    assert "lin" not in members
    # ana sees only what she is a member of, and may not manage members
    assert [p["name"] for p in out_json(pluma_cli("program", "list", user="ana", json=True))] == ["AMPEL360"]
    pluma_cli("program", "member", "AMPEL360", "zed", "viewer", user="ana", expect=3)

    for bad in (["--quota", "cores=lots"], ["--quota", "cores"], ["--member", "ana"], ["--domain", "XYZ"],
                ["--member", "ana=engineer", "--member", "ANA=viewer"]):
        assert pluma_cli("program", "create", "B747", *bad, expect=2).exit_code == 2
    unknown_role = pluma_cli("program", "create", "B747", "--member", "ana=pilot", expect=2)
    assert "unknown role 'pilot'" in unknown_role.stderr
    dup = pluma_cli("program", "create", "ampel360", expect=2)
    assert "exists already" in dup.stderr


# -- context ------------------------------------------------------------------------
def test_context_set_converts_units_and_show_reports_provenance(pluma_cli, ampel):
    result = pluma_cli("context", "set", "AMPEL360", "span=118 ft", "cruise_mach=0.78", "dal=A",
                       "--label", "EAR99", "-m", "initial sizing", user="ana")
    assert "span = 35.9664 m [EAR99]" in result.output
    shown = out_json(pluma_cli("context", "show", "AMPEL360", user="ana", json=True))
    span = shown["params"]["span"]
    assert span["value"] == pytest.approx(35.9664) and span["unit"] == "m"
    assert span["label"] == "EAR99" and span["author"] == "ana" and span["message"] == "initial sizing"
    assert shown["params"]["cruise_mach"]["value"] == 0.78 and shown["params"]["dal"]["value"] == "A"
    assert shown["rev"] == 1 and shown["phase"] == "CAD"
    text = pluma_cli("context", "show", "AMPEL360", user="lin").output
    assert "35.9664 m" in text and "initial sizing" in text

    stored = out_json(pluma_cli("context", "set", "AMPEL360", "span=36", user="ana", json=True))
    assert stored["params"]["span"] == {"value": 36, "unit": "m", "label": "EAR99"} and stored["rev"] == 2


def test_context_put_attach_log_and_time_travel(pluma_cli, ampel, tmp_path):
    zarr_path = tmp_path / "mass.zarr"
    mass_breakdown().to_zarr(zarr_path, mode="w", consolidated=False)
    report = tmp_path / "sizing.md"
    report.write_text("# sizing\nall good\n")

    pluma_cli("context", "set", "AMPEL360", "span=35", user="ana")
    put = out_json(pluma_cli("context", "put", "AMPEL360", "mass_breakdown", str(zarr_path), "-m", "mass v1",
                             user="ana", json=True))
    assert put["dims"] == {"component": 6} and put["variables"] == ["mass"]
    assert "attached sizing.md" in pluma_cli("context", "attach", "AMPEL360", "sizing_report", str(report),
                                             user="ana").output
    ds = ampel("ana").program("AMPEL360").context.dataset("mass_breakdown")
    assert float(ds["mass"].sum()) == pytest.approx(42600.0)
    assert ampel("ana").program("AMPEL360").context.artifact("sizing_report") == report.read_bytes()

    log = out_json(pluma_cli("context", "log", "AMPEL360", user="lin", json=True))
    assert [c["message"] for c in log[:3]] == ["attach sizing_report", "mass v1", "set span"]
    assert all(c["author"] == "ana" for c in log[:3])
    then = out_json(pluma_cli("context", "show", "AMPEL360", "--at", log[2]["id"], user="lin", json=True))
    assert then["datasets"] == {} and then["params"]["span"]["value"] == 35
    now = pluma_cli("context", "show", "AMPEL360", user="lin").output
    assert "mass_breakdown" in now and "sizing_report" in now

    missing = pluma_cli("context", "put", "AMPEL360", "x", str(tmp_path / "nope.zarr"), user="ana", expect=2)
    assert "does not exist" in missing.output
    pluma_cli("context", "show", "AMPEL360", "--at", "NOTACOMMIT", user="lin", expect=2)


def test_context_set_rejects_bad_input(pluma_cli, ampel):
    bad_unit = pluma_cli("context", "set", "AMPEL360", "span=118 kg", user="ana", expect=2)
    assert bad_unit.stderr.startswith("error: span:") and bad_unit.stderr.count("\n") == 1
    assert "did you mean span" in pluma_cli("context", "set", "AMPEL360", "spam=3", user="ana", expect=2).stderr
    pluma_cli("context", "set", "AMPEL360", "span", user="ana", expect=2)  # not NAME=VALUE: usage error
    pluma_cli("context", "set", "AMPEL360", "message=hi", user="ana", expect=2)
    pluma_cli("context", "set", "AMPEL360", "span=3", user="lin", expect=3)  # quality may not write


# -- gates and the lifecycle ----------------------------------------------------------
def test_gate_evaluate_approve_advance_history_events(pluma_cli, ampel):
    failing = pluma_cli("gate", "evaluate", "AMPEL360", user="ana", expect=1)
    assert "NOT PASSED" in failing.output and "MISSING" in failing.output
    report = out_json(pluma_cli("gate", "evaluate", "AMPEL360", user="ana", json=True, expect=1))
    assert report["passed"] is False and "approval by chief_engineer needed" in report["reasons"]

    fill_cad(ampel("ana").program("AMPEL360").context)
    approved = pluma_cli("gate", "approve", "AMPEL360", "--comment", "margins ok", user="raj")
    assert "approved the CAD gate of AMPEL360 as chief_engineer" in approved.output
    assert "passes now" in approved.output
    assert "PASSED" in pluma_cli("gate", "evaluate", "AMPEL360", user="raj").output

    advanced = pluma_cli("advance", "AMPEL360", "-m", "CAD gate passed", user="raj")
    assert "AMPEL360@CAD#1" in advanced.output and "now in CAE" in advanced.output
    frozen_id = ampel("raj").program("AMPEL360").frozen("CAD#1").id
    assert frozen_id in advanced.output

    history = out_json(pluma_cli("history", "AMPEL360", user="lin", json=True))
    assert [(h["ref"], h["id"], h["user"], h["gate_passed"]) for h in history] == [
        ("AMPEL360@CAD#1", frozen_id, "raj", True)]
    assert history[0]["approvals"] == [{"role": "chief_engineer", "user": "raj"}]
    assert "AMPEL360@CAD#1" in pluma_cli("history", "AMPEL360", user="lin").output
    kinds = [e["kind"] for e in out_json(pluma_cli("events", "AMPEL360", user="lin", json=True))]
    assert kinds == ["created", "approval", "freeze"]
    assert "freeze" in pluma_cli("events", "AMPEL360", "-n", "1", user="lin").output
    assert "program_created" in [e["kind"] for e in out_json(pluma_cli("events", json=True))]
    frozen_view = out_json(pluma_cli("context", "show", "AMPEL360", "--at", "CAD#1", user="lin", json=True))
    assert frozen_view["ref"] == "AMPEL360@CAD#1" and "mass_breakdown" in frozen_view["datasets"]
    assert "AMPEL360@CAD#1" in out_json(pluma_cli("program", "show", "AMPEL360", json=True))["history"][0]["ref"]


def test_advance_refused(pluma_cli, ampel):
    denied = pluma_cli("advance", "AMPEL360", user="ana", expect=3)
    assert denied.stderr.startswith("error: ana may not advance") and denied.stderr.count("\n") == 1
    not_passed = pluma_cli("advance", "AMPEL360", user="raj", json=True, expect=2)
    error = json.loads(not_passed.stderr)
    assert error["error"] == "gate_not_passed" and "does not pass" in error["message"]
    assert error["report"]["passed"] is False
    pluma_cli("gate", "approve", "AMPEL360", user="ana", expect=3)  # engineer is not an approval role


def test_gate_show_and_set(pluma_cli, ampel, tmp_path):
    text = pluma_cli("gate", "show", "AMPEL360", user="ana").output
    definition = yaml.safe_load(text)
    assert definition["phase"] == "CAD" and "mass_breakdown" in definition["requires"]["datasets"]
    assert out_json(pluma_cli("gate", "show", "AMPEL360", "--phase", "cae", user="ana", json=True))["phase"] == "CAE"

    definition["requires"]["datasets"] = []
    definition["checks"] = [c for c in definition["checks"] if c["id"] != "mass_budget_closes"]
    custom = tmp_path / "cad.yaml"
    custom.write_text(yaml.safe_dump(definition))
    pluma_cli("gate", "set", "AMPEL360", "CAD", str(custom), user="raj", expect=3)  # needs program_manager
    result = pluma_cli("gate", "set", "AMPEL360", "CAD", str(custom), "--reason", "no mass data yet", user="pam")
    assert "4 checks" in result.output
    shown = out_json(pluma_cli("gate", "show", "AMPEL360", user="ana", json=True))
    assert shown["source"] == "override" and shown["requires"]["datasets"] == []
    events = out_json(pluma_cli("events", "AMPEL360", user="pam", json=True))
    assert events[-1]["kind"] == "gate_override" and events[-1]["reason"] == "no mass data yet"

    custom.write_text("phase: CAD\nchecks:\n  - id: x\n    expr: 'span >'\n")
    broken = pluma_cli("gate", "set", "AMPEL360", "CAD", str(custom), user="pam", expect=2)
    assert broken.stderr.startswith("error: gate definition: check 'x'")


def test_rework_hold_resume_kill(pluma_cli, ampel):
    prog = ampel("ana").program("AMPEL360")
    fill_cad(prog.context)
    pluma_cli("gate", "approve", "AMPEL360", user="raj")
    pluma_cli("advance", "AMPEL360", user="raj")

    held = out_json(pluma_cli("hold", "AMPEL360", "--reason", "budget review", user="raj", json=True))
    assert held == {"program": "AMPEL360", "phase": "CAE", "status": "hold", "status_reason": "budget review"}
    on_hold = pluma_cli("context", "set", "AMPEL360", "span=30", user="ana", expect=2)
    assert "on hold (budget review)" in on_hold.stderr
    pluma_cli("hold", "AMPEL360", user="raj", expect=2)  # --reason is required
    assert "resumed AMPEL360" in pluma_cli("resume", "AMPEL360", "--reason", "approved", user="raj").output
    pluma_cli("resume", "AMPEL360", "--reason", "again", user="raj", expect=2)  # not on hold

    pluma_cli("rework", "AMPEL360", "CAE", "--reason", "same phase", user="raj", expect=2)
    reworked = pluma_cli("rework", "AMPEL360", "cad", "--reason", "wing change", user="raj")
    assert "back to CAD" in reworked.output and "is in CAD, active" in reworked.output

    pluma_cli("kill", "AMPEL360", "--reason", "cancelled", "--yes", user="raj", expect=3)
    pluma_cli("kill", "AMPEL360", "--reason", "cancelled", user="pam", expect=1)  # no confirmation: aborted
    killed = out_json(pluma_cli("kill", "AMPEL360", "--reason", "cancelled", "-y", user="pam", json=True))
    assert killed["status"] == "killed"
    pluma_cli("advance", "AMPEL360", user="pam", expect=2)
    # killed programs stay readable
    assert [h["ref"] for h in out_json(pluma_cli("history", "AMPEL360", user="lin", json=True))] == ["AMPEL360@CAD#1"]
    kinds = [e["kind"] for e in out_json(pluma_cli("events", "AMPEL360", user="lin", json=True))]
    assert kinds[-4:] == ["hold", "resume", "rework", "kill"]


# -- errors ------------------------------------------------------------------------------
def test_error_output_and_exit_codes(pluma_cli, ampel):
    unknown = pluma_cli("program", "show", "AMPEL36", expect=4)
    assert unknown.stderr == "error: no program 'AMPEL36' in this workspace; did you mean AMPEL360?\n"
    assert unknown.stdout == "" and "Traceback" not in unknown.output

    as_json = pluma_cli("context", "show", "nope", json=True, expect=4)
    assert json.loads(as_json.stderr) == {"error": "not_found", "message": "no program 'nope' in this workspace"}

    debug = CliRunner().invoke(cli, ["--home", str(ampel("admin").location), "--user", "admin", "--debug",
                                     "program", "show", "nope"])
    assert debug.exit_code == 4
    assert "Traceback (most recent call last)" in debug.stderr and "NotFoundError" in debug.stderr
    assert debug.stderr.rstrip().endswith("error: no program 'nope' in this workspace")

    usage = pluma_cli("program", "frobnicate", expect=2)
    assert "No such command" in usage.output
    bad_user = pluma_cli("program", "list", user="not a name", expect=2)
    assert "invalid user= argument" in bad_user.stderr


def test_storage_options(pluma_cli):
    pluma_cli("init")
    local = pluma_cli("--storage-option", "allow_http=true", "program", "list", expect=2)
    assert "apply to object stores only" in local.stderr
    runner = CliRunner()
    result = runner.invoke(cli, ["--storage-option", "allow_http", "init"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.output
    result = runner.invoke(cli, ["--home", "s3://bucket/prefix", "--storage-option", "colour=blue", "init"])
    assert result.exit_code == 2 and "unknown storage option(s) colour" in result.stderr
