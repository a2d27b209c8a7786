"""One template, N programs, in parallel on Dask.

* Everything that can be refused is refused in the caller's process before
  any kernel starts: the parameters given (for every program at once), then
  per program the acting user's permission (read and change the working
  context), its state and the binding. A refused program is reported in the
  summary (``denied`` / ``invalid``) and never stops the others.
* The runnable ones go to Dask — the cluster of :mod:`pluma.sweeps.cluster`
  (an explicit client, else Dask Gateway when configured, else an embedded
  ``LocalCluster`` of ``workers`` processes; processes are spawned, never
  forked, so Icechunk is safe). Each worker runs notebooks with papermill's
  Python API in warm kernels (:mod:`pluma.templates.kernels`): no interpreter
  start per run.
* Results come back to the caller, which stores each program's outputs and
  records its ``template_run`` event as soon as that run finishes, through the
  enclave's commit path (serialised by the commit lock on local storage, so
  two programs finishing together are both kept). Workers never write.
* A failing notebook, a dying kernel or a lost worker fails that run only;
  the summary names the program, the cell, the error name and value.
  ``retry_failed=True`` runs the programs whose latest run of this template
  failed (from their events, so it works across sessions and from the CLI);
  ``retry_failed=batch`` (or ``batch.retry_failed()``) runs a batch's failures
  again with the same parameters.

Examples
--------
>>> batch = pluma.templates.run_batch(ws, "cae_wing_analysis", programs="all", workers=2)   # doctest: +SKIP
>>> batch.summary()[["program", "status", "duration", "error"]]                             # doctest: +SKIP
>>> again = batch.retry_failed()                                                            # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ..errors import AccessDenied, InvalidInputError, PlumaError
from .runner import Prepared, TemplateRun, finish, prepare, template_runs

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from distributed import Client

    from ..programs.program import Program
    from ..workspace import Workspace

log = logging.getLogger(__name__)

__all__ = ["Batch", "Refused", "run_batch"]


@dataclass(frozen=True)
class Refused:
    """A program refused before anything ran."""

    program: str
    status: str  # denied | invalid
    error: str


@dataclass
class Batch:
    """What a batch did: one :class:`TemplateRun` per program that ran, and the refusals."""

    template: str
    batch_id: str
    params: dict[str, Any]
    runs: list[TemplateRun] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    wall_s: float = 0.0
    cluster: str = ""
    workers: int = 0
    _ws: "Workspace | None" = field(default=None, repr=False)
    _options: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not self.refused and all(r.ok for r in self.runs)

    @property
    def failed(self) -> list[str]:
        """Programs whose run failed or was refused."""
        return [r.program for r in self.runs if not r.ok] + [r.program for r in self.refused]

    def summary(self) -> "pd.DataFrame":
        """One row per program: program, status, duration (s), error, cell, run_id, report."""
        import pandas as pd

        rows = [{"program": r.program, "status": r.status, "duration": round(r.duration, 3),
                 "error": r.error_text, "cell": (r.error or {}).get("cell_index"), "run_id": r.run_id,
                 "report": str(r.report_path or "")} for r in self.runs]
        rows += [{"program": r.program, "status": r.status, "duration": 0.0, "error": r.error, "cell": None,
                  "run_id": "", "report": ""} for r in self.refused]
        columns = ["program", "status", "duration", "error", "cell", "run_id", "report"]
        return pd.DataFrame(rows, columns=columns).sort_values("program", key=lambda s: s.str.lower(),
                                                               ignore_index=True)

    def retry_failed(self, **options: Any) -> "Batch":
        """Run this batch's failed and refused programs again, with the same parameters."""
        if self._ws is None:
            raise InvalidInputError("this batch has no workspace attached; use run_batch(ws, ..., retry_failed=batch)")
        return run_batch(self._ws, self.template, params=self.params, retry_failed=self, **{**self._options, **options})

    def __repr__(self) -> str:
        n_ok = sum(r.ok for r in self.runs)
        return (f"<Batch {self.template}: {n_ok} ok, {len(self.runs) - n_ok} failed, {len(self.refused)} refused "
                f"in {self.wall_s:.1f} s on {self.workers} {self.cluster} worker(s)>")

    def _repr_html_(self) -> str:
        colour = {"ok": "#2e7d32", "failed": "#c62828", "denied": "#6a1b9a", "invalid": "#ef6c00"}
        body = "".join(
            f"<tr><td>{escape(r['program'])}</td><td style='color:{colour.get(r['status'], '#000')}'>{escape(r['status'])}</td>"
            f"<td>{r['duration']:.2f}</td><td>{escape(str(r['error']))}</td></tr>"
            for r in self.summary().to_dict("records"))
        return (f"<div><h4>Batch {escape(self.template)} ({escape(self.batch_id)})</h4><p>{escape(repr(self))}</p>"
                f"<table><thead><tr><th>program</th><th>status</th><th>duration (s)</th><th>error</th></tr></thead>"
                f"<tbody>{body}</tbody></table></div>")


def _select(ws: "Workspace", programs: Any) -> list[tuple[str, "Program | None", PlumaError | None]]:
    from ..programs.program import Program

    if programs == "all":
        return [(p.name, p, None) for p in ws.programs()]
    if isinstance(programs, (str, Program)):
        programs = [programs]
    if not isinstance(programs, Iterable):
        raise InvalidInputError('programs must be "all" or a list of program names')
    out = []
    for item in programs:
        if isinstance(item, Program):
            out.append((item.name, ws.program(item.name) if item._ws is not ws else item, None))
            continue
        if not isinstance(item, str):
            raise InvalidInputError(f"programs must be names or Programs, not {type(item).__name__}")
        try:
            out.append((item, ws.program(item), None))
        except PlumaError as exc:  # not found, or may not read: reported, not fatal
            out.append((item, None, exc))
    if not out:
        raise InvalidInputError("programs is empty: name at least one program, or 'all'")
    return out


def _last_failed(program: "Program", template: str) -> bool:
    runs = template_runs(program, template)
    return bool(runs) and runs[-1].get("status") != "ok"


def _open_cluster(client: "Client | None", workers: int):
    """(context manager yielding a client, kind, workers) — a LocalCluster of ``workers`` processes by default."""
    from contextlib import contextmanager

    from ..sweeps.cluster import LOCAL_CLUSTER, LOCAL_DASK_CONFIG, get_client, resolve_target

    kind, _ = resolve_target(client)
    if kind != "local":
        return get_client(client), kind

    @contextmanager
    def local():
        import dask.config
        from distributed import Client, LocalCluster

        with dask.config.set(LOCAL_DASK_CONFIG):
            cluster = LocalCluster(**{**LOCAL_CLUSTER, "n_workers": workers})
        with cluster, Client(cluster, set_as_default=False) as c:
            yield c

    return local(), kind


def run_batch(ws: "Workspace", name: str, programs: Any = "all", *, params: Mapping[str, Any] | None = None,
              workers: int = 2, client: "Client | None" = None, retry_failed: "bool | Batch" = False,
              progress: bool | str = True, output_dir: str | Path | None = None, show_code: bool = False,
              timeout_s: float | None = 600, kernel_name: str = "python3", **kwparams: Any) -> Batch:
    """Run template ``name`` for many programs in parallel (see the module docstring).

    Parameters
    ----------
    ws
        The workspace, as the acting user (each program's run uses that user's permissions there).
    programs
        ``"all"`` (every program the user may read) or a list of names / Programs.
    params, **kwparams
        Parameters for every program; the rest is bound per program from its contexts.
    workers
        Worker processes of the embedded cluster (ignored with ``client`` or a Dask Gateway).
    retry_failed
        ``True``: only the programs whose latest run of ``name`` failed; a :class:`Batch`: its failures.
    progress
        A bar (notebook widget or rich on a terminal), or False.
    """
    from ..sweeps.runner import _Progress
    from .library import get_template

    t0 = time.perf_counter()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidInputError(f"workers must be a positive integer, got {workers!r}")
    _Progress._choose(progress)
    template = get_template(name)
    given = {**(params or {}), **kwparams}
    template.schema.validate(given)  # a bad parameter fails the whole batch before anything runs
    if isinstance(retry_failed, Batch):
        if retry_failed.template != template.name:
            raise InvalidInputError(f"that batch ran {retry_failed.template}, not {template.name}")
        programs = retry_failed.failed
        if not programs:
            return Batch(template.name, uuid.uuid4().hex[:12], given, _ws=ws)
    batch = Batch(template.name, uuid.uuid4().hex[:12], given, _ws=ws,
                  _options={"workers": workers, "client": client, "progress": progress, "output_dir": output_dir,
                            "show_code": show_code, "timeout_s": timeout_s, "kernel_name": kernel_name})
    prepared: list[Prepared] = []
    for prog_name, program, problem in _select(ws, programs):
        if problem is None and retry_failed is True and not _last_failed(program, template.name):
            continue
        if problem is None:
            try:
                prepared.append(prepare(program, template, given, kernel_name=kernel_name, timeout_s=timeout_s,
                                        show_code=show_code, batch_id=batch.batch_id))
                continue
            except PlumaError as exc:
                problem = exc
        status = "denied" if isinstance(problem, AccessDenied) else "invalid"
        batch.refused.append(Refused(prog_name, status, str(problem)))
    if not prepared:
        batch.wall_s = time.perf_counter() - t0
        return batch

    out_dir = Path(output_dir) if output_dir else None
    cm, kind = _open_cluster(client, workers)
    batch.cluster = kind
    with cm as dask_client:
        from distributed import as_completed

        from .execution import execute_job
        from .kernels import shutdown_pools

        batch.workers = len(dask_client.scheduler_info(n_workers=-1).get("workers", {})) or workers
        bar = _Progress(len(prepared), f"{template.name} x {len(prepared)}", progress)
        futures = {}
        submitted = time.perf_counter()
        for p in prepared[-batch.workers:]:  # the last runs: no spare kernel needed after them
            p.job["refill"] = False
        for p in prepared:
            fut = dask_client.submit(execute_job, p.job, key=f"pluma-template-{template.name}-{p.program.key}-{p.run_id}",
                                     pure=False)
            futures[fut.key] = (fut, p)
        try:
            for fut in as_completed([f for f, _ in futures.values()], loop=dask_client.loop):
                p = futures[fut.key][1]
                if fut.status == "finished":
                    result = fut.result()
                else:  # the worker died or the task could not run
                    try:
                        exc = fut.exception()
                    except BaseException as cancelled:  # noqa: BLE001 - a cancelled future raises
                        exc = cancelled
                    result = {"status": "failed", "duration_s": 0.0, "notebook": None, "html": None,
                              "error": {"ename": type(exc).__name__, "evalue": f"the run was lost: {exc}"[:2000],
                                        "cell_index": None, "stage": "worker"}}
                fut.release()
                queue = max(0.0, time.perf_counter() - submitted - float(result.get("duration_s", 0.0)))
                batch.runs.append(finish(p, result, output_dir=out_dir, queue_s=queue))
                bar.advance(1)
        except BaseException:
            dask_client.cancel([f for f, _ in futures.values()])
            raise
        finally:
            bar.close()
            try:
                dask_client.run(shutdown_pools)  # no spare kernels left on the workers
            except Exception as exc:  # noqa: BLE001 - best effort
                log.debug("could not shut down spare kernels on the workers: %s", exc)
    batch.wall_s = time.perf_counter() - t0
    return batch
