"""Gate definitions: required items, checks in the safe expression language, and
approvals by role. Loaded from YAML (``yaml.safe_load``), validated, never executed."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

import yaml

from ..errors import ExpressionError, InvalidInputError
from ..names import validate_item_name
from ..programs.phases import Phase
from ..programs.roles import ROLES

__all__ = ["GateDefinition", "Check", "default_gate"]

_TOP = {"phase", "title", "description", "requires", "checks", "approvals"}
_REQUIRES = {"params", "datasets", "artifacts"}
_CHECK = {"id", "description", "expr", "when"}
_APPROVAL = {"role", "description"}


@dataclass(frozen=True)
class Check:
    id: str
    expr: str
    description: str = ""
    when: tuple[str, ...] = ()  # evaluate only when these parameters are present

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "expr": self.expr}
        if self.description:
            out["description"] = self.description
        if self.when:
            out["when"] = list(self.when)
        return out


@dataclass(frozen=True)
class GateDefinition:
    """What it takes to leave one phase."""

    phase: Phase
    title: str = ""
    description: str = ""
    required_params: tuple[str, ...] = ()
    required_datasets: tuple[str, ...] = ()
    required_artifacts: tuple[str, ...] = ()
    checks: tuple[Check, ...] = ()
    approvals: tuple[str, ...] = ()  # roles, each needs one approval
    source: str = field(default="default", compare=False)

    @property
    def approval_roles(self) -> tuple[str, ...]:
        return self.approvals

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase.value,
            "title": self.title,
            "description": self.description,
            "requires": {
                "params": list(self.required_params),
                "datasets": list(self.required_datasets),
                "artifacts": list(self.required_artifacts),
            },
            "checks": [c.to_dict() for c in self.checks],
            "approvals": [{"role": r} for r in self.approvals],
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_yaml(cls, text: str, *, phase: Phase | str | None = None, source: str = "yaml") -> "GateDefinition":
        if not isinstance(text, str):
            raise InvalidInputError("a gate definition in YAML must be text")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise InvalidInputError(f"gate definition is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
        return cls.from_dict(data, phase=phase, source=source)

    @classmethod
    def from_dict(cls, data: Any, *, phase: Phase | str | None = None, source: str = "dict") -> "GateDefinition":
        from ..expressions import parse

        if not isinstance(data, Mapping):
            raise InvalidInputError("a gate definition must be a mapping with phase, requires, checks, approvals")
        unknown = set(data) - _TOP
        if unknown:
            raise InvalidInputError(f"gate definition: unknown key(s) {sorted(unknown)}; allowed: {sorted(_TOP)}")
        declared = data.get("phase", phase.value if isinstance(phase, Phase) else phase)
        if declared is None:
            raise InvalidInputError("gate definition: 'phase' is missing")
        the_phase = Phase.parse(declared)
        if phase is not None and Phase.parse(phase) != the_phase:
            raise InvalidInputError(f"gate definition is for {the_phase.value}, not {Phase.parse(phase).value}")
        title = data.get("title", "") or ""
        description = data.get("description", "") or ""
        if not isinstance(title, str) or not isinstance(description, str):
            raise InvalidInputError("gate definition: title and description must be text")

        requires = data.get("requires") or {}
        if not isinstance(requires, Mapping):
            raise InvalidInputError("gate definition: 'requires' must map params/datasets/artifacts to lists of names")
        unknown = set(requires) - _REQUIRES
        if unknown:
            raise InvalidInputError(f"gate definition: unknown 'requires' key(s) {sorted(unknown)}; allowed: {sorted(_REQUIRES)}")
        lists = {}
        for key in _REQUIRES:
            names = requires.get(key) or []
            if not isinstance(names, list):
                raise InvalidInputError(f"gate definition: requires.{key} must be a list of names")
            lists[key] = tuple(validate_item_name(n, key[:-1] if key != "params" else "parameter") for n in names)

        checks = []
        seen = set()
        raw_checks = data.get("checks") or []
        if not isinstance(raw_checks, list):
            raise InvalidInputError("gate definition: 'checks' must be a list of {id, expr, description}")
        for i, raw in enumerate(raw_checks):
            if not isinstance(raw, Mapping):
                raise InvalidInputError(f"gate definition: check #{i + 1} must be a mapping with id and expr")
            unknown = set(raw) - _CHECK
            if unknown:
                raise InvalidInputError(f"gate definition: check #{i + 1} has unknown key(s) {sorted(unknown)}; allowed: {sorted(_CHECK)}")
            cid = validate_item_name(raw.get("id"), "check id")
            if cid in seen:
                raise InvalidInputError(f"gate definition: check id {cid!r} appears twice")
            seen.add(cid)
            expr = raw.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                raise InvalidInputError(f"gate definition: check {cid!r} needs an 'expr'")
            try:
                parse(expr)
            except ExpressionError as exc:
                raise InvalidInputError(f"gate definition: check {cid!r}: {exc}") from None
            when = raw.get("when") or []
            if isinstance(when, str):
                when = [when]
            if not isinstance(when, list):
                raise InvalidInputError(f"gate definition: check {cid!r}: 'when' must be a list of parameter names")
            checks.append(Check(cid, expr, str(raw.get("description", "") or ""),
                                tuple(validate_item_name(w, "parameter") for w in when)))

        approvals = []
        raw_approvals = data.get("approvals") or []
        if not isinstance(raw_approvals, list):
            raise InvalidInputError("gate definition: 'approvals' must be a list of {role: ...}")
        for raw in raw_approvals:
            if isinstance(raw, str):
                raw = {"role": raw}
            if not isinstance(raw, Mapping) or set(raw) - _APPROVAL or "role" not in raw:
                raise InvalidInputError("gate definition: each approval is {role: <program role>}")
            role = raw["role"]
            if role not in ROLES:
                raise InvalidInputError(f"gate definition: unknown approval role {role!r}; use {', '.join(ROLES)}")
            if role in approvals:
                raise InvalidInputError(f"gate definition: role {role!r} is listed twice in approvals")
            approvals.append(role)

        return cls(
            phase=the_phase,
            title=title,
            description=description,
            required_params=lists["params"],
            required_datasets=lists["datasets"],
            required_artifacts=lists["artifacts"],
            checks=tuple(checks),
            approvals=tuple(approvals),
            source=source,
        )

    @classmethod
    def coerce(cls, definition: Any, phase: Phase) -> "GateDefinition":
        """A GateDefinition from a GateDefinition, a mapping, or YAML text."""
        if isinstance(definition, GateDefinition):
            if definition.phase != phase:
                raise InvalidInputError(f"gate definition is for {definition.phase.value}, not {phase.value}")
            return definition
        if isinstance(definition, str):
            return cls.from_yaml(definition, phase=phase, source="override")
        return cls.from_dict(copy.deepcopy(definition), phase=phase, source="override")


@lru_cache(maxsize=None)
def default_gate(phase: Phase | str) -> GateDefinition:
    """The default gate of a phase, built from ENGINEERING.md (``pluma/gates/defaults``)."""
    phase = Phase.parse(phase)
    text = resources.files("pluma.gates").joinpath("defaults", f"{phase.value}.yaml").read_text(encoding="utf-8")
    return GateDefinition.from_yaml(text, phase=phase, source="default")
