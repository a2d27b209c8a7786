"""Program features for the capacity model, from history rows or from a live program.

A feature row describes one program in one phase with what is known before the
phase runs: priority, classification, domains, phase, and the volumes of its
context (datasets, artifacts, sweep points). :func:`encode` turns such rows into
the numeric matrix the model is trained on, always in the same column order
and with fixed codes, so the encoding never depends on which categories a
particular frame happens to contain:

* ``phase`` → index in the lifecycle (CAD=0 ... CAS=8), treated as categorical;
* ``priority`` → standard=0, research=1, defense=2, treated as categorical;
* ``classification`` → rank PUBLIC=0 < EAR99 < EAR < ITAR=3 (ordinal);
* ``domains`` → one 0/1 flag per domain code, plus ``n_domains``;
* volumes → ``log1p`` of dataset GB, artifact MB and sweep points;
* **prior usage** (:data:`PRIOR_COLUMNS`) → what the program itself used before
  this phase, per resource ``r``: ``prior_<r>``, the ``log1p`` of its usage in the
  phase immediately before this one in the lifecycle, and ``prior_mean_<r>``, the
  mean ``log1p`` usage over all its earlier phases. They exist only one step
  ahead — when the program's row for the directly preceding phase is known —
  and are missing (NaN) otherwise: for CAD, for a phase further ahead, and for a
  resource that was not metered. :func:`add_prior_usage` computes them for a
  history frame from each program's own *earlier* rows (never the row itself,
  never a later phase); :func:`features_for_program` takes a live program's
  metered past rows (``past_usage=``). A frame without these columns encodes
  them as NaN (the gradient-boosting models route missing values natively).

Examples
--------
>>> info = {"priority": "defense", "classification": "ITAR", "domains": ["AAA", "CQH"], "phase": "CAE"}
>>> row = features_for_program(info, {"dataset_gb": 12.0, "artifact_mb": 40.0, "sweep_points": 100})
>>> row.loc[0, "phase"], int(row.loc[0, "n_domains"]), row.loc[0, "domains"]
('CAE', 2, 'AAA+CQH')
>>> list(encode(row).columns[:4])
['phase', 'priority', 'classification', 'n_domains']
>>> past = pd.DataFrame([{"phase": "CAD", "core_hours": 99.0}])   # what the program used in CAD
>>> row = features_for_program(info, {"dataset_gb": 12.0}, past_usage=past)
>>> round(float(row.loc[0, "prior_core_hours"]), 3), bool(np.isnan(row.loc[0, "prior_cores"]))
(4.605, True)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from ..programs.phases import (
    CLASSIFICATIONS,
    DOMAINS,
    PRIORITIES,
    Phase,
    validate_classification,
    validate_domains,
    validate_priority,
)
from .history import RESOURCES

__all__ = [
    "CATEGORICAL",
    "ENCODED_COLUMNS",
    "NUMERIC_COLUMNS",
    "PRIOR_COLUMNS",
    "RAW_COLUMNS",
    "add_prior_usage",
    "context_stats",
    "encode",
    "features_for_program",
]

PHASES: tuple[str, ...] = tuple(p.value for p in Phase)
_PRIORITY_CODE = {name: i for i, name in enumerate(PRIORITIES)}  # standard, research, defense

#: Columns a feature frame must have (history rows have these and more).
RAW_COLUMNS: tuple[str, ...] = ("priority", "classification", "domains", "n_domains", "phase", "dataset_gb",
                                "artifact_mb", "sweep_points")
#: Observable numeric columns (what the naive baseline measures similarity on).
NUMERIC_COLUMNS: tuple[str, ...] = ("n_domains", "dataset_gb", "artifact_mb", "sweep_points")
#: The program's own usage before the phase (log1p scale; NaN when unknown), see :func:`add_prior_usage`.
PRIOR_COLUMNS: tuple[str, ...] = (tuple(f"prior_{r}" for r in RESOURCES)
                                  + tuple(f"prior_mean_{r}" for r in RESOURCES))
#: Columns of the encoded matrix, in order.
ENCODED_COLUMNS: tuple[str, ...] = (("phase", "priority", "classification", "n_domains")
                                    + tuple(f"dom_{d}" for d in DOMAINS)
                                    + ("log_dataset_gb", "log_artifact_mb", "log_sweep_points")
                                    + PRIOR_COLUMNS)
#: Encoded columns the gradient-boosting models treat as categorical.
CATEGORICAL: tuple[str, ...] = ("phase", "priority")


def _domain_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [v for v in value.replace(",", "+").split("+") if v.strip()]
    return validate_domains([v.strip() if isinstance(v, str) else v for v in value])


def _codes(series: pd.Series, table: Mapping[str, int], what: str, normalise) -> np.ndarray:
    out = np.empty(len(series), dtype=float)
    for i, v in enumerate(series.tolist()):
        key = normalise(v) if isinstance(v, str) else v
        if key not in table:
            raise InvalidInputError(f"unknown {what} {v!r}: use one of {', '.join(table)}")
        out[i] = table[key]
    return out


def _volume(series: pd.Series, what: str) -> np.ndarray:
    try:
        values = series.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} must be numbers >= 0") from exc
    if not np.isfinite(values).all() or (values < 0).any():
        raise InvalidInputError(f"{what} must be finite numbers >= 0")
    return np.log1p(values)


def encode(features: pd.DataFrame) -> pd.DataFrame:
    """The numeric matrix (columns :data:`ENCODED_COLUMNS`) for feature rows; same index as ``features``.

    Raises :class:`~pluma.errors.InvalidInputError` for a missing column or an unknown category.
    """
    if not isinstance(features, pd.DataFrame):
        raise InvalidInputError(f"features must be a pandas DataFrame, got {type(features).__name__}")
    missing = [c for c in RAW_COLUMNS if c not in features.columns]
    if missing:
        raise InvalidInputError(f"features lack columns {', '.join(missing)}")
    out = pd.DataFrame(index=features.index)
    out["phase"] = _codes(features["phase"], {p: i for i, p in enumerate(PHASES)}, "phase", str.upper)
    out["priority"] = _codes(features["priority"], _PRIORITY_CODE, "priority", str.lower)
    out["classification"] = _codes(features["classification"], {c: i for i, c in enumerate(CLASSIFICATIONS)},
                                   "classification", str.upper)
    flags = np.zeros((len(features), len(DOMAINS)))
    for i, value in enumerate(features["domains"].tolist()):
        for code in _domain_list(value):
            flags[i, DOMAINS.index(code)] = 1.0
    out["n_domains"] = flags.sum(axis=1)
    for j, d in enumerate(DOMAINS):
        out[f"dom_{d}"] = flags[:, j]
    out["log_dataset_gb"] = _volume(features["dataset_gb"], "dataset_gb")
    out["log_artifact_mb"] = _volume(features["artifact_mb"], "artifact_mb")
    out["log_sweep_points"] = _volume(features["sweep_points"], "sweep_points")
    for col in PRIOR_COLUMNS:  # older callers have none of them: unknown
        out[col] = _prior(features[col], col) if col in features.columns else np.nan
    return out[list(ENCODED_COLUMNS)]


def _prior(series: pd.Series, what: str) -> np.ndarray:
    try:
        values = series.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} must be numbers >= 0 (log1p usage) or missing") from exc
    known = ~np.isnan(values)
    if not np.isfinite(values[known]).all() or (values[known] < 0).any():
        raise InvalidInputError(f"{what} must be finite numbers >= 0 (log1p usage) or missing")
    return values


def _phase_index(series: pd.Series) -> np.ndarray:
    index = {p: i for i, p in enumerate(PHASES)}
    out = np.empty(len(series), dtype=int)
    for i, v in enumerate(series.tolist()):
        key = str(v).upper()
        if key not in index:
            raise InvalidInputError(f"unknown phase {v!r}: use one of {', '.join(PHASES)}")
        out[i] = index[key]
    return out


def _prior_table(programs: np.ndarray, phase_idx: np.ndarray, usage: pd.DataFrame,
                 query_programs: np.ndarray, query_idx: np.ndarray) -> pd.DataFrame:
    """Prior-usage columns for the (program, phase index) queries, from the given usage rows.

    Usage rows are first averaged per (program, phase) in log1p space (a program has one row per phase in a
    history; averaging only matters for duplicates). A query for phase ``i`` of program ``p`` gets
    ``prior_<r>`` from ``p``'s phase ``i - 1`` and ``prior_mean_<r>`` from all of ``p``'s phases ``< i``,
    provided ``p`` has a row for phase ``i - 1``; otherwise every prior column is NaN.
    """
    logs = np.log1p(usage[list(RESOURCES)].to_numpy(dtype=float, na_value=np.nan))
    per_phase = (pd.DataFrame(logs, columns=list(RESOURCES))
                 .assign(_program=programs, _phase=phase_idx)
                 .groupby(["_program", "_phase"], sort=True).mean())
    sums = per_phase.fillna(0.0).groupby(level=0).cumsum().to_numpy()
    counts = per_phase.notna().astype(float).groupby(level=0).cumsum().to_numpy()
    means = np.divide(sums, counts, out=np.full_like(sums, np.nan), where=counts > 0)
    values = np.concatenate([per_phase.to_numpy(dtype=float), means], axis=1)
    # the row of (program, phase i) holds what is known before phase i + 1
    table = {(prog, i + 1): values[j] for j, (prog, i) in enumerate(per_phase.index.tolist())}
    empty = np.full(len(PRIOR_COLUMNS), np.nan)
    out = np.array([table.get((p, i), empty) for p, i in zip(query_programs.tolist(), query_idx.tolist())],
                   dtype=float).reshape(len(query_idx), len(PRIOR_COLUMNS))
    return pd.DataFrame(out, columns=list(PRIOR_COLUMNS))


def add_prior_usage(history: pd.DataFrame) -> pd.DataFrame:
    """A copy of history rows with the :data:`PRIOR_COLUMNS` computed from each program's own earlier rows.

    For a row of program ``p`` in phase ``i`` (lifecycle order CAD=0 ... CAS=8): ``prior_<r>`` is the ``log1p``
    usage of resource ``r`` in ``p``'s row of phase ``i - 1`` and ``prior_mean_<r>`` the mean ``log1p`` usage
    of ``r`` over ``p``'s rows of phases ``< i`` (missing values skipped). When ``p`` has no row for phase
    ``i - 1`` (CAD, or a gap) every prior column is NaN; a resource not metered (NaN) stays NaN. A row's own
    usage and later phases never enter its prior columns, whatever the order of the rows.

    Examples
    --------
    >>> h = pd.DataFrame({"program": ["A", "A", "A"], "phase": ["CAD", "CAE", "CAI"]}).assign(
    ...     **{r: [0.0, 1.0, 3.0] for r in RESOURCES})
    >>> add_prior_usage(h)["prior_mean_cores"].round(3).tolist()
    [nan, 0.0, 0.347]
    """
    if not isinstance(history, pd.DataFrame):
        raise InvalidInputError(f"history must be a pandas DataFrame, got {type(history).__name__}")
    missing = [c for c in ("program", "phase", *RESOURCES) if c not in history.columns]
    if missing:
        raise InvalidInputError(f"history lacks columns {', '.join(missing)}")
    programs = history["program"].astype(str).to_numpy()
    idx = _phase_index(history["phase"])
    priors = _prior_table(programs, idx, history, programs, idx)
    out = history.copy()
    for col in PRIOR_COLUMNS:
        out[col] = priors[col].to_numpy()
    return out


def _past_priors(past_usage: Any, phase_list: list[str]) -> pd.DataFrame:
    """Prior columns for one live program's forecast phases from its own past rows (phase + resources)."""
    if not isinstance(past_usage, pd.DataFrame):
        raise InvalidInputError(f"past_usage must be a pandas DataFrame, got {type(past_usage).__name__}")
    if "phase" not in past_usage.columns:
        raise InvalidInputError("past_usage lacks the column 'phase'")
    past = past_usage.reindex(columns=["phase", *RESOURCES])  # a resource absent from the rows: not metered
    values = past[list(RESOURCES)].to_numpy(dtype=float, na_value=np.nan)
    known = ~np.isnan(values)
    if not np.isfinite(values[known]).all() or (values[known] < 0).any():
        raise InvalidInputError("past_usage resources must be finite numbers >= 0 (or missing)")
    query = np.array([PHASES.index(p) for p in phase_list], dtype=int)
    past_idx = _phase_index(past["phase"])
    keep = past_idx < (query.max() if len(query) else 0)  # only phases before some forecast phase matter
    return _prior_table(np.zeros(int(keep.sum()), dtype=int), past_idx[keep], past.loc[keep],
                        np.zeros(len(query), dtype=int), query)


def _stat(stats: Mapping[str, Any], key: str) -> float:
    value = stats.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(value)) or value < 0:
        raise InvalidInputError(f"context_stats[{key!r}] must be a number >= 0, got {value!r}")
    return float(value)


def features_for_program(info: Mapping[str, Any], context_stats: Mapping[str, Any],
                         phases: Iterable[str | Phase] | None = None,
                         past_usage: pd.DataFrame | None = None) -> pd.DataFrame:
    """Feature rows for a live program, in the shape of the history's rows.

    Parameters
    ----------
    info
        Shaped like ``prog.info``: ``priority``, ``classification``, ``domains`` (list of codes) and ``phase``.
    context_stats
        ``{"dataset_gb", "artifact_mb", "sweep_points"}`` of the working context (missing keys count as 0);
        :func:`context_stats` measures them from a context.
    phases
        Phases to forecast (default: the program's current phase only, so one row). The same context volumes
        are used for every phase — for a later phase that is an extrapolation (a CAD context has few sweep
        points, a CAO phase many), so prefer the volumes expected in that phase when they are known.
    past_usage
        What this program used in the phases it went through (rows with ``phase`` and resource columns, e.g. its
        rows of :func:`pluma.capacity.metered.program_usage`; a missing resource or NaN: not metered). A
        forecast phase gets :data:`PRIOR_COLUMNS` from the rows of the phases before it when the phase right
        before it is among them (one step ahead, as in training); otherwise, and without ``past_usage``, they
        are NaN.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RAW_COLUMNS` then :data:`PRIOR_COLUMNS`, one row per phase.
    """
    if not isinstance(info, Mapping):
        raise InvalidInputError(f"info must be a mapping like prog.info, got {type(info).__name__}")
    if not isinstance(context_stats, Mapping):
        raise InvalidInputError(f"context_stats must be a mapping, got {type(context_stats).__name__}")
    for key in ("priority", "classification", "domains"):
        if key not in info:
            raise InvalidInputError(f"info lacks {key!r}")
    domains = validate_domains(info["domains"])
    if not domains:
        raise InvalidInputError("a program needs at least one domain to be forecast")
    if phases is None:
        if info.get("phase") is None:
            raise InvalidInputError("info lacks 'phase' (or pass phases=...)")
        phases = [info["phase"]]
    phase_list = []
    for p in phases:
        try:
            phase_list.append(Phase(p.value if isinstance(p, Phase) else str(p).upper()).value)
        except ValueError:
            raise InvalidInputError(f"unknown phase {p!r}: use one of {', '.join(PHASES)}") from None
    if not phase_list:
        raise InvalidInputError("phases is empty")
    base = {
        "priority": validate_priority(info["priority"]),
        "classification": validate_classification(info["classification"]),
        "domains": "+".join(sorted(domains)),
        "n_domains": len(domains),
        "dataset_gb": _stat(context_stats, "dataset_gb"),
        "artifact_mb": _stat(context_stats, "artifact_mb"),
        "sweep_points": _stat(context_stats, "sweep_points"),
    }
    rows = pd.DataFrame([dict(base, phase=p) for p in phase_list], columns=list(RAW_COLUMNS))
    if past_usage is None:
        priors = pd.DataFrame(np.nan, index=range(len(rows)), columns=list(PRIOR_COLUMNS))
    else:
        priors = _past_priors(past_usage, phase_list)
    return pd.concat([rows, priors], axis=1)


def context_stats(context: Any, sweep_points: float = 0) -> dict[str, float]:
    """``{"dataset_gb", "artifact_mb", "sweep_points"}`` of a context (working or frozen view).

    Dataset volume is the sum of ``dataset_info(name)["stored_bytes"]``; artifact volume the sum of
    ``artifact_info(name)["size"]`` (``stored_bytes`` when there is no size). Sweep points are not recorded
    in a context; pass the planned number.
    """
    gb = 0.0
    for name in context.datasets:
        gb += float(context.dataset_info(name).get("stored_bytes") or 0)
    mb = 0.0
    for name in context.artifacts:
        meta = context.artifact_info(name)
        mb += float(meta.get("size", meta.get("stored_bytes")) or 0)
    return {"dataset_gb": gb / 1e9, "artifact_mb": mb / 1e6, "sweep_points": _stat({"s": sweep_points}, "s")}
