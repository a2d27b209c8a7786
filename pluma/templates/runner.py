"""Run a template for one program: check, bind, execute, store, measure.

1. **Before any kernel starts**: the acting user must be allowed to change
   the program's working context (engineer or chief_engineer; the program
   not on hold or killed) — else ``AccessDenied`` / ``StateError``; every
   given parameter is validated against the schema (unknown name, type,
   range, unit); the rest are bound from the contexts
   (:mod:`pluma.templates.binding`).
2. **Execute** with papermill in a warm kernel (:mod:`pluma.templates.execution`).
3. **Store** in one commit of the working context (source
   ``template:<name>``): each recorded scalar whose name is a program
   parameter (the shared vocabulary or a declared one) becomes that
   parameter; other scalars and arrays become variables of the dataset
   ``<template>_results``; recorded Datasets are stored under their own name;
   the executed notebook and the HTML report become the artifacts
   ``<template>_notebook`` and ``<template>_report``, and
   ``<template>_run`` holds the provenance (template, its SHA-256, parameters
   and their sources, run id). Datasets carry the same provenance in
   ``attrs["provenance"]``.
4. **Measure**: every run, failed ones too, appends a program event of kind
   ``template_run`` (see :data:`EVENT_FIELDS`).

Examples
--------
>>> run = pluma.templates.run(prog, "cae_wing_analysis", cruise_mach=0.8)   # doctest: +SKIP
>>> run.param_sources["cruise_mach"], run.outputs["ld_cruise"]              # doctest: +SKIP
('given', 17.4)
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from .._time import now
from ..errors import PlumaError
from .binding import Binding, bind
from .library import Template, get_template
from .schema import RUN_PARAMETERS

if TYPE_CHECKING:  # pragma: no cover
    from ..programs.program import Program

log = logging.getLogger(__name__)

__all__ = ["EVENT_FIELDS", "TemplateFailed", "TemplateRun", "run", "template_runs"]

#: Fields of a ``template_run`` program event (besides time, user, kind, phase).
EVENT_FIELDS = ("template", "template_sha256", "run_id", "batch_id", "status", "duration_s", "execute_s",
                "param_sources", "params", "outputs", "error", "snapshot")

DEFAULT_OUTPUT_DIR = Path(tempfile.gettempdir()) / "pluma-templates"


class TemplateFailed(PlumaError):
    """A template run failed: the message names the program, the cell and the error.

    ``run`` is the :class:`TemplateRun` (with the executed notebook, when there is one).
    """

    kind = "template_failed"

    def __init__(self, message: str, run: "TemplateRun | None" = None) -> None:
        super().__init__(message)
        self.run = run

    def __reduce__(self):
        return (type(self), (self.message, self.run))


@dataclass
class TemplateRun:
    """The outcome of one template run for one program."""

    template: str
    program: str
    run_id: str
    status: str
    duration: float
    params: dict[str, Any]
    param_sources: dict[str, str]
    template_sha256: str
    outputs: dict[str, Any] = field(default_factory=dict)
    stored: dict[str, str] = field(default_factory=dict)
    report_path: Path | None = None
    notebook_path: Path | None = None
    error: dict[str, Any] | None = None
    snapshot: str | None = None
    execute_s: float = 0.0
    batch_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def error_text(self) -> str:
        if not self.error:
            return ""
        e = self.error
        where = f"cell {e['cell_index']}" if e.get("cell_index") is not None else (e.get("stage") or "run")
        return f"{where}: {e.get('ename')}: {e.get('evalue')}"

    def raise_for_status(self) -> "TemplateRun":
        if not self.ok:
            raise TemplateFailed(f"template {self.template} failed for {self.program} at {self.error_text}", self)
        return self

    @property
    def provenance(self) -> dict[str, Any]:
        return {"template": self.template, "template_sha256": self.template_sha256, "run_id": self.run_id,
                "params": _jsonable(self.params), "param_sources": dict(self.param_sources)}

    def __repr__(self) -> str:
        tail = f", {self.error_text}" if self.error else f", {len(self.outputs)} outputs"
        return f"<TemplateRun {self.template} for {self.program} {self.status} in {self.duration:.2f} s{tail}>"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{escape(k)}</td><td>{escape(_short(v))}</td><td>{escape(self.param_sources.get(k, ''))}</td></tr>"
            for k, v in self.params.items())
        outs = "".join(f"<tr><td>{escape(k)}</td><td>{escape(_short(v))}</td><td>{escape(self.stored.get(k, ''))}</td></tr>"
                       for k, v in self.outputs.items())
        status = "<b style='color:#2e7d32'>ok</b>" if self.ok else f"<b style='color:#c62828'>failed</b> — {escape(self.error_text)}"
        return (f"<div><h4>{escape(self.template)} for {escape(self.program)}</h4><p>{status} · {self.duration:.2f} s · run "
                f"{escape(self.run_id)} · report {escape(str(self.report_path or ''))}</p>"
                f"<table><thead><tr><th>parameter</th><th>value</th><th>source</th></tr></thead><tbody>{rows}</tbody></table>"
                f"<table><thead><tr><th>output</th><th>value</th><th>stored as</th></tr></thead><tbody>{outs}</tbody></table></div>")


def _short(value: Any) -> str:
    if hasattr(value, "data_vars"):
        return f"dataset {dict(value.sizes)}"
    if hasattr(value, "shape") and getattr(value, "ndim", 0):
        return f"array {value.shape}"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in values.items():
        if hasattr(v, "item"):
            v = v.item()
        out[k] = v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
    return out


# -- preparing (everything that can be refused is refused here) ---------------------------------
@dataclass
class Prepared:
    program: "Program"
    template: Template
    binding: Binding
    run_id: str
    job: dict[str, Any]
    batch_id: str | None = None
    prepare_s: float = 0.0


def check_may_run(program: "Program") -> None:
    """AccessDenied / StateError unless the acting user may change ``program``'s working context now."""
    state = program._require("write")
    program._check_writable(state, "run a template (its outputs go into the working context)")


def prepare(program: "Program", template: "str | Template", given: Mapping[str, Any], *, kernel_name: str = "python3",
            timeout_s: float | None = 600, show_code: bool = False, batch_id: str | None = None) -> Prepared:
    from ..programs.program import Program
    from ..errors import InvalidInputError
    from .notebook import STORAGE_OPTIONS_ENV

    t0 = time.perf_counter()
    if not isinstance(program, Program):
        raise InvalidInputError(f"program must be a pluma Program, got {type(program).__name__}")
    tpl = get_template(template)
    tpl.schema.validate(given)  # unknown names, types, ranges, units: before permissions are even read
    check_may_run(program)
    binding = bind(program, tpl, given)
    run_id = uuid.uuid4().hex[:12]
    ws = program._ws
    parameters = {**binding.values, "program": program.name, "workspace": ws.location, "user": ws.user,
                  "run_id": run_id, "param_sources": json.dumps(binding.sources)}
    assert set(RUN_PARAMETERS) <= set(parameters)
    env = {}
    if not ws.root.is_local and ws.root.options:
        env[STORAGE_OPTIONS_ENV] = json.dumps(dict(ws.root.options))
    job = {"path": str(tpl.path), "parameters": parameters, "kernel_name": kernel_name, "timeout_s": timeout_s,
           "show_code": show_code, "env": env, "html": True, "run_id": run_id, "program": program.name}
    return Prepared(program, tpl, binding, run_id, job, batch_id, time.perf_counter() - t0)


# -- storing --------------------------------------------------------------------------------------
def _outputs_for_user(records) -> dict[str, Any]:
    from ..units import parse_unit

    out = {}
    for name, rec in records.items():
        value, unit = rec["value"], rec.get("unit")
        if rec["kind"] in ("scalar", "array") and unit not in (None, "", "1") and not isinstance(value, (bool, str)):
            value = value * parse_unit(unit)
        out[name] = value
    return out


def _store_outputs(p: Prepared, records, notebook: bytes | None, html: bytes | None) -> tuple[dict[str, str], str]:
    """One commit of the working context; returns (where each output went, snapshot id)."""
    import numpy as np
    import xarray as xr

    program, name = p.program, p.template.name
    specs = program.param_specs()
    provenance = {"template": name, "template_sha256": p.template.sha256, "run_id": p.run_id,
                  "params": _jsonable(p.binding.values), "param_sources": dict(p.binding.sources), "time": now(),
                  "user": program._user}
    params: dict[str, Any] = {}
    results: dict[str, Any] = {}
    datasets: dict[str, xr.Dataset] = {}
    stored: dict[str, str] = {}
    for out_name, rec in records.items():
        value, unit = rec["value"], rec.get("unit")
        if rec["kind"] == "dataset":
            ds = value.copy()
            ds.attrs["provenance"] = provenance
            datasets[out_name] = ds
            stored[out_name] = f"dataset {out_name}"
        elif rec["kind"] == "scalar" and out_name in specs:
            if unit not in (None, "", "1") and isinstance(value, (int, float)) and not isinstance(value, bool):
                from ..units import parse_unit

                value = value * parse_unit(unit)
            params[out_name] = value
            stored[out_name] = "parameter"
        else:
            arr = np.asarray(value)
            dims = tuple(f"{out_name}_dim{i}" if arr.ndim > 1 else f"{out_name}_index" for i in range(arr.ndim))
            results[out_name] = (dims, arr, {"units": unit or "1"})
            stored[out_name] = f"dataset {name}_results"
    if results:
        datasets[f"{name}_results"] = xr.Dataset(results, attrs={"provenance": provenance})
    ctx = program.context  # opened now: the run may have taken a while
    message = f"template {name} run {p.run_id} (sha256 {p.template.sha256[:12]})"
    with ctx.transaction(message, source=f"template:{name}") as tx:
        if params:
            tx.set_params(**params)
        for ds_name, ds in datasets.items():
            tx.put_dataset(ds_name, ds)
        if notebook is not None:
            tx.attach(f"{name}_notebook", notebook, filename=f"{name}.ipynb", media_type="application/x-ipynb+json")
        if html is not None:
            tx.attach(f"{name}_report", html, filename=f"{name}.html", media_type="text/html")
        tx.attach(f"{name}_run", json.dumps({**provenance, "outputs": stored}, indent=1).encode(),
                  filename=f"{name}_run.json", media_type="application/json")
    return stored, ctx.snapshot_id


def record_event(program: "Program", event: dict[str, Any]) -> dict[str, Any]:
    """Append a ``template_run`` event to the program (one commit through the enclave)."""
    def change(txn):
        state = program._require("write", txn.doc("program", {}))
        return program._append_event(txn, "template_run", phase=state.get("phase"), **event)

    _, stored = program._enclave.update(program._branch, change,
                                        message=f"template run {event['template']} {event['status']}",
                                        metadata={"author": program._user, "kind": "template_run"})
    return stored


def finish(p: Prepared, result: dict[str, Any], *, output_dir: Path | None, started: float | None = None,
           queue_s: float = 0.0) -> TemplateRun:
    """Store what a run produced and record its event; never raises for a failed run."""
    import nbformat

    from .recording import collect

    t0 = time.perf_counter()
    status, error = result["status"], result.get("error")
    records = {}
    report_path = notebook_path = None
    folder = Path(output_dir or DEFAULT_OUTPUT_DIR) / p.program.key
    if result.get("notebook"):
        folder.mkdir(parents=True, exist_ok=True)
        notebook_path = folder / f"{p.template.name}-{p.run_id}.ipynb"
        notebook_path.write_bytes(result["notebook"])
        if result.get("html"):
            report_path = folder / f"{p.template.name}-{p.run_id}.html"
            report_path.write_bytes(result["html"])
        try:
            records = collect(nbformat.reads(result["notebook"].decode(), as_version=4))
        except Exception as exc:  # noqa: BLE001 - a malformed record fails the run, with the reason
            status, error = "failed", {"ename": type(exc).__name__, "evalue": str(exc), "cell_index": None,
                                       "stage": "reading recorded outputs"}
    stored: dict[str, str] = {}
    snapshot = None
    if status == "ok":
        try:
            stored, snapshot = _store_outputs(p, records, result.get("notebook"), result.get("html"))
        except PlumaError as exc:
            status, error = "failed", {"ename": type(exc).__name__, "evalue": str(exc), "cell_index": None,
                                       "stage": "storing outputs"}
    duration = p.prepare_s + float(result.get("duration_s", 0.0)) + (time.perf_counter() - t0)
    run = TemplateRun(template=p.template.name, program=p.program.name, run_id=p.run_id, status=status,
                      duration=duration, params=dict(p.binding.values), param_sources=dict(p.binding.sources),
                      template_sha256=p.template.sha256, outputs=_outputs_for_user(records), stored=stored,
                      report_path=report_path, notebook_path=notebook_path, error=error, snapshot=snapshot,
                      execute_s=float(result.get("execute_s", 0.0)), batch_id=p.batch_id)
    event = {"template": run.template, "template_sha256": run.template_sha256, "run_id": run.run_id,
             "batch_id": run.batch_id, "status": status, "duration_s": round(run.duration, 4),
             "execute_s": round(run.execute_s, 4), "queue_s": round(queue_s, 4),
             "param_sources": run.param_sources, "params": _jsonable(run.params), "outputs": sorted(records),
             "error": error, "snapshot": snapshot}
    try:
        record_event(p.program, event)
    except PlumaError as exc:
        log.warning("template run %s of %s not recorded in the program's events: %s", run.run_id, run.program, exc)
    return run


def run(program: "Program", name: "str | Template", params: Mapping[str, Any] | None = None, *,
        output_dir: str | Path | None = None, show_code: bool = False, timeout_s: float | None = 600,
        kernel_name: str = "python3", raise_on_failure: bool = True, **kwparams: Any) -> TemplateRun:
    """Run template ``name`` for ``program``; parameters not given come from its contexts.

    Parameters
    ----------
    program
        The program (its handle's user is the one who runs: needs engineer or chief_engineer).
    name
        Template name (see :func:`pluma.templates.list`) or a notebook path.
    params, **kwparams
        Parameter values (numbers in the schema's unit, or text / pint Quantities with a unit).
    output_dir
        Where the executed notebook and the HTML report are written (default: a ``pluma-templates``
        folder in the system's temporary folder); both are stored as context artifacts too.
    show_code
        Keep code cells in the HTML report (hidden by default).
    raise_on_failure
        Raise :class:`TemplateFailed` (with ``.run``) when the notebook fails (default); else return the run.

    Examples
    --------
    >>> run = pluma.templates.run(prog, "cad_sizing_sheet", span="118 ft")   # doctest: +SKIP
    >>> run.report_path.name                                                 # doctest: +SKIP
    'cad_sizing_sheet-3f2a9c1d0b7e.html'
    """
    from .execution import execute_job

    given = {**(params or {}), **kwparams}
    p = prepare(program, name, given, kernel_name=kernel_name, timeout_s=timeout_s, show_code=show_code)
    result = execute_job(p.job)
    out = finish(p, result, output_dir=Path(output_dir) if output_dir else None)
    if raise_on_failure:
        out.raise_for_status()
    return out


def template_runs(program: "Program", template: str | None = None) -> list[dict[str, Any]]:
    """The program's ``template_run`` events, oldest first (optionally of one template)."""
    return [e for e in program.events() if e.get("kind") == "template_run"
            and (template is None or e.get("template") == template)]
