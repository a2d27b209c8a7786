"""Execute one template notebook with papermill's Python API and render its report.

:func:`execute_job` is what a Dask worker (or the calling process, for a
single run) does: take a warm kernel (:mod:`pluma.templates.kernels`), run the
parameterised notebook through papermill's ``nbclient`` engine, render the
HTML report with nbconvert (code hidden unless ``show_code``), and return
plain data — never raises for a failing notebook. A failure is described by
``cell_index`` (in the executed notebook, whose first cells are the
parameters and papermill's injected parameters), ``execution_count``,
``ename`` and ``evalue``.

The job and the result are dicts of JSON-able values and bytes, so they
travel between processes without pickling anything of PLUMA's state.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["execute_job", "render_html"]

_EXPORTERS: dict[bool, Any] = {}
_ENGINE = "pluma"


def _register_engine() -> None:
    """A papermill engine that also closes the kernel client channels when the kernel
    was handed in (nbclient leaves them open when it does not own the kernel manager)."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.utils import merge_kwargs, remove_args

    if _ENGINE in papermill_engines._engines:
        return

    class PlumaEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
            kwargs = remove_args(["input_path"], **kwargs)
            safe = remove_args(["timeout", "startup_timeout"], **kwargs)
            final = merge_kwargs(safe, timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
                                 startup_timeout=start_timeout, kernel_name=kernel_name, log=logging.getLogger("papermill"),
                                 log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
            client = PapermillNotebookClient(nb_man, **final)
            try:
                return client.execute()
            finally:
                if client.kc is not None:
                    client.kc.stop_channels()

    papermill_engines.register(_ENGINE, PlumaEngine)


def render_html(nb: Any, *, show_code: bool = False) -> str:
    """The HTML report of an executed notebook (code cells hidden unless ``show_code``)."""
    exporter = _EXPORTERS.get(show_code)
    if exporter is None:
        from nbconvert import HTMLExporter

        exporter = HTMLExporter(exclude_input=not show_code, exclude_input_prompt=not show_code,
                                exclude_output_prompt=True)
        _EXPORTERS[show_code] = exporter
    body, _ = exporter.from_notebook_node(nb)
    return body


def _failed_cell(nb: Any) -> tuple[int | None, int | None]:
    """The cell a run stopped in: marked failed or running, else the first one that started but got no
    reply (a kernel that died mid-cell), else the first that never ran."""
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    for i, cell in code:
        if cell.get("metadata", {}).get("papermill", {}).get("status") in ("failed", "running"):
            return i, cell.get("execution_count")
    for i, cell in code:  # started (nbclient's timing) but never answered
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" not in timing:
            return i, cell.get("execution_count")
    for i, cell in code:
        if cell.get("execution_count") is None:
            return i, None
    return None, None


def execute_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one notebook. ``job``: ``path``, ``parameters``, ``kernel_name``, ``timeout_s``,
    ``show_code``, ``env`` (kernel environment additions), ``html`` (render the report), ``refill``
    (start a spare kernel for a next run; False for the last runs of a batch)."""
    import nbformat
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from .kernels import default_pool, shutdown

    _register_engine()
    t0 = time.perf_counter()
    result: dict[str, Any] = {"status": "ok", "error": None, "notebook": None, "html": None,
                              "worker_pid": os.getpid()}
    env = dict(job.get("env") or {})
    pool = default_pool(job.get("kernel_name", "python3"), env)
    with tempfile.TemporaryDirectory(prefix="pluma-run-") as tmp:
        out = Path(tmp) / "executed.ipynb"
        km = None
        try:
            km = pool.take(refill=job.get("refill", True))
            result["kernel_ready_s"] = round(time.perf_counter() - t0, 4)
            pm.execute_notebook(str(job["path"]), str(out), parameters=job["parameters"], engine_name=_ENGINE,
                                kernel_name=job.get("kernel_name", "python3"), km=km, progress_bar=False,
                                log_output=False, request_save_on_cell_execute=True,
                                execution_timeout=job.get("timeout_s") or None)
        except pm.PapermillExecutionError as exc:
            result["status"] = "failed"
            result["error"] = {"ename": exc.ename, "evalue": str(exc.evalue)[:2000], "cell_index": exc.cell_index,
                               "execution_count": exc.exec_count}
        except (DeadKernelError, CellTimeoutError, RuntimeError) as exc:
            result["status"] = "failed"
            result["error"] = {"ename": type(exc).__name__, "evalue": str(exc)[:2000] or "the kernel died",
                               "cell_index": None, "execution_count": None}
        except Exception as exc:  # noqa: BLE001 - a run is data: report, never lose the batch
            result["status"] = "failed"
            result["error"] = {"ename": type(exc).__name__, "evalue": str(exc)[:2000], "cell_index": None,
                               "execution_count": None}
        finally:
            if km is not None:
                try:
                    shutdown(km)
                except Exception as exc:  # noqa: BLE001
                    log.debug("kernel shutdown: %s", exc)
        result["execute_s"] = round(time.perf_counter() - t0, 4)
        if out.is_file():
            nb = nbformat.read(str(out), as_version=4)
            if result["error"] is not None and result["error"]["cell_index"] is None:
                result["error"]["cell_index"], result["error"]["execution_count"] = _failed_cell(nb)
            result["notebook"] = nbformat.writes(nb).encode()
            if job.get("html", True):
                try:
                    result["html"] = render_html(nb, show_code=bool(job.get("show_code"))).encode()
                except Exception as exc:  # noqa: BLE001 - a report that does not render is not a lost run
                    log.warning("HTML report of %s not rendered: %s", job["path"], exc)
    result["duration_s"] = round(time.perf_counter() - t0, 4)
    return result
