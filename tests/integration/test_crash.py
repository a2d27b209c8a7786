"""Crash safety (issue 4, point 2): the short version of ``benchmarks/crash.py``.

A writer process doing set / put (dataset + parameter in one transaction) /
advance / clone on a local workspace is SIGKILLed at random moments, 20 times.
After every kill the workspace must open, show no partial change, keep every
acknowledged change, keep every frozen context intact (opens, reads, its dataset
loads), hold each clone either complete and registered or not at all, and its
query index must agree with the store. ``run`` raises AssertionError on the first
violation; the full run (200 kills) is ``benchmarks/crash.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from crash import run  # noqa: E402

KILLS = 20

pytestmark = pytest.mark.timeout(400)


def test_sigkilled_writers_leave_a_consistent_workspace(tmp_path):
    stats = run(KILLS, seed=11, max_delay=0.8, folder=tmp_path, progress=False)

    assert stats["kills"] == KILLS and stats["checks"] == KILLS  # every kill was followed by a full check
    # the kills landed during operations, not only between them
    during = sum(n for op, n in stats["in_flight"].items() if op != "between operations")
    assert during >= KILLS // 2, stats["in_flight"]
    # writers got work done between kills, and all of it was found again
    acked = stats["acknowledged"]
    assert acked["set"] + acked["put"] >= KILLS // 2 and acked["advance"] >= 1, acked
    assert stats["frozen context checks"] >= acked["advance"]
    # the last check re-read every frozen context and every clone
    assert (tmp_path / "ws" / "enclaves" / "default").is_dir()


def test_reindex_prunes_orphan_program_branches_but_not_a_creation_in_progress(tmp_path):
    import pluma

    ws = pluma.open(tmp_path / "ws", user="admin")
    ws.create_program("KEPT", domains=["AAA"])
    enclave = ws._enclave("default")
    enclave.create_branch("programs/ghost", enclave.initial_snapshot())  # killed before its first commit
    enclave.create_branch("programs/young", enclave.initial_snapshot())  # killed before registration
    enclave.update("programs/young", lambda txn: txn.put_doc("program", {"name": "young"}), message="create",
                   metadata={})
    ws.reindex()
    assert "programs/ghost" not in enclave.branches("programs/")
    assert "programs/young" in enclave.branches("programs/")  # young: may be a creation in progress
    removed = ws._prune_orphans(ws._registry_doc("programs", {}), min_age_s=0)
    assert removed == ["default:programs/young"]
    assert enclave.branches("programs/") == ["programs/kept"] and ws.program("KEPT").phase.value == "CAD"
