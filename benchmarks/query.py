"""``ws.query`` over ~10,000 frozen contexts vs opening snapshots one by one.

Builds a workspace with about ``--contexts`` frozen contexts (programs x 9
phases). One template program goes through the real ceremony (``set_gate``,
``set_params``, ``advance`` for each phase); the others are written in bulk with
the library's lower-level pieces, in exactly the layout the ceremony leaves
(docs ``program``/``context``/``events`` on branch ``programs/<key>``, one
``freeze`` commit and one ``frozen/<key>/<seq>.<phase>.<n>`` tag per freeze,
registry entries on ``main``, index entries through ``FrozenIndex.record``) but
without the intermediate commits. Entries are checked against ``entry_for`` and
a few references are read back through ``ws.frozen(ref).params``.

Then: p50/p95 of ``ws.query(...)`` over ~50 varied queries (phase filter, where
with units, params list, program and time filters) after one warm-up, the
first (cold) query, and the naive approach — ``enclave.snapshot(tag=t).doc("context")``
for each tag, filtered in Python — timed on a sample and extrapolated. Machines
here are noisy: compare ratios, not absolute times.

    .venv/bin/python benchmarks/query.py [--contexts 10000] [--queries 50] [--sample 300]
    .venv/bin/python benchmarks/query.py --contexts 1000        # quick run
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _disk import disk_usage  # noqa: E402

os.environ.setdefault("ICECHUNK_LOG", "error")

PHASES = ["CAD", "CAE", "CAI", "CAO", "CAM", "CAP", "CAV", "CMP", "CAS"]
TEMPLATE = "TPL00000"
MEMBERS = {"admin": ["chief_engineer", "program_manager"]}
EPOCH = datetime(2025, 1, 6, 8, 0, tzinfo=timezone.utc)
BATCH = 100  # programs per registry / index commit


def phase_params(rng: random.Random, phase: str, base: dict) -> dict:
    """Parameters set in ``phase`` (the context accumulates them phase after phase)."""
    if phase == "CAD":
        span = rng.uniform(18.0, 80.0)
        ar = rng.uniform(7.0, 12.0)
        return {"span": round(span, 3), "aspect_ratio": round(ar, 3), "wing_area": round(span * span / ar, 2),
                "mtow": round(rng.uniform(20_000, 300_000), 1), "cruise_mach": round(rng.uniform(0.6, 0.88), 3),
                "design_range": round(rng.uniform(1_500, 14_000), 0), "dal": rng.choice("ABC")}
    if phase == "CAE":
        return {"ld_cruise": round(rng.uniform(14, 21), 2), "flutter_speed": round(rng.uniform(200, 400), 1),
                "analysis_converged": True, "span": round(base["span"] * rng.uniform(0.98, 1.02), 3)}
    if phase == "CAI":
        return {"open_critical_interface_issues": 0}
    if phase == "CAO":
        return {"selected_feasible": True, "optimality_gap": round(rng.uniform(0, 0.05), 4)}
    if phase == "CAM":
        return {"producibility_review_passed": True, "manufacturing_instructions_released": True}
    if phase == "CAP":
        return {"production_rate_planned": round(rng.uniform(1, 60), 1),
                "supplier_readiness": round(rng.uniform(0.8, 1.0), 3)}
    if phase == "CAV":
        return {"open_nonconformances": rng.randint(0, 5), "nonconformance_threshold": 5}
    if phase == "CMP":
        return {"assurance_objectives_met": True, "authority_coordination_recorded": True}
    return {"mtbf_hours": round(rng.uniform(2_000, 12_000), 0), "dispatch_reliability": round(rng.uniform(0.97, 0.999), 4)}


def program_values(i: int) -> list[dict]:
    """The cumulative parameter values of program ``i`` at each of the 9 freezes."""
    rng = random.Random(i)
    out, current = [], {}
    for phase in PHASES:
        current = {**current, **phase_params(rng, phase, current)}
        out.append(dict(current))
    return out


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds")


def freeze_time(i: int, j: int) -> str:
    return iso(EPOCH + timedelta(hours=7 * i) + timedelta(days=4 * j, minutes=j))


# -- building ------------------------------------------------------------------

def make_template(ws) -> list[dict]:
    """Run the real ceremony once; return per phase the docs the freeze left."""
    prog = ws.create_program(TEMPLATE, members=MEMBERS)
    values = program_values(0)
    for j, phase in enumerate(PHASES):
        prog.set_gate(phase, {"phase": phase, "requires": {}, "checks": [], "approvals": []})
        previous = values[j - 1] if j else {}
        changed = {k: v for k, v in values[j].items() if previous.get(k) != v}
        prog.context.set_params(**changed, message=f"{phase} parameters")
        prog.advance(f"{phase} baseline")
    enclave = prog._enclave
    out = []
    for tag in enclave.tags(f"frozen/{prog.key}/"):
        snap = enclave.snapshot(tag=tag)
        out.append({"tag": tag, "program": snap.doc("program"), "context": snap.doc("context"),
                    "events": snap.doc("events")})
    return out


def entry_of(name: str, key: str, phase: str, n: int, seq: int, sid: str, tag: str, state: dict, manifest: dict) -> dict:
    """Index entry, built the way ``pluma.query.entry_for`` builds it from the store."""
    record = state["last_freeze"]
    return {
        "program": name, "key": key, "phase": phase, "n": n, "seq": seq, "ref": f"{name}@{phase}#{n}",
        "id": sid, "tag": tag, "frozen_at": record["time"], "frozen_by": record["user"],
        "message": record["message"], "classification": state["classification"], "enclave": "default",
        "params": {k: r.get("value") for k, r in manifest["params"].items()},
        "units": {k: r.get("unit") for k, r in manifest["params"].items() if r.get("unit")},
    }


def build(path: Path, n_programs: int) -> dict:
    """Build the workspace in bulk (``_bulk.build``: one program through the real ceremony,
    the rest with the library's lower-level pieces, audit chains included)."""
    from _bulk import build as bulk_build

    return bulk_build(path, n_programs)


def verify(ws, n_programs: int) -> None:
    """The bulk-built workspace reads like one built through the ceremony."""
    from pluma.query import FrozenIndex, entry_for

    enclave = ws._default
    entries = FrozenIndex(ws).entries()
    assert len(entries) == n_programs * 9, (len(entries), n_programs * 9)
    rng = random.Random(7)
    for e in rng.sample(entries, 5):
        assert entry_for(enclave, e["tag"]) == e, f"index entry differs from entry_for for {e['tag']}"
    for i in [0, 1, n_programs // 2, n_programs - 1]:
        name = TEMPLATE if i == 0 else f"P{i:05d}"
        values = program_values(i)
        for j in (0, 4, 8):
            fc = ws.frozen(f"{name}@{PHASES[j]}#1")
            assert fc.params["span"] == values[j]["span"], (name, j)
            assert fc.phase.value == PHASES[j] and fc.report.passed
        assert ws.frozen(fc.id).ref == fc.ref
    assert ws.program(f"P{n_programs - 1:05d}").phase.value == "CAS"


# -- measuring -----------------------------------------------------------------

def query_specs(n: int, n_programs: int) -> list[dict]:
    rng = random.Random(42)
    specs = []
    for k in range(n):
        kind = k % 10
        ph = PHASES[k % 9]
        if kind == 0:
            spec = {"phase": ph, "params": ["span", "mtow"]}
        elif kind == 1:
            spec = {"where": f"span > {rng.randint(25, 70)} and cruise_mach < 0.8", "params": ["span", "cruise_mach"]}
        elif kind == 2:
            spec = {"phase": "CAD", "where": f"span > {rng.randint(80, 230)} ft", "params": ["span"]}
        elif kind == 3:
            spec = {"phase": [ph, PHASES[(k + 1) % 9]],
                    "where": f"mtow < {rng.randint(40, 250)} t and design_range > {rng.randint(2000, 9000)} km",
                    "params": ["mtow", "design_range"]}
        elif kind == 4:
            spec = {"where": f"flutter_speed > {rng.randint(600, 1300)} ft/s or ld_cruise > {rng.uniform(17, 20):.1f}",
                    "params": ["flutter_speed", "ld_cruise"]}
        elif kind == 5:
            picks = [f"P{rng.randint(1, max(1, n_programs - 1)):05d}" for _ in range(5)]
            spec = {"program": picks, "params": ["span", "mtow", "cruise_mach"]}
        elif kind == 6:
            start = EPOCH + timedelta(days=rng.randint(0, 60 * n_programs // 200 + 1))
            spec = {"since": start.date().isoformat(), "until": (start + timedelta(days=30)).date().isoformat(),
                    "phase": ph, "params": ["span"]}
        elif kind == 7:
            spec = {"phase": "CAV", "where": "open_nonconformances <= nonconformance_threshold and span > 30 m",
                    "params": ["open_nonconformances", "span"]}
        elif kind == 8:
            spec = {"phase": "CAS", "where": f"mtbf_hours > {rng.randint(3, 10)} * 1000 h and dal == 'A'",
                    "params": ["mtbf_hours", "dispatch_reliability", "dal"]}
        else:
            spec = {"params": ["span", "wing_area", "aspect_ratio"], "where": "abs(span**2 / wing_area - aspect_ratio) < 0.05"}
        specs.append(spec)
    return specs


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


COLD_SNIPPET = """
import json, sys, time
t0 = time.perf_counter()
import pluma
t1 = time.perf_counter()
ws = pluma.open(sys.argv[1], user="admin", create=False)
t2 = time.perf_counter()
if sys.argv[2] == "preimport":  # what the first query imports lazily: pandas, pint and its registry
    import pandas
    import pluma.expressions
    from pluma.units import parse_unit
    parse_unit("m")
t3 = time.perf_counter()
df = ws.query(phase="CAD", where="span > 30", params=["span"])
t4 = time.perf_counter()
df = ws.query(phase="CAD", where="span > 31", params=["span"])
t5 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "open": t2 - t1, "lazy": t3 - t2, "first": t4 - t3, "second": t5 - t4}))
"""


def cold_run(path: Path, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", COLD_SNIPPET, str(path), mode], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contexts", type=int, default=10_000, help="frozen contexts to build (9 per program)")
    parser.add_argument("--queries", type=int, default=50, help="number of varied queries timed")
    parser.add_argument("--sample", type=int, default=300, help="snapshots opened by the naive approach")
    parser.add_argument("--tmp", default=None, help="folder for the temporary workspace (default: system tmp)")
    parser.add_argument("--workspace", default=None,
                        help="use (and keep) this workspace folder; an existing one built by this script is reused")
    parser.add_argument("--profile", action="store_true", help="cProfile one warm query and print the top")
    args = parser.parse_args()

    import pluma
    from pluma.query import FrozenIndex

    n_programs = max(2, round(args.contexts / 9))
    owned = args.workspace is None
    folder = Path(tempfile.mkdtemp(prefix="query-bench-", dir=args.tmp)) if owned else Path(args.workspace)
    path = folder / "ws"
    meta_file = folder / "bench-meta.json"
    try:
        if meta_file.exists() and json.loads(meta_file.read_text())["programs"] == n_programs:
            meta = json.loads(meta_file.read_text())
            print(f"reusing {path}: {meta['contexts']} contexts built earlier in {meta['build_s']:.0f} s")
        else:
            print(f"building {n_programs} programs x 9 phases = {n_programs * 9} frozen contexts in {path}", flush=True)
            meta = build(path, n_programs)
            meta_file.write_text(json.dumps(meta))
        ws = pluma.open(path, user="admin", create=False)
        t = time.perf_counter()
        verify(ws, n_programs)
        verify_s = time.perf_counter() - t
        enclave = ws._default
        usage = disk_usage(folder / "ws" / "enclaves" / "default")

        # cold: a fresh process (page cache warm), then the first query in this process
        cold = cold_run(path, "plain")
        cold_pre = cold_run(path, "preimport")
        for cache in ("_cache", "_frames"):  # class-level caches of the index (whichever this version has)
            if isinstance(getattr(FrozenIndex, cache, None), dict):
                getattr(FrozenIndex, cache).clear()
        ws = pluma.open(path, user="admin", create=False)
        specs = query_specs(args.queries, n_programs)
        t = time.perf_counter()
        ws.query(**specs[0])
        first_in_process = time.perf_counter() - t

        times, rows = [], []
        for spec in specs:
            t = time.perf_counter()
            df = ws.query(**spec)
            times.append(time.perf_counter() - t)
            rows.append(len(df))
        p50, p95 = pct(times, 50), pct(times, 95)

        # the naive approach, on a sample, for one of the queries above
        from pluma.units import parse_unit

        t = time.perf_counter()
        tags = enclave.tags("frozen/")
        list_s = time.perf_counter() - t
        sample = random.Random(3).sample(tags, min(args.sample, len(tags)))
        threshold = 30 * parse_unit("m")
        naive_hits, per = [], []
        for tag in sample:
            t = time.perf_counter()
            manifest = enclave.snapshot(tag=tag).doc("context", {})
            span = manifest.get("params", {}).get("span")
            if span is not None and span["value"] * parse_unit(span["unit"]) > threshold:
                naive_hits.append(tag)
            per.append(time.perf_counter() - t)
        naive_s = list_s + statistics.mean(per) * len(tags)
        t = time.perf_counter()
        df = ws.query(where="span > 30", params=["span"])
        same_query = time.perf_counter() - t
        by_id = {lookup: True for lookup in df["id"]}
        sample_ids = {enclave.lookup_tag(tag): tag for tag in sample}
        agree = sorted(sample_ids[i] for i in sample_ids if i in by_id) == sorted(naive_hits)

        profile_text = ""
        if args.profile:
            import cProfile
            import io
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            ws.query(**specs[1])
            prof.disable()
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(30)
            profile_text = buf.getvalue()
    finally:
        if owned:
            shutil.rmtree(folder, ignore_errors=True)

    total = sum(usage.values())
    print(f"\nworkspace: {meta['programs']} programs, {meta['contexts']} frozen contexts; one template program "
          f"through the real ceremony ({meta['ceremony_s']:.1f} s), the rest written in bulk")
    print(f"build time {meta['build_s']:.0f} s  ({meta['contexts'] / meta['build_s']:.0f} contexts/s; "
          + ", ".join(f"{k} {v:.0f} s" for k, v in meta["timings"].items()) + f"); verify {verify_s:.1f} s")
    print("enclave on disk " + f"{total / 2**20:.0f} MiB: " +
          ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in sorted(usage.items(), key=lambda kv: -kv[1])))
    print(f"\nws.query over {len(tags)} frozen contexts, {len(times)} varied queries after one warm-up "
          f"(rows returned {min(rows)}-{max(rows)}):")
    print(f"  p50 {p50 * 1e3:7.1f} ms   p95 {p95 * 1e3:7.1f} ms   max {max(times) * 1e3:7.1f} ms")
    print(f"  cold: first query in a fresh process {cold['first'] * 1e3:.0f} ms, second {cold['second'] * 1e3:.0f} ms "
          f"(after import pluma {cold['import'] * 1e3:.0f} ms and pluma.open {cold['open'] * 1e3:.0f} ms; page cache warm)")
    print(f"        of which lazy imports (pandas, pint registry): in a fresh process that imports them first "
          f"({cold_pre['lazy'] * 1e3:.0f} ms) the first query takes {cold_pre['first'] * 1e3:.0f} ms")
    print(f"        first query in this process after clearing the index caches (lazy imports included if this "
          f"process had not made them yet): {first_in_process * 1e3:.0f} ms")
    print(f"\nnaive: list tags ({list_s * 1e3:.0f} ms) + open each snapshot's context doc, filter in Python: "
          f"{statistics.mean(per) * 1e3:.1f} ms/snapshot measured on a sample of {len(sample)}, "
          f"EXTRAPOLATED to {len(tags)}: {naive_s:.1f} s")
    print(f"  same query (where='span > 30') through ws.query: {same_query * 1e3:.1f} ms; results agree on the sample: "
          f"{'yes' if agree else 'NO'}")
    print(f"\nratio naive/query: {naive_s / p50:,.0f}x vs query p50, {naive_s / p95:,.0f}x vs p95, "
          f"{naive_s / same_query:,.0f}x vs the same query")
    print(f"goal p95 < 100 ms: {p95 * 1e3:.1f} ms  {'HOLDS' if p95 < 0.1 else 'FAILS'}")
    if profile_text:
        print(f"\n--- cProfile of one warm query ({specs[1]}) ---\n{profile_text}")


if __name__ == "__main__":
    main()
