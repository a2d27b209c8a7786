"""``ws.query(...)``: frozen contexts of every program the user may read, as a DataFrame."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from ..errors import InvalidInputError
from ..names import validate_item_name
from ..programs.phases import Phase

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..workspace import Workspace

__all__ = ["query", "OUTPUT_COLUMNS"]

OUTPUT_COLUMNS = ["program", "phase", "ref", "id", "frozen_at", "frozen_by"]


def _as_list(value: Any, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, (str, Phase)):
        return [value]
    if isinstance(value, Iterable):
        out = list(value)
        if not out:
            raise InvalidInputError(f"{what} must not be an empty list")
        return out
    raise InvalidInputError(f"{what} must be a name or a list of names, got {type(value).__name__}")


def _as_time(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInputError(f"{what}={value!r} is not an ISO date or time such as '2026-11-29' or '2026-11-29T10:00'") from None
    else:
        raise InvalidInputError(f"{what} must be a datetime or an ISO date string")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat(timespec="milliseconds")


class _ColumnResolver:
    """Resolves parameter names to whole columns (vectorised evaluation of ``where``)."""

    def __init__(self, frame, units: dict[str, str]) -> None:
        self._frame = frame
        self._units = units

    def param(self, name: str):
        from ..expressions import MissingValue
        from ..units import parse_unit

        column = f"param:{name}"
        if column not in self._frame:
            raise MissingValue(name)
        values = self._frame[column].to_numpy()
        if len(values) and all(isinstance(v, bool) for v in values):
            return values.astype(bool)
        if len(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            arr = values.astype(float)
            unit = self._units.get(name)
            return arr * parse_unit(unit) if unit else arr
        return values.astype(str) if len(values) and all(isinstance(v, str) for v in values) else values

    def dataset_var(self, dataset: str, var: str):
        raise InvalidInputError(
            f"queries filter on parameters; datasets.{dataset}.{var} is not indexed (read the frozen context instead)"
        )


def query(
    ws: "Workspace",
    *,
    program: str | list[str] | None = None,
    phase: str | Phase | list[str | Phase] | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    where: str | None = None,
    params: str | list[str] | None = None,
) -> "pd.DataFrame":
    """Frozen contexts of every program ``ws.user`` may read, oldest first.

    Columns: program, phase, ref, id, frozen_at, frozen_by, then ``params``.
    ``where`` is the gate expression language over parameters; a row lacking a
    parameter the filter names is left out.

    Examples
    --------
    >>> ws.query(phase="CAD", params=["span", "cruise_mach"],
    ...          where="span > 30 and cruise_mach < 0.8")   # doctest: +SKIP
    """
    from ..expressions import parse
    from .index import FrozenIndex

    programs = _as_list(program, "program")
    phases = [Phase.parse(p).value for p in _as_list(phase, "phase")] if phase is not None else None
    wanted = [validate_item_name(p, "parameter") for p in (_as_list(params, "params") or [])]
    start, end = _as_time(since, "since"), _as_time(until, "until")
    expr = None
    if where is not None:
        if not isinstance(where, str) or not where.strip():
            raise InvalidInputError("where must be a non-empty expression such as 'span > 30'")
        expr = parse(where)
        if expr.dataset_refs:
            raise InvalidInputError("where filters on parameters only; dataset variables are not indexed")

    index = FrozenIndex(ws)
    index.reconcile()
    frame = index.frame()
    units = frame.attrs.get("units", {})

    readable = ws._readable_program_keys()
    mask = frame["key"].isin(readable)
    if programs is not None:
        mask &= frame["key"].isin([p.lower() for p in programs])
    if phases is not None:
        mask &= frame["phase"].isin(phases)
    if start is not None:
        mask &= frame["frozen_at"] >= start
    if end is not None:
        mask &= frame["frozen_at"] <= end
    frame = frame[mask]

    if expr is not None and len(frame):
        present = np.ones(len(frame), dtype=bool)
        for name in expr.names:
            column = f"param:{name}"
            present &= frame[column].notna().to_numpy() if column in frame else False
        frame = frame[present]
        if len(frame):
            result = expr.evaluate(_ColumnResolver(frame, units))
            value = result.value
            if hasattr(value, "magnitude"):
                value = value.magnitude
            value = np.asarray(value)
            if value.dtype != bool:
                raise InvalidInputError(f"where must be true or false for each frozen context; {where!r} is not")
            frame = frame[np.broadcast_to(value, (len(frame),))]

    frame = frame.sort_values(["frozen_at", "seq"], kind="stable")
    out = frame[OUTPUT_COLUMNS].copy()
    for name in wanted:
        column = f"param:{name}"
        out[name] = frame[column] if column in frame else np.nan
    # units only of parameters the rows you may read have (another program's declarations stay private)
    out.attrs["units"] = {k: units[k] for k in wanted if k in units and out[k].notna().any()}
    return out.reset_index(drop=True)
