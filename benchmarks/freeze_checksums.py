"""What recording checksums at freeze time costs.

Freezes (``Program.advance``) of programs whose working context holds a dataset
of a given size, with the checksum hook and with it switched off (the obvious
alternative: no integrity record), in the same run; then the incremental case:
re-recording after one chunk changed, against hashing everything again.

    python benchmarks/freeze_checksums.py            # 8 programs, 32 MB datasets
    python benchmarks/freeze_checksums.py --quick    # 2 programs, 2 MB
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build(ws, name: str, mb: float):
    import numpy as np
    import xarray as xr

    from tests.conftest import fill_cad, make_program

    make_program(ws, name)
    ana = ws.as_user("ana").program(name)
    fill_cad(ana.context)
    n = int(mb * 1024 * 1024 / 8 / 256)
    field = xr.Dataset({"cp": (("x", "y"), np.random.default_rng(1).normal(size=(n, 256)))}).chunk({"x": max(n // 16, 1)})
    ana.context.put_dataset("pressure", field)
    ws.as_user("raj").program(name).gate().approve(role="chief_engineer", comment="ok")


def timed_advance(ws, name: str) -> float:
    raj = ws.as_user("raj").program(name)
    t = time.perf_counter()
    raj.advance(message="CAD")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--programs", type=int)
    ap.add_argument("--mb", type=float)
    args = ap.parse_args()
    n = args.programs or (2 if args.quick else 8)
    mb = args.mb or (2.0 if args.quick else 32.0)

    import pluma
    import pluma.integrity as integrity
    from pluma.integrity.checksums import compute_manifest, load_manifests

    real = integrity.record_freeze_checksums
    with tempfile.TemporaryDirectory() as tmp:
        ws = pluma.open(Path(tmp) / "ws", user="admin")
        names = [f"P{i}" for i in range(2 * n)]
        for name in names:
            build(ws, name, mb)
        with_hook, without = [], []
        for i, name in enumerate(names):  # interleaved, so both see the same machine state
            if i % 2:
                integrity.record_freeze_checksums = lambda *a, **k: None
                try:
                    without.append(timed_advance(ws, name))
                finally:
                    integrity.record_freeze_checksums = real
            else:
                with_hook.append(timed_advance(ws, name))
        # incremental: change one chunk after the freeze, re-record against the previous manifest
        prog = ws.as_user("ana").program(names[0])
        enclave = prog._enclave
        base = load_manifests(enclave)[enclave.tags(f"frozen/{prog.key}/")[0]]
        ds = prog.context.dataset("pressure").load()
        ds["cp"][0, 0] = 42.0
        prog.context.put_dataset("pressure", ds)
        tip = enclave.tip(f"programs/{prog.key}")
        t = time.perf_counter()
        inc = compute_manifest(enclave, "frozen/x/bench", tip, base=base)
        t_inc = time.perf_counter() - t
        t = time.perf_counter()
        full = compute_manifest(enclave, "frozen/x/bench", tip)
        t_full = time.perf_counter() - t
        assert inc["keys"] == full["keys"], "incremental manifest differs from a full one"

    a, b = statistics.median(with_hook), statistics.median(without)
    print(f"dataset {mb:g} MB, {n} freezes each")
    print(f"freeze with checksums     median {a * 1000:8.1f} ms")
    print(f"freeze without checksums  median {b * 1000:8.1f} ms")
    print(f"ratio with/without        {a / b:8.2f}x  (+{(a - b) * 1000:.1f} ms)")
    print(f"re-record after 1 chunk changed: incremental {t_inc * 1000:.1f} ms (hashed {inc['hashed']} keys), "
          f"full {t_full * 1000:.1f} ms (hashed {full['hashed']}); ratio {t_full / t_inc:.1f}x")


if __name__ == "__main__":
    main()
