"""Audit append cost vs trail length: PLUMA's segmented chain vs the old whole-document rewrite.

Usage: python audit_bench.py [--quick]
"""
import sys, tempfile, time

from pluma.memory import Enclave, parse_root
from pluma.audit import chain

quick = "--quick" in sys.argv
sizes = (0, 1000) if quick else (0, 1000, 5000, 20000)
reps = 5 if quick else 20
root = parse_root(tempfile.mkdtemp())
enc = Enclave(root, "default", create=True)
ev = {"time": "2026-11-29T00:00:00.000+00:00", "user": "ana", "kind": "usage", "phase": "CAD", "cpu_s": 1.25, "points": 10}

def fresh(name):
    enc.create_branch(name, enc.initial_snapshot())
    return name

for n in sizes:
    old = fresh(f"old{n}")
    enc.update(old, lambda t: t.put_doc("events", [ev] * n), message="seed", metadata={})
    new = fresh(f"new{n}")
    cid = chain.chain_id("default", new)
    def seed(t):
        for _ in range(n):
            chain.append(t, cid, ev)
    # seeding through append keeps segments realistic (one commit)
    enc.update(new, seed, message="seed", metadata={})
    def old_append(t):
        e = t.doc("events", []); e.append(dict(ev)); t.put_doc("events", e)
    t0 = time.perf_counter()
    for _ in range(reps):
        enc.update(old, old_append, message="x", metadata={})
    t_old = (time.perf_counter() - t0) / reps * 1000
    t0 = time.perf_counter()
    for _ in range(reps):
        enc.update(new, lambda t: chain.append(t, cid, ev), message="x", metadata={})
    t_new = (time.perf_counter() - t0) / reps * 1000
    print(f"entries={n:6d}  whole-doc rewrite {t_old:7.2f} ms   hash-chained segments {t_new:7.2f} ms   ratio {t_old / t_new:5.1f}x")
