"""Units: one pint registry for all of PLUMA.

Values are stored as plain numbers in their declared unit; pint converts what
users type ("118 ft", 36.0, a pint Quantity) into that unit.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from typing import TYPE_CHECKING

from .errors import UnitError

if TYPE_CHECKING:  # pragma: no cover
    import pint

__all__ = ["ureg", "registry", "parse_unit", "to_unit", "format_quantity"]


@lru_cache(maxsize=1)
def registry() -> "pint.UnitRegistry":
    """The one pint registry (created on first use: pint is slow to import)."""
    import pint

    reg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    reg.formatter.default_format = "~P"
    return reg


def __getattr__(name: str):
    if name == "ureg":
        return registry()
    raise AttributeError(name)

_NUMBER_WITH_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


@lru_cache(maxsize=512)
def parse_unit(unit: str) -> "pint.Unit":
    """Parse a unit string ("m", "kg/m**2", "1", "deg"); raise UnitError if pint does not know it."""
    ureg = registry()
    if unit in ("", "1", "-"):
        return ureg.dimensionless
    try:
        return ureg.Unit(unit)
    except Exception as exc:  # pint raises several error types
        raise UnitError(f"unknown unit {unit!r}: use a unit pint understands, e.g. 'm', 'ft', 'kg', 'm/s', 'deg'") from exc


def to_unit(value: Any, unit: str, *, name: str = "value") -> float:
    """Convert ``value`` (number, "118 ft", pint Quantity) to a float in ``unit``.

    A bare number is taken to be in ``unit`` already.
    """
    import pint

    target = parse_unit(unit)
    if isinstance(value, bool):
        raise UnitError(f"{name}: expected a number in {unit or '1'}, got a boolean")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, pint.Quantity):
        q = value
    elif isinstance(value, str):
        m = _NUMBER_WITH_UNIT.match(value)
        if not m:
            raise UnitError(f"{name}: cannot read {value!r} as a number with a unit; write e.g. '36 m' or '118 ft'")
        number, text = float(m.group(1)), m.group(2)
        if not text:
            return number
        try:
            q = number * parse_unit(text)
        except UnitError as exc:
            raise UnitError(f"{name}: {exc}") from None
    else:
        try:
            return float(value)  # numpy scalars
        except (TypeError, ValueError):
            raise UnitError(f"{name}: expected a number in {unit or '1'}, got {type(value).__name__}") from None
    try:
        return float(q.to(target).magnitude)
    except pint.DimensionalityError:
        raise UnitError(
            f"{name}: {q:~P} cannot be converted to {unit!r} (dimension {q.dimensionality} is not {target.dimensionality})"
        ) from None


def format_quantity(value: Any, unit: str | None) -> str:
    if unit in (None, "", "1", "-") or not isinstance(value, (int, float)) or isinstance(value, bool):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return f"{value:g} {unit}"
