"""``benchmarks/clone_vs_copy.py --quick`` runs end to end: both sizes are built, the
clones and copies interleave, and the byte and reuse figures come out right. Timings
are the benchmark's business, not this test's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "clone_vs_copy.py"


def test_clone_benchmark_quick_mode(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--tmp", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "timed runs, interleaved across sizes: 2 rounds" in out
    rows = {m.group(1): m for m in re.finditer(r"^\s*(2MB|8MB)\s+(\d+) \|.*\|\s*([0-9.]+)$", out, re.M)}
    assert set(rows) == {"2MB", "8MB"} and rows["8MB"].group(2) == "32"  # 8 MiB in 256 KiB chunks
    assert float(rows["8MB"].group(3)) >= 0.96  # one chunk of 32 rewritten: the rest is shared
    assert re.search(r"bytes added <= one chunk \+ metadata .* HOLDS", out)  # bytes are deterministic
    assert not list(tmp_path.iterdir())  # the temporary workspaces are removed
