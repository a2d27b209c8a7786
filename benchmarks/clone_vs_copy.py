"""Cloning a frozen context vs copying its bytes, across dataset sizes.

For each size, a workspace whose frozen context holds one float64 dataset of
that size (random values, so compression cannot hide them; chunked along ``x``,
which has an index coordinate). Then, side by side:

* ours: ``fc.clone(...)`` with one parameter override and a dataset override
  that is a region covering exactly one chunk;
* the obvious alternative: ``shutil.copytree`` of the enclave folder
  (``<ws>/enclaves/default``) — a byte copy of everything stored.

Per size it prints clone time, copy time, clone/copy, bytes each adds to the
disk (``os.walk`` before/after) and the Context Reuse Ratio (CRR) the clone
reports; then the flatness ratio clone(largest)/clone(smallest) and whether the
goals hold. Each timing is the median of ``--repeat`` runs. Machines here are
noisy (speeds drift by 2x over minutes): every size is built first, then the
timed runs are interleaved — each round copies and clones every size in turn —
so the ratios compare runs made under the same conditions. The clones of
earlier rounds stay in the enclave, so later copies include their chunks (one
chunk per clone: +0.1 % per round at 1 GB). Dirty pages are synced before every timed run, so
no run pays for the previous one's write-back. Compare ratios, not absolute times.

    .venv/bin/python benchmarks/clone_vs_copy.py [--sizes 20MB,1GB] [--chunk-mb 1] [--repeat 3] [--cold] [--index-chunked] [--quick]

Sizes are binary (1MB = 2**20 bytes). By default the page cache is warm (the
workspace was just written); ``--cold`` drops it before every timed run (needs
root and a writable ``/proc/sys/vm/drop_caches``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _disk import disk_usage  # noqa: E402

os.environ.setdefault("ICECHUNK_LOG", "error")

COLS = 1024  # columns (dimension y); one row = 8 KiB of float64
TRIVIAL_GATE = {"phase": "CAD", "requires": {}, "checks": [], "approvals": []}
METADATA_ALLOWANCE = 1 << 20  # "plus metadata": at most 1 MiB outside chunks/


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]?)i?B?\s*", text.upper())
    if not m:
        raise SystemExit(f"cannot read size {text!r}: write e.g. 20MB, 512MB, 1GB")
    return int(float(m.group(1)) * 1024 ** " KMGT".index(m.group(2) or " "))


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"


def drop_caches() -> bool:
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("3\n")
        return True
    except OSError:
        return False


def build(folder: Path, nbytes: int, chunk_rows: int, seed: int, index_chunked: bool = False):
    """A workspace with program SRC frozen at CAD#1 holding dataset ``big`` of ~nbytes.

    The index coordinate ``x`` keeps Zarr's default chunking (a few chunks) unless
    ``index_chunked``, which chunks it like the data (one coordinate chunk per data chunk)."""
    import numpy as np
    import xarray as xr

    import pluma

    rows = max(chunk_rows, round(nbytes / (COLS * 8)))
    rng = np.random.default_rng(seed)
    ds = xr.Dataset({"v": (("x", "y"), rng.random((rows, COLS)))}, coords={"x": np.arange(rows)})
    ds["v"].encoding["chunks"] = (chunk_rows, COLS)
    if index_chunked:
        ds["x"].encoding["chunks"] = (chunk_rows,)
    ws = pluma.open(folder / "ws", user="admin")
    prog = ws.create_program("SRC", members={"admin": ["chief_engineer", "program_manager"]})
    prog.context.set_params(span=36.0, cruise_mach=0.78)
    prog.context.put_dataset("big", ds)
    del ds
    prog.set_gate("CAD", TRIVIAL_GATE)
    fc = prog.advance("baseline")
    return ws, fc, rows


def region_override(rows: int, chunk_rows: int, chunk: int, seed: int):
    """New values for exactly one chunk of ``big`` (a region located through ``x``)."""
    import numpy as np
    import xarray as xr

    start = chunk * chunk_rows
    stop = min(start + chunk_rows, rows)
    rng = np.random.default_rng(seed)
    return xr.Dataset({"v": (("x", "y"), rng.random((stop - start, COLS)))}, coords={"x": np.arange(start, stop)})


class Subject:
    """One size: its workspace, frozen context and the measurements taken on it."""

    def __init__(self, label: str, nbytes: int, args, base: Path) -> None:
        self.label, self.args = label, args
        self.chunk_rows = max(1, int(args.chunk_mb * 2**20) // (COLS * 8))
        self.folder = Path(tempfile.mkdtemp(prefix=f"clone-{label}-", dir=base))
        t = time.perf_counter()
        self.ws, self.fc, self.rows = build(self.folder, nbytes, self.chunk_rows, seed=1,
                                            index_chunked=args.index_chunked)
        self.build_s = time.perf_counter() - t
        self.enclave = self.folder / "ws" / "enclaves" / "default"
        self.nchunks = -(-self.rows // self.chunk_rows)
        snap = self.fc.program._enclave.snapshot(tag=self.fc.tag)
        x_chunks = len([k for k in snap.sizes("data/big/x") if "/c/" in k])
        self.chunk_sizes = [v for k, v in snap.sizes("data/big/v").items() if "/c/" in k]
        stored = disk_usage(self.enclave)
        print(f"[{label}] built in {self.build_s:.1f} s: {self.rows}x{COLS} float64 = {human(self.rows * COLS * 8)} in "
              f"memory, {self.nchunks} chunks of {self.chunk_rows}x{COLS} ({human(self.chunk_rows * COLS * 8)}), "
              f"index coordinate x in {x_chunks} chunk(s), stored {human(sum(stored.values()))} (enclave folder)",
              flush=True)
        self.copy_times: list[float] = []
        self.copy_bytes: list[int] = []
        self.clone_times: list[float] = []
        self.added: list[int] = []
        self.added_chunks: list[int] = []
        self.crrs: list[float] = []
        self.profile = ""

    def copy(self, r: int) -> None:
        """(b) the obvious alternative: a byte copy of everything stored (the enclave folder)."""
        target = self.folder / f"copy{r}"
        os.sync()  # nobody's write-back lands in this timed run
        if self.args.cold:
            drop_caches()
        t = time.perf_counter()
        shutil.copytree(self.enclave, target)
        self.copy_times.append(time.perf_counter() - t)
        self.copy_bytes.append(sum(disk_usage(target).values()))
        shutil.rmtree(target)

    def clone(self, r: int) -> None:
        """(a) ours: one parameter override and a region override covering exactly one chunk."""
        region = region_override(self.rows, self.chunk_rows, chunk=r % self.nchunks, seed=100 + r)
        before = disk_usage(self.enclave)
        os.sync()
        if self.args.cold:
            drop_caches()
        t = time.perf_counter()
        child = self.fc.clone(f"NEW{r}", overrides={"span": 38.0 + r}, dataset_overrides={"big": region})
        self.clone_times.append(time.perf_counter() - t)
        after = disk_usage(self.enclave)
        self.added.append(sum(after.values()) - sum(before.values()))
        self.added_chunks.append(after.get("chunks", 0) - before.get("chunks", 0))
        self.crrs.append(child.origin["reuse"]["ratio"])
        if r == 0:  # sanity: the override landed where it should, the rest is shared
            info = child.context.dataset_info("big")
            assert info["write"] == ("region" if self.nchunks > 1 else "chunks"), info
            assert child.context.params["span"] == 38.0

    def profile_one(self) -> None:
        region = region_override(self.rows, self.chunk_rows, chunk=0, seed=999)
        prof = cProfile.Profile()
        prof.enable()
        self.fc.clone("PROFILED", overrides={"span": 39.0}, dataset_overrides={"big": region})
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(25)
        self.profile = buf.getvalue()

    def result(self) -> dict:
        return {
            "label": self.label, "nbytes": self.rows * COLS * 8, "nchunks": self.nchunks, "build": self.build_s,
            "clone": statistics.median(self.clone_times), "clone_all": self.clone_times,
            "copy": statistics.median(self.copy_times), "copy_all": self.copy_times,
            "clone_bytes": statistics.median(self.added), "clone_chunk_bytes": statistics.median(self.added_chunks),
            "copy_bytes": statistics.median(self.copy_bytes), "crr": statistics.median(self.crrs),
            "chunk_stored": max(self.chunk_sizes), "chunk_raw": self.chunk_rows * COLS * 8, "profile": self.profile,
        }

    def close(self) -> None:
        if self.args.keep:
            print(f"[{self.label}] kept {self.folder}")
        else:
            shutil.rmtree(self.folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20MB,1GB", help="comma-separated dataset sizes (binary units)")
    parser.add_argument("--chunk-mb", type=float, default=1.0,
                        help="chunk size along x, in MiB (default 1: the clone writes one chunk, so its time "
                             "grows with the chunk: encoding 8 MiB alone takes ~15 ms here)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement; the median is kept")
    parser.add_argument("--index-chunked", action="store_true",
                        help="chunk the index coordinate like the data (default: Zarr's default chunking)")
    parser.add_argument("--cold", action="store_true", help="drop the page cache before every timed run (root)")
    parser.add_argument("--profile", action="store_true", help="cProfile one extra clone per size and print the top")
    parser.add_argument("--tmp", default=None, help="folder for the temporary workspaces (default: system tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspaces")
    parser.add_argument("--quick", action="store_true",
                        help="a seconds-long run (2MB,8MB, 256 KiB chunks, 2 rounds) that checks the script works")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.chunk_mb, args.repeat = "2MB,8MB", 0.25, 2

    sizes = [(s.strip(), parse_size(s)) for s in args.sizes.split(",") if s.strip()]
    base = Path(args.tmp or tempfile.gettempdir())
    need = sum(n for _, n in sizes) * 3
    free = shutil.disk_usage(base).free
    if free < need:
        raise SystemExit(f"{base} has {human(free)} free; these sizes need about {human(need)}")
    if args.cold and not drop_caches():
        raise SystemExit("--cold needs a writable /proc/sys/vm/drop_caches (root, not in a restricted container)")
    cache = "cold (page cache dropped before each timed run)" if args.cold else \
        "WARM page cache (data just written; --cold drops it, root only)"
    print(f"clone vs byte copy — sizes {args.sizes}, chunks {args.chunk_mb:g} MiB, median of {args.repeat}, {cache}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, tmp {base}\n", flush=True)

    # Every size is built first; then the runs are interleaved (each round: every size's copy and
    # clone, one after the other) so that all of them see the same machine: speeds here drift by 2x
    # over minutes, which would otherwise land on whichever size happened to run in a slow stretch.
    subjects: list[Subject] = []
    try:
        for label, n in sizes:
            subjects.append(Subject(label, n, args, base))
        print(f"\ntimed runs, interleaved across sizes: {args.repeat} rounds", flush=True)
        for r in range(args.repeat):
            for subject in subjects:
                subject.copy(r)
                subject.clone(r)
        if args.profile:
            for subject in subjects:
                subject.profile_one()
        results = [subject.result() for subject in subjects]
    finally:
        for subject in subjects:
            subject.close()

    print()
    head = (f"{'size':>8} {'chunks':>6} | {'clone':>9} {'copy':>9} {'clone/copy':>10} | "
            f"{'clone adds':>11} {'copy adds':>11} {'clone/copy':>10} | {'CRR':>6}")
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r['label']:>8} {r['nchunks']:>6} | {r['clone'] * 1e3:7.1f}ms {r['copy'] * 1e3:7.1f}ms "
              f"{r['clone'] / r['copy']:10.4f} | {human(r['clone_bytes']):>11} {human(r['copy_bytes']):>11} "
              f"{r['clone_bytes'] / r['copy_bytes']:10.4f} | {r['crr']:6.4f}")
    print("\nall runs (s):")
    for r in results:
        print(f"  {r['label']:>8} clone {', '.join(f'{t:.3f}' for t in r['clone_all'])}   "
              f"copy {', '.join(f'{t:.3f}' for t in r['copy_all'])}")
    print("\nbytes a clone adds beyond one stored chunk:")
    for r in results:
        meta = r["clone_bytes"] - r["clone_chunk_bytes"]
        print(f"  {r['label']:>8} chunks/ +{human(r['clone_chunk_bytes'])} (one chunk stored = "
              f"{human(r['chunk_stored'])}, raw {human(r['chunk_raw'])}), metadata (snapshots, manifests, repo info, ...) +{human(meta)}")

    small, large = results[0], results[-1]
    flat = large["clone"] / small["clone"]
    print(f"\nflatness clone({large['label']})/clone({small['label']}) = {flat:.2f}x   "
          f"(data grew {large['nbytes'] / small['nbytes']:.0f}x; copy grew {large['copy'] / small['copy']:.0f}x)")

    def verdict(ok: bool) -> str:
        return "HOLDS" if ok else "FAILS"

    bytes_ok = all(r["clone_chunk_bytes"] <= r["chunk_raw"] and
                   r["clone_bytes"] - r["clone_chunk_bytes"] <= METADATA_ALLOWANCE for r in results)
    print("\ngoals")
    if len(results) > 1:
        print(f"  clone time flat within 1.5x across sizes     {flat:8.2f}x        {verdict(flat <= 1.5)}")
    share = large["clone"] / large["copy"]
    print(f"  clone <= 5 % of copy at {large['label']:<8}           {share * 100:7.2f} %       {verdict(share <= 0.05)}")
    worst = max(r["clone_bytes"] - r["chunk_raw"] for r in results)
    print(f"  bytes added <= one chunk + metadata ({human(METADATA_ALLOWANCE)})  "
          f"worst excess {human(max(worst, 0))}  {verdict(bytes_ok)}")
    print(f"  CRR >= 0.98 at {large['label']:<8}                     {large['crr']:8.4f}        "
          f"{verdict(large['crr'] >= 0.98)}")
    if small is not large and small["crr"] < 0.98:
        print(f"    (at {small['label']} one chunk of {small['nchunks']} is rewritten by construction, so CRR "
              f"<= {1 - 1 / small['nchunks']:.3f} there; the goal is read at the largest size)")
    print(f"\npage cache: {cache}")
    for r in results:
        if r["profile"]:
            print(f"\n--- cProfile of one clone at {r['label']} (cumulative) ---\n{r['profile']}")


if __name__ == "__main__":
    main()
