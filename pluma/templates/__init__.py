"""Templates: papermill notebooks that document every program ("1 template -> N programs").

A template is a notebook in ``notebooks/templates/`` (or a folder on
``$PLUMA_TEMPLATE_PATH``) with a papermill ``parameters`` cell and a typed
schema in its metadata. Parameters not given come from the program's working
context, then its latest frozen context, then the template; what the notebook
records with :func:`record` flows back into the context with provenance.

>>> from pluma import templates
>>> [t["name"] for t in templates.list()][:2]                          # doctest: +SKIP
['cad_sizing_sheet', 'cae_wing_analysis']
>>> run = templates.run(prog, "cae_wing_analysis", cruise_mach=0.8)    # doctest: +SKIP
>>> batch = templates.run_batch(ws, "cae_wing_analysis", programs="all", workers=2)   # doctest: +SKIP
>>> batch.summary()                                                    # doctest: +SKIP

* :func:`list`, :func:`schema` — what exists and what it takes;
* :func:`run` -> :class:`TemplateRun`; :func:`run_batch` -> :class:`Batch` (Dask);
* :func:`record` — inside a template, hand a result back;
* :func:`start` — inside a template, open the program and bind the parameters;
* :func:`ask` — a sentence to a proposed run (TF-IDF ranker + parameter extractor;
  :func:`register_interpreter` plugs in a site's own language model).

Heavy imports (papermill, nbconvert, dask, scikit-learn) happen when a run or a
question needs them.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from .recording import collect, record
from .schema import RUN_PARAMETERS, ParamField, TemplateSchema

if TYPE_CHECKING:  # pragma: no cover
    from .conversation import Proposal
    from .batch import Batch
    from .runner import TemplateRun

__all__ = sorted([
    "Batch",
    "Interpreter",
    "ParamField",
    "Proposal",
    "RUN_PARAMETERS",
    "TemplateFailed",
    "TemplateRun",
    "TemplateSchema",
    "ask",
    "collect",
    "get_interpreter",
    "list",
    "record",
    "register_interpreter",
    "run",
    "run_batch",
    "schema",
    "start",
    "template_runs",
])


def list() -> builtins.list[dict[str, Any]]:  # noqa: A001 - the issue's name: pluma.templates.list()
    """Every template: name, phase, title, description, parameters (names), path.

    Examples
    --------
    >>> from pluma import templates
    >>> {"cae_wing_analysis", "cas_fleet_reliability"} <= {t["name"] for t in templates.list()}
    True
    """
    from .library import list_templates

    return [{"name": t.name, "phase": t.schema.phase, "title": t.schema.title, "description": t.schema.description,
             "parameters": t.schema.names, "path": str(t.path), "sha256": t.sha256} for t in list_templates()]


def schema(name: str) -> TemplateSchema:
    """The typed parameter schema of template ``name``.

    Examples
    --------
    >>> from pluma import templates
    >>> f = templates.schema("cae_wing_analysis")["cruise_mach"]
    >>> f.type, f.unit
    ('float', '1')
    """
    from .library import get_template

    return get_template(name).schema


def run(program, name, params=None, **kwargs) -> "TemplateRun":
    """Run a template for one program; see :func:`pluma.templates.runner.run`."""
    from .runner import run as _run

    return _run(program, name, params, **kwargs)


def run_batch(ws, name, programs="all", **kwargs) -> "Batch":
    """Run a template for many programs on Dask; see :func:`pluma.templates.batch.run_batch`."""
    from .batch import run_batch as _run_batch

    return _run_batch(ws, name, programs, **kwargs)


def ask(sentence: str, ws=None, **kwargs) -> "Proposal":
    """From a sentence to a proposed template run; see :func:`pluma.templates.conversation.ask`."""
    from .conversation import ask as _ask

    return _ask(sentence, ws, **kwargs)


def start(name: str, **kwargs):
    """Inside a template: open the program and bind parameters; see :func:`pluma.templates.notebook.start`."""
    from .notebook import start as _start

    return _start(name, **kwargs)


def template_runs(program, template=None):
    """The program's ``template_run`` events (duration, parameter sources, status ...)."""
    from .runner import template_runs as _runs

    return _runs(program, template)


def __getattr__(name: str) -> Any:
    if name in ("TemplateRun", "TemplateFailed"):
        from . import runner

        return getattr(runner, name)
    if name == "Batch":
        from .batch import Batch

        return Batch
    if name in ("Proposal", "Interpreter", "register_interpreter", "get_interpreter"):
        from . import conversation as _ask_module

        return getattr(_ask_module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
