"""One enclave = one Icechunk repository.

Inside a branch PLUMA keeps

* JSON documents as the attributes of a Zarr group (``program``, ``context``,
  ``events``, ...): small, rewritten whole, read in one request;
* datasets as Zarr v3 groups written by xarray (``data/<name>``);
* artifacts (files) as 1-D ``uint8`` arrays with their metadata in attributes
  (``artifacts/<name>``).

Every change goes through :meth:`Enclave.update`: a function receives a
:class:`WriteTxn` on the current tip, reads what it needs, validates, writes, and
the change is committed once. If the function raises, nothing is committed. On
local storage the whole update runs under the enclave's commit lock; on object
stores a lost race (Icechunk ``ConflictError``) re-runs the function on the new
tip, so validation always sees the state it commits on top of.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, TypeVar

import numpy as np

from ..errors import ConflictError, NotFoundError, StorageError
from .chunks import put_changed_chunks, stored_sizes
from .locking import CommitLock, NullLock
from .storage import WorkspaceRoot

log = logging.getLogger(__name__)

__all__ = ["Enclave", "Snapshot", "WriteTxn", "CommitInfo"]

T = TypeVar("T")
ARTIFACT_CHUNK = 4 * 1024 * 1024
_MISSING = object()
_EMPTY_GROUP = b'{"zarr_format":3,"node_type":"group","attributes":{}}'
_DOC_WRAPPER = len('{"zarr_format":3,"node_type":"group","attributes":{"doc":}}')  # bytes around a document
_DOC_CACHE_SIZE = 4096
_SESSION_CACHE_SIZE = 16
_MAX_ATTEMPTS = 50


def _doc_of(raw) -> Any:
    """The JSON document held in a group's ``zarr.json`` buffer (None if there is none)."""
    return None if raw is None else json.loads(raw.to_bytes()).get("attributes", {}).get("doc")


def _under(path: str, roots) -> bool:
    """Whether ``path`` is one of ``roots`` or lies under one of them."""
    return any(path == r or path.startswith(r + "/") for r in roots)


@dataclass(frozen=True)
class CommitInfo:
    id: str
    parent_id: str | None
    time: datetime
    message: str
    metadata: dict[str, Any]

    @property
    def author(self) -> str | None:
        return self.metadata.get("author")


class Snapshot:
    """Read access to one snapshot (or an open writable session) of an enclave."""

    def __init__(self, enclave: "Enclave", session) -> None:
        self.enclave = enclave
        self._session = session

    @property
    def session(self):
        return self._session

    @property
    def id(self) -> str:
        return self._session.snapshot_id

    @property
    def store(self):
        return self.session.store

    def _group(self, path: str):
        import zarr
        from zarr.errors import GroupNotFoundError

        try:
            return zarr.open_group(self.store, path=path, mode=self._group_mode)
        except (GroupNotFoundError, FileNotFoundError, KeyError):
            return None

    _group_mode = "r"

    _cacheable = True  # a read-only snapshot never changes: its documents can be cached by id

    def doc(self, path: str, default: Any = None) -> Any:
        """The JSON document stored at ``path`` (``default`` if there is none); a fresh
        object on each call, which the caller may change."""
        if not self._cacheable:  # read fresh from the open session: nobody else holds it
            doc = self._read_doc(path)
            return doc if doc is not None else default
        key = (self.id, path)
        text = self.enclave._doc_cache_get(key)
        if text is _MISSING:
            doc = self._read_doc(path)
            # cached as JSON text: parsing it again is ~10x cheaper than copy.deepcopy
            text = None if doc is None else json.dumps(doc, separators=(",", ":"))
            self.enclave._doc_cache_put(key, text)
            return doc if doc is not None else default
        return json.loads(text) if text is not None else default

    def _read_doc(self, path: str) -> Any:
        from zarr.core.buffer import default_buffer_prototype
        from zarr.core.sync import sync

        return _doc_of(sync(self.store.get(f"{path}/zarr.json", prototype=default_buffer_prototype())))

    def has(self, path: str) -> bool:
        import zarr

        try:
            zarr.open(self.store, path=path, mode="r")
            return True
        except Exception:
            return False

    def members(self, path: str) -> list[str]:
        group = self._group(path)
        if group is None:
            return []
        return sorted(name for name, _ in group.members())

    def dataset(self, path: str):
        import xarray as xr

        if self._group(path) is None:
            raise NotFoundError(f"no dataset stored at {path}")
        return xr.open_dataset(self.store, engine="zarr", group=path, consolidated=False, chunks=None, zarr_format=3)

    def artifact(self, path: str) -> bytes:
        import zarr

        try:
            array = zarr.open_array(self.store, path=path, mode="r")
        except Exception:
            raise NotFoundError(f"no artifact stored at {path}") from None
        return bytes(np.asarray(array[:], dtype=np.uint8).tobytes())

    def keys(self, prefix: str = "") -> list[str]:
        """Keys of every stored object (metadata and chunks) under ``prefix``."""
        from zarr.core.sync import sync

        async def collect() -> list[str]:
            return [k async for k in self.store.list_prefix(prefix)]

        return sync(collect())

    def docs_under(self, prefix: str) -> dict[str, Any]:
        """Every JSON document one level under ``prefix`` (``prefix/<name>``), read concurrently."""
        from zarr.core.buffer import default_buffer_prototype
        from zarr.core.sync import sync

        store = self.store
        proto = default_buffer_prototype()

        async def collect() -> dict[str, Any]:
            import asyncio

            names = [n.rstrip("/") async for n in store.list_dir(prefix + "/")]
            names = [n for n in names if n and n != "zarr.json"]

            async def one(name: str):
                return name, _doc_of(await store.get(f"{prefix}/{name}/zarr.json", prototype=proto))

            return dict(await asyncio.gather(*(one(n) for n in names)))

        return sync(collect())

    def sizes(self, prefix: str = "") -> dict[str, int]:
        """Stored size in bytes of every object under ``prefix``."""
        from zarr.core.sync import sync

        store = self.store

        async def collect() -> dict[str, int]:
            import asyncio

            keys = [k async for k in store.list_prefix(prefix)]
            sizes = await asyncio.gather(*(store.getsize(k) for k in keys))
            return dict(zip(keys, sizes))

        return sync(collect())


class WriteTxn(Snapshot):
    """A writable session on a branch tip; see :meth:`Enclave.update`.

    ``metadata`` is the commit metadata; a change may add to it.
    """

    _cacheable = False  # an open session changes as the change writes
    _group_mode = "r+"  # groups (and their arrays) opened here may be written

    def __init__(self, enclave: "Enclave", session, metadata: dict[str, Any]) -> None:
        super().__init__(enclave, session)
        self.metadata = metadata
        self._groups: set[str] = set()  # groups known to exist in this session (put_doc skips checking them)
        # Documents are written when anything else touches the session (or before the commit), all in one
        # request; reads of a document this change wrote or read already come from here. A change that
        # reads and writes a few documents then costs two or three round trips to the store, not a dozen.
        self._pending: dict[str, str] = {}   # path -> the document, as JSON text, not written yet
        self._read: dict[str, str | None] = {}  # path -> the document as read (JSON text; None: absent)
        # Deletions wait for the same request as the documents (deleted first); until the session is
        # used directly, a document under a deleted path is known to be absent without asking.
        self._base = session.snapshot_id  # the snapshot this change starts from
        self._deletes: list[str] = []
        self._deleted: list[str] = []  # every path deleted by this change
        self._gone: set[str] = set()
        self._direct = False  # the session was used directly: the base snapshot's cache no longer applies
        # stored size of every object this change wrote itself (key -> bytes): what the Context
        # Reuse Ratio needs, without asking the store again
        self.written: dict[str, int] = {}

    @property
    def session(self):
        self.flush()  # whoever uses the session directly sees every document written so far
        self._gone.clear()  # ... and may write anything anywhere: absences are no longer known
        self._direct = True  # ... so documents are no longer taken from the base snapshot's cache
        return self._session

    def _cached_base_doc(self, path: str) -> Any:
        """The document as cached for the snapshot this session started from (_MISSING if it
        is not cached, or the session was used directly and may have changed it)."""
        if self._direct:
            return _MISSING
        return self.enclave._doc_cache_get((self._base, path))

    def _known_absent(self, path: str) -> bool:
        return _under(path, self._gone)

    def doc(self, path: str, default: Any = None) -> Any:
        text = self._pending.get(path)
        if text is None:
            self.prefetch(path)
            text = self._read[path]
        return json.loads(text) if text is not None else default

    def prefetch(self, *paths: str) -> None:
        """Have the documents at ``paths`` at hand: what this change wrote, read, deleted, or what
        the base snapshot's cache holds needs no request; the rest is read in one request (later
        :meth:`doc` calls are served from memory)."""
        from zarr.core.buffer import default_buffer_prototype
        from zarr.core.sync import sync

        wanted = []
        for p in dict.fromkeys(paths):
            if p in self._pending or p in self._read:
                continue
            if self._known_absent(p):
                self._read[p] = None
            elif (cached := self._cached_base_doc(p)) is not _MISSING:
                self._read[p] = cached
            else:
                wanted.append(p)
        if not wanted:
            return
        store, proto = self._session.store, default_buffer_prototype()

        async def read_all():
            import asyncio

            return await asyncio.gather(*(store.get(f"{p}/zarr.json", prototype=proto) for p in wanted))

        for path, raw in zip(wanted, sync(read_all())):
            doc = _doc_of(raw)
            self._read[path] = None if doc is None else json.dumps(doc, separators=(",", ":"))

    def remember(self, snapshot_id: str) -> None:
        """After this change was committed as ``snapshot_id``: every document it read or wrote
        is, as it holds it, that snapshot's document, so the next change (or read) on the new
        tip finds it in the enclave's cache instead of asking the store. Documents are only ever
        written through :meth:`put_doc`, never by writes to the session itself."""
        self.enclave._doc_cache_carry(self._base, snapshot_id, dict(self._read), self._deleted)

    def changed_keys(self) -> set[str]:
        """Keys of every object this change has written or changed so far (metadata and chunks),
        pending documents included, without writing them first."""
        status = self._session.status()
        keys = {f"{p}/zarr.json" for p in self._pending}
        for path in (list(status.new_groups) + list(status.new_arrays)
                     + list(status.updated_groups) + list(status.updated_arrays)):
            keys.add(f"{path.strip('/')}/zarr.json")
        for path, coords in status.updated_chunks.items():
            for c in coords:
                keys.add(f"{path.strip('/')}/c/" + "/".join(str(i) for i in c))
        return keys

    def stored_sizes(self, keys: list[str]) -> list[int]:
        """Stored sizes of ``keys`` (0 for an absent object) as this change leaves them: what it
        wrote itself is known; only the rest is asked of the store (in one request)."""
        known: dict[str, int] = {}
        for key in keys:
            path = key[: -len("/zarr.json")] if key.endswith("/zarr.json") else None
            if path is not None and path in self._pending:
                known[key] = len(self._pending[path]) + _DOC_WRAPPER
            elif key in self.written:
                known[key] = self.written[key]
        rest = [k for k in keys if k not in known]
        if rest:
            self.flush()
            known.update(zip(rest, stored_sizes(self._session.store, rest)))
        return [known[k] for k in keys]

    def put_doc(self, path: str, doc: Any) -> None:
        """Store a JSON document as the attributes of the Zarr group at ``path``
        (its ``zarr.json`` written directly, with the documents of the same change
        in one request: see :meth:`flush`)."""
        self._pending[path] = json.dumps(doc, allow_nan=False, separators=(",", ":"))
        self._read.pop(path, None)

    def flush(self) -> None:
        """Carry out the pending deletions, then write the pending documents (and any missing
        ancestor groups), all in one request."""
        if not self._pending and not self._deletes:
            return
        from zarr.core.buffer import cpu
        from zarr.core.sync import sync

        pending, self._pending = self._pending, {}
        deletes, self._deletes = self._deletes, []
        store = self._session.store
        known = self._groups
        # the ancestors of a document this change has seen exist (unless deleted since)
        seen = [p for p, t in self._read.items() if t is not None]
        existing = {"/".join(p.split("/")[:i]) for p in seen for i in range(len(p.split("/")))}
        existing = {g for g in existing if not _under(g, self._deleted)}

        async def write() -> None:
            import asyncio

            await asyncio.gather(*(store.delete_dir(p) for p in deletes))
            parents = sorted({"/".join(path.split("/")[:i]) for path in pending
                              for i in range(len(path.split("/")))} - known - set(pending) - existing)

            async def ensure(parent: str) -> None:
                key = f"{parent}/zarr.json" if parent else "zarr.json"
                if not await store.exists(key):
                    await store.set(key, cpu.Buffer.from_bytes(_EMPTY_GROUP))

            await asyncio.gather(*(ensure(p) for p in parents))
            bodies = {path: ('{"zarr_format":3,"node_type":"group","attributes":{"doc":' + text + "}}").encode()
                      for path, text in pending.items()}
            await asyncio.gather(*(store.set(f"{path}/zarr.json", cpu.Buffer.from_bytes(body))
                                   for path, body in bodies.items()))
            known.update(parents)
            known.update(pending)

        sync(write())
        for path, text in pending.items():
            self._read[path] = text
            self.written[f"{path}/zarr.json"] = len(text) + _DOC_WRAPPER

    def put_dataset(self, path: str, ds, stored_bytes: int | None = None,
                    index: dict[str, Any] | None = None) -> tuple[str, int]:
        """Write ``ds`` at ``path``, sharing every chunk that does not change.

        * same variables and layout as the stored dataset, or a region of it
          (smaller along dimensions whose index coordinates locate it): only the
          chunks whose values differ are written (``"chunks"`` / ``"region"``);
        * anything else replaces the dataset (``"replace"``), and so does a
          Dask-backed dataset: its chunks are written by the Dask workers
          (``icechunk.xarray.to_icechunk`` forks this session for them).

        ``stored_bytes`` is what the stored dataset occupied (if known); ``index`` what
        :func:`~pluma.memory.chunks.index_ranges` said of its index coordinates when it was
        written (if known): a hint where a region lies, checked against the stored values it points at. Returns
        the mode and what the dataset occupies afterwards, in stored (compressed) bytes.
        """
        from icechunk.xarray import to_icechunk

        if any(v.chunks is not None for v in ds.variables.values()):
            # Dask-backed (a sweep's results on the cluster): the workers write the chunks
            # into forks of this session, merged back here before the commit
            self.delete(path)
            to_icechunk(ds, self.session, group=path, mode="w")
            return "replace", int(sum(self.sizes(path + "/").values()))
        changed = put_changed_chunks(self.store, path, ds, index, self.written)
        if changed is not None:
            offsets, delta = changed
            total = stored_bytes + delta if stored_bytes is not None else sum(self.sizes(path + "/").values())
            return ("region" if offsets else "chunks"), int(total)
        self.delete(path)
        to_icechunk(ds, self.session, group=path, mode="w")
        return "replace", int(sum(self.sizes(path + "/").values()))

    def put_artifact(self, path: str, data: bytes, attrs: dict[str, Any]) -> None:
        import zarr

        self.delete(path)
        n = len(data)
        array = zarr.create_array(
            self.store,
            name=path,
            shape=(n,),
            dtype="uint8",
            chunks=(min(max(n, 1), ARTIFACT_CHUNK),),
            compressors=None,
            overwrite=True,
            attributes=attrs,
        )
        if n:
            array[:] = np.frombuffer(data, dtype=np.uint8)

    def delete(self, path: str) -> None:
        """Remove the node at ``path`` (group, array or document) and everything under it;
        nothing happens when there is none. Carried out with the next write of documents, in
        the same request (Icechunk deletes the subtree); anything that uses the session
        directly sees it done."""
        path = path.strip("/")
        if not path:
            raise ValueError("refusing to delete the root of a session")

        self._pending = {p: t for p, t in self._pending.items() if not _under(p, [path])}
        self._read = {p: t for p, t in self._read.items() if not _under(p, [path])}
        self.written = {k: n for k, n in self.written.items() if not _under(k, [path])}
        self._deletes.append(path)  # carried out by the next flush, before the documents are written
        self._deleted.append(path)
        self._gone.add(path)
        self._groups = {g for g in self._groups if not _under(g, [path])}


class Enclave:
    """One Icechunk repository under a workspace root."""

    def __init__(self, root: WorkspaceRoot, name: str, *, create: bool = False) -> None:
        import icechunk

        self.root = root
        self.name = name
        storage = root.enclave_storage(name)
        try:
            if create:
                root.ensure_local_dirs()
                self.repo = icechunk.Repository.open_or_create(storage)
            else:
                self.repo = icechunk.Repository.open(storage)
        except icechunk.IcechunkError as exc:
            raise StorageError(f"cannot open enclave {name!r} at {root.uri}: {exc}") from exc
        lock_path = root.lock_path(name)
        self.lock = CommitLock(lock_path) if lock_path is not None else NullLock()
        # snapshot id -> {document path -> JSON text, or None for "absent"}; snapshots are immutable,
        # so what is cached for one is true for ever. Least recently used snapshots go first.
        self._doc_cache: OrderedDict[str, dict[str, str | None]] = OrderedDict()
        self._doc_cache_entries = 0
        self._cache_lock = threading.Lock()  # guards both caches
        self._sessions: OrderedDict[str, Any] = OrderedDict()  # snapshot id -> read-only session

    def _doc_cache_get(self, key: tuple[str, str]) -> Any:
        sid, path = key
        with self._cache_lock:
            docs = self._doc_cache.get(sid)
            if docs is not None and path in docs:
                self._doc_cache.move_to_end(sid)
                return docs[path]
        return _MISSING

    def _doc_cache_put(self, key: tuple[str, str], doc: Any) -> None:
        sid, path = key
        with self._cache_lock:
            docs = self._doc_cache.setdefault(sid, {})
            self._doc_cache.move_to_end(sid)
            if path not in docs:
                self._doc_cache_entries += 1
            docs[path] = doc
            self._doc_cache_trim()

    def _doc_cache_carry(self, base: str, snapshot_id: str, docs: dict[str, str | None], gone: list[str]) -> None:
        """Cache the documents of ``snapshot_id``, a commit on top of ``base``: what is cached for
        ``base`` (minus everything under the paths in ``gone``) updated with ``docs``."""
        with self._cache_lock:
            inherited = {p: t for p, t in (self._doc_cache.get(base) or {}).items() if not _under(p, gone)}
            inherited.update(docs)
            old = self._doc_cache.pop(snapshot_id, None)
            self._doc_cache_entries += len(inherited) - (len(old) if old else 0)
            self._doc_cache[snapshot_id] = inherited
            self._doc_cache_trim()

    def _doc_cache_trim(self) -> None:
        while self._doc_cache_entries > _DOC_CACHE_SIZE and len(self._doc_cache) > 1:
            _, docs = self._doc_cache.popitem(last=False)
            self._doc_cache_entries -= len(docs)

    @staticmethod
    def exists(root: WorkspaceRoot, name: str) -> bool:
        import icechunk

        try:
            return bool(icechunk.Repository.exists(root.enclave_storage(name)))
        except icechunk.IcechunkError as exc:
            raise StorageError(f"cannot reach the workspace at {root.uri}: {exc}") from exc

    # -- reading --------------------------------------------------------
    def snapshot(self, *, branch: str | None = None, tag: str | None = None, snapshot_id: str | None = None) -> Snapshot:
        import icechunk

        try:
            if branch is not None:
                snapshot_id = self.repo.lookup_branch(branch)
            elif tag is not None:
                snapshot_id = self.repo.lookup_tag(tag)
            session = self._session_for(snapshot_id)
        except icechunk.IcechunkError as exc:
            what = branch or tag or snapshot_id
            raise NotFoundError(f"no branch, tag or snapshot {what!r} in enclave {self.name!r}") from exc
        return Snapshot(self, session)

    def _session_for(self, snapshot_id: str):
        """A read-only session on ``snapshot_id``, shared while it is among the recently used ones
        (a snapshot never changes, and opening a session reads and decodes its snapshot file)."""
        with self._cache_lock:
            session = self._sessions.get(snapshot_id)
            if session is not None:
                self._sessions.move_to_end(snapshot_id)
                return session
        session = self.repo.readonly_session(snapshot_id=snapshot_id)
        with self._cache_lock:
            self._sessions[snapshot_id] = session
            while len(self._sessions) > _SESSION_CACHE_SIZE:
                self._sessions.popitem(last=False)
        return session

    def tip(self, branch: str) -> str:
        import icechunk

        try:
            return self.repo.lookup_branch(branch)
        except icechunk.IcechunkError as exc:
            raise NotFoundError(f"no branch {branch!r} in enclave {self.name!r}") from exc

    def branches(self, prefix: str = "") -> list[str]:
        return sorted(b for b in self.repo.list_branches() if b.startswith(prefix))

    def tags(self, prefix: str = "") -> list[str]:
        return sorted(t for t in self.repo.list_tags() if t.startswith(prefix))

    def lookup_tag(self, tag: str) -> str:
        import icechunk

        try:
            return self.repo.lookup_tag(tag)
        except icechunk.IcechunkError as exc:
            raise NotFoundError(f"no tag {tag!r} in enclave {self.name!r}") from exc

    def log(self, branch: str | None = None, *, snapshot_id: str | None = None, limit: int | None = None) -> list[CommitInfo]:
        out = []
        kwargs = {"branch": branch} if branch is not None else {"snapshot_id": snapshot_id}
        for info in self.repo.ancestry(**kwargs):
            if info.parent_id is None:  # Icechunk's "Repository initialized"
                break
            out.append(
                CommitInfo(info.id, info.parent_id, info.written_at, info.message, dict(info.metadata or {}))
            )
            if limit is not None and len(out) >= limit:
                break
        return out

    def initial_snapshot(self) -> str:
        *_, first = self.repo.ancestry(branch="main")
        return first.id

    # -- writing --------------------------------------------------------
    def update(
        self,
        branch: str,
        change: Callable[[WriteTxn], T],
        *,
        message: str,
        metadata: dict[str, Any],
    ) -> tuple[str | None, T]:
        """Run ``change`` on the branch tip and commit what it wrote, once.

        Returns ``(snapshot_id, result)``; ``snapshot_id`` is None when the change
        wrote nothing. A PlumaError raised by ``change`` aborts with nothing committed.
        """
        import icechunk

        with self.lock.hold():
            for attempt in range(_MAX_ATTEMPTS):
                try:
                    session = self.repo.writable_session(branch)
                except icechunk.IcechunkError as exc:
                    raise NotFoundError(f"no branch {branch!r} in enclave {self.name!r}") from exc
                txn = WriteTxn(self, session, dict(metadata))
                result = change(txn)
                txn.flush()
                if not session.has_uncommitted_changes:
                    return None, result
                try:
                    sid = session.commit(message, metadata=txn.metadata)
                    txn.remember(sid)
                    return sid, result
                except icechunk.ConflictError:
                    log.debug("commit race on %s/%s, attempt %d: retrying on the new tip", self.name, branch, attempt)
                    time.sleep(random.uniform(0.005, 0.05) * min(attempt + 1, 8))
                except icechunk.IcechunkError as exc:
                    raise StorageError(f"commit to {self.name}/{branch} failed: {exc}") from exc
        raise ConflictError(
            f"could not commit to {branch!r} after {_MAX_ATTEMPTS} attempts: too many concurrent writers; try again"
        )

    def create_branch(self, name: str, snapshot_id: str) -> None:
        with self.lock.hold():
            self.repo.create_branch(name, snapshot_id)

    def delete_branch(self, name: str) -> None:
        with self.lock.hold():
            self.repo.delete_branch(name)

    def prune_branches(self, prefix: str, keep: set[str]) -> list[str]:
        """Delete the branches under ``prefix`` that are not in ``keep``; returns them.

        For leftovers of a crash between creating a program's branch and registering
        it (``keep`` = the registered branches). A branch being created right now is
        not registered yet either: call this when no program is being created (a
        repair run, or the crash check). Snapshots stay; only the refs go.
        """
        removed = []
        with self.lock.hold():
            for branch in self.branches(prefix):
                if branch not in keep:
                    self.repo.delete_branch(branch)
                    removed.append(branch)
        if removed:
            log.warning("pruned %d unregistered branch(es) in enclave %s: %s", len(removed), self.name,
                        ", ".join(removed))
        return removed

    def create_tag(self, name: str, snapshot_id: str) -> None:
        """Create an immutable tag. Idempotent: a tag that already names this
        snapshot (made by a concurrent roll-forward) is success; one that names
        another snapshot is an error, never overwritten."""
        import icechunk

        with self.lock.hold():
            try:
                self.repo.create_tag(name, snapshot_id)
            except icechunk.IcechunkError:
                try:
                    existing = self.repo.lookup_tag(name)
                except icechunk.IcechunkError:
                    existing = None
                if existing == snapshot_id:
                    return
                if existing is None:
                    raise
                raise StorageError(
                    f"tag {name!r} in enclave {self.name!r} already names snapshot {existing}, not {snapshot_id}"
                ) from None
