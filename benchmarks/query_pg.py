"""``ws.query`` with the index embedded in the store vs in a shared PostgreSQL server.

Builds a workspace of about ``--contexts`` frozen contexts the way
``benchmarks/query.py`` does (one program through the real ceremony, the rest in
bulk, entries through ``FrozenIndex.record``), starts a throw-away PostgreSQL
server on 127.0.0.1 (Debian's package, run as ``postgres``: see
tests/postgres/server.py), copies the entries there and points the workspace at it
with ``ws.set_index_url``. Then, for both backends, the same ~50 varied queries
(after one warm-up): p50/p95, the first query after the index changed (a new
freeze: the frame is rebuilt from the backend) and that both backends return
the same rows. PostgreSQL reads through the user's database role with row-level
security on; the embedded index reads the store. Machines here are noisy:
compare the ratio, not absolute times.

    .venv/bin/python benchmarks/query_pg.py [--contexts 10000] [--queries 50]
    .venv/bin/python benchmarks/query_pg.py --quick          # ~450 contexts, 20 queries
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import query as _bulk  # noqa: E402
from query import PHASES, build, pct, query_specs  # noqa: E402

from tests.postgres.server import running_postgres  # noqa: E402

os.environ.setdefault("ICECHUNK_LOG", "error")

_template = _bulk.make_template


def _make_template(ws) -> list[dict]:
    """benchmarks/query.py's template, tolerant of programs that keep no ``events`` doc
    on their branch (the audit trail holds them now)."""
    out = _template(ws)
    for docs in out:
        docs["events"] = docs.get("events") or []
    return out


_bulk.make_template = _make_template


def time_queries(ws, specs) -> tuple[list[float], list]:
    ws.query(**specs[0])  # warm-up
    times, results = [], []
    for spec in specs:
        t = time.perf_counter()
        df = ws.query(**spec)
        times.append(time.perf_counter() - t)
        results.append(df)
    return times, results


def after_a_freeze(ws, name: str) -> float:
    """A new freeze changes the index: time the next query (frame rebuilt from the backend)."""
    prog = ws.program(name)
    phase = prog.phase
    prog.set_gate(phase, {"phase": phase.value, "requires": {}, "checks": [], "approvals": []})
    prog.advance("benchmark freeze")
    t = time.perf_counter()
    ws.query(phase="CAD", where="span > 30", params=["span"])
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contexts", type=int, default=10_000, help="frozen contexts to build (9 per program)")
    parser.add_argument("--queries", type=int, default=50, help="number of varied queries timed")
    parser.add_argument("--quick", action="store_true", help="~450 contexts and 20 queries (for tests)")
    parser.add_argument("--tmp", default=None, help="folder for the temporary workspace (default: system tmp)")
    args = parser.parse_args()
    if args.quick:
        args.contexts, args.queries = 450, 20

    import pluma
    from pluma.query import FrozenIndex
    from pluma.query.postgres import PostgresIndex

    n_programs = max(2, round(args.contexts / 9))
    folder = Path(tempfile.mkdtemp(prefix="query-pg-bench-", dir=args.tmp))
    path = folder / "ws"
    try:
        print(f"building {n_programs} programs x {len(PHASES)} phases = {n_programs * 9} frozen contexts", flush=True)
        meta = build(path, n_programs)
        ws = pluma.open(path, user="admin", create=False)
        specs = query_specs(args.queries, n_programs)

        emb_times, emb_results = time_queries(ws, specs)

        with running_postgres() as server:
            db = server.create_database()
            url = server.url(db)
            t = time.perf_counter()
            backend = PostgresIndex(ws, url)
            backend._write(ws._default, FrozenIndex(ws).entries(), replace=True)
            copy_s = time.perf_counter() - t
            t = time.perf_counter()
            indexed = ws.set_index_url(url)
            set_s = time.perf_counter() - t
            ws = pluma.open(path, user="admin", create=False)
            pg_times, pg_results = time_queries(ws, specs)
            same = all(a.equals(b) for a, b in zip(emb_results, pg_results))
            pg_change = after_a_freeze(ws, "P00001")
            ws.set_index_url(None)
            ws = pluma.open(path, user="admin", create=False)
            ws.query()  # embedded catches up with the freeze made while PostgreSQL held the index
            emb_change = after_a_freeze(ws, "P00002")
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    rows = [len(df) for df in emb_results]
    print(f"\nworkspace: {meta['contexts']} frozen contexts (built in {meta['build_s']:.0f} s); PostgreSQL: "
          f"copied {indexed} entries in {copy_s:.1f} s (roles for {n_programs} programs), set_index_url {set_s:.2f} s")
    print(f"{len(specs)} varied queries after one warm-up (rows returned {min(rows)}-{max(rows)}), "
          f"same results from both backends: {'yes' if same else 'NO'}")
    print(f"{'backend':<12}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}{'after a freeze ms':>20}")
    for name, times, change in (("embedded", emb_times, emb_change), ("postgresql", pg_times, pg_change)):
        print(f"{name:<12}{pct(times, 50) * 1e3:10.1f}{pct(times, 95) * 1e3:10.1f}{max(times) * 1e3:10.1f}"
              f"{change * 1e3:20.1f}")
    ratio = pct(pg_times, 95) / pct(emb_times, 95)
    print(f"ratio p95 postgresql/embedded: {ratio:.2f}x; goal p95 < 100 ms with PostgreSQL: "
          f"{pct(pg_times, 95) * 1e3:.1f} ms {'HOLDS' if pct(pg_times, 95) < 0.1 else 'FAILS'}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
