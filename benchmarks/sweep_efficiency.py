"""Parallel efficiency of ``pluma.sweeps.run`` against a plain process pool.

The same sweep — ``--points`` (default 64) points of a CPU-bound numpy
computation calibrated to about 0.25 s (no sleeping) — runs

* through ``pluma.sweeps.run`` on the embedded LocalCluster of 2
  single-threaded workers (``pluma.sweeps.get_client()``, entered before timing),
* through ``concurrent.futures.ProcessPoolExecutor(2)`` (spawn), one task per point,

both started and warmed up before timing (start-up is reported apart), in
alternating rounds. Printed:

* parallel efficiency = work seconds measured inside the tasks / (wall × 2)
  (PLUMA's metering definition); the CPU share = CPU seconds of the task
  threads / (wall × 2); and the stricter speed-up efficiency = serial time
  of the same points in this process before the runs / (wall × 2). On a
  machine that other processes load, only the first is stable; the load
  average is printed;
* their ratio (sweeps / pool);
* the per-task overhead, measured on the sweep and with a burst of no-op
  tasks (which also gives the scheduler's throughput);
* a PROJECTION (a model, not a measurement) of the efficiency at 100 workers
  from the measured throughput and overhead.

Goals: efficiency ≥ 0.9; ratio to the pool ≥ 0.95.

Run: ``.venv/bin/python benchmarks/sweep_efficiency.py [--points 64] [--rounds 2] [--json]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one core per process, as Dask workers
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import multiprocessing  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402

WORKERS = 2
TARGET_S = 0.25
GOAL_EFFICIENCY = 0.9
GOAL_RATIO = 0.95


# -- the workload: element-wise numpy (single-threaded, no BLAS) ---------------------------
def work(x: float, iterations: int) -> dict:
    """A relaxation of a 1-D field: CPU-bound, deterministic. The field is small
    (32 KiB) so that it stays in cache and no temporary goes through mmap."""
    field = np.linspace(0.0, 1.0, 4096) + x
    for _ in range(iterations):
        field = 0.5 * (np.sin(field) + np.cos(field[::-1])) + 1e-3 * field
    return {"mean": float(field.mean()), "spread": float(field.std())}


def timed_work(x: float, iterations: int) -> dict:
    """The work plus how long it took inside the process: wall and CPU time of the thread."""
    t0, c0 = time.perf_counter(), time.thread_time()
    out = work(x, iterations)
    return {**out, "wall_s": time.perf_counter() - t0, "cpu_s": time.thread_time() - c0}


def noop(i: int) -> int:
    return i


def pid(_: int) -> int:
    return os.getpid()


def calibrate(target: float) -> tuple[int, float]:
    """Iterations for ``target`` seconds per point in this process, and the time
    of one point (the fastest of 3: the least disturbed by other processes)."""
    work(0.0, 5)
    per_iter = min(_timed(work, 0.0, 50) for _ in range(3)) / 50
    iterations = max(1, round(target / per_iter))
    return iterations, min(_timed(work, 0.1, iterations) for _ in range(3))


def _timed(func, *args) -> float:
    t0 = time.perf_counter()
    func(*args)
    return time.perf_counter() - t0


# -- the two runners ---------------------------------------------------------------------
def run_sweeps(client, xs: np.ndarray, iterations: int) -> dict:
    from pluma import sweeps

    func = functools.partial(timed_work, iterations=iterations)
    t0 = time.perf_counter()
    ds = sweeps.run(func, grid={"x": xs}, client=client, progress=False)
    outer = time.perf_counter() - t0
    usage = ds.attrs["usage"]
    assert usage["failures"] == 0, ds.attrs["errors"]
    return {"wall": usage["wall_seconds"], "outer_wall": outer, "work": usage["core_seconds"],
            "cpu": float(ds.cpu_s.sum()),
            "tasks": usage["tasks"], "batch_size": ds.attrs["batching"]["batch_size"],
            "efficiency": usage["parallel_efficiency"]}


def run_pool(pool: ProcessPoolExecutor, xs: np.ndarray, iterations: int) -> dict:
    t0 = time.perf_counter()
    futures = [pool.submit(timed_work, float(x), iterations) for x in xs]
    results = [f.result() for f in futures]
    wall = time.perf_counter() - t0
    work_s = sum(r["wall_s"] for r in results)
    return {"wall": wall, "outer_wall": wall, "work": work_s, "cpu": sum(r["cpu_s"] for r in results),
            "tasks": len(xs), "batch_size": 1, "efficiency": work_s / (wall * WORKERS)}


def scheduler_throughput(client, n: int = 2000) -> tuple[float, float]:
    """(no-op tasks per second through the scheduler and 2 workers, seconds of a worker per no-op task)."""
    client.gather(client.map(noop, range(50), pure=False))  # warm
    t0 = time.perf_counter()
    client.gather(client.map(noop, range(n), pure=False))
    wall = time.perf_counter() - t0
    return n / wall, wall * WORKERS / n


def projection(workers: int, point_s: float, overhead_s: float, throughput: float, points_per_worker: int,
               batched: bool = True) -> dict:
    """Efficiency at ``workers`` single-threaded workers, modelled (not measured).

    Points are batched by the runner's own rule (``batch_size_for``: tasks of
    at least ``max(0.2 s, workers / 100 s)``, at least 4 tasks per worker,
    whole waves), or one per task (``batched=False``); each task costs its
    worker ``overhead_s`` more (measured on the sweep above); the scheduler
    dispatches at most ``throughput`` tasks a second (measured here with 2
    workers on a 2-core machine that also runs the scheduler and the client:
    a conservative figure for the scheduler alone). Wall time is the larger of
    the workers' share (whole waves of tasks) and the scheduler's dispatch time.
    """
    from pluma.sweeps.runner import batch_size_for

    points = workers * points_per_worker
    batch = batch_size_for(points, workers, point_s) if batched else 1
    tasks = math.ceil(points / batch)
    task_s = batch * point_s + overhead_s
    compute = math.ceil(tasks / workers) * task_s
    dispatch = tasks / throughput + task_s
    wall = max(compute, dispatch)
    return {"workers": workers, "points": points, "batch_size": batch, "tasks": tasks,
            "efficiency": points * point_s / (workers * wall),
            "limited_by": "workers" if compute >= dispatch else "scheduler",
            "scheduler_saturates_at_workers": int(throughput * task_s)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.points < 64:
        parser.error("--points must be at least 64")

    load_before = os.getloadavg()[0]
    iterations, point_s = calibrate(TARGET_S)
    xs = np.linspace(0.0, 1.0, args.points)
    serial_s = args.points * point_s

    import contextlib

    import dask.config

    from pluma.sweeps import get_client

    stack = contextlib.ExitStack()
    t0 = time.perf_counter()
    stack.enter_context(dask.config.set({"gateway.address": None}))
    os.environ.pop("PLUMA_DASK_GATEWAY", None)
    client = stack.enter_context(get_client())  # the embedded cluster sweeps.run would start: 2 × 1 thread
    run_sweeps(client, np.array([0.0, 0.5]), 2)  # warm: imports on the workers
    startup_dask = time.perf_counter() - t0

    t0 = time.perf_counter()
    pool = ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn"))
    list(pool.map(timed_work, [0.0] * WORKERS, [max(1, iterations // 2)] * WORKERS))  # spawn both, warm numpy
    pids: set[int] = set()
    for _ in range(50):
        pids |= set(pool.map(pid, range(4 * WORKERS)))
        if len(pids) >= WORKERS:
            break
    startup_pool = time.perf_counter() - t0

    rounds: dict[str, list[dict]] = {"sweeps": [], "pool": []}
    try:
        for _ in range(args.rounds):
            rounds["sweeps"].append(run_sweeps(client, xs, iterations))
            rounds["pool"].append(run_pool(pool, xs, iterations))
        throughput, noop_overhead = scheduler_throughput(client)
    finally:
        pool.shutdown()
        stack.close()

    def summary(rs: list[dict]) -> dict:
        best = min(rs, key=lambda r: r["wall"])
        med_wall = statistics.median(r["wall"] for r in rs)
        return {
            "wall_s": round(med_wall, 3),
            "efficiency": round(statistics.median(r["efficiency"] for r in rs), 4),
            "speedup_efficiency": round(serial_s / (med_wall * WORKERS), 4),
            "cpu_share": round(statistics.median(r["cpu"] / (r["wall"] * WORKERS) for r in rs), 4),
            "end_to_end_speedup_efficiency": round(serial_s / (statistics.median(r["outer_wall"] for r in rs) * WORKERS), 4),
            "tasks": best["tasks"], "batch_size": best["batch_size"],
            "per_task_overhead_ms": round(1000 * statistics.median(
                (r["wall"] * WORKERS - r["work"]) / r["tasks"] for r in rs), 3),
            "rounds": [{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for r in rs],
        }

    dask_s, pool_s = summary(rounds["sweeps"]), summary(rounds["pool"])
    ratio = dask_s["efficiency"] / pool_s["efficiency"]
    ratio_speedup = dask_s["speedup_efficiency"] / pool_s["speedup_efficiency"]
    ratio_cpu = dask_s["cpu_share"] / pool_s["cpu_share"]
    worker_overhead = max(dask_s["per_task_overhead_ms"] / 1000, noop_overhead)
    proj = projection(100, point_s, worker_overhead, throughput, points_per_worker=math.ceil(args.points / WORKERS))
    proj_same = projection(100, point_s, worker_overhead, throughput, points_per_worker=1)
    unbatched = projection(100, point_s, worker_overhead, throughput, math.ceil(args.points / WORKERS), batched=False)
    result = {
        "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "points": args.points, "point_s": round(point_s, 4), "iterations": iterations, "workers": WORKERS,
        "startup_s": {"sweeps_local_cluster": round(startup_dask, 3), "process_pool": round(startup_pool, 3)},
        "sweeps": dask_s, "pool": pool_s,
        "ratio": round(ratio, 4), "ratio_speedup": round(ratio_speedup, 4),
        "ratio_cpu_share": round(ratio_cpu, 4),
        "scheduler_throughput_tasks_per_s": round(throughput, 1),
        "noop_task_overhead_ms": round(1000 * noop_overhead, 3),
        "PROJECTION_100_workers": {k: round(v, 4) if isinstance(v, float) else v for k, v in proj.items()},
        "PROJECTION_100_workers_one_point_each": {k: round(v, 4) if isinstance(v, float) else v
                                                   for k, v in proj_same.items()},
        "PROJECTION_100_workers_one_point_per_task": {k: round(v, 4) if isinstance(v, float) else v
                                                       for k, v in unbatched.items()},
        "goals": {"efficiency>=0.9": dask_s["efficiency"] >= GOAL_EFFICIENCY,
                  "speedup_efficiency>=0.9": dask_s["speedup_efficiency"] >= GOAL_EFFICIENCY,
                  "ratio>=0.95": ratio >= GOAL_RATIO},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    ok = lambda flag: "MET" if flag else "NOT MET"  # noqa: E731
    print(f"workload: {args.points} points of {point_s:.3f} s (numpy, {iterations} iterations), {WORKERS} workers; "
          f"serial {serial_s:.2f} s")
    print(f"machine load (1-min average) before {load_before:.2f}, after {os.getloadavg()[0]:.2f} "
          f"(other processes compete for the {os.cpu_count()} cores: speed-up efficiency suffers, occupancy does not)")
    print(f"start-up (not timed below): LocalCluster {startup_dask:.2f} s, ProcessPoolExecutor(spawn) {startup_pool:.2f} s")
    for label, s in (("pluma.sweeps", dask_s), ("process pool", pool_s)):
        print(f"{label:>13}: wall {s['wall_s']:.3f} s  efficiency {s['efficiency']:.3f}  speed-up efficiency "
              f"{s['speedup_efficiency']:.3f}  CPU share {s['cpu_share']:.3f}  tasks {s['tasks']} (batch {s['batch_size']})  "
              f"overhead {s['per_task_overhead_ms']:.2f} ms/task")
    print(f"    sweeps end to end (with assembling the Dataset): speed-up efficiency "
          f"{dask_s['end_to_end_speedup_efficiency']:.3f}")
    print(f"ratio sweeps/pool: {ratio:.3f} (speed-up efficiencies: {ratio_speedup:.3f}, CPU shares: {ratio_cpu:.3f})")
    print(f"scheduler throughput (2 workers, no-op tasks): {throughput:.0f} tasks/s, "
          f"{1000 * noop_overhead:.2f} ms of a worker per task")
    print(f"PROJECTION (model, not measured) at 100 workers, {proj['points']} points of {point_s:.2f} s "
          f"in {proj['tasks']} tasks of {proj['batch_size']} points: efficiency {proj['efficiency']:.3f}, limited by "
          f"{proj['limited_by']} (the scheduler would saturate near {proj['scheduler_saturates_at_workers']} workers "
          f"with tasks of that size)")
    print(f"PROJECTION (model) at 100 workers without batching (one {point_s:.2f}-s point per task): efficiency "
          f"{unbatched['efficiency']:.3f}, limited by {unbatched['limited_by']}; with only one point per worker: "
          f"{proj_same['efficiency']:.3f}")
    print(f"goal efficiency >= {GOAL_EFFICIENCY}: {ok(dask_s['efficiency'] >= GOAL_EFFICIENCY)} "
          f"(speed-up efficiency: {ok(dask_s['speedup_efficiency'] >= GOAL_EFFICIENCY)}); "
          f"goal ratio >= {GOAL_RATIO}: {ok(ratio >= GOAL_RATIO)}")


if __name__ == "__main__":
    main()
