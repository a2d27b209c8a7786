"""PLUMA's per-change overhead, side by side with the obvious alternative.

Our path: ``ctx.set_params(...)`` — access check, unit conversion, optimistic
conflict check, program/context documents, commit lock, one Icechunk commit.
Alternative: a bare Icechunk commit that writes the same value as a Zarr
attribute (no validation, no provenance, no lock).

Also: reading a frozen parameter through PLUMA vs opening a tag and reading the
attribute directly. Prints the ratios (machines here are noisy: compare ratios,
not absolute times).

    .venv/bin/python benchmarks/bench_context_commit.py [--n 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("ICECHUNK_LOG", "error")


def timed(fn, n: int) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    args = parser.parse_args()

    import icechunk
    import zarr

    import pluma

    with tempfile.TemporaryDirectory() as tmp:
        ws = pluma.open(Path(tmp) / "ws", user="admin")
        ws.create_program("BENCH", members={"ana": ["engineer"]})
        ctx = pluma.open(Path(tmp) / "ws", user="ana").program("BENCH").context
        ours = timed(lambda i: ctx.set_params(span=30.0 + i % 50), args.n)

        repo = icechunk.Repository.create(icechunk.local_filesystem_storage(str(Path(tmp) / "raw")))

        def raw_commit(i):
            session = repo.writable_session("main")
            zarr.open_group(session.store, path="context", mode="a").attrs["span"] = 30.0 + i % 50
            session.commit("set span")

        raw = timed(raw_commit, args.n)

        prog = pluma.open(Path(tmp) / "ws", user="admin").program("BENCH")
        prog.set_gate("CAD", {"phase": "CAD", "requires": {"params": ["span"]}})
        prog.set_member("admin", ["chief_engineer", "program_manager"])
        frozen = prog.advance(message="bench")
        tag = frozen.tag
        enclave_repo = prog._enclave.repo
        ours_read = timed(lambda i: prog.frozen("CAD#1").params["span"], args.n)

        def raw_read(i):
            s = enclave_repo.readonly_session(tag=tag)
            return zarr.open_group(s.store, path="context", mode="r").attrs["doc"]["params"]["span"]["value"]

        raw_read_t = timed(raw_read, args.n)

    def med(x):
        return statistics.median(x) * 1e3

    print(f"commit one parameter   pluma {med(ours):7.2f} ms   bare icechunk {med(raw):7.2f} ms   ratio {med(ours) / med(raw):5.2f}x")
    print(f"read a frozen param    pluma {med(ours_read):7.2f} ms   bare icechunk {med(raw_read_t):7.2f} ms   ratio {med(ours_read) / med(raw_read_t):5.2f}x")


if __name__ == "__main__":
    main()
