"""Parameter sweeps on Dask: a function and a grid (or a list of points) become an
xarray Dataset, optionally stored in a program's working context.

How a sweep runs
----------------
* **Points.** A grid ``{"aspect_ratio": [...], "taper_ratio": [...]}`` is
  the outer product of its axes (C order: the last axis varies fastest); the
  result's dimensions are the grid axes, in the order given, with the grid
  values as coordinates. ``points=[{...}, ...]`` gives a dimension ``point``
  with each parameter as a coordinate along it. ``func(**point)`` returns a
  mapping of scalar results (or one scalar, stored as ``result``): one data
  variable per key.
* **Batching.** Dask costs roughly 1 ms of scheduler and worker overhead per
  task (its documentation says so; about 2.5 ms end to end was measured here
  on a 2-core machine), so one task per point would waste most of a cluster on
  cheap points. A first *probe* wave sends one small batch per worker thread;
  the first probe that finishes gives the time of one point on a worker, and
  the rest is cut into batches of about ``TARGET_TASK_S`` (0.2 s: overhead
  ≲ 0.5 %) — longer on big clusters, ``cores / SCHEDULER_TASKS_PER_S``
  seconds (1 s at 100 threads), so that the one scheduler is asked for at
  most ~100 tasks a second whatever the cluster size — and never so large
  that there are fewer than ``TASKS_PER_CORE`` tasks per worker thread left
  (which would leave threads idle at the end); between half and all of that
  size, the one whose last wave of tasks leaves the fewest threads idle
  (:func:`batch_size_for`). Points longer than the target run one per task.
  ``batch_size=`` skips the probe. ``ds.attrs["batching"]`` says what was done.
* **Failures.** A point that raises becomes NaN in every result variable,
  ``False`` in the boolean variable ``ok``, and an entry
  ``{"index", "point", "error", "message"}`` in ``ds.attrs["errors"]``
  (JSON). A batch lost with its worker (a crash) marks its points failed the
  same way. A sweep is never lost for a failing point; only a sweep in which
  *every* point fails raises (``InvalidInputError``; its usage is still
  recorded, and the Dataset of errors is on the exception as
  ``exc.sweep_result``).
* **Progress.** In a notebook an ipywidgets bar, in a terminal a rich bar on
  stderr, otherwise (or with ``progress=False``) none.
* **Chunks.** Results are chunked along the first grid axis only (whole
  along the others, about ``CHUNK_POINTS`` points a chunk), through the
  variables' ``encoding["chunks"]``; the returned arrays are numpy arrays.

Where the results live, and who writes them
--------------------------------------------
Each batch's results stay on the worker that computed them; the client only
receives a summary per batch (success flags, errors, the kinds of each result
key: what it needs for the progress bar, the error list and the variables'
types). The Dataset is then assembled *lazily*: one task per stored chunk
builds that chunk on a worker from the batches that hold its points, and the
variables are Dask arrays over those tasks.

With ``program=`` and ``name=``, the Dataset is stored as dataset ``name`` of
the program's working context with provenance ``source="sweep:<function>"``,
in one commit made through :meth:`pluma.Context.transaction` — the library's
single commit path (:meth:`pluma.memory.Enclave.update`, with its lock and its
retry on a lost commit race). Because the variables are Dask arrays, the
write goes through ``icechunk.xarray.to_icechunk``: the session is forked,
**the workers write the chunks** into their forks, the client merges the forks
and commits. A retried commit re-runs the write from the batches still held on
the cluster (nothing is recomputed), so no fork of an older session is ever
merged. Permission and state (write role, program not on hold or killed, a
valid name) are checked *before* any compute; the context handle is opened
after the compute, so a long sweep does not conflict with edits made
meanwhile. The returned Dataset holds numpy arrays (computed once stored). If
storing fails, the computed Dataset is on the exception as
``exc.sweep_result``.

Sharing a cluster
-----------------
With ``scheduler=`` (a :class:`pluma.scheduling.FairScheduler`) the batches
of every program's sweeps queue in that scheduler and are dispatched by
weighted fair queuing with the program weights, never beyond a program's core
quota; several sweeps (threads, notebooks of one server) can share it.

Every sweep with ``program=`` also records its usage (see
:mod:`pluma.sweeps.metering`) as a ``usage`` event of the program;
``ds.attrs["usage"]`` holds the same record.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import math
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from ..errors import InvalidInputError, PlumaError

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr
    from distributed import Client

    from ..programs.program import Program
    from ..scheduling.fair import FairScheduler

log = logging.getLogger(__name__)

__all__ = ["CHUNK_POINTS", "TARGET_TASK_S", "TASKS_PER_CORE", "batch_size_for", "run", "target_task_s"]

TARGET_TASK_S = 0.2      #: aim for tasks of at least this many seconds
SCHEDULER_TASKS_PER_S = 100  #: on big clusters, lengthen tasks so the whole cluster asks at most this rate
TASKS_PER_CORE = 4       #: keep at least this many tasks per worker thread (load balance)
PROBE_POINTS = 2         #: points in each probe task
CHUNK_POINTS = 65536     #: points per stored chunk (along the first axis)
MAX_RECORDED_ERRORS = 1000
SCALE_UP_WAIT_S = 15.0   #: at most this long, at the end of a sweep, for a new cluster's last workers (MSE record)
OK = "ok"


# -- the work a task does on a worker ----------------------------------------------
def _scalar(key: str, value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, int, float, complex, str, np.generic)):
        return value
    shape = getattr(value, "shape", None)
    raise TypeError(f"result {key!r} is not a scalar ({type(value).__name__}"
                    f"{f' of shape {shape}' if shape is not None else ''}); a sweep stores one value per point and key")


def _run_batch(func: Callable, points: list[dict[str, Any]]) -> dict[str, Any]:
    """Run ``func`` on each point (on a worker). Never raises for a point."""
    out: list[tuple[bool, Any]] = []
    t0 = time.perf_counter()
    for point in points:
        try:
            result = func(**point)
            if isinstance(result, Mapping):
                values = {str(k): _scalar(str(k), v) for k, v in result.items()}
            else:
                values = {"result": _scalar("result", result)}
            out.append((True, values))
        except Exception as exc:  # noqa: BLE001 - a failing point is data, not a lost sweep
            out.append((False, (type(exc).__name__, str(exc)[:1000])))
    duration = time.perf_counter() - t0
    try:
        import psutil

        rss = int(psutil.Process().memory_info().rss)
    except Exception:  # noqa: BLE001
        rss = 0
    return {"results": out, "duration": duration, "rss": rss}


# -- points ---------------------------------------------------------------------------
def _func_name(func: Callable) -> str:
    while isinstance(func, functools.partial):
        func = func.func
    return getattr(func, "__name__", None) or type(func).__name__


def _axis_values(name: str, values: Any) -> np.ndarray:
    if isinstance(values, (str, bytes)) or np.ndim(values) == 0:
        values = [values]
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidInputError(f"grid axis {name!r} must be a non-empty 1-D list of values, got shape {arr.shape}")
    if arr.dtype.kind == "O":
        raise InvalidInputError(f"grid axis {name!r} mixes types; give numbers or texts")
    if len(np.unique(arr)) != arr.size:
        raise InvalidInputError(f"grid axis {name!r} repeats values; each grid value must be unique")
    return arr


def _plan(grid: Mapping[str, Any] | None, points: Sequence[Mapping[str, Any]] | None):
    """(axes {name: values}, list of point dicts, shape)."""
    if (grid is None) == (points is None):
        raise InvalidInputError("give either grid={axis: values, ...} or points=[{...}, ...] (exactly one)")
    if grid is not None:
        if not isinstance(grid, Mapping) or not grid:
            raise InvalidInputError("grid must be a non-empty mapping {axis name: values}")
        from ..names import validate_item_name

        axes = {validate_item_name(str(k), "grid axis"): _axis_values(str(k), v) for k, v in grid.items()}
        if OK in axes:
            raise InvalidInputError(f"{OK!r} is reserved for the success flag; rename that grid axis")
        shape = tuple(len(v) for v in axes.values())
        names = list(axes)
        plist = [dict(zip(names, (_py(v) for v in combo))) for combo in itertools.product(*axes.values())]
        return axes, plist, shape
    if isinstance(points, (str, bytes)) or not isinstance(points, Iterable):
        raise InvalidInputError("points must be a list of dicts of keyword arguments")
    plist = []
    for i, p in enumerate(points):
        if not isinstance(p, Mapping):
            raise InvalidInputError(f"points[{i}] must be a dict of keyword arguments, got {type(p).__name__}")
        plist.append({str(k): v for k, v in p.items()})
    if not plist:
        raise InvalidInputError("points is empty: nothing to sweep")
    return None, plist, (len(plist),)


def _py(value: Any) -> Any:
    """numpy scalars to Python ones (for the function and for JSON)."""
    return value.item() if isinstance(value, np.generic) else value


def _jsonable(value: Any) -> Any:
    value = _py(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


# -- progress ----------------------------------------------------------------------
class _Progress:
    """A progress bar: ipywidgets in a notebook, rich on a terminal, else nothing."""

    def __init__(self, total: int, label: str, mode: bool | str) -> None:
        self.total = total
        self.done = 0
        self._rich = self._widget = self._text = None
        mode = self._choose(mode)
        if mode == "notebook":
            import ipywidgets
            from IPython.display import display

            self._widget = ipywidgets.IntProgress(value=0, min=0, max=total, description="sweep")
            self._text = ipywidgets.HTML(f"{label}: 0 / {total}")
            self._label = label
            display(ipywidgets.HBox([self._widget, self._text]))
        elif mode == "rich":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._rich = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), console=Console(file=sys.stderr), transient=False)
            self._rich.start()
            self._task = self._rich.add_task(label, total=total)

    @staticmethod
    def _choose(mode: bool | str) -> str | None:
        if mode is False or mode is None or mode == "none":
            return None
        if mode in ("notebook", "rich"):
            return mode
        if mode is not True:
            raise InvalidInputError(f"progress must be True, False, 'notebook' or 'rich', got {mode!r}")
        if "ipykernel" in sys.modules:
            try:
                from IPython import get_ipython

                import ipywidgets  # noqa: F401

                shell = get_ipython()
                if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
                    return "notebook"
            except ImportError:
                pass
        stream = sys.stderr
        return "rich" if hasattr(stream, "isatty") and stream.isatty() else None

    def advance(self, n: int) -> None:
        self.done += n
        if self._widget is not None:
            self._widget.value = self.done
            self._text.value = f"{self._label}: {self.done} / {self.total}"
        elif self._rich is not None:
            self._rich.update(self._task, completed=self.done)

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()
        if self._widget is not None:
            self._widget.bar_style = "success" if self.done >= self.total else "warning"


# -- execution ------------------------------------------------------------------------
def target_task_s(cores: int) -> float:
    """How long a task should take: ``TARGET_TASK_S``, longer on big clusters."""
    return max(TARGET_TASK_S, cores / SCHEDULER_TASKS_PER_S)


def batch_size_for(points: int, cores: int, per_point_s: float) -> int:
    """Points per task for ``points`` points of ``per_point_s`` on ``cores`` threads.

    About :func:`target_task_s` per task, at least ``TASKS_PER_CORE`` tasks per
    thread, and among the sizes from half that up to it, the one that wastes
    the fewest thread slots in the last wave (so the threads finish together).

    >>> batch_size_for(3200, 100, 0.248)   # 4 points a task: 8 full waves
    4
    >>> batch_size_for(60, 2, 0.25)        # long points: one a task
    1
    """
    if points <= 0:
        return 1
    cap = max(1, math.ceil(points / (TASKS_PER_CORE * cores)))
    by_time = math.ceil(target_task_s(cores) / per_point_s) if per_point_s > 0 else cap
    best = max(1, min(by_time, cap))

    def waste(b: int) -> int:
        return math.ceil(math.ceil(points / b) / cores) * cores * b - points

    low = max(1, best // 2, best - 10_000)
    return min(range(low, best + 1), key=lambda b: (waste(b), -b))


def _cores(client: "Client") -> int:
    cores = sum(client.nthreads().values())
    if not cores:
        client.wait_for_workers(1, timeout=300)
        cores = sum(client.nthreads().values())
    return max(int(cores), 1)


def _summarise(batch: dict[str, Any]) -> dict[str, Any]:
    """What the client needs of a finished batch (runs on a worker, next to it):
    success flags, errors, and per result key its kinds, count and longest text.
    The values themselves stay on the workers."""
    ok: list[bool] = []
    errors: dict[int, tuple[str, str]] = {}
    keys: dict[str, list] = {}
    for i, (good, value) in enumerate(batch["results"]):
        ok.append(bool(good))
        if not good:
            errors[i] = value
            continue
        for key, v in value.items():
            info = keys.setdefault(key, [set(), 0, 0])
            info[0].add(np.asarray(v).dtype.kind)
            info[1] += 1
            if isinstance(v, str):
                info[2] = max(info[2], len(v))
    return {"ok": ok, "errors": errors, "keys": keys, "duration": batch["duration"], "rss": batch["rss"]}


def _dtype_for(kinds: set[str], full: bool, maxlen: int) -> np.dtype:
    """The stored type of a result key: exact for ints and booleans present at every
    point, float (NaN where missing) for numbers, complex, else text."""
    if kinds <= {"b"} and full:
        return np.dtype(bool)
    if kinds <= {"b", "i", "u"} and full:
        return np.dtype(np.int64)
    if kinds <= {"b", "i", "u", "f"}:
        return np.dtype(float)
    if kinds <= {"b", "i", "u", "f", "c"}:
        return np.dtype(complex)
    return np.dtype(f"<U{max(maxlen, 1)}")


def _block(variables: list[tuple[str, str, str]], start: int, stop: int, shape: tuple[int, ...],
           parts: list[tuple[int, dict[str, Any] | None]]) -> dict[str, np.ndarray]:
    """Points ``start:stop`` (flat indices) of every result variable, reshaped to
    ``shape``; runs on a worker from the batches that cover them (``None``: a
    batch that was lost). Missing values are NaN (text: empty)."""
    n = stop - start
    out = {}
    for name, _key, dtype in variables:
        dt = np.dtype(dtype)
        fill = np.nan if dt.kind in "fc" else ("" if dt.kind == "U" else 0)
        out[name] = np.full(n, fill, dtype=dt)
    ok = np.zeros(n, dtype=bool)
    for first, batch in parts:
        if batch is None:
            continue
        results = batch["results"]
        lo, hi = max(start, first), min(stop, first + len(results))
        for i in range(lo, hi):
            good, values = results[i - first]
            if not good:
                continue
            ok[i - start] = True
            for name, key, _dtype in variables:
                if key in values:
                    out[name][i - start] = values[key]
    out[OK] = ok
    return {name: arr.reshape(shape) for name, arr in out.items()}


class _Batches:
    """Submits batches (straight to the client, or through a :class:`FairScheduler`)
    and hands back finished ones, in completion order, with their summaries."""

    def __init__(self, client: "Client", plist: list[dict], func: Callable, label: str,
                 scheduler: Any = None, tenant: str | None = None) -> None:
        import queue

        self.client, self.plist, self.func, self.label = client, plist, func, label
        self.scheduler, self.tenant = scheduler, tenant
        self.token = uuid.uuid4().hex[:10]
        self.done: "queue.Queue[tuple[int, int]]" = queue.Queue()
        self.handles: dict[tuple[int, int], Any] = {}   # span -> summary future (or FairFuture)
        self.batches: dict[tuple[int, int], Any] = {}   # span -> distributed.Future of the batch
        self.waiting = 0

    def submit(self, start: int, stop: int) -> None:
        span = (start, stop)
        key = f"pluma-sweep-{self.label}-{self.token}-{len(self.handles)}"
        if self.scheduler is None:
            batch = self.client.submit(_run_batch, self.func, self.plist[start:stop], key=key, pure=False)
            handle = self.client.submit(_summarise, batch, key=key + "-summary", pure=False)
            self.batches[span] = batch
        else:
            handle = self.scheduler.submit(self.tenant, _run_batch, self.func, self.plist[start:stop],
                                           cost=float(stop - start), keep_on_cluster=True)
        self.handles[span] = handle
        self.waiting += 1
        handle.add_done_callback(lambda _f, span=span: self.done.put(span))

    def next(self) -> tuple[int, int, dict[str, Any] | None, BaseException | None]:
        """The next finished batch: (start, stop, summary or None, error or None)."""
        from asyncio import CancelledError

        span = self.done.get()
        self.waiting -= 1
        handle = self.handles[span]
        try:
            if self.scheduler is None:
                return (*span, handle.result(), None)
            batch = handle.result()  # the batch's distributed.Future: its value stays on the cluster
            self.batches[span] = batch
            summary = self.client.submit(_summarise, batch, key=batch.key + "-summary", pure=False).result()
            return (*span, summary, None)
        except (Exception, CancelledError) as exc:  # noqa: BLE001 - a lost batch is data too
            self.batches.pop(span, None)
            return (*span, None, exc)
        finally:
            if self.scheduler is None:
                self.handles[span] = None  # the summary is here now; the batch stays on the cluster

    def cancel(self) -> None:
        live = [h for h in self.handles.values() if h is not None and not h.done()]
        if self.scheduler is None:
            if live:
                self.client.cancel(live + [b for b in self.batches.values() if not b.done()])
        else:
            for h in live:
                h.cancel()

    def release(self) -> None:
        for fut in self.batches.values():
            fut.release()
        self.batches.clear()


class _Results:
    """What the client knows of the points: success flags, errors, result keys."""

    def __init__(self, n: int) -> None:
        self.ok = np.zeros(n, dtype=bool)
        self.errors: dict[int, tuple[str, str]] = {}
        self.keys: dict[int, dict[str, list]] = {}   # batch start -> its keys (kept in point order)

    def add(self, start: int, stop: int, summary: dict[str, Any] | None, exc: BaseException | None) -> int:
        if summary is None:
            for i in range(start, stop):
                self.errors[i] = (type(exc).__name__, f"the batch with this point failed: {exc}"[:1000])
            return 0
        self.ok[start:stop] = summary["ok"]
        for i, err in summary["errors"].items():
            self.errors[start + int(i)] = tuple(err)
        self.keys[start] = summary["keys"]
        return int(sum(summary["ok"]))

    def variables(self) -> dict[str, tuple[np.dtype]]:
        merged: dict[str, list] = {}
        for start in sorted(self.keys):
            for key, (kinds, count, maxlen) in self.keys[start].items():
                info = merged.setdefault(key, [set(), 0, 0])
                info[0] |= set(kinds)
                info[1] += count
                info[2] = max(info[2], maxlen)
        n = len(self.ok)
        return {key: _dtype_for(kinds, count == n, maxlen) for key, (kinds, count, maxlen) in merged.items()}


def _execute(client: "Client", func: Callable, plist: list[dict], *, batch_size: int | None,
             bar: _Progress, meter, label: str, scheduler: Any = None,
             tenant: str | None = None) -> tuple[_Results, _Batches, dict[str, Any]]:
    """Run every point; returns (what the client knows, the batches left on the cluster, batching facts)."""
    n = len(plist)
    cores = _cores(client)
    if scheduler is not None and tenant is not None:
        quota = scheduler.stats()[tenant].max_cores
        cores = min(cores, int(quota)) if quota else cores
    batches = _Batches(client, plist, func, label, scheduler, tenant)
    known = _Results(n)
    facts: dict[str, Any] = {"cores": cores, "target_task_s": target_task_s(cores),
                             "fair_scheduler": scheduler is not None}

    def submit_rest(start: int, size: int) -> None:
        for s in range(start, n, size):
            batches.submit(s, min(s + size, n))

    meter.start()
    if batch_size is not None:
        facts.update(batch_size=batch_size, probe_tasks=0)
        submit_rest(0, batch_size)
        decided = True
        next_start = n
    else:
        per_probe = max(1, min(PROBE_POINTS, n // cores))
        n_probe = min(cores, math.ceil(n / per_probe))
        for i in range(n_probe):
            batches.submit(i * per_probe, min((i + 1) * per_probe, n))
        next_start = min(n_probe * per_probe, n)
        facts.update(probe_tasks=n_probe, probe_points_per_task=per_probe)
        decided = next_start >= n
        if decided:
            facts["batch_size"] = per_probe
        probes_left = n_probe

    try:
        while batches.waiting:
            start, stop, summary, exc = batches.next()
            ok_in_batch = known.add(start, stop, summary, exc)
            if summary is not None:
                meter.task(summary["duration"], summary["rss"])
            bar.advance(stop - start)
            meter.sample()
            if not decided:
                probes_left -= 1
                if ok_in_batch or probes_left == 0:
                    per_point = (summary["duration"] / (stop - start)) if summary is not None else 0.0
                    size = batch_size_for(n - next_start, cores, per_point)
                    facts.update(batch_size=size, per_point_s=round(per_point, 6))
                    submit_rest(next_start, size)
                    decided = True
    except BaseException:  # interrupted (Ctrl-C) or a bug: do not leave batches running on the cluster
        batches.cancel()
        batches.release()
        raise
    meter.stop()
    facts["tasks"] = len(batches.handles)
    return known, batches, facts


# -- assembling the Dataset -------------------------------------------------------------
def _assemble(client: "Client", known: _Results, batches: _Batches, axes: dict[str, np.ndarray] | None,
              plist: list[dict], shape: tuple[int, ...], func_name: str) -> "xr.Dataset":
    """The sweep as a Dataset whose variables are Dask arrays: each chunk is built on
    the workers from the batches that hold its points (nothing comes back to the
    client until someone computes or stores it)."""
    import operator

    import dask
    import dask.array as da
    import xarray as xr

    n = len(plist)
    dims = tuple(axes) if axes is not None else ("point",)
    reserved = set(dims) | {OK} | (set(plist[0]) if axes is None else set())
    types = known.variables()
    variables: list[tuple[str, str, str]] = []
    renamed: dict[str, str] = {}
    for key, dtype in types.items():
        name = key if key not in reserved else f"{key}_result"
        if name != key:
            renamed[key] = name
        variables.append((name, key, dtype.str))

    per_slice = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    rows = max(1, min(shape[0], CHUNK_POINTS // max(per_slice, 1)))
    spans = sorted(batches.batches)
    blocks: dict[str, list] = {name: [] for name, _, _ in variables}
    blocks[OK] = []
    dtypes = {name: np.dtype(dt) for name, _, dt in variables}
    dtypes[OK] = np.dtype(bool)
    for r0 in range(0, shape[0], rows):
        r1 = min(r0 + rows, shape[0])
        lo, hi = r0 * per_slice, r1 * per_slice
        bshape = (r1 - r0, *shape[1:])
        parts = [(s, batches.batches[(s, e)]) for s, e in spans if s < hi and e > lo]
        block = client.submit(_block, variables, lo, hi, bshape, parts, pure=False,
                              key=f"pluma-sweep-block-{batches.token}-{r0}")
        for name in blocks:
            blocks[name].append(da.from_delayed(dask.delayed(operator.getitem)(block, name), shape=bshape,
                                                dtype=dtypes[name]))
    data_vars: dict[str, Any] = {name: (dims, da.concatenate(parts, axis=0)) for name, parts in blocks.items()
                                 if name != OK}
    data_vars[OK] = (dims, da.concatenate(blocks[OK], axis=0), {"description": "the point ran without error"})
    if axes is not None:
        coords = {name: (name, values) for name, values in axes.items()}
    else:
        coords = {"point": ("point", np.arange(n))}
        for param in plist[0]:
            column = [p.get(param) for p in plist]
            if all(np.ndim(v) == 0 and v is not None for v in column):
                try:
                    coords[param] = ("point", np.asarray(column))
                except (TypeError, ValueError):
                    pass
    ds = xr.Dataset(data_vars, coords=coords)

    errors = [{"index": i, "point": {k: _jsonable(v) for k, v in plist[i].items()}, "error": kind, "message": msg}
              for i, (kind, msg) in sorted(known.errors.items())]
    ds.attrs["sweep"] = {"function": func_name, "dims": list(dims), "points": n, "failures": len(errors),
                         **({"renamed": renamed} if renamed else {})}
    ds.attrs["errors"] = errors[:MAX_RECORDED_ERRORS]
    if len(errors) > MAX_RECORDED_ERRORS:
        ds.attrs["errors_not_listed"] = len(errors) - MAX_RECORDED_ERRORS
    for name in ds.data_vars:  # stored chunks = the blocks built on the workers
        ds[name].encoding["chunks"] = (rows, *shape[1:])
    return ds


# -- the public entry point ---------------------------------------------------------------
def _check_store(program: "Program | None", name: str | None) -> None:
    """Everything that can be refused is refused before any compute."""
    if program is None:
        if name is not None:
            raise InvalidInputError("name= stores the sweep in a program's context: give program= too")
        return
    from ..names import validate_item_name
    from ..programs.program import Program

    if not isinstance(program, Program):
        raise InvalidInputError(f"program must be a pluma Program, got {type(program).__name__}")
    state = program._require("write")  # recording usage (and storing) writes to the program
    if name is not None:
        validate_item_name(name, "dataset")
        program._check_writable(state, "store a sweep in the working context")


def _store(program: "Program", name: str, ds: "xr.Dataset", usage: dict[str, Any], message: str | None,
           func_name: str, points: int, failures: int) -> PlumaError | None:
    """Store the (Dask-backed) sweep in the context: the workers write the chunks,
    the client commits (see the module docstring). Returns the error, if any."""
    from ..context.view import DATA_PREFIX
    from .metering import bytes_written

    try:
        t_store = time.perf_counter()
        ctx = program.context  # opened now: the compute may have taken long
        text = message or f"sweep {func_name} -> {name}: {points} points, {failures} failed"
        with ctx.transaction(text, source=f"sweep:{func_name}") as tx:
            tx.put_dataset(name, ds)
        sid = ctx._snapshot.id
        usage.update(dataset=name, snapshot=sid, written_by="workers",
                     bytes_written=bytes_written(program._enclave, sid, f"{DATA_PREFIX}/{name}"),
                     store_seconds=round(time.perf_counter() - t_store, 3))
    except PlumaError as exc:
        return exc
    return None


def run(
    func: Callable[..., Mapping[str, Any] | Any],
    grid: Mapping[str, Any] | None = None,
    points: Sequence[Mapping[str, Any]] | None = None,
    *,
    program: "Program | None" = None,
    name: str | None = None,
    client: "Client | None" = None,
    batch_size: int | None = None,
    progress: bool | str = True,
    message: str | None = None,
    scheduler: "FairScheduler | None" = None,
) -> "xr.Dataset":
    """Run ``func`` over a grid (outer product) or a list of points on Dask.

    Parameters
    ----------
    func
        Called as ``func(**point)`` on the workers; returns a mapping of scalar
        results (or one scalar). It must be picklable (a module-level function).
    grid, points
        Exactly one: ``{axis: values}`` (dimensions = axes) or ``[{...}, ...]``
        (dimension ``point``).
    program, name
        With both, the result is stored as dataset ``name`` of ``program``'s
        working context (provenance ``sweep:<func name>``). With ``program``,
        usage is recorded in its events. Needs the engineer or chief_engineer
        role, checked before anything runs.
    client
        A ``distributed.Client`` to use (left open); else Dask Gateway when
        configured, else an embedded local cluster (see
        :mod:`pluma.sweeps.cluster`).
    batch_size
        Points per task; default: chosen from a timed probe (module docstring).
    progress
        True (a bar where one can be shown), False, ``"notebook"`` or ``"rich"``.
    message
        The commit message when stored.
    scheduler
        A :class:`pluma.scheduling.FairScheduler` shared by several programs'
        sweeps on one cluster: the batches then queue there and are dispatched
        by weighted fair queuing within the program's core quota (the program
        is registered with it on first use). Its client is the one used.

    Returns
    -------
    xarray.Dataset
        One variable per result key, NaN where a point failed, ``ok``;
        ``attrs``: ``sweep``, ``errors``, ``batching``, ``usage``.

    Examples
    --------
    >>> from pluma import sweeps
    >>> def polar(alpha_deg, aspect_ratio):
    ...     cl = 2 * 3.14159 * alpha_deg / 57.3 * aspect_ratio / (aspect_ratio + 2)
    ...     return {"cl": cl, "cdi": cl**2 / (3.14159 * aspect_ratio)}
    >>> ds = sweeps.run(polar, grid={"aspect_ratio": [6, 9, 12], "alpha_deg": range(-2, 12)})  # doctest: +SKIP
    >>> ds.cl.dims                                                                               # doctest: +SKIP
    ('aspect_ratio', 'alpha_deg')
    """
    from .cluster import get_client, resolve_target
    from .metering import Meter, record_usage

    if not callable(func):
        raise InvalidInputError(f"func must be callable, got {type(func).__name__}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
    if message is not None and (not isinstance(message, str) or not message.strip()):
        raise InvalidInputError("message must be non-empty text")
    _Progress._choose(progress)  # a bad value fails now, not after the cluster started
    func_name = _func_name(func)
    axes, plist, shape = _plan(grid, points)
    _check_store(program, name)
    where = resolve_target(client)[0]
    label = "".join(c if c.isalnum() or c == "_" else "_" for c in func_name)[:40]

    tenant = None
    if scheduler is not None:
        from ..scheduling.fair import FairScheduler

        if not isinstance(scheduler, FairScheduler):
            raise InvalidInputError(f"scheduler must be a pluma FairScheduler, got {type(scheduler).__name__}")
        if client is not None and client is not scheduler.client:
            raise InvalidInputError("give client= or scheduler=, not both: a fair scheduler brings its own client")
        client = scheduler.client
        tenant = program.name if program is not None else f"sweep-{func_name}"
        if tenant not in scheduler.stats():
            try:
                scheduler.add_program(program) if program is not None else scheduler.add_tenant(tenant, 1.0)
            except InvalidInputError:
                if tenant not in scheduler.stats():  # not a lost race with another sweep of the same program
                    raise

    t0 = time.perf_counter()
    problem: PlumaError | None = None
    with get_client(client, program=program.name if program is not None else None) as dask_client:
        startup = time.perf_counter() - t0
        meter = Meter(dask_client)
        bar = _Progress(len(plist), f"{func_name}", progress)
        try:
            known, batches, facts = _execute(dask_client, func, plist, batch_size=batch_size, bar=bar,
                                             meter=meter, label=label, scheduler=scheduler, tenant=tenant)
        finally:
            bar.close()
        try:
            lazy = _assemble(dask_client, known, batches, axes, plist, shape, func_name)
            failures = lazy.attrs["sweep"]["failures"]
            lazy.attrs["batching"] = facts
            usage = meter.record(points=len(plist), failures=failures, function=func_name, cluster=where,
                                 startup_seconds=round(startup, 3))
            scale_up = getattr(dask_client, "pluma_scale_up", None)
            if scale_up:  # a short sweep may end before the last workers joined: give them a moment
                scale_up["done"].wait(SCALE_UP_WAIT_S)
            if scale_up and scale_up.get("seconds") is not None:  # a cluster started for this sweep (Gateway)
                usage.update(scale_up_seconds=scale_up["seconds"], scale_up_workers=scale_up["requested_workers"])
            with dask_client.as_current():
                if failures == len(plist):
                    first = lazy.attrs["errors"][0]
                    problem = InvalidInputError(
                        f"every one of the {len(plist)} points of {func_name} failed, e.g. {first['point']}: "
                        f"{first['error']}: {first['message']}"
                    )
                elif program is not None and name is not None:
                    problem = _store(program, name, lazy, usage, message, func_name, len(plist), failures)
                ds = lazy.compute()  # the returned Dataset holds numpy arrays
        finally:
            batches.release()

    if program is not None:  # the compute was spent whatever happened next: meter it
        try:
            record_usage(program, usage)
        except PlumaError as exc:
            if problem is None:
                problem = exc
            else:
                log.warning("usage of sweep %s not recorded in %s: %s", func_name, program.name, exc)
    ds.attrs["usage"] = usage
    if problem is not None:
        problem.sweep_result = ds  # type: ignore[attr-defined]
        problem.add_note("the computed sweep is kept on this exception as .sweep_result")
        raise problem
    return ds
