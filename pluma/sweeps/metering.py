"""Usage metering: what each sweep cost, per program and phase, for capacity planning.

A :class:`Meter` follows one sweep and gives a record of

``core_seconds``
    the sum of the task durations (measured on the workers) times the threads
    a task occupies (1: a sweep task runs one point after another on one
    worker thread);
``peak_worker_memory_bytes``
    the largest resident memory of one worker process seen during the sweep:
    the workers' own metrics (``scheduler_info()["workers"][...]["metrics"]
    ["memory"]``, polled at most once a second) and the resident size each
    task reports when it ends;
``wall_seconds``, ``cores``, ``parallel_efficiency``
    submission to last result; the worker threads of the cluster;
    ``core_seconds / (wall_seconds * cores)``;
``points``, ``failures``, ``tasks``, and, once stored, ``bytes_written``
    (stored, compressed bytes of the chunks and metadata the commit wrote).

:func:`record_usage` appends the record to the program's events (kind
``"usage"``, with the program's phase at that moment) through the enclave's
commit path; the caller needs write permission on the program.

Examples
--------
>>> [e["core_seconds"] for e in usage_events(prog)]      # doctest: +SKIP
[12.4, 3.1]
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

    from ..memory import Enclave
    from ..programs.program import Program

log = logging.getLogger(__name__)

__all__ = ["Meter", "bytes_written", "record_usage", "usage_events"]

_SAMPLE_EVERY_S = 1.0
THREADS_PER_TASK = 1


class Meter:
    """Collects what one sweep used on a Dask cluster."""

    def __init__(self, client: "Client") -> None:
        self.client = client
        self.durations: list[float] = []
        self.peak_memory = 0
        self.cores = 0
        self.wall = 0.0
        self._t0: float | None = None
        self._last_sample = -math.inf

    # -- collecting ---------------------------------------------------------
    def start(self) -> None:
        self.sample(force=True)
        self._t0 = time.perf_counter()

    def task(self, duration: float, rss: int | None = None) -> None:
        """One finished task: its duration on the worker and the worker's resident size then."""
        self.durations.append(float(duration))
        if rss:
            self.peak_memory = max(self.peak_memory, int(rss))

    def sample(self, *, force: bool = False) -> None:
        """Read the workers' metrics (memory, threads), at most once a second unless forced."""
        now = time.perf_counter()
        if not force and now - self._last_sample < _SAMPLE_EVERY_S:
            return
        self._last_sample = now
        try:
            workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        except Exception as exc:  # noqa: BLE001 - metering must never break a sweep
            log.debug("could not read worker metrics: %s", exc)
            return
        self.cores = max(self.cores, sum(int(w.get("nthreads", 0)) for w in workers.values()))
        for worker in workers.values():
            memory = (worker.get("metrics") or {}).get("memory")
            if memory:
                self.peak_memory = max(self.peak_memory, int(memory))

    def stop(self) -> float:
        self.wall = time.perf_counter() - (self._t0 if self._t0 is not None else time.perf_counter())
        self.sample(force=True)
        return self.wall

    # -- the record -----------------------------------------------------------
    @property
    def core_seconds(self) -> float:
        return sum(self.durations) * THREADS_PER_TASK

    @property
    def efficiency(self) -> float:
        if self.wall <= 0 or self.cores <= 0:
            return 0.0
        return self.core_seconds / (self.wall * self.cores)

    def record(self, *, points: int, failures: int, **extra: Any) -> dict[str, Any]:
        """The usage record (JSON-serialisable, every number finite)."""
        rec = {
            "points": int(points),
            "failures": int(failures),
            "tasks": len(self.durations),
            "core_seconds": round(self.core_seconds, 6),
            "wall_seconds": round(self.wall, 6),
            "cores": int(self.cores),
            "parallel_efficiency": round(self.efficiency, 4),
            "peak_worker_memory_bytes": int(self.peak_memory),
            "bytes_written": 0,
        }
        rec.update(extra)
        return rec


def bytes_written(enclave: "Enclave", snapshot_id: str, prefix: str) -> int:
    """Stored bytes that the commit ``snapshot_id`` wrote under ``prefix``: the
    chunks it changed and the metadata of the arrays and groups it created or changed."""
    try:
        parent = enclave.log(snapshot_id=snapshot_id, limit=1)[0].parent_id
        diff = enclave.repo.diff(from_snapshot_id=parent, to_snapshot_id=snapshot_id)
    except Exception as exc:  # noqa: BLE001 - accounting falls back to 0
        log.debug("cannot diff %s: %s", snapshot_id, exc)
        return 0
    prefix = prefix.strip("/")
    written: set[str] = set()
    for nodes in (diff.new_arrays, diff.updated_arrays, diff.new_groups, diff.updated_groups):
        for node in nodes:
            path = str(node).strip("/")
            if path == prefix or path.startswith(prefix + "/"):
                written.add(f"{path}/zarr.json")
    for node, coords in diff.updated_chunks.items():
        path = str(node).strip("/")
        if path == prefix or path.startswith(prefix + "/"):
            for c in coords:
                written.add(f"{path}/c/" + "/".join(str(int(i)) for i in c) if len(c) else f"{path}/c")  # 0-d: "c"
    sizes = enclave.snapshot(snapshot_id=snapshot_id).sizes(prefix + "/")
    return int(sum(size for key, size in sizes.items() if key in written))


def record_usage(program: "Program", record: dict[str, Any], *, message: str | None = None) -> dict[str, Any]:
    """Append ``record`` to ``program``'s events as a ``usage`` event (with the
    program's phase) in one commit; needs write permission. Returns the event."""
    def change(txn):
        state = program._require("write", txn.doc("program", {}))
        return program._append_event(txn, "usage", phase=state.get("phase"), **record)

    _, event = program._enclave.update(
        program._branch,
        change,
        message=message or f"usage: sweep {record.get('function', '?')}",
        metadata={"author": program._user, "kind": "usage"},
    )
    return event


def usage_events(program: "Program") -> list[dict[str, Any]]:
    """The program's usage records, oldest first (needs read permission)."""
    return [e for e in program.events() if e.get("kind") == "usage"]
