"""Typed parameters with units, and the read-only mapping users see."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

from ..errors import InvalidInputError, NotFoundError
from ..names import validate_item_name
from ..units import parse_unit, to_unit

__all__ = ["ParamSpec", "ParamInfo", "Params", "RESERVED", "spec_from_dict"]

RESERVED = frozenset({"message", "label"})
_TYPES = ("float", "int", "bool", "str")


@dataclass(frozen=True)
class ParamSpec:
    """What a parameter is: type, unit (numbers), range or choices, description."""

    name: str
    type: str = "float"
    unit: str | None = "1"
    min: float | None = None
    max: float | None = None
    choices: list[str] | None = None
    description: str = ""

    def coerce(self, value: Any) -> Any:
        """Validate ``value`` and return it as stored (numbers in the declared unit)."""
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
                return value.lower() in ("true", "yes")
            raise InvalidInputError(f"{self.name} is a boolean: give True or False, not {value!r}")
        if self.type == "str":
            if not isinstance(value, str):
                raise InvalidInputError(f"{self.name} is text: give a string, not {type(value).__name__}")
            if self.choices and value not in self.choices:
                raise InvalidInputError(f"{self.name} must be one of {', '.join(self.choices)}, not {value!r}")
            return value
        number = to_unit(value, self.unit or "1", name=self.name)
        if not math.isfinite(number):
            raise InvalidInputError(f"{self.name} must be a finite number, not {number!r}")
        if self.type == "int":
            if not float(number).is_integer():
                raise InvalidInputError(f"{self.name} is a whole number: {number!r} is not")
            number = int(number)
        if self.min is not None and number < self.min:
            raise InvalidInputError(f"{self.name} = {number:g} {self.unit or ''} is below its minimum {self.min:g}".replace("  ", " "))
        if self.max is not None and number > self.max:
            raise InvalidInputError(f"{self.name} = {number:g} {self.unit or ''} is above its maximum {self.max:g}".replace("  ", " "))
        return number

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != ""}


def spec_from_dict(name: str, raw: Any) -> ParamSpec:
    """Build a ParamSpec from a user's declaration ``{"type": ..., "unit": ..., ...}``."""
    validate_item_name(name, "parameter")
    if name in RESERVED:
        raise InvalidInputError(f"{name!r} is reserved (message and label are keywords of set_params)")
    if not isinstance(raw, Mapping):
        raise InvalidInputError(f"declaration of {name} must be a mapping with type, unit, min/max or choices, description")
    allowed = {"type", "unit", "min", "max", "choices", "description"}
    unknown = set(raw) - allowed
    if unknown:
        raise InvalidInputError(f"declaration of {name}: unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    ptype = raw.get("type", "float")
    if ptype not in _TYPES:
        raise InvalidInputError(f"declaration of {name}: type must be one of {', '.join(_TYPES)}, not {ptype!r}")
    unit = raw.get("unit", "1") if ptype in ("float", "int") else None
    if unit is not None:
        if not isinstance(unit, str):
            raise InvalidInputError(f"declaration of {name}: unit must be a string such as 'm' or '1'")
        parse_unit(unit)
    for bound in ("min", "max"):
        b = raw.get(bound)
        if b is not None and (isinstance(b, bool) or not isinstance(b, (int, float))):
            raise InvalidInputError(f"declaration of {name}: {bound} must be a number")
    choices = raw.get("choices")
    if choices is not None and (not isinstance(choices, list) or not all(isinstance(c, str) for c in choices)):
        raise InvalidInputError(f"declaration of {name}: choices must be a list of strings")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise InvalidInputError(f"declaration of {name}: description must be text")
    return ParamSpec(name, ptype, unit, raw.get("min"), raw.get("max"), choices, description)


def unknown_param_error(name: str, known: Iterator[str] | list[str]) -> InvalidInputError:
    known = list(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; declare it with program.declare_params({...}) first"
    return InvalidInputError(f"unknown parameter {name!r}{hint}")


@dataclass(frozen=True)
class ParamInfo:
    """A parameter's value with its unit, label and provenance."""

    name: str
    value: Any
    unit: str | None
    label: str
    type: str
    description: str
    author: str
    time: str
    message: str
    source: str
    rev: int = 0
    extra: dict = field(default_factory=dict)

    def __str__(self) -> str:
        unit = f" {self.unit}" if self.unit not in (None, "1") else ""
        return f"{self.name} = {self.value}{unit} [{self.label}] set by {self.author} at {self.time} ({self.source}: {self.message})"


class Params(Mapping):
    """Read-only mapping of parameter name -> value (numbers in the declared unit).

    ``params.info(name)`` gives unit, label and provenance.
    """

    def __init__(self, records: dict[str, dict], specs: Mapping[str, ParamSpec]) -> None:
        self._records = records
        self._specs = specs

    def __getitem__(self, name: str) -> Any:
        try:
            return self._records[name]["value"]
        except KeyError:
            known = list(self._records)
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.6) if isinstance(name, str) else []
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise NotFoundError(f"parameter {name!r} is not set in this context{hint}") from None

    def __iter__(self):
        return iter(sorted(self._records))

    def __len__(self) -> int:
        return len(self._records)

    def unit(self, name: str) -> str | None:
        self[name]
        return self._records[name].get("unit")

    def info(self, name: str) -> ParamInfo:
        self[name]
        rec = self._records[name]
        spec = self._specs.get(name)
        return ParamInfo(
            name=name,
            value=rec["value"],
            unit=rec.get("unit"),
            label=rec.get("label", ""),
            type=spec.type if spec else type(rec["value"]).__name__,
            description=spec.description if spec else "",
            author=rec.get("author", ""),
            time=rec.get("time", ""),
            message=rec.get("message", ""),
            source=rec.get("source", ""),
            rev=rec.get("rev", 0),
        )

    def quantity(self, name: str):
        """The value as a pint Quantity (numbers) or as is (text, booleans)."""
        value = self[name]
        unit = self._records[name].get("unit")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or unit is None:
            return value
        return value * parse_unit(unit)

    def to_dict(self) -> dict[str, Any]:
        return {k: self._records[k]["value"] for k in self}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={self._records[k]['value']!r}" for k in self)
        return f"Params({inner})"
