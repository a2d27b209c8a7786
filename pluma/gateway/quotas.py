"""Program-wide core and memory quotas for Dask Gateway.

Dask Gateway limits each cluster (``cluster_max_cores``, ``cluster_max_memory``)
but has no notion of a group of users sharing one budget. PLUMA programs do:
every cluster of every member of a program together must stay within the
program's ``quotas`` (``cores``, ``memory_gb``).

Three pieces:

* :class:`ProgramQuotaLedger` - a process-safe ledger (sqlite, ``BEGIN
  IMMEDIATE``) of the cores and memory reserved per program. A reservation is
  checked against the quota and recorded in one transaction, so concurrent
  reservations from threads, processes or several gateways sharing the file
  never overshoot. It also keeps the high-water mark per program.
* :class:`ProgramDirectory` - who may use which program and its quota, read
  from a PLUMA workspace (membership of the program, quotas).
* :class:`ProgramQuotaBackend` - an ``UnsafeLocalBackend`` subclass for
  dask-gateway-server that reserves the scheduler's resources in the ledger
  before a cluster is created (refusing the cluster beyond the quota) and each
  worker's before it is created (a worker beyond the quota is not started; the
  request waits until another cluster of the program frees resources), and
  releases them when they stop.

Memory is in bytes in the ledger; a program's ``memory_gb`` quota is read as
GiB (2**30 bytes), the unit Dask Gateway uses for ``worker_memory``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GIB = 2**30

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reservations (
    key     TEXT PRIMARY KEY,
    program TEXT NOT NULL,
    cores   REAL NOT NULL,
    memory  INTEGER NOT NULL,
    owner   TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS reservations_program ON reservations(program);
CREATE TABLE IF NOT EXISTS peaks (
    program TEXT PRIMARY KEY,
    cores   REAL NOT NULL,
    memory  INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Quota:
    """A program's budget: cores and memory in bytes (``None``: unlimited)."""

    cores: float | None
    memory: int | None

    @classmethod
    def from_program_quotas(cls, quotas: dict[str, Any] | None) -> "Quota":
        quotas = quotas or {}
        cores = quotas.get("cores")
        memory_gb = quotas.get("memory_gb")
        return cls(
            cores=None if cores is None else float(cores),
            memory=None if memory_gb is None else int(float(memory_gb) * GIB),
        )


@dataclass(frozen=True)
class Usage:
    cores: float
    memory: int


class QuotaExceeded(Exception):
    """A reservation would take a program beyond its quota."""


class ProgramQuotaLedger:
    """Cores and memory reserved per program, shared by processes through one sqlite file.

    >>> ledger = ProgramQuotaLedger(tmp_path / "quotas.sqlite")      # doctest: +SKIP
    >>> ledger.reserve("ampel", "c1/scheduler", cores=1, memory=GIB, quota=Quota(4, 8 * GIB))  # doctest: +SKIP
    True
    """

    def __init__(self, path: str | os.PathLike, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        self._local = threading.local()
        self._connection().executescript(_SCHEMA)

    # -- connection handling ---------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None or getattr(self._local, "pid", None) != os.getpid():
            con = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con, self._local.pid = con, os.getpid()
        return con

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE takes the database's write lock at once."""
        con = self._connection()
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        else:
            con.execute("COMMIT")

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    # -- reservations ----------------------------------------------------
    @staticmethod
    def _usage(con: sqlite3.Connection, program: str) -> Usage:
        cores, memory = con.execute(
            "SELECT COALESCE(SUM(cores), 0), COALESCE(SUM(memory), 0) FROM reservations WHERE program = ?",
            (program,),
        ).fetchone()
        return Usage(float(cores), int(memory))

    def reserve(self, program: str, key: str, *, cores: float, memory: int, quota: Quota,
                owner: str = "") -> bool:
        """Reserve ``cores`` and ``memory`` bytes for ``program`` under ``key``.

        Returns False (reserving nothing) when the program's reservations plus
        this one would exceed ``quota``. Reserving an existing key again
        replaces it (the check counts the new amount only).
        """
        program = program.lower()
        with self._transaction() as con:
            con.execute("DELETE FROM reservations WHERE key = ?", (key,))
            used = self._usage(con, program)
            new_cores, new_memory = used.cores + float(cores), used.memory + int(memory)
            if (quota.cores is not None and new_cores > quota.cores + 1e-9) or \
                    (quota.memory is not None and new_memory > quota.memory):
                con.execute("ROLLBACK")  # keeps a replaced reservation as it was
                con.execute("BEGIN")  # the context manager commits this empty transaction
                return False
            con.execute(
                "INSERT INTO reservations (key, program, cores, memory, owner, created) VALUES (?, ?, ?, ?, ?, ?)",
                (key, program, float(cores), int(memory), owner, time.time()),
            )
            con.execute(
                "INSERT INTO peaks (program, cores, memory) VALUES (?, ?, ?) "
                "ON CONFLICT(program) DO UPDATE SET cores = MAX(cores, excluded.cores), "
                "memory = MAX(memory, excluded.memory)",
                (program, new_cores, new_memory),
            )
            return True

    def release(self, key: str) -> bool:
        """Free the reservation ``key``; False when there was none (releasing is idempotent)."""
        with self._transaction() as con:
            return con.execute("DELETE FROM reservations WHERE key = ?", (key,)).rowcount > 0

    def rekey(self, old: str, new: str) -> bool:
        with self._transaction() as con:
            return con.execute("UPDATE reservations SET key = ? WHERE key = ?", (new, old)).rowcount > 0

    def release_prefix(self, prefix: str) -> int:
        """Free every reservation whose key starts with ``prefix`` (e.g. all of one cluster)."""
        with self._transaction() as con:
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return con.execute("DELETE FROM reservations WHERE key LIKE ? ESCAPE '\\'",
                               (escaped + "%",)).rowcount

    def release_owner(self, owner: str) -> int:
        """Free every reservation made by ``owner`` (a gateway starting afresh after a crash)."""
        with self._transaction() as con:
            return con.execute("DELETE FROM reservations WHERE owner = ?", (owner,)).rowcount

    # -- reading ---------------------------------------------------------
    def usage(self, program: str) -> Usage:
        return self._usage(self._connection(), program.lower())

    def peak(self, program: str) -> Usage:
        """The most ever reserved at once for ``program``."""
        row = self._connection().execute("SELECT cores, memory FROM peaks WHERE program = ?",
                                          (program.lower(),)).fetchone()
        return Usage(0.0, 0) if row is None else Usage(float(row[0]), int(row[1]))

    def reservations(self, program: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT key, program, cores, memory, owner, created FROM reservations"
        args: tuple = ()
        if program is not None:
            sql, args = sql + " WHERE program = ?", (program.lower(),)
        cols = ("key", "program", "cores", "memory", "owner", "created")
        return [dict(zip(cols, row)) for row in self._connection().execute(sql + " ORDER BY created", args)]


# -- programs from a PLUMA workspace ---------------------------------------
class ProgramDirectory:
    """Program membership and quotas, read from a PLUMA workspace (cached ``ttl`` seconds)."""

    def __init__(self, workspace: str | os.PathLike, *, ttl: float = 5.0) -> None:
        self.workspace = str(workspace)
        self.ttl = ttl
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def _cached(self, key: tuple[str, str], compute):
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.ttl:
                return hit[1]
        value = compute()
        with self._lock:
            self._cache[key] = (now, value)
        return value

    def _open(self, user: str):
        from pluma.workspace import open_workspace

        return open_workspace(self.workspace, user=user, create=False)

    def programs_of(self, user: str) -> list[str]:
        """Names of the programs ``user`` is a member of."""

        def compute():
            ws = self._open(user)
            return [p.name for p in ws.programs() if user.lower() in (p.members or {})]

        return self._cached(("programs_of", user.lower()), compute)

    def quota_for(self, user: str, program: str) -> tuple[str, Quota]:
        """The program's canonical name and quota; PermissionError unless ``user`` is a member."""

        def compute():
            from pluma.errors import PlumaError

            try:
                prog = self._open(user).program(program)
                members = prog.members or {}
                quotas = prog.quotas
                name = prog.name
            except PlumaError as exc:  # not found, no role...
                return exc
            if user.lower() not in members:
                return PermissionError(f"user {user!r} is not a member of program {name!r}")
            return name, Quota.from_program_quotas(quotas)

        result = self._cached(("quota", f"{user.lower()}\0{program.lower()}"), compute)
        if isinstance(result, Exception):
            raise PermissionError(f"user {user!r} may not use program {program!r}: {result}")
        return result

    def quota(self, program: str, user: str) -> Quota:
        return self.quota_for(user, program)[1]


# -- the dask-gateway-server backend -----------------------------------------
try:  # dask-gateway-server is optional (pluma[hub])
    from dask_gateway_server.backends.db_base import JobStatus
    from dask_gateway_server.backends.local import UnsafeLocalBackend
    from traitlets import Unicode
except ImportError:  # pragma: no cover - without the hub extra
    UnsafeLocalBackend = None  # type: ignore[assignment,misc]


if UnsafeLocalBackend is not None:
    from dask_gateway_server.backends.base import PublicException

    class ProgramQuotaBackend(UnsafeLocalBackend):  # type: ignore[misc,valid-type]
        """``UnsafeLocalBackend`` whose clusters and workers draw on their program's quota.

        A cluster's program is its ``program`` option (see
        ``hub-config/dask_gateway_config.py``). Reservations are keyed
        ``<cluster>/scheduler`` and ``<cluster>/<worker>``.
        """

        workspace = Unicode(help="PLUMA workspace holding programs, members and quotas", config=True)
        ledger_path = Unicode(help="sqlite file of the program quota ledger", config=True)
        ledger_owner = Unicode(help="Owner tag of this gateway's reservations (default: a fresh id)",
                               config=True)

        async def setup(self, app):
            if not self.workspace:
                raise ValueError("ProgramQuotaBackend.workspace must name a PLUMA workspace")
            if not self.ledger_path:
                raise ValueError("ProgramQuotaBackend.ledger_path must name the quota ledger file")
            self.ledger = ProgramQuotaLedger(self.ledger_path)
            self.directory = ProgramDirectory(self.workspace)
            self.owner = self.ledger_owner or f"gateway-{uuid.uuid4().hex}"
            # reservations left by an earlier run of this gateway (its clusters died with it)
            self.ledger.release_owner(self.owner)
            await super().setup(app)

        async def cleanup(self):
            await super().cleanup()
            if hasattr(self, "ledger"):
                self.ledger.release_owner(self.owner)

        # -- helpers -----------------------------------------------------
        @staticmethod
        def _program(cluster) -> str | None:
            return (cluster.options or {}).get("program")

        def _quota(self, cluster) -> Quota:
            return self.directory.quota(self._program(cluster), cluster.username)

        def _wake_waiting(self, program: str) -> None:
            """Requeue the program's running clusters that wait for resources."""
            for cluster in self.db.active_clusters():
                if (self._program(cluster) or "").lower() == program.lower() and \
                        cluster.status == JobStatus.RUNNING and \
                        cluster.count > len(cluster.active_workers()):
                    self.queue.put(cluster)

        # -- clusters ----------------------------------------------------
        async def start_cluster(self, user, cluster_options):
            options, config = await self.process_cluster_options(user, cluster_options)
            program = options.get("program")
            if not program:
                raise PublicException("a cluster needs a program option")
            try:
                program, quota = self.directory.quota_for(user.name, program)
            except PermissionError as exc:
                raise PublicException(str(exc)) from None
            pending = f"pending-{uuid.uuid4().hex}"
            if not self.ledger.reserve(program, pending, cores=config.scheduler_cores,
                                       memory=config.scheduler_memory, quota=quota, owner=self.owner):
                used = self.ledger.usage(program)
                raise PublicException(
                    f"program {program} has no room for another cluster: {used.cores:g} of "
                    f"{quota.cores:g} cores and {used.memory / GIB:.2f} of "
                    f"{(quota.memory or 0) / GIB:.2f} GiB in use")
            try:
                options = dict(options, program=program)
                cluster = self.db.create_cluster(user.name, options, config.to_dict())
            except BaseException:
                self.ledger.release(pending)
                raise
            self.ledger.rekey(pending, f"{cluster.name}/scheduler")
            self.log.info("Created cluster %s for user %s (program %s)", cluster.name, user.name, program)
            self.queue.put(cluster)
            return cluster.name

        async def _cluster_to_stopped(self, cluster):
            await super()._cluster_to_stopped(cluster)
            if self.ledger.release_prefix(f"{cluster.name}/"):
                self._wake_waiting(self._program(cluster) or "")

        # -- workers -----------------------------------------------------
        async def _check_cluster_scale(self, cluster):
            if cluster.worker_start_failure_count >= self.worker_start_failure_limit:
                return await super()._check_cluster_scale(cluster)
            active = cluster.active_workers()
            wanted = cluster.count - len(active)
            if wanted <= 0:
                return
            program = self._program(cluster)
            try:
                quota = self._quota(cluster)
            except PermissionError as exc:  # removed from the program since: no more workers
                self.log.warning("Cluster %s: %s", cluster.name, exc)
                return
            cores, memory = cluster.config.worker_cores, cluster.config.worker_memory
            for _ in range(wanted):
                pending = f"pending-{uuid.uuid4().hex}"
                if not self.ledger.reserve(program, pending, cores=cores, memory=memory,
                                           quota=quota, owner=self.owner):
                    self.log.info("Cluster %s: program %s quota reached, %d worker(s) wait",
                                  cluster.name, program, cluster.count - len(cluster.active_workers()))
                    return
                try:
                    worker = self.db.create_worker(cluster)
                except BaseException:
                    self.ledger.release(pending)
                    raise
                self.ledger.rekey(pending, f"{cluster.name}/{worker.name}")
                self.log.info("Created worker %s for cluster %s", worker.name, cluster.name)
                self.queue.put(worker)

        async def _worker_to_stopped(self, worker):
            await super()._worker_to_stopped(worker)
            cluster = worker.cluster
            if self.ledger.release(f"{cluster.name}/{worker.name}"):
                self._wake_waiting(self._program(cluster) or "")

        # -- inspection --------------------------------------------------
        def program_usage(self) -> dict[str, dict[str, float]]:
            out: dict[str, dict[str, float]] = {}
            for row in self.ledger.reservations():
                u = out.setdefault(row["program"], {"cores": 0.0, "memory": 0})
                u["cores"] += row["cores"]
                u["memory"] += row["memory"]
            return out
else:  # pragma: no cover
    ProgramQuotaBackend = None  # type: ignore[assignment,misc]
