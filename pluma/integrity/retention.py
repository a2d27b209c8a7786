"""``pluma gc --older-than 30d [--apply]``: expire old working-context history and
delete the objects nothing needs any more.

Uses Icechunk's own administration: ``Repository.expire_snapshots(older_than)``
drops snapshots older than the cutoff from the history of every branch, and
``Repository.garbage_collect(delete_object_older_than)`` deletes the objects no
remaining snapshot uses. PLUMA never deletes a tag or a branch: tags are frozen
contexts (Icechunk keeps every ref tip), branch tips are the working contexts,
the index and the checksums, so everything they need stays.

A dry run (the default) runs the very same Icechunk operations on a scratch copy
of the repository's metadata (chunk objects stand in as empty sparse files of
their size and age), so it reports exactly what ``apply=True`` would expire and
delete while changing nothing. With ``apply=True`` the real operations run under
the enclave's commit lock.

Examples
--------
>>> from pluma.integrity import gc
>>> plan = gc(ws, "30d")                 # doctest: +SKIP
>>> plan.snapshots_expired, plan.bytes_deleted   # doctest: +SKIP
(42, 1048576)
>>> gc(ws, "30d", apply=True)            # doctest: +SKIP
<RetentionReport applied, older than 30 days, 0:00:00: 42 snapshots expired, ...>
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from ..errors import InvalidInputError, StorageError
from .objects import ObjectStore, workspace_enclaves

if TYPE_CHECKING:  # pragma: no cover
    from ..memory import Enclave
    from ..workspace import Workspace

log = logging.getLogger(__name__)

__all__ = ["RetentionReport", "EnclaveRetention", "gc", "parse_duration"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DEFAULT_GRACE = timedelta(hours=1)


def parse_duration(value: str | timedelta) -> timedelta:
    """``"30d"``, ``"12h"``, ``"90m"``, ``"45s"``, ``"2w"`` (or a timedelta) -> timedelta.

    >>> parse_duration("30d")
    datetime.timedelta(days=30)
    """
    if isinstance(value, timedelta):
        delta = value
    elif isinstance(value, str) and (m := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", value.lower())):
        delta = timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    else:
        raise InvalidInputError(f"{value!r} is not a duration: write a number and a unit, e.g. 30d, 12h, 90m, 45s, 2w")
    if delta < timedelta(0):
        raise InvalidInputError("a retention duration cannot be negative")
    return delta


@dataclass
class EnclaveRetention:
    enclave: str
    expired: list[str] = field(default_factory=list)  # snapshot ids dropped from history
    snapshots_deleted: int = 0
    manifests_deleted: int = 0
    chunks_deleted: int = 0
    transaction_logs_deleted: int = 0
    bytes_deleted: int = 0
    tags_kept: int = 0
    branches_kept: int = 0


@dataclass
class RetentionReport:
    """What a retention run expired and deleted (or, for a dry run, would)."""

    location: str
    older_than: str
    cutoff: str
    applied: bool
    enclaves: list[EnclaveRetention] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def snapshots_expired(self) -> int:
        return sum(len(e.expired) for e in self.enclaves)

    @property
    def bytes_deleted(self) -> int:
        return sum(e.bytes_deleted for e in self.enclaves)

    @property
    def objects_deleted(self) -> int:
        return sum(e.snapshots_deleted + e.manifests_deleted + e.chunks_deleted + e.transaction_logs_deleted
                   for e in self.enclaves)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "snapshots_expired": self.snapshots_expired, "bytes_deleted": self.bytes_deleted,
                "objects_deleted": self.objects_deleted}

    def __repr__(self) -> str:
        verb = "applied" if self.applied else "dry run"
        return (f"<RetentionReport {verb}, older than {self.older_than}: {self.snapshots_expired} snapshots expired, "
                f"{self.objects_deleted} objects / {self.bytes_deleted:,} bytes deleted>")

    def _repr_html_(self) -> str:
        from ..display import _STYLE, _e, _table

        rows = [(e.enclave, len(e.expired), e.snapshots_deleted, e.manifests_deleted, e.chunks_deleted,
                 e.transaction_logs_deleted, f"{e.bytes_deleted:,}", e.tags_kept, e.branches_kept)
                for e in self.enclaves]
        verb = "Retention applied" if self.applied else "Retention dry run (nothing changed)"
        return (f"{_STYLE}<div class='pluma'><h4>{verb}: history older than {_e(self.older_than)} "
                f"(before {_e(self.cutoff[:19])})</h4>"
                + _table(["enclave", "snapshots expired", "snapshots deleted", "manifests deleted", "chunks deleted",
                          "tx logs deleted", "bytes deleted", "tags kept", "branches kept"], rows)
                + "<p class='muted'>frozen contexts (tags) and branch tips are always kept</p></div>")


def _fill(result: EnclaveRetention, expired: Iterable[str], summary) -> None:
    result.expired = sorted(expired)
    result.snapshots_deleted = int(summary.snapshots_deleted)
    result.manifests_deleted = int(summary.manifests_deleted)
    result.chunks_deleted = int(summary.chunks_deleted)
    result.transaction_logs_deleted = int(summary.transaction_logs_deleted)
    result.bytes_deleted = int(summary.bytes_deleted)


def _run(repo, cutoff: datetime, objects_cutoff: datetime):
    expired = repo.expire_snapshots(cutoff, delete_expired_branches=False, delete_expired_tags=False)
    summary = repo.garbage_collect(objects_cutoff)
    return expired, summary


def _scratch_copy(source: ObjectStore, enclave: str, folder: Path) -> None:
    """Metadata objects copied, chunk objects as sparse files of their size; every
    file keeps the age of its object (garbage collection spares young objects)."""
    prefix = f"enclaves/{enclave}/"
    for name, info in source.list(prefix).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.startswith("chunks/"):
            with open(path, "wb") as fh:
                fh.truncate(info.size)
        else:
            path.write_bytes(source.get(prefix + name))
        stamp = info.modified.timestamp()
        os.utime(path, (stamp, stamp))


def _plan(enclave: "Enclave", source: ObjectStore, cutoff: datetime, objects_cutoff: datetime,
          result: EnclaveRetention) -> None:
    import icechunk

    folder = Path(tempfile.mkdtemp(prefix="pluma-gc-"))
    try:
        _scratch_copy(source, enclave.name, folder)
        repo = icechunk.Repository.open(icechunk.local_filesystem_storage(str(folder)))
        expired, summary = _run(repo, cutoff, objects_cutoff)
        _fill(result, expired, summary)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def gc(ws: "Workspace", older_than: str | timedelta, *, apply: bool = False, enclaves: Iterable[str] | None = None,
       grace: str | timedelta = DEFAULT_GRACE) -> RetentionReport:
    """Expire working-context history older than ``older_than`` and delete the objects
    no kept snapshot needs (admin only). A dry run unless ``apply=True``.

    ``grace``: objects younger than this are never deleted, whatever the cutoff
    (they may belong to a commit in progress elsewhere).
    """
    import icechunk

    delta, grace_delta = parse_duration(older_than), parse_duration(grace)
    ws._require_admin("expire history and collect garbage")
    now = datetime.now(timezone.utc)
    cutoff = now - delta
    objects_cutoff = min(cutoff, now - grace_delta)
    start = time.perf_counter()
    roots = workspace_enclaves(ws)
    names = [n for n in sorted(roots) if enclaves is None or n in set(enclaves)]
    report = RetentionReport(ws.root.uri, str(delta), cutoff.isoformat(), apply)
    from ..memory import Enclave

    for name in names:
        source = ObjectStore.for_root(roots[name])
        if name not in source.enclaves():
            continue  # registered but never written: nothing to keep or delete
        enclave = Enclave(roots[name], name)
        result = EnclaveRetention(name)
        with enclave.lock.hold():
            tags = {t: enclave.repo.lookup_tag(t) for t in enclave.repo.list_tags()}
            branches = set(enclave.repo.list_branches())
            result.tags_kept, result.branches_kept = len(tags), len(branches)
            try:
                if apply:
                    _fill(result, *_run(enclave.repo, cutoff, objects_cutoff))
                else:
                    _plan(enclave, source, cutoff, objects_cutoff, result)
            except icechunk.IcechunkError as exc:
                raise StorageError(f"retention in enclave {name!r} failed: {exc}") from exc
            if apply:  # the promise: no tag moved or vanished, no branch lost
                after = {t: enclave.repo.lookup_tag(t) for t in enclave.repo.list_tags()}
                if after != tags or set(enclave.repo.list_branches()) != branches:
                    raise StorageError(f"retention changed the refs of enclave {name!r}; restore it from a replica "
                                       "(pluma fsck --repair-from)")
        report.enclaves.append(result)
        log.info("retention %s %s: %d expired, %d bytes", "applied" if apply else "planned", name,
                 len(result.expired), result.bytes_deleted)
    report.seconds = time.perf_counter() - start
    return report
