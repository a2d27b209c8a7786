"""Context binding: where each template parameter's value comes from.

For every parameter of the schema, the first of these that has it wins:

``given``     the caller passed it (``run(prog, name, cruise_mach=0.8)``, ``-p cruise_mach=0.8``);
``context``   the program's working context has a parameter of that name;
``frozen``    the program's latest frozen context has it;
``template``  the template's default.

Values from a context are converted from the context's unit to the
template's and validated like given ones, so a context value outside the
template's range fails before any kernel starts, naming where it came from.
A parameter with none of these is missing: the run is refused with the list.

Examples
--------
>>> b = bind(prog, get_template("cae_wing_analysis"), {"cruise_mach": 0.8})   # doctest: +SKIP
>>> b.sources["cruise_mach"], b.sources["span"]                               # doctest: +SKIP
('given', 'context')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    from ..context.view import ContextView
    from ..programs.program import Program
    from .library import Template

__all__ = ["Binding", "SOURCES", "bind", "latest_frozen"]

SOURCES = ("given", "context", "frozen", "template")


@dataclass
class Binding:
    """Bound values (in the template's units) and the source of each."""

    values: dict[str, Any]
    sources: dict[str, str]
    frozen_ref: str | None = None
    missing: list[str] = field(default_factory=list)

    @property
    def reuse_share(self) -> float:
        """Share of parameters taken from a context (working or frozen)."""
        if not self.sources:
            return 0.0
        return sum(s in ("context", "frozen") for s in self.sources.values()) / len(self.sources)


def latest_frozen(program: "Program") -> "ContextView | None":
    """The program's most recent frozen context (any phase), or None."""
    tags = program._enclave.tags(f"frozen/{program.key}/")
    if not tags:
        return None
    return program._frozen_from_tag(sorted(tags)[-1])


def _from_view(view: "ContextView", name: str, field_, source: str) -> tuple[bool, Any]:
    params = view.params
    if name not in params:
        return False, None
    value = params[name]
    unit = params.unit(name)
    if field_.type in ("float", "int") and unit not in (None, "", "1") and not isinstance(value, bool):
        from ..units import parse_unit

        value = value * parse_unit(unit)
    return True, field_.validate(value, source=source)


def bind(program: "Program", template: "Template", given: Mapping[str, Any], *,
         require_complete: bool = True) -> Binding:
    """Resolve every parameter of ``template`` for ``program`` (needs read permission)."""
    schema = template.schema
    checked = schema.validate(given)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    working = None
    frozen = None
    frozen_looked = False
    missing = []
    for f in schema.parameters:
        if f.name in checked:
            values[f.name], sources[f.name] = checked[f.name], "given"
            continue
        if f.bind:
            if working is None:
                working = program.context
            found, value = _from_view(working, f.name, f, f"the working context of {program.name}")
            if found:
                values[f.name], sources[f.name] = value, "context"
                continue
            if not frozen_looked:
                frozen, frozen_looked = latest_frozen(program), True
            if frozen is not None:
                found, value = _from_view(frozen, f.name, f, frozen.ref)
                if found:
                    values[f.name], sources[f.name] = value, "frozen"
                    continue
        if f.default is not None:
            values[f.name], sources[f.name] = f.validate(f.default), "template"
            continue
        missing.append(f.name)
    if missing and require_complete:
        details = "; ".join(f"{n} ({schema[n].allowed}: {schema[n].help})" for n in missing)
        raise InvalidInputError(
            f"template {schema.name} needs {', '.join(missing)} for {program.name}: neither given, nor in its working "
            f"or latest frozen context, and the template has no default. Give them, e.g. {missing[0]}=...; {details}"
        )
    return Binding(values, sources, frozen.ref if frozen is not None else None, missing)
