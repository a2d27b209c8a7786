"""Load (issue 4, point 8): the quick mode of ``benchmarks/load.py``.

32 clients (threads in 2 spawned processes) mix reads, writes, a contended
parameter, queries and advances on one local workspace for 8 s. Only the
expected refusals (``ConflictError``, ``StaleContextError``) may occur, and every
acknowledged write and freeze must be found afterwards (commit in the history
holding its value, each client's last value at the tip, freezes tagged and indexed).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from load import OPS, run  # noqa: E402

pytestmark = pytest.mark.timeout(300)


def test_thirty_two_clients_lose_nothing_and_fail_only_on_expected_conflicts(tmp_path):
    stats = run(clients=32, procs=2, seconds=8.0, seed=5, folder=tmp_path, baseline=False)

    assert stats["unexpected"] == [], "\n".join(stats["unexpected"][:3])
    assert stats["lost"] == [], stats["lost"][:10]
    # the run did real work of every kind, and it was all verified
    assert stats["writes"] >= 20 and stats["freezes"] >= 1, (stats["writes"], stats["freezes"])
    assert all(stats["latency"].get(op) for op in OPS), {op: len(v) for op, v in stats["latency"].items()}
    assert set(k.split(": ")[1] for k in stats["expected"]) <= {"ConflictError", "StaleContextError"}
