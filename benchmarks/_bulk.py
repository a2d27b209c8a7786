"""Build a large workspace fast: one program through the real ceremony, the rest in bulk.

Used by ``scale.py`` (and ``load.py`` for its seed programs). Like ``query.py``'s
builder (whose parameter generator it reuses), the bulk programs get exactly the
layout the ceremony leaves — docs ``program`` / ``context`` on branch
``programs/<key>``, one ``freeze`` commit and one ``frozen/<key>/<seq>.<phase>.<n>``
tag per freeze, registry entries on ``main``, index entries through
``FrozenIndex.record`` — but not the intermediate commits. Each program's audit
trail is a real hash chain (``pluma.audit.chain``) bound to its own branch.

The gates carry real checks in the expression language (units included), so
that evaluating a program's current gate evaluates expressions over its values.

Examples
--------
>>> from _bulk import build, GATES                       # doctest: +SKIP
>>> meta = build(Path("/tmp/ws"), 50)                    # doctest: +SKIP
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from query import PHASES, freeze_time, program_values  # noqa: E402

__all__ = ["GATES", "TEMPLATE", "MEMBERS", "build", "program_name"]

TEMPLATE = "TPL00000"
MEMBERS = {"admin": ["chief_engineer", "program_manager"]}
BATCH = 100  # programs per registry / index commit


def _gate(phase: str, params: list[str], checks: list[str]) -> dict:
    return {"phase": phase, "requires": {"params": params},
            "checks": [{"id": f"{phase.lower()}_{i}", "expr": e} for i, e in enumerate(checks)], "approvals": []}


#: one gate per phase, with checks every generated program passes (see query.phase_params)
GATES = {
    "CAD": _gate("CAD", ["span", "wing_area", "mtow", "cruise_mach"],
                 ["span > 10 m", "cruise_mach < 0.9", "abs(span**2 / wing_area - aspect_ratio) < 0.05",
                  "mtow < 400 t"]),
    "CAE": _gate("CAE", ["ld_cruise", "flutter_speed"], ["ld_cruise > 12", "flutter_speed > 290 kt", "analysis_converged"]),
    "CAI": _gate("CAI", ["open_critical_interface_issues"], ["open_critical_interface_issues == 0"]),
    "CAO": _gate("CAO", ["selected_feasible"], ["selected_feasible", "optimality_gap < 0.1"]),
    "CAM": _gate("CAM", [], ["producibility_review_passed and manufacturing_instructions_released"]),
    "CAP": _gate("CAP", ["supplier_readiness"], ["supplier_readiness >= 0.8", "production_rate_planned > 0"]),
    "CAV": _gate("CAV", [], ["open_nonconformances <= nonconformance_threshold"]),
    "CMP": _gate("CMP", [], ["assurance_objectives_met and authority_coordination_recorded"]),
    "CAS": _gate("CAS", ["mtbf_hours", "dispatch_reliability"],
                 ["mtbf_hours > 1000 h", "dispatch_reliability > 0.95", "span > 10 m",
                  "design_range > 1000 km", "mtow / wing_area < 1000 kg / 1 m / 1 m"]),
}


def program_name(i: int) -> str:
    return TEMPLATE if i == 0 else f"P{i:05d}"


def _template(ws) -> list[dict]:
    """The real ceremony once; per freeze, the program and context documents it left."""
    prog = ws.create_program(TEMPLATE, members=MEMBERS)
    values = program_values(0)
    for phase in PHASES:
        prog.set_gate(phase, GATES[phase])
    for j, phase in enumerate(PHASES):
        previous = values[j - 1] if j else {}
        prog.context.set_params(**{k: v for k, v in values[j].items() if previous.get(k) != v},
                                message=f"{phase} parameters")
        prog.advance(f"{phase} baseline")
    enclave = prog._enclave
    return [{"tag": t, "program": enclave.snapshot(tag=t).doc("program"),
             "context": enclave.snapshot(tag=t).doc("context")} for t in enclave.tags(f"frozen/{prog.key}/")]


def _entry(name, key, phase, seq, sid, tag, state, manifest) -> dict:
    record = state["last_freeze"]
    return {"program": name, "key": key, "phase": phase, "n": 1, "seq": seq, "ref": f"{name}@{phase}#1",
            "id": sid, "tag": tag, "frozen_at": record["time"], "frozen_by": record["user"],
            "message": record["message"], "classification": state["classification"], "enclave": "default",
            "params": {k: r.get("value") for k, r in manifest["params"].items()},
            "units": {k: r.get("unit") for k, r in manifest["params"].items() if r.get("unit")}}


def build(path: Path, n_programs: int, *, report: Callable[[str], None] = print) -> dict:
    """Create a workspace at ``path`` with ``n_programs`` programs x 9 frozen contexts
    (program 0 through the ceremony). Returns timings."""
    import pluma
    from pluma.audit import chain
    from pluma.context.frozen import tag_name
    from pluma.query import FrozenIndex

    t_start = time.perf_counter()
    ws = pluma.open(path, user="admin")
    t = time.perf_counter()
    template = _template(ws)
    ceremony_s = time.perf_counter() - t
    enclave = ws._default
    initial = enclave.initial_snapshot()
    index = FrozenIndex(ws)
    texts = [json.dumps({"program": d["program"], "context": d["context"]}) for d in template]
    tkey = TEMPLATE.lower()
    pending_entries: list[dict] = []
    pending_programs: dict[str, dict] = {}
    timings = {"commit": 0.0, "tag": 0.0, "branch": 0.0, "registry+index": 0.0}
    t_batch, done_before = time.perf_counter(), 1

    def flush() -> None:
        t0 = time.perf_counter()
        if pending_programs:
            batch = dict(pending_programs)

            def register(txn):
                programs = txn.doc("programs", {})
                programs.update(batch)
                txn.put_doc("programs", programs)
                for e in batch.values():
                    chain.append(txn, chain.chain_id("default", "main"),
                                 {"time": e["created"], "user": "admin", "kind": "program_created",
                                  "name": e["name"], "classification": "PUBLIC", "origin": None})

            enclave.update("main", register, message=f"register {len(batch)} programs",
                           metadata={"author": "admin", "kind": "program"})
            index.record(enclave, list(pending_entries), author="admin")
        pending_entries.clear()
        pending_programs.clear()
        timings["registry+index"] += time.perf_counter() - t0

    for i in range(1, n_programs):
        name, key = program_name(i), program_name(i).lower()
        values = program_values(i)
        branch = f"programs/{key}"
        t0 = time.perf_counter()
        enclave.create_branch(branch, initial)
        timings["branch"] += time.perf_counter() - t0
        created = freeze_time(i, 0)
        cid = chain.chain_id("default", branch)
        for j, phase in enumerate(PHASES):
            docs = json.loads(texts[j].replace(TEMPLATE, name).replace(tkey, key))
            state, manifest = docs["program"], docs["context"]
            when = freeze_time(i, j)
            tag = tag_name(key, j + 1, phase, 1)
            state["created"] = created
            state["last_freeze"]["time"] = when
            state["last_freeze"]["report"]["evaluated_at"] = when
            for pname, rec in manifest["params"].items():
                rec["value"] = values[j][pname]
                rec["time"] = when

            def change(txn, state=state, manifest=manifest, tag=tag, phase=phase, when=when, first=j == 0):
                txn.metadata["tag"] = tag
                txn.put_doc("context", manifest)
                txn.put_doc("program", state)
                if first:
                    chain.start(txn, cid, {"time": created, "user": "admin", "kind": "created", "phase": "CAD",
                                           "classification": "PUBLIC", "origin": None})
                chain.append(txn, cid, {"time": when, "user": "admin", "kind": "freeze", "phase": phase,
                                        "to": state["phase"], "ref": f"{name}@{phase}#1", "message": f"{phase} baseline",
                                        "tag": tag})

            t0 = time.perf_counter()
            sid, _ = enclave.update(branch, change, message=f"{phase} baseline",
                                    metadata={"author": "admin", "kind": "freeze"})
            t1 = time.perf_counter()
            enclave.create_tag(tag, sid)
            timings["commit"] += t1 - t0
            timings["tag"] += time.perf_counter() - t1
            pending_entries.append(_entry(name, key, phase, j + 1, sid, tag, state, manifest))
        pending_programs[key] = {"name": name, "enclave": "default", "branch": branch, "created": created,
                                 "created_by": "admin", "classification": "PUBLIC", "members": MEMBERS}
        if i % BATCH == 0 or i == n_programs - 1:
            flush()
            rate = (i + 1 - done_before) * 9 / (time.perf_counter() - t_batch)
            report(f"  built {i + 1:5d}/{n_programs} programs ({(i + 1) * 9} frozen contexts), "
                   f"{rate:5.0f} contexts/s over the last batch")
            t_batch, done_before = time.perf_counter(), i + 1
    flush()
    return {"programs": n_programs, "contexts": n_programs * 9, "build_s": time.perf_counter() - t_start,
            "ceremony_s": ceremony_s, "timings": timings}
