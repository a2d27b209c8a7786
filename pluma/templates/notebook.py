"""What a template notebook calls first: :func:`start` opens the program as the
acting user and binds the parameters.

Run by the PLUMA runner, the notebook receives every value already bound and
validated (and where each came from, in ``param_sources``). Run by plain
papermill (``papermill T.ipynb out.ipynb -p program AMPEL360``), parameters
left at ``None`` are bound here, from the program's working context, then its
latest frozen context, then the template default — the same rule
(:mod:`pluma.templates.binding`).

Examples
--------
In the second cell of a template::

    from pluma import templates
    T = templates.start("cae_wing_analysis", program=program, workspace=workspace, user=user,
                        run_id=run_id, param_sources=param_sources,
                        span=span, wing_area=wing_area, cruise_mach=cruise_mach)
    P = T.params          # every value bound, in the template's units
    T                      # shows the parameter table with sources
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    from ..programs.program import Program
    from ..workspace import Workspace

__all__ = ["STORAGE_OPTIONS_ENV", "TemplateSession", "Params", "start"]

#: JSON storage options for an s3:// workspace, handed to the kernel by the runner's
#: environment (never written into the notebook).
STORAGE_OPTIONS_ENV = "PLUMA_STORAGE_OPTIONS"


class Params(dict):
    """Bound parameters; ``P.span`` is ``P["span"]``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no template parameter {name!r}; have {', '.join(self)}") from None


@dataclass
class TemplateSession:
    """The program a template documents, its bound parameters and their sources."""

    name: str
    workspace: "Workspace"
    program: "Program"
    params: Params
    sources: dict[str, str]
    run_id: str
    units: dict[str, str] = field(default_factory=dict)

    @property
    def context(self):
        return self.program.context

    def table(self):
        import pandas as pd

        return pd.DataFrame([{"parameter": k, "value": v, "unit": self.units.get(k, ""), "source": self.sources.get(k, "")}
                             for k, v in self.params.items()]).set_index("parameter")

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(f'{v:.6g}' if isinstance(v, float) else str(v))}</td>"
                       f"<td>{escape(self.units.get(k, '') or '')}</td><td>{escape(self.sources.get(k, ''))}</td></tr>"
                       for k, v in self.params.items())
        run = f"run {escape(self.run_id)}" if self.run_id else "plain papermill run (outputs stay in this notebook)"
        return (f"<p><b>{escape(self.program.name)}</b> · template <code>{escape(self.name)}</code> · {run} · as "
                f"{escape(self.workspace.user)}</p><table><thead><tr><th>parameter</th><th>value</th><th>unit</th>"
                f"<th>source</th></tr></thead><tbody>{rows}</tbody></table>")

    def __repr__(self) -> str:
        return f"<TemplateSession {self.name} for {self.program.name}: {dict(self.params)}>"


def open_workspace(workspace: str | None, user: str | None) -> "Workspace":
    import pluma

    options = None
    raw = os.environ.get(STORAGE_OPTIONS_ENV, "").strip()
    if raw:
        options = json.loads(raw)
    return pluma.open(workspace or None, user=user or None, storage_options=options, create=False)


def start(name: str, *, program: str, workspace: str = "", user: str = "", run_id: str = "",
          param_sources: str = "", **params: Any) -> TemplateSession:
    """Open ``program`` as ``user`` and bind the template's parameters (see the module docstring)."""
    if not program:
        raise InvalidInputError(f"template {name} documents one program: pass it, e.g. papermill ... -p program AMPEL360")
    ws = open_workspace(workspace, user)
    prog = ws.program(program)
    units: dict[str, str] = {}
    if param_sources:  # the runner bound and validated everything before the kernel started
        sources = json.loads(param_sources)
        values = dict(params)
        try:
            from .library import get_template

            units = {f.name: f.unit or "" for f in get_template(name).schema.parameters}
        except Exception:  # noqa: BLE001 - units are only shown
            pass
    else:
        from .binding import bind
        from .library import get_template

        template = get_template(name)
        binding = bind(prog, template, {k: v for k, v in params.items() if v is not None})
        values, sources = binding.values, binding.sources
        units = {f.name: f.unit or "" for f in template.schema.parameters}
    _quiet_plots()
    return TemplateSession(name=name, workspace=ws, program=prog, params=Params(values), sources=sources,
                           run_id=run_id, units=units)


def _quiet_plots() -> None:
    """Figures inline in the report, at a size that reads well in HTML."""
    try:
        import matplotlib

        matplotlib.rcParams.update({"figure.figsize": (7.0, 3.6), "figure.dpi": 90, "axes.grid": True,
                                    "grid.alpha": 0.3})
    except ImportError:  # pragma: no cover
        pass
