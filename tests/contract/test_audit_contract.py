"""The audit trail lives with the data: the same guarantees on local storage and on S3."""

from __future__ import annotations

import pytest

import pluma
import pluma.audit as audit
from tests.conftest import make_program


def _rewrite_trail(prog, edit) -> None:
    """Change the stored trail through the store, outside PLUMA's API."""

    def change(txn):
        txn.put_doc("trail/000000", edit(txn.doc("trail/000000")))

    prog._enclave.update(prog._branch, change, message="edit", metadata={"author": "mallory"})


def test_changes_and_refusals_are_recorded_and_verified(open_ws):
    admin = open_ws("admin")
    make_program(admin)
    pam = open_ws("pam").program("AMPEL360")
    pam.hold("supplier audit")
    with pytest.raises(pluma.AccessDenied):
        open_ws("ana").program("AMPEL360").resume("not mine to do")
    pam.resume("audit passed")

    rows = audit.trail(admin, program="AMPEL360").to_dict("records")
    got = [(r["user"], r["action"], r["phase"], r["outcome"]) for r in rows]
    assert got == [("admin", "created", "CAD", "ok"), ("admin", "program_created", None, "ok"),
                   ("pam", "hold", "CAD", "ok"), ("ana", "resume", "CAD", "denied"), ("pam", "resume", "CAD", "ok")]
    since = rows[3]["time"]
    assert [r["action"] for r in audit.trail(admin, program="AMPEL360", since=since).to_dict("records")] == [
        "resume", "resume"]
    # a second process (a fresh handle) sees the same trail and verifies it
    report = audit.verify(open_ws("admin"))
    assert report.ok and report.entries_checked == 7 and len(report.chains) == 3

    def edit(entries):
        entries[1]["reason"] = "routine"
        return entries

    _rewrite_trail(pam, edit)
    _rewrite_trail(pam, lambda e: e[:-1])
    found = {(p.seq, p.kind) for p in audit.verify(admin).problems}
    assert found == {(1, "edited"), (2, "truncated")}
