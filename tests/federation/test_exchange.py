"""Two and three organisations with their federation servers on 127.0.0.1:
push, receive read-only under the peer's name, query, diff, clone, incremental
and repeated pushes, pulls, status and the audit trail on both sides."""

from __future__ import annotations

import numpy as np
import pytest

import pluma
import pluma.audit
from pluma.federation import BundleRefused

from .conftest import LEVELS, connect, frozen_program, loads

RULES = {
    "export": [
        {"name": "engineering", "allow": {"classifications": ["PUBLIC", "EAR99"], "kinds": ["param", "dataset"]}},
        {"name": "notes", "allow": {"kinds": ["artifact"], "classifications": ["PUBLIC"]}},
        {"name": "never-costs", "deny": {"items": ["cost*"]}},
    ],
    "import": [{"name": "accept", "allow": {"classifications": LEVELS}}],
}


def test_push_lands_read_only_under_the_peers_name_and_works_like_a_local_context(orgs):
    prime, supplier = orgs("prime", "supplier")
    connect(prime, supplier, export=RULES, accept=RULES)
    prog, fc = frozen_program(prime)

    explanation = prime.fed.explain(fc.ref, to="supplier")
    decided = {r["name"]: (r["decision"], r["rule"]) for r in explanation.rows}
    assert decided == {"span": ("allow", "engineering"), "cruise_mach": ("deny", "default-deny"),
                       "wing_loads": ("allow", "engineering"), "design_note": ("allow", "notes"),
                       "cost_report": ("deny", "never-costs")}
    assert "never-costs" in explanation.summary() and "<table>" in explanation._repr_html_()

    result = prime.fed.push(fc.ref, to="supplier")
    assert result.status == "imported" and result.remote_program == "prime--AMPEL360"
    assert result.remote_ref == "prime--AMPEL360@CAD#1" and result.fsl_ms > 0
    assert result.objects_sent == result.objects_total > 2

    ws = supplier.ws
    got = ws.frozen("prime--AMPEL360@CAD#1")
    assert got.params["span"] == 35.8 and got.params.info("span").label == "PUBLIC"
    assert "cruise_mach" not in got.params and got.artifacts == ["design_note"]
    assert got.artifact("design_note") == b"rib spacing 0.6 m"
    np.testing.assert_array_equal(got.dataset("wing_loads")["load"].values, loads()["load"].values)
    assert got.dataset("wing_loads")["load"].attrs["units"] == "N"
    assert got.user == fc.user and got.message == "CAD frozen"

    # queryable, diffable and clonable like local ones
    rows = ws.query(program="prime--AMPEL360", params=["span"])
    assert list(rows["ref"]) == ["prime--AMPEL360@CAD#1"] and rows["span"][0] == 35.8
    assert ws.frozen(got.id) == got
    d = pluma.diff(got, got)
    assert d.is_empty
    clone = got.clone("WING-LOCAL", overrides={"span": 36.5})
    assert clone.context.params["span"] == 36.5 and clone.context.artifact("design_note") == b"rib spacing 0.6 m"
    clone.set_member("admin", ["program_manager", "engineer"])  # the clone is ours to change
    clone.context.set_params(span=37.0)
    assert clone.context.params["span"] == 37.0

    # read-only: no write, no member change, no freeze
    received = ws.program("prime--AMPEL360")
    with pytest.raises(pluma.StateError, match="received from peer 'prime' and read-only"):
        received.set_member("admin", ["engineer"])
    with pytest.raises(pluma.AccessDenied):
        received.context.set_params(span=1.0)
    with pytest.raises(pluma.AccessDenied):
        received.advance()
    assert ws.program("prime--AMPEL360").history()[-1].id == got.id

    # re-exporting what a peer sent is refused
    with pytest.raises(pluma.AccessDenied, match="never exported again"):
        supplier.fed.explain("prime--AMPEL360@CAD#1", to="prime")


def test_repeated_push_is_a_no_op_and_the_next_freeze_sends_only_what_changed(orgs):
    prime, supplier = orgs("prime", "supplier")
    connect(prime, supplier)
    prog, fc1 = frozen_program(prime)
    first = prime.fed.push(fc1, to="supplier")
    again = prime.fed.push(fc1, to="supplier")
    assert again.status == "up_to_date" and again.objects_sent == 0
    assert len(supplier.ws.query(program="prime--AMPEL360")) == 1

    changed = loads()
    changed["load"][:100] = -1.0  # one chunk of seven
    prog.context.put_dataset("wing_loads", changed.isel(station=slice(0, 100)))
    prog.context.set_params(span=36.0)
    fc2 = prog.advance("CAE frozen")
    second = prime.fed.push(fc2, to="supplier")
    assert second.status == "imported" and second.remote_ref == "prime--AMPEL360@CAE#1"
    assert second.objects_sent == 1, second  # the one rewritten chunk
    assert second.bytes_sent < first.bytes_sent / 4

    ws = supplier.ws
    assert list(ws.query(program="prime--AMPEL360")["phase"]) == ["CAD", "CAE"]
    new = ws.frozen("prime--AMPEL360@CAE")
    np.testing.assert_array_equal(new.dataset("wing_loads")["load"].values, changed["load"].values)
    old = ws.frozen("prime--AMPEL360@CAD")
    np.testing.assert_array_equal(old.dataset("wing_loads")["load"].values, loads()["load"].values)
    d = pluma.diff(old, new)
    assert d.params["changed"]["span"]["new"] == 36.0
    assert d.datasets["changed"]["wing_loads"]["arrays"]["load"]["chunks"] == [[0]]

    status = prime.fed.status()
    row = status.peers[0]
    assert row["pushes"] == 2 and row["exchanges"] == 2 and row["fsl_p99_ms"] >= row["fsl_p50_ms"] > 0
    assert supplier.fed.status().peers[0]["received"] == 2
    assert "FSL" in status._repr_html_()
    from pluma.kpis import kpis  # the FSL KPI rests on the same records

    report = kpis(prime.ws, query_probes=0)
    assert report["fsl_p99"].records == 2 and report["fsl_p99"].value == pytest.approx(row["fsl_p99_ms"])
    assert report["fsl_p50"].value == pytest.approx(row["fsl_p50_ms"])

    # both sides keep the exchange in their audit trail
    sent = pluma.audit.trail(prime.ws)
    assert {"federation.push"} <= set(sent["action"])
    got = pluma.audit.trail(supplier.ws)
    assert "federation.receive" in set(got["action"])
    assert pluma.audit.verify(supplier.ws).ok and pluma.audit.verify(prime.ws).ok


def test_import_rules_and_itar(orgs):
    prime, supplier = orgs("prime", "supplier")
    strict = {"import": [{"name": "public-only", "allow": {"classifications": ["PUBLIC"]}}]}
    connect(prime, supplier, accept=strict)
    _, fc = frozen_program(prime)
    with pytest.raises(BundleRefused, match="import rules refuse .*wing_loads"):
        prime.fed.push(fc, to="supplier")
    assert supplier.ws.query().empty and "prime--ampel360" not in [p.lower() for p in supplier.ws.program_names()]
    assert supplier.fed.status().peers[0]["refusals"] == 1
    assert prime.fed.exchanges("supplier")[-1]["outcome"] == "refused"

    # ITAR never leaves for a peer that is not ITAR-authorised, whatever the rules allow
    prime.ws.set_user("admin", itar_cleared=True)
    _, secret = frozen_program(prime, "F35WING", classification="ITAR")
    itar_rules = {"export": [{"name": "all", "allow": {"classifications": LEVELS + ["ITAR"]}}]}
    prime.fed.add_peer("supplier", url=supplier.url, key=supplier.fed.public_key, rules=itar_rules, replace=True)
    rows = prime.fed.explain(secret, to="supplier").rows
    assert {r["rule"] for r in rows} == {"itar-not-authorised"} and not any(r["allowed"] for r in rows)
    with pytest.raises(pluma.AccessDenied, match="allow no item"):
        prime.fed.push(secret, to="supplier")


def test_three_organisations_push_and_pull(orgs):
    prime, supplier, cert = orgs("prime", "supplier", "cert")
    connect(prime, supplier)
    connect(prime, cert, export={"export": [{"name": "params", "allow": {"kinds": ["param"],
                                                                       "classifications": LEVELS}}]})
    _, fc = frozen_program(prime)
    assert prime.fed.push(fc, to="supplier").status == "imported"
    assert prime.fed.push(fc, to="cert").status == "imported"
    at_cert = cert.ws.frozen("prime--AMPEL360@CAD")
    assert set(at_cert.params) == {"span", "cruise_mach"} and at_cert.datasets == [] and at_cert.artifacts == []

    # the supplier works on its own program and the prime pulls it from the supplier's server
    _, mine = frozen_program(supplier, "WINGBOX")
    pulled = prime.fed.pull("supplier")
    assert [r["status"] for r in pulled] == ["imported"] and pulled[0]["program"] == "supplier--WINGBOX"
    assert prime.fed.pull("supplier") == []  # nothing new
    assert prime.ws.frozen("supplier--WINGBOX@CAD").params["span"] == 35.8
    assert set(prime.ws.query()["program"]) == {"AMPEL360", "supplier--WINGBOX"}
