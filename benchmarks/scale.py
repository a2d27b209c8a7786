"""Scale: a workspace of 1,000 programs x 9 frozen contexts.

Builds it (one program through the real ceremony, the rest in bulk: see
``_bulk.py``), then prints

* the time to create it, to open it (``pluma.open``, in a fresh process too),
  and to list the programs (``ws.programs()``: handles + access check on each);
* ``ws.query`` over all 9,000 frozen contexts: p50/p95 of ~50 varied queries
  (goal p95 < 100 ms);
* every program's current gate evaluated for real (``prog.gate().evaluate()``:
  required parameters, expression checks with units) in parallel on a Dask
  ``LocalCluster`` of 2 single-threaded workers, against the obvious alternative,
  the same evaluations one after another in this process (goal < 60 s on 2 cores);
* peak memory (RSS) of this process and of each Dask worker (goal < 2 GB).

    .venv/bin/python benchmarks/scale.py                     # 1,000 programs (build ~10-15 min)
    .venv/bin/python benchmarks/scale.py --quick             # 50 programs
    .venv/bin/python benchmarks/scale.py --workspace /tmp/scale-ws   # keep / reuse the built workspace
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bulk import build, program_name  # noqa: E402
from query import pct, query_specs  # noqa: E402

os.environ.setdefault("ICECHUNK_LOG", "error")

BATCH = 25  # programs per Dask task

OPEN_SNIPPET = """
import json, sys, time
t0 = time.perf_counter()
import pluma
t1 = time.perf_counter()
ws = pluma.open(sys.argv[1], user="admin", create=False)
t2 = time.perf_counter()
programs = ws.programs()
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "open": t2 - t1, "programs": t3 - t2, "n": len(programs)}))
"""


def evaluate_batch(path: str, names: list[str]) -> list[tuple[str, str, bool, int, float]]:
    """Evaluate the current gate of each program (runs on a Dask worker; the
    workspace handle is kept on the worker between tasks)."""
    import time

    import pluma

    try:
        from distributed import get_worker

        holder = get_worker()
    except (ImportError, ValueError):  # not on a worker: evaluate here
        holder = evaluate_batch
    cache = getattr(holder, "_pluma_workspaces", None)
    if cache is None:
        cache = {}
        setattr(holder, "_pluma_workspaces", cache)
    ws = cache.get(path) or cache.setdefault(path, pluma.open(path, user="admin", create=False))
    out = []
    for name in names:
        t = time.perf_counter()
        report = ws.program(name).gate().evaluate()
        out.append((name, str(report.phase), bool(report.passed), len(report.checks), time.perf_counter() - t))
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def gate_on_dask(path: Path, names: list[str], workers: int) -> dict:
    from distributed import Client, LocalCluster

    t = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=40) as cluster, Client(cluster) as client:
        start_s = time.perf_counter() - t
        # warm each worker as this process is warm (imports, unit registry, an open workspace)
        client.run(evaluate_batch, str(path), names[:1])
        batches = [names[i:i + BATCH] for i in range(0, len(names), BATCH)]
        t = time.perf_counter()
        futures = client.map(evaluate_batch, [str(path)] * len(batches), batches, pure=False)
        results = [r for batch in client.gather(futures) for r in batch]
        wall = time.perf_counter() - t
        worker_rss = client.run(lambda: __import__("resource").getrusage(
            __import__("resource").RUSAGE_SELF).ru_maxrss / 1024)
    return {"wall_s": wall, "cluster_start_s": start_s, "results": results,
            "worker_peak_rss_mb": sorted(worker_rss.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--programs", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="50 programs")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--serial-sample", type=int, default=100,
                        help="programs evaluated one after another for the comparison (extrapolated)")
    parser.add_argument("--workspace", default=None, help="keep (and reuse) the built workspace in this folder")
    parser.add_argument("--profile-listing", action="store_true", help="cProfile ws.programs() and print the top")
    args = parser.parse_args()
    n = 50 if args.quick else args.programs

    import pluma

    owned = args.workspace is None
    folder = Path(tempfile.mkdtemp(prefix="scale-bench-")) if owned else Path(args.workspace)
    path, meta_file = folder / "ws", folder / "scale-meta.json"
    try:
        if meta_file.exists() and json.loads(meta_file.read_text())["programs"] == n:
            meta = json.loads(meta_file.read_text())
            print(f"reusing {path}: built earlier in {meta['build_s']:.0f} s")
        else:
            if path.exists():
                shutil.rmtree(path)
            print(f"building {n} programs x 9 frozen contexts = {n * 9} in {path}", flush=True)
            meta = build(path, n, report=lambda line: print(line, flush=True))
            meta_file.write_text(json.dumps(meta))

        # open and list: in a fresh process (what a new kernel pays), then here
        fresh = json.loads(subprocess.run([sys.executable, "-c", OPEN_SNIPPET, str(path)], check=True,
                                          capture_output=True, text=True).stdout.strip().splitlines()[-1])
        t = time.perf_counter()
        ws = pluma.open(path, user="admin", create=False)
        open_s = time.perf_counter() - t
        t = time.perf_counter()
        programs = ws.programs()
        list_s = time.perf_counter() - t
        assert len(programs) == n, (len(programs), n)
        t = time.perf_counter()
        names = ws.program_names()
        names_s = time.perf_counter() - t
        profile_text = ""
        if args.profile_listing:
            import cProfile
            import io
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            ws.programs()
            prof.disable()
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(25)
            profile_text = buf.getvalue()

        # query
        specs = query_specs(args.queries, n)
        ws.query(**specs[0])  # warm-up (lazy imports, index load)
        times, rows = [], []
        for spec in specs:
            t = time.perf_counter()
            rows.append(len(ws.query(**spec)))
            times.append(time.perf_counter() - t)
        all_rows = len(ws.query())
        assert all_rows == n * 9, (all_rows, n * 9)

        # gates: Dask vs one after another
        dask = gate_on_dask(path, names, args.workers)
        assert sorted(r[0] for r in dask["results"]) == sorted(names)
        sample = names[:: max(1, len(names) // args.serial_sample)][: args.serial_sample]
        t = time.perf_counter()
        serial = evaluate_batch(str(path), sample)
        serial_s = (time.perf_counter() - t) / len(sample) * len(names)
        by_name = {r[0]: r for r in dask["results"]}
        assert all(by_name[r[0]][2] == r[2] for r in serial), "Dask and in-process evaluations disagree"
        passed = sum(r[2] for r in dask["results"])
        checks = sum(r[3] for r in dask["results"])
        main_rss = peak_rss_mb()
    finally:
        if owned:
            shutil.rmtree(folder, ignore_errors=True)

    p50, p95 = pct(times, 50), pct(times, 95)
    gate_ok, query_ok = dask["wall_s"] < 60, p95 < 0.1
    total_rss = main_rss + sum(dask["worker_peak_rss_mb"])
    print(f"\nworkspace: {n} programs, {n * 9} frozen contexts "
          f"(program {program_name(0)} through the real ceremony in {meta['ceremony_s']:.1f} s, the rest in bulk)")
    print(f"create: {meta['build_s']:.0f} s ({meta['contexts'] / meta['build_s']:.0f} frozen contexts/s; "
          + ", ".join(f"{k} {v:.0f} s" for k, v in meta["timings"].items()) + ")")
    print(f"open:   pluma.open {open_s * 1e3:.0f} ms here; fresh process: import {fresh['import'] * 1e3:.0f} ms, "
          f"open {fresh['open'] * 1e3:.0f} ms, programs() {fresh['programs'] * 1e3:.0f} ms")
    print(f"list:   ws.programs() {list_s * 1e3:.0f} ms for {len(programs)} programs "
          f"({list_s / len(programs) * 1e3:.2f} ms each); ws.program_names() {names_s * 1e3:.1f} ms")
    print(f"query:  {len(times)} varied queries over {all_rows} frozen contexts (rows {min(rows)}-{max(rows)}): "
          f"p50 {p50 * 1e3:.1f} ms, p95 {p95 * 1e3:.1f} ms, max {max(times) * 1e3:.1f} ms")
    print(f"gates:  {len(names)} current gates evaluated ({checks} checks; {passed} pass, {len(names) - passed} "
          f"do not) on Dask with {args.workers} workers: {dask['wall_s']:.1f} s "
          f"(cluster start {dask['cluster_start_s']:.1f} s not included)")
    print(f"        one after another in this process: {serial_s:.1f} s (measured on {len(sample)}, extrapolated); "
          f"ratio serial/Dask {serial_s / dask['wall_s']:.2f}x")
    print(f"memory: peak RSS this process {main_rss:.0f} MB, workers "
          + ", ".join(f"{m:.0f}" for m in dask["worker_peak_rss_mb"]) + f" MB; total {total_rss:.0f} MB")
    print(f"goals:  gates < 60 s {'HOLDS' if gate_ok else 'FAILS'} ({dask['wall_s']:.1f} s); "
          f"query p95 < 100 ms {'HOLDS' if query_ok else 'FAILS'} ({p95 * 1e3:.1f} ms); "
          f"memory < 2 GB {'HOLDS' if total_rss < 2048 else 'FAILS'} ({total_rss:.0f} MB)")
    if profile_text:
        print(f"\n--- cProfile of ws.programs() ---\n{profile_text}")


if __name__ == "__main__":
    main()
