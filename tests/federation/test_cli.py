"""``pluma federation`` end to end through the command line (click's runner), with the
example rules file ``rules/supplier-b.yaml`` and the receiver's server on 127.0.0.1."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from click.testing import CliRunner

from pluma.cli import cli

from .conftest import frozen_program

RULES = Path(__file__).resolve().parents[2] / "rules" / "supplier-b.yaml"


def run(home, *args, expect=0):
    result = CliRunner().invoke(cli, ["--home", str(home), "--user", "admin", *args])
    assert result.exit_code == expect, (args, result.output, result.exception)
    return result


def test_keygen_peer_explain_push_status(tmp_path):
    prime_home, supplier_home = tmp_path / "prime", tmp_path / "supplier-b"
    run(prime_home, "init")
    run(supplier_home, "init")
    prime_key = json.loads(run(prime_home, "federation", "keygen", "--name", "prime", "--json").stdout)
    supplier_key = json.loads(run(supplier_home, "federation", "keygen", "--json").stdout)
    assert supplier_key["name"] == "supplier-b" and supplier_key["public_key"].startswith("ed25519:")
    key_file = Path(prime_key["key_file"])
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = run(prime_home, "federation", "keygen", expect=2)
    assert "holds a key already" in again.stderr

    from pluma.federation import Federation
    import pluma

    supplier_ws = pluma.open(supplier_home, user="admin")
    server = Federation(supplier_ws).start_server()
    try:
        run(prime_home, "federation", "peer", "add", "supplier-b", "--url", server.url, "--key",
            supplier_key["public_key"], "--rules", str(RULES))
        run(supplier_home, "federation", "peer", "add", "prime", "--url", "http://127.0.0.1:9", "--key",
            prime_key["public_key"], "--rules", str(RULES))
        peers = json.loads(run(prime_home, "federation", "peer", "list", "--json").stdout)
        assert [p["name"] for p in peers] == ["supplier-b"] and peers[0]["rules"]["itar_authorised"] is False

        class Home:  # frozen_program works on an organisation's workspace
            ws = pluma.open(prime_home, user="admin")

        _, fc = frozen_program(Home)
        explained = json.loads(run(prime_home, "federation", "explain", "AMPEL360@CAD", "--to", "supplier-b",
                                   "--json").stdout)
        rules = {i["name"]: i["rule"] for i in explained["items"]}
        assert rules == {"span": "wing-geometry-and-loads", "wing_loads": "wing-geometry-and-loads",
                         "design_note": "reports", "cost_report": "never-costs", "cruise_mach": "default-deny"}
        table = run(prime_home, "federation", "explain", "AMPEL360@CAD", "--to", "supplier-b").stdout
        assert "never-costs" in table and "deny" in table

        pushed = json.loads(run(prime_home, "federation", "push", "AMPEL360@CAD", "--to", "supplier-b",
                                "--json").stdout)
        assert pushed["status"] == "imported" and pushed["remote_ref"] == "prime--AMPEL360@CAD#1"
        human = run(prime_home, "federation", "push", "AMPEL360@CAD", "--to", "supplier-b").stdout
        assert "has it already" in human

        status = json.loads(run(prime_home, "federation", "status", "--json").stdout)
        assert status["identity"]["name"] == "prime" and status["peers"][0]["pushes"] == 1
        assert status["peers"][0]["fsl_p99_ms"] > 0
        text = run(supplier_home, "federation", "status").stdout
        assert "prime" in text and "FSL p99" in text
        rows = json.loads(run(supplier_home, "query", "--json").stdout)
        assert [r["ref"] for r in rows] == ["prime--AMPEL360@CAD#1"]

        denied = run(prime_home, "federation", "push", "AMPEL360@CAD", "--to", "nobody", expect=4)
        assert "no federation peer 'nobody'" in denied.stderr
    finally:
        server.stop()
