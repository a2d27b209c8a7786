"""Runtime values: classification, unit reconciliation and human-readable formatting.

Values are plain Python/numpy/pint objects: bool, int, float, str, numpy arrays,
and pint Quantities (scalar or array magnitude) from ``pluma.units.ureg``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pint

from ..units import ureg

__all__ = ["EvalProblem", "kind_of", "is_array", "normalize", "to_python", "format_value", "describe", "unify"]


class EvalProblem(Exception):
    """Internal: an operation cannot be done; the evaluator adds the expression and column."""


def is_quantity(v: Any) -> bool:
    return isinstance(v, pint.Quantity)


def magnitude(v: Any) -> Any:
    return v.magnitude if isinstance(v, pint.Quantity) else v


def is_array(v: Any) -> bool:
    return isinstance(magnitude(v), np.ndarray)


def kind_of(v: Any) -> str:
    """'bool', 'number', 'text' or 'other' (scalars and arrays alike)."""
    m = magnitude(v)
    if isinstance(m, np.ndarray):
        k = m.dtype.kind
        if k == "b":
            return "bool"
        if k in "iuf":
            return "number"
        if k in "US":
            return "text"
        if k == "O" and all(isinstance(x, str) for x in m.flat):
            return "text"
        return "other"
    if isinstance(m, (bool, np.bool_)):
        return "bool"
    if isinstance(m, (int, float, np.integer, np.floating)):
        return "number"
    if isinstance(m, str):
        return "text"
    return "other"


def _scalar(x: Any) -> Any:
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.ndarray) and x.ndim == 0:
        return _scalar(x[()])
    return x


def to_python(v: Any) -> Any:
    """numpy scalars and 0-d arrays -> Python scalars (inside Quantities too)."""
    if isinstance(v, pint.Quantity):
        m = _scalar(v.magnitude)
        return v if m is v.magnitude else ureg.Quantity(m, v.units)
    return _scalar(v)


def normalize(raw: Any) -> Any:
    """Bring a resolver's value into the evaluator's types; None means 'missing'."""
    if raw is None:
        return None
    if isinstance(raw, pint.Quantity):
        mag = raw.magnitude
        if isinstance(mag, (list, tuple)):
            mag = np.asarray(mag)
        if raw._REGISTRY is not ureg:  # a Quantity from another registry: rebuild in ours
            raw = ureg.Quantity(mag, format(raw.units, "D"))
        elif mag is not raw.magnitude:
            raw = ureg.Quantity(mag, raw.units)
        return to_python(raw)
    if isinstance(raw, (bool, int, float, str, np.ndarray, np.generic)):
        return to_python(raw) if not isinstance(raw, np.ndarray) else raw
    if isinstance(raw, (list, tuple)) or hasattr(raw, "__array__"):
        return np.asarray(raw)
    raise EvalProblem(f"has a value of unsupported type {type(raw).__name__}")


# -- formatting -------------------------------------------------------------------


def _num(x: Any) -> str:
    x = _scalar(x)
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return f"{x:g}"
    return str(x)


def _unit_suffix(v: Any) -> str:
    if not isinstance(v, pint.Quantity) or v.units == ureg.dimensionless:
        return ""
    return " " + format(v.units, "~P")


def format_value(v: Any) -> str:
    """Short human-readable text: '36 m', 'true', "'approved'", 'min 0.12, max 2.3 (40 values)'."""
    if v is None:
        return "missing"
    if not is_array(v):
        m = magnitude(v)
        if isinstance(m, str):
            return repr(m)
        return _num(m) + _unit_suffix(v)
    m = np.asarray(magnitude(v))
    size, unit = m.size, _unit_suffix(v)
    count = f"{size} value" + ("" if size == 1 else "s")
    if size == 0:
        return "empty (0 values)"
    kind = kind_of(v)
    if kind == "bool":
        return f"{int(np.count_nonzero(m))} of {size} true"
    if kind == "number":
        if size == 1:
            return f"{_num(m.flat[0])}{unit} (1 value)"
        finite = m[~np.isnan(m)] if m.dtype.kind == "f" else m
        nans = size - finite.size
        if finite.size == 0:
            return f"all NaN ({count})"
        extra = f", {nans} NaN" if nans else ""
        return f"min {_num(finite.min())}{unit}, max {_num(finite.max())}{unit} ({count}{extra})"
    if kind == "text":
        return f"{count} of text"
    return count


def describe(v: Any) -> str:
    """A value with its type, for error messages: "text 'abc'", 'number 3', 'array of 40 numbers in MPa'."""
    kind = kind_of(v)
    if is_array(v):
        size = np.asarray(magnitude(v)).size
        word = {"bool": "true/false value", "number": "number", "text": "text value"}.get(kind, "value")
        unit = _unit_suffix(v)
        return f"array of {size} {word}{'' if size == 1 else 's'}" + (f" in{unit}" if unit else "")
    if kind == "bool":
        return f"boolean {format_value(v)}"
    if kind == "text":
        return f"text {format_value(v)}"
    if kind == "number":
        return f"quantity {format_value(v)}" if _unit_suffix(v) else f"number {format_value(v)}"
    return f"value of type {type(v).__name__}"


# -- units ------------------------------------------------------------------------


def _unit_name(q: pint.Quantity) -> str:
    return format(q.units, "~P") or "dimensionless"


def unify(a: Any, a_bare: bool, b: Any, b_bare: bool, verb: str) -> tuple[Any, Any]:
    """Bring two numbers to a common unit for +, -, %, comparisons and min/max.

    * two Quantities: ``b`` is converted to ``a``'s unit (118 ft vs 36 m works);
    * a bare number next to a Quantity takes the Quantity's unit;
    * any other plain number next to a dimensionless Quantity is compared as a ratio;
    * anything else (incompatible dimensions, a plain value against a length ...) is refused.
    """
    qa, qb = is_quantity(a), is_quantity(b)
    if qa and qb:
        try:
            return a, b.to(a.units)
        except pint.DimensionalityError:
            raise EvalProblem(
                f"cannot {verb} {format_value(a)} and {format_value(b)}: incompatible units "
                f"{_unit_name(a)} ({a.dimensionality}) and {_unit_name(b)} ({b.dimensionality})"
            ) from None
    if not (qa or qb):
        return a, b
    q, p, p_bare = (a, b, b_bare) if qa else (b, a, a_bare)
    if p_bare:
        p = ureg.Quantity(p, q.units)
    elif q.dimensionless:
        q = q.to("dimensionless").magnitude
    else:
        raise EvalProblem(
            f"cannot {verb} {describe(a)} and {describe(b)}: one has unit {_unit_name(q)}, the other has no unit"
        )
    return (q, p) if qa else (p, q)
