"""``benchmarks/federation.py --quick`` runs end to end (the receiver's server in a
process of its own) and reports both approaches side by side. Timings are the
benchmark's business, not this test's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "federation.py"


def test_federation_benchmark_quick_mode():
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "incremental (ours)" in out and "full copy (naive)" in out and "naive/ours" in out
    assert "goal bytes sent <= 1.1x change: met" in out  # bytes are deterministic; latency is measured, not asserted
