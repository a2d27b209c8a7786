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
* volumes → ``log1p`` of dataset GB, artifact MB and sweep points.

Examples
--------
>>> info = {"priority": "defense", "classification": "ITAR", "domains": ["AAA", "CQH"], "phase": "CAE"}
>>> row = features_for_program(info, {"dataset_gb": 12.0, "artifact_mb": 40.0, "sweep_points": 100})
>>> row.loc[0, "phase"], int(row.loc[0, "n_domains"]), row.loc[0, "domains"]
('CAE', 2, 'AAA+CQH')
>>> list(encode(row).columns[:4])
['phase', 'priority', 'classification', 'n_domains']
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

__all__ = [
    "CATEGORICAL",
    "ENCODED_COLUMNS",
    "NUMERIC_COLUMNS",
    "RAW_COLUMNS",
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
#: Columns of the encoded matrix, in order.
ENCODED_COLUMNS: tuple[str, ...] = (("phase", "priority", "classification", "n_domains")
                                    + tuple(f"dom_{d}" for d in DOMAINS)
                                    + ("log_dataset_gb", "log_artifact_mb", "log_sweep_points"))
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
    return out[list(ENCODED_COLUMNS)]


def _stat(stats: Mapping[str, Any], key: str) -> float:
    value = stats.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(value)) or value < 0:
        raise InvalidInputError(f"context_stats[{key!r}] must be a number >= 0, got {value!r}")
    return float(value)


def features_for_program(info: Mapping[str, Any], context_stats: Mapping[str, Any],
                         phases: Iterable[str | Phase] | None = None) -> pd.DataFrame:
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

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RAW_COLUMNS`, one row per phase.
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
    rows = [dict(base, phase=p) for p in phase_list]
    return pd.DataFrame(rows, columns=list(RAW_COLUMNS))


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
