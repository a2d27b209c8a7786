"""Typed parameter schemas of templates, and strict validation of given values.

A template declares its parameters twice, on purpose: the papermill
``parameters`` cell (so plain ``papermill -p`` works) and the notebook metadata
``metadata.pluma.template.parameters`` (the typed schema: name, type, unit,
default, range or choices, help). :func:`validate_value` checks one value
against its field *before* any kernel starts; papermill itself would only warn.

Every template also takes the :data:`RUN_PARAMETERS` (``program``,
``workspace``, ``user``, ``run_id``, ``param_sources``), which say where and as
whom it runs and are filled by the runner.

Examples
--------
>>> f = ParamField("cruise_mach", "float", unit="1", default=0.78, min=0.3, max=0.95, help="cruise Mach")
>>> f.validate("0.8")
0.8
>>> f.validate(1.2)
Traceback (most recent call last):
...
pluma.errors.InvalidInputError: parameter cruise_mach = 1.2 is above its maximum 0.95 (allowed: 0.3 .. 0.95)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from ..errors import InvalidInputError, UnitError
from ..names import validate_item_name

__all__ = ["RUN_PARAMETERS", "TYPES", "ParamField", "TemplateSchema", "schema_from_metadata"]

TYPES = ("float", "int", "bool", "str")

#: Parameters every template has; they say where and as whom it runs, not what it computes.
RUN_PARAMETERS: dict[str, str] = {
    "program": "the program the report documents (required)",
    "workspace": "workspace location (folder or s3://...); empty: $PLUMA_HOME, else ./pluma-home",
    "user": "act as this user; empty: $PLUMA_USER, else the OS user (the hub's identity under JupyterHub)",
    "run_id": "set by the runner; empty for a plain papermill run",
    "param_sources": "set by the runner (JSON: where each parameter came from); empty: bind in the notebook",
}


@dataclass(frozen=True)
class ParamField:
    """One template parameter: type, unit (numbers), default, range or choices, help."""

    name: str
    type: str = "float"
    unit: str | None = None
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    help: str = ""
    bind: bool = True  #: take the value from the program's contexts when not given

    def __post_init__(self) -> None:
        validate_item_name(self.name, "template parameter")
        if self.name in RUN_PARAMETERS:
            raise InvalidInputError(f"template parameter {self.name!r} is a run parameter; choose another name")
        if self.type not in TYPES:
            raise InvalidInputError(f"template parameter {self.name}: type must be one of {', '.join(TYPES)}")
        if self.unit is not None and self.type in ("float", "int"):
            from ..units import parse_unit

            parse_unit(self.unit)
        if self.default is not None:
            self.validate(self.default, source="the template default")

    # -- describing -----------------------------------------------------------
    @property
    def allowed(self) -> str:
        """What values are allowed, in words."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.type == "bool":
            return "true or false"
        if self.type == "str":
            return "text"
        unit = f" {self.unit}" if self.unit not in (None, "", "1") else ""
        kind = "a whole number" if self.type == "int" else "a number"
        if self.min is not None and self.max is not None:
            return f"{self.min:g} .. {self.max:g}{unit}"
        if self.min is not None:
            return f"{kind} >= {self.min:g}{unit}"
        if self.max is not None:
            return f"{kind} <= {self.max:g}{unit}"
        return f"{kind}{unit}"

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v is not None and v != ""}
        if self.choices:
            out["choices"] = list(self.choices)
        return out

    # -- validating ---------------------------------------------------------------
    def validate(self, value: Any, *, source: str = "") -> Any:
        """``value`` as the template receives it (numbers in :attr:`unit`), or a
        PlumaError naming the parameter and what is allowed."""
        where = f" (from {source})" if source else ""
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
                return value.strip().lower() in ("true", "yes")
            raise InvalidInputError(f"parameter {self.name} is true or false, not {value!r}{where}")
        if self.type == "str":
            if not isinstance(value, str):
                raise InvalidInputError(f"parameter {self.name} is text, not {type(value).__name__}{where}")
            if self.choices and value not in self.choices:
                raise InvalidInputError(f"parameter {self.name} = {value!r}{where} is not allowed: {self.allowed}")
            return value
        from ..units import to_unit

        if isinstance(value, bool):
            raise InvalidInputError(f"parameter {self.name} is {self.allowed}, not a boolean{where}")
        if not isinstance(value, (int, float, str)) and not hasattr(value, "magnitude") and not hasattr(value, "dtype"):
            raise InvalidInputError(f"parameter {self.name} is {self.allowed}, not {type(value).__name__}{where}")
        try:
            number = to_unit(value, self.unit or "1", name=f"parameter {self.name}")
        except UnitError as exc:
            raise UnitError(f"{exc}{where}; allowed: {self.allowed}") from None
        if not math.isfinite(number):
            raise InvalidInputError(f"parameter {self.name} must be finite, not {number!r}{where}")
        if self.type == "int":
            if not float(number).is_integer():
                raise InvalidInputError(f"parameter {self.name} is a whole number, not {number:g}{where}")
            number = int(number)
        if self.min is not None and number < self.min:
            raise InvalidInputError(
                f"parameter {self.name} = {number:g}{where} is below its minimum {self.min:g} (allowed: {self.allowed})")
        if self.max is not None and number > self.max:
            raise InvalidInputError(
                f"parameter {self.name} = {number:g}{where} is above its maximum {self.max:g} (allowed: {self.allowed})")
        return number


_FIELD_KEYS = {"name", "type", "unit", "default", "min", "max", "choices", "help", "bind"}


def _field(raw: Any, where: str) -> ParamField:
    if not isinstance(raw, Mapping) or "name" not in raw:
        raise InvalidInputError(f"{where}: each parameter is a mapping with at least a name")
    unknown = set(raw) - _FIELD_KEYS
    if unknown:
        raise InvalidInputError(f"{where}: parameter {raw.get('name')!r} has unknown field(s) {sorted(unknown)}; "
                                f"allowed: {sorted(_FIELD_KEYS)}")
    choices = raw.get("choices")
    if choices is not None and (not isinstance(choices, list) or not all(isinstance(c, str) for c in choices)):
        raise InvalidInputError(f"{where}: choices of {raw['name']!r} must be a list of strings")
    for bound in ("min", "max"):
        b = raw.get(bound)
        if b is not None and (isinstance(b, bool) or not isinstance(b, (int, float))):
            raise InvalidInputError(f"{where}: {bound} of {raw['name']!r} must be a number")
    ptype = raw.get("type", "float")
    unit = raw.get("unit", "1" if ptype in ("float", "int") else None)
    return ParamField(name=raw["name"], type=ptype, unit=unit if ptype in ("float", "int") else None,
                      default=raw.get("default"), min=raw.get("min"), max=raw.get("max"),
                      choices=tuple(choices) if choices else None, help=str(raw.get("help", "")),
                      bind=bool(raw.get("bind", True)))


@dataclass(frozen=True)
class TemplateSchema:
    """A template's identity and typed parameters, as declared in its notebook metadata."""

    name: str
    title: str
    phase: str
    description: str
    parameters: tuple[ParamField, ...]
    outputs: tuple[dict[str, Any], ...] = ()
    keywords: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> ParamField:
        for f in self.parameters:
            if f.name == name:
                return f
        raise self.unknown(name)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.parameters]

    def unknown(self, name: str) -> InvalidInputError:
        import difflib

        close = difflib.get_close_matches(str(name), self.names, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return InvalidInputError(
            f"template {self.name} has no parameter {name!r}{hint} It takes: {', '.join(self.names) or 'none'} "
            f"(plus the run parameters {', '.join(RUN_PARAMETERS)})"
        )

    def validate(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Check every given value (unknown names included) before anything runs."""
        out = {}
        for name, value in given.items():
            if name in RUN_PARAMETERS:
                raise InvalidInputError(f"{name!r} is a run parameter, set by the runner; do not pass it as a parameter")
            out[name] = self[name].validate(value)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "phase": self.phase, "description": self.description,
                "keywords": list(self.keywords), "parameters": [f.to_dict() for f in self.parameters],
                "outputs": [dict(o) for o in self.outputs]}

    def to_frame(self):
        """The parameters as a pandas DataFrame (name, type, unit, default, allowed, help)."""
        import pandas as pd

        return pd.DataFrame([{"name": f.name, "type": f.type, "unit": f.unit or "", "default": f.default,
                              "allowed": f.allowed, "help": f.help} for f in self.parameters])

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(
            f"<tr><td><b>{escape(f.name)}</b></td><td>{escape(f.type)}</td><td>{escape(f.unit or '')}</td>"
            f"<td>{escape(repr(f.default))}</td><td>{escape(f.allowed)}</td><td>{escape(f.help)}</td></tr>"
            for f in self.parameters)
        return (f"<div><h4>{escape(self.title)} <small>({escape(self.name)}, {escape(self.phase)})</small></h4>"
                f"<p>{escape(self.description)}</p><table><thead><tr><th>parameter</th><th>type</th><th>unit</th>"
                f"<th>default</th><th>allowed</th><th>help</th></tr></thead><tbody>{rows}</tbody></table></div>")


def schema_from_metadata(meta: Any, where: str) -> TemplateSchema:
    """Build the schema from ``metadata.pluma.template`` of a notebook (data, never executed)."""
    from ..programs.phases import Phase

    if not isinstance(meta, Mapping):
        raise InvalidInputError(f"{where} is not a PLUMA template: it has no metadata.pluma.template mapping")
    name = validate_item_name(meta.get("name"), "template")
    phase = Phase.parse(meta.get("phase", "CAD")).value
    params = meta.get("parameters", [])
    if not isinstance(params, list):
        raise InvalidInputError(f"{where}: metadata.pluma.template.parameters must be a list")
    fields = tuple(_field(p, where) for p in params)
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"{where}: a parameter is declared twice")
    outputs = meta.get("outputs", [])
    if not isinstance(outputs, list) or not all(isinstance(o, Mapping) and "name" in o for o in outputs):
        raise InvalidInputError(f"{where}: outputs must be a list of mappings with a name")
    keywords = meta.get("keywords", [])
    return TemplateSchema(name=name, title=str(meta.get("title", name)), phase=phase,
                          description=str(meta.get("description", "")), parameters=fields,
                          outputs=tuple(dict(o) for o in outputs), keywords=tuple(str(k) for k in keywords))
