"""The workspace's own metered usage as capacity history rows.

The shipped history (:mod:`pluma.capacity.history`) is synthetic. As a
workspace runs, PLUMA meters what its programs really use — sweeps record
``usage`` events, template runs ``template_run`` events, freezes keep the
context's stored bytes — and :func:`workspace_history` turns that into rows
of the same shape, one per (program, phase the program has *left*: frozen),
so that forecasts learn from the organisation's own programs as they
accumulate (:func:`history_for`).

What each column is made of (per program and phase, over the events recorded
while the program was in that phase):

==================  ==========================================================
``core_hours``      sum of the sweeps' ``core_seconds`` / 3600
``cores``           the most cores one sweep held
``memory_gb``       the largest ``peak_worker_memory_bytes`` x ``cores`` of a
                    sweep (each worker of PLUMA's clusters has one thread), GB
``template_runs``   number of ``template_run`` events
``storage_tb``      stored bytes of the phase's last frozen context, TB
``gpu_hours``       not metered by PLUMA yet: missing (NaN)
``qubits``          the widest ``qubits`` a usage record names, else missing
``sweep_points``    sum of the sweeps' points
``dataset_gb``,     volumes of the phase's last frozen context
``artifact_mb``
==================  ==========================================================

A resource that was never metered in a phase is missing (NaN), never 0: the
model learns each resource from the rows that have it. Programs are named
``ws:<program>``; ``complexity`` (the generator's latent) is missing. ITAR
programs are left out: nothing derived from an ITAR enclave's data feeds the
forecasts of other programs.

Examples
--------
>>> rows = workspace_history(ws)              # doctest: +SKIP
>>> history = history_for(ws)                 # shipped history + these rows  # doctest: +SKIP
>>> past = program_usage(prog)                # one program's rows: its prior usage  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .history import FEATURE_COLUMNS_RAW, RESOURCES

if TYPE_CHECKING:  # pragma: no cover
    from ..workspace import Workspace

__all__ = ["history_for", "program_usage", "workspace_history"]

_COLUMNS = list(FEATURE_COLUMNS_RAW) + list(RESOURCES)


def _phase_rows(program) -> list[dict[str, Any]]:
    from .features import context_stats

    info = program.info
    frozen_by_phase: dict[str, Any] = {}
    for fc in program.history():  # oldest first: the last freeze of a phase wins
        frozen_by_phase[fc.phase.value] = fc
    if not frozen_by_phase:
        return []
    by_phase: dict[str, dict[str, list]] = {}
    for event in program.events():
        phase = event.get("phase")
        if phase not in frozen_by_phase:
            continue
        bucket = by_phase.setdefault(phase, {"usage": [], "templates": []})
        if event.get("kind") == "usage":
            bucket["usage"].append(event)
        elif event.get("kind") == "template_run":
            bucket["templates"].append(event)
    rows = []
    domains = info.get("domains") or []
    for phase, fc in frozen_by_phase.items():
        stats = context_stats(fc)
        stored = sum(float(fc.dataset_info(n).get("stored_bytes") or 0) for n in fc.datasets)
        stored += sum(float(fc.artifact_info(n).get("stored_bytes") or fc.artifact_info(n).get("size") or 0)
                      for n in fc.artifacts)
        bucket = by_phase.get(phase, {"usage": [], "templates": []})
        usage, templates = bucket["usage"], bucket["templates"]
        metered = bool(usage)
        qubits = [float(u["qubits"]) for u in usage if isinstance(u.get("qubits"), (int, float))]
        rows.append({
            "program": f"ws:{program.name}",
            "priority": info.get("priority", "standard"),
            "classification": info.get("classification", "PUBLIC"),
            "domains": "+".join(domains),
            "n_domains": len(domains),
            "phase": phase,
            "complexity": np.nan,
            "dataset_gb": stats["dataset_gb"],
            "artifact_mb": stats["artifact_mb"],
            "sweep_points": float(sum(int(u.get("points", 0)) for u in usage)),
            "cores": float(max(int(u.get("cores", 0)) for u in usage)) if metered else np.nan,
            "core_hours": sum(float(u.get("core_seconds", 0)) for u in usage) / 3600.0 if metered else np.nan,
            "memory_gb": max(float(u.get("peak_worker_memory_bytes", 0)) * int(u.get("cores", 1)) for u in usage)
            / 1e9 if metered else np.nan,
            "gpu_hours": np.nan,
            "storage_tb": stored / 1e12,
            "qubits": max(qubits) if qubits else np.nan,
            "template_runs": float(len(templates)),
        })
    return rows


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    for col in ("program", "priority", "classification", "domains", "phase"):
        frame[col] = frame[col].astype(str)
    return frame


def program_usage(program) -> pd.DataFrame:
    """One program's own metered rows (one per phase it has left), for its own forecasts.

    The rows :func:`workspace_history` gives for that program, also for an ITAR program: they never leave it —
    :func:`pluma.capacity.forecast.forecast` uses them only as that program's prior usage
    (:func:`pluma.capacity.features.features_for_program` ``past_usage=``), never as training rows.
    """
    return _frame(_phase_rows(program) if program.domains else [])


def workspace_history(ws: "Workspace") -> pd.DataFrame:
    """Capacity history rows from the metered usage of the programs ``ws``'s user may read
    (columns of the shipped history; missing resources are NaN). Empty when nothing has
    been frozen yet."""
    rows: list[dict[str, Any]] = []
    for program in ws.programs():
        if program.classification == "ITAR":  # its usage stays in its enclave, not even training rows leave
            continue
        if program.domains:  # a program without domains has no features the model knows
            rows.extend(_phase_rows(program))
    return _frame(rows)


def history_for(ws: "Workspace", base: pd.DataFrame | None = None) -> pd.DataFrame:
    """The shipped history (or ``base``) plus ``ws``'s own metered rows."""
    from .history import generate_history, load_history

    if base is None:
        try:
            base = load_history()
        except Exception:  # noqa: BLE001 - no catalog (installed wheel) or no intake: the generator's output
            base = generate_history()
    own = workspace_history(ws)
    if own.empty:
        return base
    return pd.concat([base, own], ignore_index=True)
