"""Crash safety: SIGKILL a writer at random moments, then check the workspace.

A writer subprocess loops over four operations on program ``W`` of one local
workspace, noting each in a journal (fsync'd) before it starts and after it
returns:

* ``set``     one commit of three parameters ``a = b = c = v``;
* ``put``     a transaction of a 1.6 MB dataset ``grid`` (every chunk changes) and
  the parameter ``g = v`` that names its values;
* ``advance`` freeze the working context (gates are open) into a tag + index entry;
* ``clone``   clone a random frozen context of ``W`` into a new program ``C<v>``
  (branch, first commit, registry entry) with ``a = b = c = v``.

The parent sends "go", waits a random 0..``--max-delay`` s, and SIGKILLs it (the
next writer is started meanwhile, so its imports overlap the check). After each
kill, with no writer running, it checks:

1. the workspace opens and lists its programs;
2. no partial change is visible: at the tip of ``W`` ``a == b == c`` and ``grid``
   holds exactly the values ``g`` names; every acknowledged change is there (the
   tip is the last acknowledged value, or the one in flight if that committed);
3. every frozen context (the new ones each time, a sample of the older ones, all
   of them at the end) opens, reads ``a == b == c``, and its ``grid`` loads and
   matches its ``g``; every acknowledged freeze is there with its id; a freeze
   whose commit landed without its tag is rolled forward (``history()``);
4. a clone either is registered and complete (opens, ``a == b == c == v``, origin
   names an existing frozen context) or is not registered at all; branches left by
   a crash between branch creation and registration are pruned
   (``Enclave.prune_branches``) and counted;
5. the query index agrees with the store (``ws.query`` reconciles it): one entry
   per frozen tag, with the tag's snapshot id.

    .venv/bin/python benchmarks/crash.py                 # 200 kills (several minutes)
    .venv/bin/python benchmarks/crash.py --quick         # 25 kills
    .venv/bin/python benchmarks/crash.py --kills 500 --seed 3

The "alternative" printed next to it is the same check run without PLUMA's
repairs (tag roll-forward, index reconcile, orphan pruning): how often a crash
would have left a visible inconsistency had they not been there.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from pathlib import Path

os.environ.setdefault("ICECHUNK_LOG", "error")

OPS = ("set", "put", "advance", "clone")
WEIGHTS = (4, 3, 2, 1)
GRID_N, GRID_CHUNK = 200_000, 20_000
PHASES = ["CAD", "CAE", "CAI", "CAO", "CAM", "CAP", "CAV", "CMP", "CAS"]
PARAMS = ("a", "b", "c", "g")


def grid(v: float):
    import numpy as np
    import xarray as xr

    ds = xr.Dataset({"x": ("i", v + np.arange(GRID_N) * 1e-3)})
    ds["x"].encoding["chunks"] = (GRID_CHUNK,)  # 10 chunks: a put writes several objects
    return ds


def grid_ok(ds, g: float) -> bool:
    import numpy as np

    return bool(np.array_equal(ds["x"].values, g + np.arange(GRID_N) * 1e-3))


# -- the writer (a subprocess) ---------------------------------------------------
def _warm_up() -> None:
    """Pay the lazy imports of a first dataset write and read (~1-3 s) on a throwaway in-memory repo."""
    import icechunk
    import xarray as xr
    from icechunk.xarray import to_icechunk

    from pluma.units import to_unit

    to_unit("1 m", "m")
    session = icechunk.Repository.create(icechunk.in_memory_storage()).writable_session("main")
    to_icechunk(grid(0.0), session, group="g", mode="w")
    xr.open_dataset(session.store, engine="zarr", group="g", consolidated=False, zarr_format=3).load()


def writer(path: str, journal: str, seed: int) -> None:
    import pluma

    _warm_up()  # imports and first-use costs paid before "ready": the parent overlaps them with its check
    rng = random.Random(seed)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def note(*parts) -> None:
        os.write(fd, (json.dumps(parts) + "\n").encode())
        os.fsync(fd)

    ws = pluma.open(path, user="admin", create=False)
    prog = ws.program("W")
    for i in range(10_000):
        v = float(seed * 10_000 + i)  # grows from one writer to the next
        op = rng.choices(OPS, WEIGHTS)[0]
        if op == "clone":
            history = prog.history()
            if not history:
                op = "set"
        note("begin", op, v)
        if op == "set":
            prog.context.set_params(a=v, b=v, c=v, message=f"set {v}")
            note("ack", op, v)
        elif op == "put":
            with prog.context.transaction(message=f"put {v}") as tx:
                tx.put_dataset("grid", grid(v))
                tx.set_params(g=v)
            note("ack", op, v)
        elif op == "advance":
            fc = prog.advance(f"freeze {v}")
            note("ack", op, v, fc.tag, fc.id)
        else:
            source = rng.choice(history)
            child = source.clone(f"C{int(v)}", overrides={"a": v, "b": v, "c": v}, message=f"clone {v}")
            note("ack", op, v, child.name, source.ref)


# -- the parent ------------------------------------------------------------------
def setup(path: Path) -> None:
    import pluma

    ws = pluma.open(path, user="admin")
    prog = ws.create_program("W", members={"admin": ["chief_engineer", "program_manager", "engineer"]})
    for phase in PHASES:
        prog.set_gate(phase, {"phase": phase, "requires": {}, "checks": [], "approvals": []})
    prog.declare_params({p: {"type": "float", "unit": "1", "description": "crash probe"} for p in PARAMS})


def start_writer(path: Path, journal: Path, seed: int, errlog: Path) -> subprocess.Popen:
    with open(errlog, "ab") as err:
        return subprocess.Popen([sys.executable, __file__, "--writer", str(path), str(journal), str(seed)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)


def release(proc: subprocess.Popen, errlog: Path) -> None:
    """Wait until the writer is warm, then let it start writing."""
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        proc.wait()
        raise RuntimeError(f"a writer did not start: {errlog.read_text()[-2000:]}")
    proc.stdin.write("go\n")
    proc.stdin.flush()


class Checker:
    """Checks the workspace after each kill; remembers what it verified already."""

    def __init__(self, path: Path, journal: Path) -> None:
        self.path, self.journal = path, journal
        self.checked_tags: set[str] = set()
        self.checked_clones: set[str] = set()
        self.stats: Counter = Counter()
        self.rng = random.Random(0)

    def _journal(self) -> tuple[dict[str, list], dict[str, set], tuple | None]:
        """Acknowledged operations by kind; per kind the values begun but never acknowledged
        since its last acknowledgement (a kill may land after the commit, before the ack);
        and the operation in flight at the last kill (if any)."""
        acked: dict[str, list] = {op: [] for op in OPS}
        unacked: dict[str, set] = {op: set() for op in OPS}
        in_flight = None
        for line in self.journal.read_text().splitlines():
            entry = json.loads(line)
            if entry[0] == "begin":
                if in_flight is not None:  # the previous writer was killed during that one
                    unacked[in_flight[0]].add(in_flight[1])
                in_flight = tuple(entry[1:])
            else:
                acked[entry[1]].append(entry[2:])
                unacked[entry[1]].clear()
                in_flight = None
        if in_flight is not None:
            unacked[in_flight[0]].add(in_flight[1])
        return acked, unacked, in_flight

    def check(self, *, full: bool = False) -> tuple | None:
        import pluma
        from pluma.query import FrozenIndex

        acked, unacked, in_flight = self._journal()
        ws = pluma.open(self.path, user="admin", create=False)  # 1. opens
        prog = ws.program("W")
        enclave = prog._enclave
        registry = {p.name: p for p in ws.programs()}
        assert "W" in registry

        # 2. the working context: all-or-nothing, and nothing acknowledged lost
        ctx = prog.context
        params = ctx.params.to_dict()
        flight_v = in_flight[1] if in_flight else None
        if "a" in params or acked["set"]:
            assert params["a"] == params["b"] == params["c"], f"torn set: {params}"
            allowed = ({acked["set"][-1][0]} if acked["set"] else set()) | unacked["set"]
            assert params["a"] in allowed, f"tip a={params['a']}, acknowledged/in flight: {allowed}"
        if "g" in params or acked["put"]:
            assert "grid" in ctx.datasets, "g without its dataset"
            assert grid_ok(ctx.dataset("grid"), params["g"]), f"torn put: grid does not hold g={params['g']}"
            allowed = ({acked["put"][-1][0]} if acked["put"] else set()) | unacked["put"]
            assert params["g"] in allowed, f"tip g={params['g']}, acknowledged/in flight: {allowed}"
        else:
            assert "grid" not in ctx.datasets, "grid without g"

        # 3. frozen contexts (history() rolls forward a freeze commit whose tag is missing)
        tags_before = set(enclave.tags("frozen/w/"))
        history = prog.history()
        tags = {fc.tag: fc for fc in history}
        if len(tags) > len(tags_before):
            self.stats["freeze tags rolled forward"] += len(tags) - len(tags_before)
        state = prog._state()
        assert len(tags) == int(state.get("freeze_seq", 0)), (len(tags), state.get("freeze_seq"))
        for _, tag, sid in acked["advance"]:
            assert tag in tags and tags[tag].id == sid, f"acknowledged freeze {tag} ({sid}) missing"
        old = [t for t in tags if t in self.checked_tags]
        todo = [t for t in tags if t not in self.checked_tags]
        todo += old if full else self.rng.sample(old, min(3, len(old)))
        for tag in todo:
            fc = tags[tag]
            p = fc.params.to_dict()
            if "a" in p:
                assert p["a"] == p["b"] == p["c"], f"{fc.ref}: torn parameters {p}"
            if "g" in p:
                assert grid_ok(fc.dataset("grid"), p["g"]), f"{fc.ref}: grid does not hold g"
            self.checked_tags.add(tag)
            self.stats["frozen context checks"] += 1

        # 4. clones: registered and complete, or absent; crash leftovers pruned
        keep = {f"programs/{n.lower()}" for n in ws.program_names()}
        pruned = enclave.prune_branches("programs/", keep)
        self.stats["orphan branches pruned"] += len(pruned)
        assert set(enclave.branches("programs/")) == keep
        for _, name, _ in acked["clone"]:
            assert name in registry, f"acknowledged clone {name} is not registered"
        if in_flight and in_flight[0] == "clone":
            name = f"C{int(flight_v)}"
            self.stats["clones in flight registered" if name in registry else "clones in flight absent"] += 1
        clones = [n for n in registry if n != "W"]
        todo = [n for n in clones if n not in self.checked_clones]
        done = [n for n in clones if n in self.checked_clones]
        todo += done if full else self.rng.sample(done, min(3, len(done)))
        for name in todo:
            child = registry[name]
            v = float(name[1:])
            p = child.context.params.to_dict()
            assert p["a"] == p["b"] == p["c"] == v, f"clone {name}: {p}"
            ref = child.origin["ref"]
            assert ws.frozen(ref).id == child.origin["id"], f"clone {name}: origin {ref} not found"
            self.checked_clones.add(name)
            self.stats["clone checks"] += 1

        # 5. the index agrees with the store (query reconciles it first)
        index = FrozenIndex(ws)
        before = {e["tag"] for e in index.entries()}
        store = {t: enclave.lookup_tag(t) for t in enclave.tags("frozen/")}
        df = ws.query(params=["a"])
        entries = {e["tag"]: e["id"] for e in index.entries()}
        if set(store) - before:
            self.stats["index entries reconciled"] += len(set(store) - before)
        assert entries == store, "the index disagrees with the store"
        assert sorted(df["id"]) == sorted(store.values())
        self.stats["checks"] += 1
        return in_flight


def run(kills: int = 200, *, seed: int = 1, max_delay: float = 1.0, ahead: int = 2, folder: Path | None = None,
        progress: bool = True) -> dict:
    """Run ``kills`` kill-and-check cycles; raise AssertionError on the first violation.
    Returns the statistics (kills, operations in flight by kind, repairs, checks)."""
    owned = folder is None
    folder = Path(tempfile.mkdtemp(prefix="crash-bench-")) if owned else Path(folder)
    path, journal, errlog = folder / "ws", folder / "journal.jsonl", folder / "writer-stderr.log"
    rng = random.Random(seed)
    t0 = time.perf_counter()
    waiting: deque = deque()  # writers warming up (imports, first write) while we check
    try:
        setup(path)
        checker = Checker(path, journal)
        in_flight: Counter = Counter()
        bar = _progress(kills) if progress else None
        for k in range(kills):
            while len(waiting) < min(ahead, kills - k):
                waiting.append(start_writer(path, journal, seed * 1000 + k + len(waiting) + 1, errlog))
            proc = waiting.popleft()
            t_wait = time.perf_counter()
            release(proc, errlog)
            checker.stats["writer warm-up wait seconds"] += time.perf_counter() - t_wait
            time.sleep(rng.uniform(0.0, max_delay))
            if proc.poll() is not None:
                raise AssertionError(f"writer {k} stopped by itself (exit {proc.returncode}): "
                                     f"{errlog.read_text()[-3000:]}")
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            t_check = time.perf_counter()
            flight = checker.check(full=k + 1 == kills)
            checker.stats["check seconds"] += time.perf_counter() - t_check
            in_flight[flight[0] if flight else "between operations"] += 1
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        acked, _, _ = checker._journal()
        return {"kills": kills, "seconds": time.perf_counter() - t0, "in_flight": dict(in_flight),
                "acknowledged": {op: len(v) for op, v in acked.items()}, **dict(checker.stats)}
    finally:
        for proc in waiting:  # only the writers this run started
            proc.kill()
            proc.wait()
        if owned:
            shutil.rmtree(folder, ignore_errors=True)


def _progress(total: int):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, desc="kills", unit="kill")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="25 kills")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-delay", type=float, default=1.0, help="longest wait before a kill, seconds")
    parser.add_argument("--writer", nargs=3, metavar=("WS", "JOURNAL", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        writer(args.writer[0], args.writer[1], int(args.writer[2]))
        return
    kills = 25 if args.quick else args.kills
    stats = run(kills, seed=args.seed, max_delay=args.max_delay)
    print(f"\n{stats['kills']} SIGKILLs survived in {stats['seconds']:.0f} s, every check passed")
    print("operation in flight at the kill: " + ", ".join(f"{k} {v}" for k, v in sorted(stats["in_flight"].items())))
    print("acknowledged operations (all verified present): "
          + ", ".join(f"{k} {v}" for k, v in stats["acknowledged"].items()))
    for key in ("checks", "frozen context checks", "clone checks", "freeze tags rolled forward",
                "index entries reconciled", "orphan branches pruned", "clones in flight registered",
                "clones in flight absent", "check seconds", "writer warm-up wait seconds"):
        value = stats.get(key, 0)
        print(f"  {key}: {value:.1f}" if isinstance(value, float) else f"  {key}: {value}")
    repairs = sum(stats.get(k, 0) for k in ("freeze tags rolled forward", "index entries reconciled",
                                           "orphan branches pruned"))
    print(f"without PLUMA's repairs {repairs} of these kills would have left a visible inconsistency "
          f"(freeze without tag, tag without index entry, unregistered branch); with them: 0")


if __name__ == "__main__":
    main()
