"""Load: 32 concurrent clients on one workspace, bounded in time.

Clients are threads in a few spawned processes (``--procs`` x ``--clients/procs``;
threads of one process share its commit lock, processes contend on the OS lock,
as notebook kernels, the CLI and services do). For ``--seconds`` each client
loops over a random mix of

* ``read``        a working context's parameters, or a frozen context's;
* ``write``       its own parameter ``w<client>`` on one of the programs (fresh handle);
* ``hot_write``   the shared parameter ``hot`` from a handle read earlier: a
                  ``ConflictError`` is expected when someone else changed it since;
* ``query``       ``ws.query`` over the frozen contexts of every program;
* ``advance``     freeze a program (its gates are open) and move it on.

Expected refusals are ``ConflictError`` and ``StaleContextError`` (a handle from
before someone else's advance); anything else counts as an unexpected error.
Afterwards every acknowledged write is verified: its commit is in the branch
history and holds the value written, the tip holds each client's last value, and
every acknowledged freeze is tagged with its id and indexed. p50/p99 per
operation are printed, with the "alternative" for comparison: the same operation
mix run by ONE client alone (the cost of contention = ratio of the p50s).

    .venv/bin/python benchmarks/load.py                 # 32 clients, 60 s
    .venv/bin/python benchmarks/load.py --quick         # 32 clients, 8 s
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import tempfile
import threading
import time
import traceback
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("ICECHUNK_LOG", "error")

OPS = ("read", "write", "hot_write", "query", "advance")
WEIGHTS = (35, 25, 15, 20, 5)
N_PROGRAMS = 4
PHASES = ["CAD", "CAE", "CAI", "CAO", "CAM", "CAP", "CAV", "CMP", "CAS"]


def program(i: int) -> str:
    return f"L{i}"


def setup(path: Path, clients: int) -> None:
    import pluma

    ws = pluma.open(path, user="admin")
    members = {f"u{c}": ["engineer", "chief_engineer"] for c in range(clients)}
    members["admin"] = ["program_manager", "chief_engineer"]
    params = {f"w{c}": {"type": "float", "unit": "1", "description": "load probe"} for c in range(clients)}
    params["hot"] = {"type": "float", "unit": "1", "description": "contended parameter"}
    for i in range(N_PROGRAMS):
        prog = ws.create_program(program(i), members=members)
        for phase in PHASES:
            prog.set_gate(phase, {"phase": phase, "requires": {}, "checks": [], "approvals": []})
        prog.declare_params(params)
        prog.context.set_params(hot=0.0, message="seed")
        prog.advance("seed baseline")  # something to read and query from the start


# -- one client ------------------------------------------------------------------
class Client:
    """One user looping over the operation mix until ``deadline``."""

    def __init__(self, path: str, cid: int, seed: int) -> None:
        self.path, self.cid, self.user = path, cid, f"u{cid}"
        self.rng = random.Random(seed)
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.acked_writes: list[tuple] = []   # (program, param, value, snapshot id)
        self.acked_freezes: list[tuple] = []  # (program, tag, id)
        self.expected: dict[str, int] = defaultdict(int)
        self.unexpected: list[str] = []
        self._hot = {}  # program -> a context handle read earlier
        self._n = 0

    def run(self, deadline: float) -> None:
        import pluma

        ws = pluma.open(self.path, user=self.user, create=False)
        while time.time() < deadline:
            op = self.rng.choices(OPS, WEIGHTS)[0]
            name = program(self.rng.randrange(N_PROGRAMS))
            t = time.perf_counter()
            try:
                self._do(ws, op, name)
            except (pluma.ConflictError, pluma.StaleContextError) as exc:
                self.expected[f"{op}: {type(exc).__name__}"] += 1
                self._hot.pop(name, None)
            except Exception:
                self.unexpected.append(f"{self.user} {op} {name}:\n{traceback.format_exc()}")
            self.latency[op].append(time.perf_counter() - t)

    def _do(self, ws, op: str, name: str) -> None:
        prog = ws.program(name)
        if op == "read":
            if self.rng.random() < 0.5:
                prog.context.params.to_dict()
            else:
                history = prog.history()
                self.rng.choice(history).params.to_dict()
        elif op == "write":
            self._n += 1
            value = float(self.cid * 1_000_000 + self._n)
            ctx = prog.context.set_params(**{f"w{self.cid}": value}, message=f"{self.user} write {self._n}")
            self.acked_writes.append((name, f"w{self.cid}", value, ctx.snapshot_id))
        elif op == "hot_write":
            ctx = self._hot.get(name)
            if ctx is None:  # read now, write next time: others may change it in between
                self._hot[name] = prog.context
                return
            self._n += 1
            value = float(self.cid * 1_000_000 + self._n)
            ctx.set_params(hot=value, message=f"{self.user} hot {self._n}")
            self.acked_writes.append((name, "hot", value, ctx.snapshot_id))
        elif op == "query":
            ws.query(params=["hot"], where="hot >= 0")
        else:
            fc = prog.advance(f"{self.user} freeze")
            self.acked_freezes.append((name, fc.tag, fc.id))
            self._hot.pop(name, None)

    def result(self) -> dict:
        return {"latency": dict(self.latency), "acked_writes": self.acked_writes,
                "acked_freezes": self.acked_freezes, "expected": dict(self.expected), "unexpected": self.unexpected}


def client_group(path: str, cids: list[int], seconds: float, seed: int, barrier, results) -> None:
    """A process running one thread per client (module level: spawned children import it)."""
    try:
        import pluma  # noqa: F401
        from pluma.units import to_unit

        to_unit("1 m", "m")  # the unit registry, before the clock
        barrier.wait(timeout=120)
        deadline = time.time() + seconds
        clients = [Client(path, c, seed * 1000 + c) for c in cids]
        threads = [threading.Thread(target=c.run, args=(deadline,), name=f"client-{c.cid}") for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        results.put(("ok", [c.result() for c in clients]))
    except BaseException:
        results.put(("error", traceback.format_exc()))
    results.close()
    results.join_thread()
    os._exit(0)  # skip interpreter teardown (icechunk runtime threads); the results are flushed


# -- verification ------------------------------------------------------------------
def verify(path: Path, reports: list[dict]) -> dict:
    """Every acknowledged write and freeze is in the store; returns counts."""
    import pluma
    from pluma.query import FrozenIndex

    ws = pluma.open(path, user="admin", create=False)
    writes = [w for r in reports for w in r["acked_writes"]]
    freezes = [f for r in reports for f in r["acked_freezes"]]
    lost: list[str] = []
    logs = {program(i): {c.id for c in ws.program(program(i)).context.log()} for i in range(N_PROGRAMS)}
    tips = {program(i): ws.program(program(i)).context.params.to_dict() for i in range(N_PROGRAMS)}
    enclave = ws._default
    last: dict[tuple, float] = {}
    for name, param, value, sid in writes:
        if sid not in logs[name]:
            lost.append(f"{name}.{param}={value}: commit {sid} not in the history")
            continue
        stored = enclave.snapshot(snapshot_id=sid).doc("context")["params"].get(param, {}).get("value")
        if stored != value:
            lost.append(f"{name}.{param}={value}: commit {sid} holds {stored}")
        if param != "hot":
            last[(name, param)] = max(value, last.get((name, param), value))
    for (name, param), value in last.items():  # one writer per parameter: the tip holds its last value
        if tips[name].get(param) != value:
            lost.append(f"{name}.{param}: tip {tips[name].get(param)}, last acknowledged {value}")
    indexed = {e["tag"]: e["id"] for e in FrozenIndex(ws).entries()}  # as written, before any repair
    tags = {}
    for i in range(N_PROGRAMS):
        tags.update({fc.tag: fc.id for fc in ws.program(program(i)).history()})
    for name, tag, sid in freezes:
        if tags.get(tag) != sid:
            lost.append(f"freeze {tag} ({sid}) missing")
        if indexed.get(tag) != sid:
            lost.append(f"freeze {tag} not indexed")
    return {"writes": len(writes), "freezes": len(freezes), "lost": lost}


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))] if s else float("nan")


def run(clients: int = 32, procs: int = 4, seconds: float = 60.0, *, seed: int = 1, folder: Path | None = None,
        baseline: bool = True) -> dict:
    """Run the load and verify it; returns latencies per operation, counts, errors and lost commits."""
    owned = folder is None
    folder = Path(tempfile.mkdtemp(prefix="load-bench-")) if owned else Path(folder)
    path = folder / "ws"
    mp = multiprocessing.get_context("spawn")
    try:
        setup(path, clients)
        groups = [list(range(clients))[g::procs] for g in range(procs)]
        barrier, results = mp.Barrier(procs), mp.Queue()
        ps = [mp.Process(target=client_group, args=(str(path), g, seconds, seed, barrier, results),
                         name=f"load-clients-{i}") for i, g in enumerate(groups)]
        for p in ps:
            p.start()
        t = time.perf_counter()
        try:
            outs = [results.get(timeout=seconds + 240) for _ in ps]
        finally:
            for p in ps:
                p.join(timeout=30)
                if p.is_alive():  # only the processes this run started
                    p.kill()
                    p.join(5)
        wall = time.perf_counter() - t
        failed = [o[1] for o in outs if o[0] != "ok"]
        if failed:
            raise RuntimeError("a client process failed:\n" + "\n".join(failed))
        reports = [r for _, group in outs for r in group]
        checked = verify(path, reports)
        latency: dict[str, list[float]] = defaultdict(list)
        for r in reports:
            for op, values in r["latency"].items():
                latency[op].extend(values)
        expected: dict[str, int] = defaultdict(int)
        for r in reports:
            for k, v in r["expected"].items():
                expected[k] += v
        alone = _alone(path, seconds=min(10.0, seconds), seed=seed) if baseline else {}
        return {"clients": clients, "procs": procs, "seconds": seconds, "wall_s": wall, "latency": dict(latency),
                "expected": dict(expected), "unexpected": [u for r in reports for u in r["unexpected"]],
                **checked, "alone": alone}
    finally:
        if owned:
            shutil.rmtree(folder, ignore_errors=True)


def _alone(path: Path, seconds: float, seed: int) -> dict[str, list[float]]:
    """The same mix by one client with the workspace to itself."""
    client = Client(str(path), 0, seed + 99)
    client.run(time.time() + seconds)
    if client.unexpected:
        raise RuntimeError("the lone client failed:\n" + "\n".join(client.unexpected))
    return dict(client.latency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--procs", type=int, default=4, help="processes the clients are spread over")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="8 s instead of 60")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    seconds = 8.0 if args.quick else args.seconds
    print(f"{args.clients} clients in {args.procs} processes for {seconds:.0f} s on one local workspace ...", flush=True)
    s = run(args.clients, args.procs, seconds, seed=args.seed)
    total = sum(len(v) for v in s["latency"].values())
    print(f"\n{total} operations in {s['seconds']:.0f} s ({total / s['seconds']:.0f}/s)")
    print(f"{'operation':10s} {'count':>6s} {'p50 ms':>8s} {'p99 ms':>8s}   {'alone p50':>9s} {'ratio':>6s}")
    for op in OPS:
        values = s["latency"].get(op, [])
        alone = s["alone"].get(op, [])
        ratio = pct(values, 50) / pct(alone, 50) if alone and values else float("nan")
        print(f"{op:10s} {len(values):6d} {pct(values, 50) * 1e3:8.1f} {pct(values, 99) * 1e3:8.1f}   "
              f"{pct(alone, 50) * 1e3:9.1f} {ratio:6.1f}x")
    print("expected refusals: " + (", ".join(f"{k} {v}" for k, v in sorted(s["expected"].items())) or "none"))
    print(f"unexpected errors: {len(s['unexpected'])}")
    for u in s["unexpected"][:5]:
        print(u)
    print(f"verified afterwards: {s['writes']} acknowledged writes, {s['freezes']} acknowledged freezes; "
          f"lost: {len(s['lost'])}")
    for line in s["lost"][:10]:
        print("  LOST", line)
    ok = not s["unexpected"] and not s["lost"]
    print(f"goal: zero unexpected errors and zero lost commits {'HOLDS' if ok else 'FAILS'}")


if __name__ == "__main__":
    main()
