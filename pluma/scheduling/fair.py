"""Weighted fair sharing of one Dask cluster between programs.

Several programs (or plain named *tenants*) submit work items to one
:class:`FairScheduler`. The scheduler keeps at most ``slots`` cores of work in
flight on the cluster (default: the cluster's total worker threads), so the
Dask scheduler never holds a backlog of its own; everything else waits in one
FIFO queue per tenant, and each time a core frees up the dispatcher chooses
the next task by **weighted fair queuing**.

The algorithm
-------------
Tags in the style of start-time fair queuing (SFQ, Goyal et al. 1996) with
the WFQ selection rule (smallest finish tag first):

* every tenant ``i`` keeps ``F_i``, the finish tag of its last dispatched task
  (0 at the start); its head-of-line task has start tag ``S = F_i`` and finish
  tag ``F = S + cost / weight_i``;
* a tenant that had nothing queued and submits again is *re-activated*:
  ``F_i = max(F_i, V)``, where the virtual time ``V`` is the smallest start
  tag among the tenants with queued work (the start tag of the last
  dispatched task when none has any) — an idle spell earns no credit;
* a candidate is *eligible* when its cores fit in the free slots and in the
  tenant's core quota (``in_flight_cores + cores <= max_cores``);
* among eligible candidates the one with the smallest finish tag is
  dispatched (ties: the larger weight, then the tenant added first), and
  ``F_i = F``.

Consequences:

* while tenants stay backlogged, tenant ``i`` receives dispatched cost in
  proportion to ``weight_i`` (each dispatch advances its tag by
  ``cost / weight_i``; the smallest tag goes next), and because cores are
  handed out one completion at a time, the completed work follows the same
  shares to within a task or two per tenant;
* no starvation: the tags of the tenants being served grow, so a tenant with
  queued, eligible work is dispatched after at most about
  ``Σ_j ceil(weight_j / weight_i)`` other dispatches (for equal costs);
* no banked credit: a tenant that was idle restarts at ``max(F_i, V)`` and
  cannot burst ahead of the others; a tenant held at its quota keeps its
  (low) tags, so it gets each core it frees back at once, but never more
  than its quota;
* a tenant never has more than ``max_cores`` cores in flight; cores it cannot
  use are given to the others (work conserving).

Each task uses one core unless ``cores=`` is given. Costs are the caller's
estimate of the work (equal costs reduce to weighted round robin); they must
be positive.

Results come back as :class:`FairFuture` objects (a
:class:`concurrent.futures.Future` with the tenant and cost attached): a
queued task can be cancelled; a task's exception is re-raised by ``result()``.
Per-tenant statistics (submitted, completed, failed, cancelled, completed
cost, queued, in flight, peak in flight) are in :meth:`FairScheduler.stats`,
the order of dispatches and completions in :attr:`FairScheduler.dispatch_log`
and :attr:`FairScheduler.completion_log`.

Works with a synchronous :class:`distributed.Client` (the kind
:func:`pluma.sweeps.get_client` yields); methods may be called from any
thread, but not from the client's event loop.

Examples
--------
>>> from pluma.sweeps import get_client                        # doctest: +SKIP
>>> with get_client() as client, FairScheduler(client) as fs:  # doctest: +SKIP
...     fs.add_program(ampel)          # weight from its priority, quota from quotas["cores"]
...     fs.add_tenant("adhoc", 1.0, max_cores=1)
...     futs = [fs.submit("adhoc", pow, 2, k) for k in range(10)]
...     fs.run_until_idle()
...     fs.stats()["adhoc"].completed
10
"""

from __future__ import annotations

import itertools
import math
import threading
import time
import uuid
from collections import deque
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..errors import InvalidInputError, StateError

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

__all__ = ["FairScheduler", "FairFuture", "TenantStats"]


def _positive(value: object, what: str, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InvalidInputError(f"{what} must be a finite number > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class TenantStats:
    """A snapshot of one tenant's accounting.

    ``completed`` counts tasks that finished on the cluster, successfully or
    not (``failed`` is the part that raised); ``completed_cost`` is their
    summed cost; ``in_flight_max`` is the peak number of cores the tenant had
    running at once.
    """

    name: str
    weight: float
    max_cores: float | None
    submitted: int
    completed: int
    failed: int
    cancelled: int
    completed_cost: float
    queued: int
    in_flight: float
    in_flight_max: float


class FairFuture(Future):
    """The result of a task submitted to a :class:`FairScheduler`.

    A :class:`concurrent.futures.Future`: ``result()``, ``exception()``,
    ``done()``, ``add_done_callback()``; ``cancel()`` succeeds while the task
    is still queued. ``tenant`` and ``cost`` say whose work it is.
    """

    def __init__(self, scheduler: "FairScheduler", tenant: str, cost: float, cores: float) -> None:
        super().__init__()
        self._scheduler = scheduler
        self.tenant = tenant
        self.cost = cost
        self.cores = cores
        self.key: str | None = None  # the Dask key, once dispatched

    def cancel(self) -> bool:
        if not self._scheduler._dequeue(self):
            return super().cancel()  # already running or done: False (or True if cancelled before)
        cancelled = super().cancel()
        self._scheduler._resolved()
        return cancelled


class _Item:
    __slots__ = ("future", "func", "args", "kwargs", "cost", "cores", "dask_future", "keep")

    def __init__(self, future: FairFuture, func: Callable, args: tuple, kwargs: dict, cost: float, cores: float,
                 keep: bool = False):
        self.future = future
        self.keep = keep
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.cost = cost
        self.cores = cores
        self.dask_future: Any = None


class _Tenant:
    def __init__(self, name: str, weight: float, max_cores: float | None, order: int):
        self.name = name
        self.weight = weight
        self.max_cores = max_cores
        self.order = order
        self.queue: deque[_Item] = deque()
        self.finish = 0.0  # finish tag of the last dispatched task
        self.in_flight = 0.0
        self.in_flight_max = 0.0
        self.submitted = 0
        self.completed = 0
        self.failed = 0
        self.cancelled = 0
        self.completed_cost = 0.0

    def snapshot(self) -> TenantStats:
        return TenantStats(self.name, self.weight, self.max_cores, self.submitted, self.completed, self.failed,
                           self.cancelled, self.completed_cost, len(self.queue), self.in_flight, self.in_flight_max)


class FairScheduler:
    """Dispatch several tenants' tasks to one Dask cluster by weighted fair queuing.

    Parameters
    ----------
    client:
        An open, synchronous :class:`distributed.Client`; it is never closed
        here.
    slots:
        The most cores of work in flight on the cluster at once; default the
        sum of the workers' threads when the scheduler is created (at least one
        worker must be connected then).
    history:
        How many entries :attr:`dispatch_log` and :attr:`completion_log` keep.

    See the module documentation for the algorithm.
    """

    def __init__(self, client: "Client", *, slots: int | None = None, history: int = 100_000) -> None:
        from ..sweeps.cluster import resolve_target

        if client is None:
            raise InvalidInputError("FairScheduler needs a distributed.Client; use pluma.sweeps.get_client()")
        resolve_target(client)  # validates: a Client, and open
        if getattr(client, "asynchronous", False):
            raise InvalidInputError("FairScheduler needs a synchronous distributed.Client")
        if slots is None:
            slots = sum(client.nthreads().values())
            if slots < 1:
                raise StateError("the cluster has no workers yet: wait for them or give slots=")
        elif isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise InvalidInputError(f"slots must be a positive integer, got {slots!r}")
        if isinstance(history, bool) or not isinstance(history, int) or history < 1:
            raise InvalidInputError(f"history must be a positive integer, got {history!r}")
        self.client = client
        self.slots = slots
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._tenants: dict[str, _Tenant] = {}
        self._vtime = 0.0  # start tag of the latest dispatch (monotone)
        self._in_flight = 0.0
        self._peak_in_flight = 0.0
        self._outstanding = 0  # submitted futures not yet resolved
        self._running: set[_Item] = set()
        self._closed = False
        self._seq = itertools.count()
        self._dispatch_log: deque[str] = deque(maxlen=history)
        self._completion_log: deque[str] = deque(maxlen=history)

    # -- tenants --------------------------------------------------------------------
    def add_tenant(self, name: str, weight: float, max_cores: float | None = None) -> str:
        """Register a tenant: a weight > 0 and an optional core quota (> 0; None: only ``slots``)."""
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError(f"a tenant name must be a non-empty string, got {name!r}")
        w = _positive(weight, f"weight of tenant {name!r}")
        cap = _positive(max_cores, f"max_cores of tenant {name!r}", allow_none=True)
        with self._lock:
            if self._closed:
                raise StateError("the fair scheduler is closed")
            if name in self._tenants:
                raise InvalidInputError(f"tenant {name!r} is already registered")
            self._tenants[name] = _Tenant(name, w, cap, len(self._tenants))
        return name

    def add_program(self, program: Any) -> str:
        """Register a program: weight from its priority (:data:`~pluma.programs.phases.PRIORITIES`),
        core quota from ``quotas["cores"]`` (none when the program has no core quota)."""
        from ..programs.phases import PRIORITIES, validate_priority

        name = getattr(program, "name", None)
        priority = validate_priority(getattr(program, "priority", None))
        quotas = getattr(program, "quotas", None) or {}
        cores = quotas.get("cores")
        if cores is not None and cores <= 0:
            raise InvalidInputError(f"program {name!r} has a core quota of {cores}: it cannot run work")
        return self.add_tenant(name, PRIORITIES[priority], cores)

    def _tenant(self, tenant: Any) -> _Tenant:
        name = tenant if isinstance(tenant, str) else getattr(tenant, "name", tenant)
        try:
            return self._tenants[name]
        except (KeyError, TypeError):
            known = ", ".join(self._tenants) or "none yet"
            raise InvalidInputError(f"unknown tenant {name!r} (registered: {known})") from None

    # -- work -----------------------------------------------------------------------
    def submit(self, tenant: Any, func: Callable, /, *args: Any, cost: float = 1.0, cores: float = 1,
               keep_on_cluster: bool = False, **kwargs: Any) -> FairFuture:
        """Queue ``func(*args, **kwargs)`` for ``tenant`` (a name or a program handle).

        ``cost`` (> 0) is the work it represents for fair sharing; ``cores``
        (> 0) how many of the slots and of the tenant's quota it occupies.
        With ``keep_on_cluster`` the FairFuture's result is the
        :class:`distributed.Future` of the finished task: its value stays on the
        workers (for later tasks to use) instead of coming back to the client.
        """
        if not callable(func):
            raise InvalidInputError(f"func must be callable, got {type(func).__name__}")
        c = _positive(cost, "cost")
        k = _positive(cores, "cores")
        with self._lock:
            if self._closed:
                raise StateError("the fair scheduler is closed")
            t = self._tenant(tenant)
            if not t.queue:  # (re-)activation: no credit for the idle spell
                t.finish = max(t.finish, min((u.finish for u in self._tenants.values() if u.queue),
                                             default=self._vtime))
            if k > self.slots:
                raise InvalidInputError(f"a task of {cores} cores can never run on {self.slots} slots")
            if t.max_cores is not None and k > t.max_cores:
                raise InvalidInputError(f"a task of {cores} cores exceeds tenant {t.name!r}'s quota of {t.max_cores:g}")
            fut = FairFuture(self, t.name, c, k)
            t.queue.append(_Item(fut, func, args, kwargs, c, k, bool(keep_on_cluster)))
            t.submitted += 1
            self._outstanding += 1
            self._pump()
        return fut

    def _pick(self) -> tuple[_Tenant, float, float] | None:
        free = self.slots - self._in_flight
        best = None
        for t in self._tenants.values():
            if not t.queue:
                continue
            head = t.queue[0]
            if head.cores > free or (t.max_cores is not None and t.in_flight + head.cores > t.max_cores):
                continue
            start = t.finish
            finish = start + head.cost / t.weight
            rank = (finish, -t.weight, t.order)
            if best is None or rank < best[0]:
                best = (rank, t, start, finish)
        return None if best is None else best[1:]

    def _pump(self) -> None:
        """Dispatch while slots are free (call with the lock held)."""
        while self._in_flight < self.slots:
            choice = self._pick()
            if choice is None:
                return
            t, start, finish = choice
            item = t.queue.popleft()
            if not item.future.set_running_or_notify_cancel():  # cancelled meanwhile
                t.cancelled += 1
                self._resolved()
                continue
            t.finish, self._vtime = finish, max(self._vtime, start)
            t.in_flight += item.cores
            t.in_flight_max = max(t.in_flight_max, t.in_flight)
            self._in_flight += item.cores
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
            self._dispatch_log.append(t.name)
            name = getattr(item.func, "__name__", "task")
            key = f"{name}-fair-{t.name}-{next(self._seq)}-{uuid.uuid4().hex[:8]}"
            item.future.key = key
            try:
                item.dask_future = self.client.submit(item.func, *item.args, key=key, pure=False, **item.kwargs)
            except BaseException as exc:  # the client is gone: fail this task, keep the books right
                t.in_flight -= item.cores
                self._in_flight -= item.cores
                item.future.set_exception(exc)
                self._resolved()
                continue
            item.func = item.args = item.kwargs = None  # the cluster has them now
            self._running.add(item)
            item.dask_future.add_done_callback(lambda f, item=item, t=t: self._on_done(t, item))

    def _on_done(self, t: _Tenant, item: _Item) -> None:
        dfut = item.dask_future
        status = dfut.status
        with self._lock:
            self._running.discard(item)
            t.in_flight -= item.cores
            self._in_flight -= item.cores
            if status in ("finished", "error"):
                t.completed += 1
                t.completed_cost += item.cost
                t.failed += status == "error"
                self._completion_log.append(t.name)
            else:
                t.cancelled += 1
            if not self._closed:
                self._pump()
        # fetch the outcome outside the lock: gathering talks to the workers
        try:
            if status == "finished":
                item.future.set_result(dfut if item.keep else dfut.result())
            elif status == "error":
                item.future.set_exception(dfut.exception())
            else:
                item.future.set_exception(CancelledError(f"task {item.future.key} was cancelled on the cluster"))
        except BaseException as exc:  # result lost (worker died, client closing)
            if not item.future.done():
                item.future.set_exception(exc)
        finally:
            item.dask_future = None
            self._resolved()

    def _dequeue(self, fut: FairFuture) -> bool:
        """Take a still-queued future out of its tenant's queue (FairFuture.cancel)."""
        with self._lock:
            t = self._tenants.get(fut.tenant)
            if t is None:
                return False
            for item in t.queue:
                if item.future is fut:
                    t.queue.remove(item)
                    t.cancelled += 1
                    return True
        return False

    def _resolved(self) -> None:
        with self._lock:
            self._outstanding -= 1
            if self._outstanding == 0:
                self._idle.notify_all()

    # -- waiting, closing, accounting ------------------------------------------------
    def run_until_idle(self, timeout: float | None = None) -> None:
        """Block until every submitted task has run (or been cancelled) and its future is resolved.

        Raises :class:`TimeoutError` when ``timeout`` seconds pass first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._outstanding:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"{self._outstanding} tasks still outstanding after {timeout} s")
                self._idle.wait(remaining)

    def close(self, *, cancel_pending: bool = True, wait: bool = True, timeout: float | None = None) -> None:
        """Stop accepting work. Queued tasks are cancelled (or, with ``cancel_pending=False``,
        still run); with ``wait`` the call returns when the running ones are done, without it
        they are cancelled on the cluster. The client stays open."""
        with self._lock:
            self._closed = True
            queued = [item for t in self._tenants.values() for item in t.queue] if cancel_pending else []
            running = [] if wait else [item.dask_future for item in self._running if item.dask_future is not None]
        for item in queued:
            item.future.cancel()
        if not cancel_pending:
            with self._lock:  # closing stopped the pumping from completions; run what is left
                self._closed = False
                self._pump()
                self._closed = True
        if running:
            try:
                self.client.cancel(running)
            except Exception:  # pragma: no cover - the client is already closing
                pass
        if wait:
            self.run_until_idle(timeout)

    def __enter__(self) -> "FairScheduler":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict[str, TenantStats]:
        """Per-tenant accounting, a consistent snapshot."""
        with self._lock:
            return {name: t.snapshot() for name, t in self._tenants.items()}

    def shares(self) -> dict[str, float]:
        """Each tenant's share of the completed cost so far (0 for all when nothing completed)."""
        with self._lock:
            total = sum(t.completed_cost for t in self._tenants.values())
            return {name: (t.completed_cost / total if total else 0.0) for name, t in self._tenants.items()}

    @property
    def in_flight(self) -> float:
        """Cores of work running on the cluster now."""
        with self._lock:
            return self._in_flight

    @property
    def peak_in_flight(self) -> float:
        """The most cores of work that were running at once."""
        with self._lock:
            return self._peak_in_flight

    @property
    def dispatch_log(self) -> tuple[str, ...]:
        """Tenant names in the order their tasks were dispatched (the last ``history``)."""
        with self._lock:
            return tuple(self._dispatch_log)

    @property
    def completion_log(self) -> tuple[str, ...]:
        """Tenant names in the order their tasks finished on the cluster (the last ``history``)."""
        with self._lock:
            return tuple(self._completion_log)

    def __repr__(self) -> str:
        with self._lock:
            queued = sum(len(t.queue) for t in self._tenants.values())
            return (f"<FairScheduler slots={self.slots} tenants={len(self._tenants)} "
                    f"in_flight={self._in_flight:g} queued={queued}{' closed' if self._closed else ''}>")
