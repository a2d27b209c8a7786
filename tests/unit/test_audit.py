"""The audit trail: every change and refusal recorded, hash-chained, verifiable."""

from __future__ import annotations

import json
import logging

import pytest
from click.testing import CliRunner

import pluma
import pluma.audit as audit
from pluma.audit import chain
from pluma.cli import cli
from tests.conftest import fill_cad, make_program


def _tamper(enclave, branch: str, edit, *, fix_head: bool = False) -> None:
    """Rewrite the stored trail of a branch the way someone with write access to the
    store could (a commit outside PLUMA, with no audit head in its metadata)."""

    def change(txn):
        entries = txn.doc("trail/000000")
        entries = edit(entries)
        txn.put_doc("trail/000000", entries)
        if fix_head:  # a careful attacker also makes the head document agree
            head = txn.doc("trail")
            head.update(seq=entries[-1]["seq"], hash=entries[-1]["hash"], count=len(entries))
            txn.put_doc("trail", head)

    enclave.update(branch, change, message="edit", metadata={"author": "mallory"})


@pytest.fixture
def ws(local_ws):
    return local_ws("admin")


@pytest.fixture
def team(ws):
    make_program(ws)
    return {u: ws.as_user(u).program("AMPEL360") for u in ("ana", "raj", "lin", "pam")}


def _rows(ws, **kw):
    return audit.trail(ws, **kw).to_dict("records")


def test_every_state_change_kind_is_recorded_with_who_what_where_when(ws, team):
    ana, raj, pam = team["ana"], team["raj"], team["pam"]
    ws.add_user("zoe")
    ws.set_user("zoe", display_name="Zoe Z")
    ws.set_capacity_threshold(1000.0)
    pam.declare_params({"tail_height": {"type": "float", "unit": "m"}})
    pam.set_member("zoe", ["viewer"])
    pam.remove_member("zoe")
    pam.set_capacity_threshold(500.0)
    fill_cad(ana.context)
    raj.gate().approve(role="chief_engineer", comment="ok")
    raj.advance(message="CAD done")
    pam.hold("supplier audit")
    pam.resume("audit passed")
    raj.rework("CAD", reason="redo the wing")
    pam.kill("cancelled")

    rows = _rows(ws)
    seen = {(r["action"], r["program"]): r for r in rows}
    expected = {
        ("workspace_created", None): ("admin", None), ("user_added", None): ("admin", None),
        ("user_changed", None): ("admin", None), ("capacity_threshold", None): ("admin", None),
        ("program_created", "AMPEL360"): ("admin", None), ("created", "AMPEL360"): ("admin", "CAD"),
        ("declare_params", "AMPEL360"): ("pam", "CAD"), ("member", "AMPEL360"): ("pam", "CAD"),
        ("member_removed", "AMPEL360"): ("pam", "CAD"), ("capacity_threshold", "AMPEL360"): ("pam", "CAD"),
        ("approval", "AMPEL360"): ("raj", "CAD"), ("freeze", "AMPEL360"): ("raj", "CAD"),
        ("hold", "AMPEL360"): ("pam", "CAE"), ("resume", "AMPEL360"): ("pam", "CAE"),
        ("rework", "AMPEL360"): ("raj", "CAE"), ("kill", "AMPEL360"): ("pam", "CAD"),
    }
    for key, (who, phase) in expected.items():
        assert key in seen, f"{key} missing from the trail"
        row = seen[key]
        assert row["user"] == who and row["phase"] == phase and row["outcome"] == "ok", row
        assert row["time"].startswith("20") and isinstance(row["seq"], int)
    assert seen[("freeze", "AMPEL360")]["detail"]["ref"] == "AMPEL360@CAD#1"
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
    # the entry is in the same commit as the change: that commit records the chain head
    freeze_commit = next(c for c in raj._enclave.log(raj._branch) if c.metadata.get("kind") == "freeze")
    head = freeze_commit.metadata["audit"]
    assert head["chain"] == f"default/{raj._branch}" and head["seq"] == seen[("freeze", "AMPEL360")]["seq"]
    # events() keeps its shape: dicts with kind/time/user, no chain fields
    events = ana.events()
    assert [e["kind"] for e in events][:2] == ["created", "declare_params"]
    assert all({"kind", "time", "user"} <= set(e) and not set(e) & {"seq", "prev", "hash"} for e in events)
    report = audit.verify(ws)
    assert report.ok, report.problems
    assert report.entries_checked == sum(r["seq"] is not None for r in rows) and report.unchained == 0
    assert [r["action"] for r in rows if r["seq"] is None] == []  # every entry is chained ...
    change = seen[("change", "AMPEL360")]                         # ... context changes included
    assert change["user"] == "ana" and change["phase"] == "CAD" and isinstance(change["seq"], int)
    assert "param:span" in change["detail"]["items"]
    assert "change" not in [e["kind"] for e in ana.events()]     # events() leaves them to the trail
    assert "change" in [e["kind"] for e in ana.events(include_changes=True)]


def test_refusals_are_recorded_and_still_raised(ws, team):
    ana, pam = team["ana"], team["pam"]
    bob = ws.as_user("bob")
    with pytest.raises(pluma.AccessDenied):
        bob.program("AMPEL360")
    with pytest.raises(pluma.AccessDenied):
        ana.kill("I would like to")
    with pytest.raises(pluma.AccessDenied):
        bob.add_user("eve")
    with pytest.raises(pluma.GateNotPassed):
        ws.as_user("raj").program("AMPEL360").advance()
    pam.kill("cancelled")
    with pytest.raises(pluma.StateError):
        pam.hold("too late")
    refused = [r for r in _rows(ws) if r["outcome"] != "ok"]
    got = [(r["user"], r["action"], r["program"], r["outcome"], r["detail"]["error"]) for r in refused]
    assert got == [
        ("bob", "read", "AMPEL360", "denied", "AccessDenied"),
        ("ana", "kill", "AMPEL360", "denied", "AccessDenied"),
        ("bob", "add users", None, "denied", "AccessDenied"),
        ("raj", "advance", "AMPEL360", "refused", "GateNotPassed"),
        ("pam", "hold", "AMPEL360", "refused", "StateError"),
    ]
    assert all(r["phase"] == "CAD" for r in refused if r["program"]) and all(r["chain"] == "default/audit" for r in refused)
    assert "does not pass" in refused[3]["detail"]["reason"]
    assert audit.verify(ws).ok


def test_a_refusal_that_cannot_be_recorded_is_still_the_refusal(caplog):
    class Unreachable:  # a workspace whose storage is gone
        user = "bob"

        def _enclave(self, name):
            raise pluma.StorageError("the store is unreachable")

    exc = pluma.AccessDenied("bob may not read X")
    with caplog.at_level(logging.WARNING, logger="pluma.audit.record"):
        audit.record_refusal(Unreachable(), exc, "read")
    assert "could not record the refusal of read by bob" in caplog.text
    with pytest.raises(pluma.AccessDenied, match="may not read X"):
        with audit.refusals(Unreachable(), "read"):
            raise pluma.AccessDenied("bob may not read X")


def test_record_for_exchanges_without_a_transaction(ws, team):
    entry = audit.record(ws, "export", program="AMPEL360", phase="CAD", to="partner-org", refs=["AMPEL360@CAD#1"])
    assert entry["seq"] == 0 and entry["prev"] == chain.GENESIS
    [row] = _rows(ws, action="export")
    assert (row["user"], row["program"], row["phase"], row["outcome"]) == ("admin", "AMPEL360", "CAD", "ok")
    assert row["detail"] == {"to": "partner-org", "refs": ["AMPEL360@CAD#1"]}
    audit.record(ws, "import", user="someone-else", hash="x")  # who acts is never the caller's to say
    [row] = _rows(ws, action="import")
    assert row["user"] == "admin" and row["detail"] == {"given_user": "someone-else", "given_hash": "x"}
    assert audit.verify(ws).ok


def test_verify_names_an_edited_entry(ws, team):
    pam = team["pam"]
    pam.hold("supplier audit")
    pam.resume("done")

    def edit(entries):
        entries[1]["reason"] = "nothing to see"
        return entries

    _tamper(pam._enclave, pam._branch, edit)
    report = audit.verify(ws)
    assert not report.ok
    [p] = report.problems
    assert (p.chain, p.seq, p.kind) == ("default/programs/ampel360", 1, "edited")
    assert "hold by pam" in p.message
    assert "DAMAGED" in report._repr_html_() and "programs/ampel360" in report._repr_html_()


def test_verify_detects_removed_and_reordered_entries(ws, team):
    pam = team["pam"]
    for i in range(3):
        pam.hold(f"h{i}")
        pam.resume(f"r{i}")
    enclave, branch = pam._enclave, pam._branch
    _tamper(enclave, branch, lambda e: e[:3] + e[4:], fix_head=True)  # drop seq 3
    problems = audit.verify(ws).problems
    assert [(p.seq, p.kind) for p in problems] == [(3, "removed")], problems

    make_program(ws, "OTHER", members={"pam": ["program_manager"]})  # a clean chain in another program
    other = ws.as_user("pam").program("OTHER")
    other.hold("a")
    other.resume("b")
    _tamper(other._enclave, other._branch, lambda e: [e[0], e[2], e[1]])
    problems = [p for p in audit.verify(ws).problems if p.chain.endswith("other")]
    assert [(p.seq, p.kind) for p in problems] == [(1, "reordered")], problems


def test_verify_detects_a_truncated_tail_and_a_rehashed_chain(ws, team):
    pam = team["pam"]
    pam.hold("x")
    pam.resume("y")
    enclave, branch = pam._enclave, pam._branch
    _tamper(enclave, branch, lambda e: e[:-1], fix_head=True)
    [p] = audit.verify(ws).problems
    assert (p.seq, p.kind) == (2, "truncated") and "were removed" in p.message

    def rehash(entries):  # rewrite history and recompute every hash: the chain is self-consistent again
        entries = entries + []
        entries[1]["reason"] = "rewritten"
        prev = chain.GENESIS
        for e in entries:
            e["prev"] = prev
            e["hash"] = prev = chain.entry_hash(f"default/{branch}", e)
        return entries

    _tamper(enclave, branch, rehash, fix_head=True)
    kinds = {(p.seq, p.kind) for p in audit.verify(ws).problems}
    assert (1, "rewritten") in kinds and (2, "truncated") in kinds


def test_an_anchor_catches_what_the_store_no_longer_shows(ws, team, tmp_path):
    pam = team["pam"]
    pam.hold("x")
    first = audit.verify(ws)
    assert first.ok
    anchor = tmp_path / "anchor.json"
    from pluma.audit.verify import save_anchor

    save_anchor(anchor, first, ws.location)
    pam.resume("y")  # growing is fine
    assert audit.verify(ws, anchor=anchor).ok
    # the whole program branch disappears (registry edited): only the anchor knows it existed
    def drop(txn):
        programs = txn.doc("programs")
        del programs["ampel360"]
        txn.put_doc("programs", programs)

    ws._default.update("main", drop, message="edit", metadata={})
    report = audit.verify(ws, anchor=anchor)
    assert [(p.chain, p.kind) for p in report.problems] == [("default/programs/ampel360", "missing")]


def test_legacy_entries_are_unchained_not_damage(ws):
    """A program written before the trail existed: its events carry no chain fields."""
    prog = make_program(ws, "OLD", members={"pam": ["program_manager"]})
    enclave = prog._enclave
    state = prog._state()
    legacy = [{"time": "2025-01-01T00:00:00.000+00:00", "user": "admin", "kind": "created"},
              {"time": "2025-01-02T00:00:00.000+00:00", "user": "pam", "kind": "hold", "reason": "x"}]
    enclave.create_branch("programs/legacy", enclave.initial_snapshot())

    def old_layout(txn):
        txn.put_doc("program", {**state, "name": "LEGACY", "key": "legacy", "status": "hold", "status_reason": "x"})
        txn.put_doc("context", {"rev": 0, "params": {}, "datasets": {}, "artifacts": {}})
        txn.put_doc("events", legacy)

    enclave.update("programs/legacy", old_layout, message="old", metadata={"author": "admin"})

    def register(txn):
        programs = txn.doc("programs")
        programs["legacy"] = {**programs["old"], "name": "LEGACY", "branch": "programs/legacy"}
        txn.put_doc("programs", programs)

    ws._default.update("main", register, message="old", metadata={"author": "admin"})
    pam = ws.as_user("pam").program("LEGACY")
    assert pam.events() == legacy
    report = audit.verify(ws)
    assert report.ok and report.unchained == 2
    pam.resume("back")  # the chain starts after the legacy entries
    assert [e["kind"] for e in pam.events()] == ["created", "hold", "resume"]
    row = _rows(ws, program="LEGACY", action="resume")[0]
    assert row["seq"] == 2 and row["chain"] == "default/programs/legacy"
    report = audit.verify(ws)
    assert report.ok and report.unchained == 2 and report.chains["default/programs/legacy"]["chained"] == 1


def test_long_trails_roll_over_into_segments(ws, team, monkeypatch):
    monkeypatch.setattr(chain, "SEGMENT", 4)
    pam = team["pam"]
    for i in range(5):
        pam.hold(f"h{i}")
        pam.resume(f"r{i}")
    snap = pam._enclave.snapshot(branch=pam._branch)
    assert sorted(snap.docs_under("trail")) == ["000000", "000001", "000002"]
    assert [e["kind"] for e in pam.events()] == ["created"] + ["hold", "resume"] * 5
    assert audit.verify(ws).ok

    def drop(txn):  # remove a middle segment entirely
        txn.delete("trail/000001")

    pam._enclave.update(pam._branch, drop, message="edit", metadata={})
    [p] = audit.verify(ws).problems
    assert (p.seq, p.kind) == (4, "removed") and "4..7" in p.message


def test_trail_filters_and_access(ws, team):
    pam = team["pam"]
    make_program(ws, "SECRET", members={"sam": ["program_manager"]})
    sam = ws.as_user("sam").program("SECRET")
    sam.hold("a")
    cutoff = pluma.audit.trail(ws)["time"].max()
    pam.hold("b")
    rows = _rows(ws, program="AMPEL360", since=cutoff)
    assert [(r["action"], r["program"]) for r in rows] == [("hold", "AMPEL360")]
    assert {r["program"] for r in _rows(ws, program="secret")} == {"SECRET"}
    assert [r["action"] for r in _rows(ws, user="sam")] == ["hold"]
    assert _rows(ws, until="2000-01-01") == []
    # a non-admin non-member cannot read another program's trail, and that refusal is recorded too
    ana_ws = ws.as_user("ana")
    with pytest.raises(pluma.AccessDenied, match="audit trail of SECRET"):
        audit.trail(ana_ws, program="SECRET")
    mine = _rows(ana_ws)
    assert mine and {r["program"] for r in mine} == {"AMPEL360"}
    assert not any(r["program"] == "SECRET" for r in mine)
    denied = _rows(ws, action="read_audit")
    assert [(r["user"], r["program"], r["outcome"]) for r in denied] == [("ana", "SECRET", "denied")]
    with pytest.raises(pluma.AccessDenied):
        audit.verify(ana_ws)
    with pytest.raises(pluma.InvalidInputError):
        audit.trail(ws, since="yesterday")


def test_itar_refusals_stay_in_the_programs_enclave(ws):
    ws.add_user("ivy", itar_cleared=True)
    itar = ws.create_program("BLACKBIRD", classification="ITAR", members={"ivy": ["program_manager"]})
    with pytest.raises(pluma.AccessDenied):
        ws.as_user("bob").program("BLACKBIRD")
    default_audit = chain.read_entries(ws._default.snapshot(branch="audit")) if "audit" in ws._default.branches() else []
    assert not any("BLACKBIRD" in json.dumps(e) for e in default_audit)
    rows = _rows(ws.as_user("ivy"), program="BLACKBIRD")
    assert [(r["user"], r["action"], r["outcome"], r["chain"]) for r in rows if r["outcome"] != "ok"] == [
        ("bob", "read", "denied", f"{itar._enclave.name}/audit")]


def test_cli_show_and_verify(ws, team, tmp_path):
    pam = team["pam"]
    pam.hold("supplier audit")
    runner = CliRunner()
    home = ws.location
    out = runner.invoke(cli, ["--home", home, "--user", "admin", "audit", "show", "--program", "AMPEL360", "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert [r["action"] for r in rows] == ["created", "program_created", "hold"] and rows[-1]["detail"]["reason"] == "supplier audit"
    out = runner.invoke(cli, ["--home", home, "--user", "admin", "audit", "show", "--since", "2000-01-01"])
    assert out.exit_code == 0 and "supplier audit" in out.output
    anchor = tmp_path / "heads.json"
    out = runner.invoke(cli, ["--home", home, "--user", "admin", "audit", "verify", "--anchor", str(anchor)])
    assert out.exit_code == 0 and "intact" in out.output and anchor.exists()
    _tamper(pam._enclave, pam._branch, lambda e: e[:-1], fix_head=True)
    out = runner.invoke(cli, ["--home", home, "--user", "admin", "audit", "verify", "--anchor", str(anchor), "--json"])
    assert out.exit_code == 1
    report = json.loads(out.output)
    assert not report["ok"] and {p["kind"] for p in report["problems"]} == {"truncated"}
    out = runner.invoke(cli, ["--home", home, "--user", "ana", "audit", "verify"])
    assert out.exit_code == 3 and "admin" in out.output


def test_context_changes_show_and_a_clone_starts_its_own_chain(ws, team):
    ana, raj = team["ana"], team["raj"]
    fill_cad(ana.context)
    ana.context.set_params(cruise_mach=0.79)
    raj.gate().approve(role="chief_engineer")
    raj.advance(message="CAD done")
    child = ws.program("AMPEL360").frozen("CAD#1").clone("AMPEL360-F", overrides={"span": "38 m"})
    rows = _rows(ws, program="AMPEL360")
    changes = [r for r in rows if r["action"] == "change"]
    assert [r["user"] for r in changes] == ["ana", "ana"] and all(isinstance(r["seq"], int) for r in changes)
    assert changes[-1]["detail"]["items"] == ["param:cruise_mach"]
    child_rows = [r for r in _rows(ws, program="AMPEL360-F") if r["chain"] != "default/main"]
    assert [(r["action"], r["seq"]) for r in child_rows] == [("created", 0)]  # nothing inherited from the source
    assert child.events()[0]["origin"]["ref"] == "AMPEL360@CAD#1"
    report = audit.verify(ws)
    assert report.ok, report.problems
    assert report.chains["default/programs/ampel360-f"]["chained"] == 1
