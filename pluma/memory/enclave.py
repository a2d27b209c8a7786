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
from typing import Any, Callable, Iterator, TypeVar

import numpy as np

from ..errors import ConflictError, NotFoundError, StorageError
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
_MAX_ATTEMPTS = 50


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

        raw = sync(self.store.get(f"{path}/zarr.json", prototype=default_buffer_prototype()))
        if raw is None:
            return None
        return json.loads(raw.to_bytes()).get("attributes", {}).get("doc")

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
                buf = await store.get(f"{prefix}/{name}/zarr.json", prototype=proto)
                if buf is None:
                    return name, None
                return name, json.loads(buf.to_bytes()).get("attributes", {}).get("doc")

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
        self._deletes: list[str] = []
        self._gone: set[str] = set()
        # stored size of every object this change wrote itself (key -> bytes): what the Context
        # Reuse Ratio needs, without asking the store again
        self.written: dict[str, int] = {}

    @property
    def session(self):
        self.flush()  # whoever uses the session directly sees every document written so far
        self._gone.clear()  # ... and may write anything anywhere: absences are no longer known
        return self._session

    def _known_absent(self, path: str) -> bool:
        return any(path == g or path.startswith(g + "/") for g in self._gone)

    def doc(self, path: str, default: Any = None) -> Any:
        text = self._pending.get(path)
        if text is None:
            if path not in self._read:
                if self._known_absent(path):
                    self._read[path] = None
                else:
                    doc = self._read_doc(path)
                    self._read[path] = None if doc is None else json.dumps(doc, separators=(",", ":"))
            text = self._read[path]
        return json.loads(text) if text is not None else default

    def prefetch(self, *paths: str) -> None:
        """Read the documents at ``paths`` in one request (later :meth:`doc` calls are served
        from memory). For a change that knows which documents it is about to read."""
        from zarr.core.buffer import default_buffer_prototype
        from zarr.core.sync import sync

        wanted = [p for p in dict.fromkeys(paths)
                  if p not in self._pending and p not in self._read and not self._known_absent(p)]
        if not wanted:
            return
        self.flush()
        store, proto = self._session.store, default_buffer_prototype()

        async def read_all():
            import asyncio

            return await asyncio.gather(*(store.get(f"{p}/zarr.json", prototype=proto) for p in wanted))

        for path, raw in zip(wanted, sync(read_all())):
            doc = None if raw is None else json.loads(raw.to_bytes()).get("attributes", {}).get("doc")
            self._read[path] = None if doc is None else json.dumps(doc, separators=(",", ":"))

    def _read_doc(self, path: str) -> Any:
        from zarr.core.buffer import default_buffer_prototype
        from zarr.core.sync import sync

        raw = sync(self._session.store.get(f"{path}/zarr.json", prototype=default_buffer_prototype()))
        if raw is None:
            return None
        return json.loads(raw.to_bytes()).get("attributes", {}).get("doc")

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
            known.update(zip(rest, _stored_sizes(self._session.store, rest)))
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

        async def write() -> None:
            import asyncio

            await asyncio.gather(*(store.delete_dir(p) for p in deletes))
            parents = sorted({"/".join(path.split("/")[:i]) for path in pending
                              for i in range(len(path.split("/")))} - known - set(pending))

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

    def put_dataset(self, path: str, ds, stored_bytes: int | None = None) -> tuple[str, int]:
        """Write ``ds`` at ``path``, sharing every chunk that does not change.

        * same variables and layout as the stored dataset, or a region of it
          (smaller along dimensions whose index coordinates locate it): only the
          chunks whose values differ are written (``"chunks"`` / ``"region"``);
        * anything else replaces the dataset (``"replace"``), and so does a
          Dask-backed dataset: its chunks are written by the Dask workers
          (``icechunk.xarray.to_icechunk`` forks this session for them).

        ``stored_bytes`` is what the stored dataset occupied (if known). Returns the
        mode and what the dataset occupies afterwards, in stored (compressed) bytes.
        """
        from icechunk.xarray import to_icechunk

        if any(v.chunks is not None for v in ds.variables.values()):
            # Dask-backed (a sweep's results on the cluster): the workers write the chunks
            # into forks of this session, merged back here before the commit
            self.delete(path)
            to_icechunk(ds, self.session, group=path, mode="w")
            return "replace", int(sum(self.sizes(path + "/").values()))
        group = self._group(path)
        mode, offsets, arrays = _layout_match(group, ds)
        if mode == "chunks":
            delta = _write_changed_chunks(self.store, path, ds, offsets, group, arrays, self.written)
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

        def under(p: str) -> bool:
            return p == path or p.startswith(path + "/")

        self._pending = {p: t for p, t in self._pending.items() if not under(p)}
        self._read = {p: t for p, t in self._read.items() if not under(p)}
        self.written = {k: n for k, n in self.written.items() if not under(k)}
        self._deletes.append(path)  # carried out by the next flush, before the documents are written
        self._gone.add(path)
        self._groups = {g for g in self._groups if not under(g)}


_SIMPLE_KINDS = "biufU"  # numbers, booleans, fixed-width text: stored as they are


def _layout_match(group, ds) -> tuple[str, dict[str, int], dict[str, Any]]:
    """How a new dataset relates to the stored group.

    Returns ("chunks", offsets, arrays) when ``ds`` has the stored layout or is a
    region of it (smaller along dimensions whose index coordinates locate it:
    ``offsets`` gives where it starts; ``arrays`` the stored arrays by name), else
    ("replace", {}, {}).
    """
    if group is None:
        return "replace", {}, {}
    stored = dict(group.arrays())
    names = {str(v) for v in ds.variables}
    if names != set(stored):
        return "replace", {}, {}
    stored_sizes: dict[str, int] = {}
    for name in names:
        var, arr = ds[name], stored[name]
        if var.dtype.kind not in _SIMPLE_KINDS or arr.dtype != var.dtype:
            return "replace", {}, {}
        dims = tuple(arr.metadata.dimension_names or ())
        if dims != tuple(str(d) for d in var.dims):
            return "replace", {}, {}
        stored_sizes.update(zip(dims, arr.shape))
    offsets: dict[str, int] = {}
    for dim in ds.dims:
        n, m = ds.sizes[dim], stored_sizes[str(dim)]
        if n == m:
            continue
        if n > m or dim not in ds.indexes or str(dim) not in stored:
            return "replace", {}, {}
        # locate the region through the index coordinate: it must be a contiguous run
        full = np.asarray(stored[str(dim)][:])
        part = np.asarray(ds[dim].values)
        hits = np.flatnonzero(full == part[0])
        if len(hits) != 1 or hits[0] + n > m or not np.array_equal(full[hits[0]:hits[0] + n], part):
            return "replace", {}, {}
        offsets[str(dim)] = int(hits[0])
    return "chunks", offsets, stored


def _stored_size(store, key: str) -> int:
    return _stored_sizes(store, [key])[0]


def _stored_sizes(store, keys: list[str]) -> list[int]:
    """Stored sizes of ``keys`` (0 for an absent chunk), in one round trip."""
    from zarr.core.sync import sync

    async def one(key: str) -> int:
        try:
            return int(await store.getsize(key))
        except (FileNotFoundError, KeyError):
            return 0

    async def collect() -> list[int]:
        import asyncio

        return list(await asyncio.gather(*(one(k) for k in keys)))

    return sync(collect()) if keys else []


def _write_changed_chunks(store, path: str, ds, offsets: dict[str, int], group, arrays: dict[str, Any],
                          written: dict[str, int] | None = None) -> int:
    """Write only the stored chunks whose values change (``ds`` placed at ``offsets``)
    into ``group``'s ``arrays`` (opened for writing). Returns the change in stored bytes."""
    import itertools

    if not offsets and dict(group.attrs) != dict(ds.attrs):
        group.attrs.put(dict(ds.attrs))
    writes: list[tuple[Any, Any, Any, str]] = []  # (array, selection, values, chunk key)
    whole: list[tuple[Any, tuple[int, ...], Any, str]] = []  # (array, chunk coords, values, chunk key)
    for name, var in ds.variables.items():
        if offsets and var.dims == (name,) and str(name) in offsets:
            continue  # the index coordinate that located the region: _layout_match found it equal
        arr = arrays[str(name)]
        attrs = {k: v for k, v in arr.attrs.items() if k != "_FillValue"}
        if not offsets and attrs != dict(var.attrs):
            keep = {"_FillValue": arr.attrs["_FillValue"]} if "_FillValue" in arr.attrs else {}
            arr.attrs.put({**dict(var.attrs), **keep})
        values = np.asarray(var.values)
        if values.ndim == 0:
            if not np.array_equal(arr[...], values, equal_nan=values.dtype.kind == "f"):
                writes.append((arr, Ellipsis, values, f"{path}/{name}/" + arr.metadata.encode_chunk_key(())))
            continue
        starts = [offsets.get(str(d), 0) for d in var.dims]
        stops = [s + n for s, n in zip(starts, values.shape)]
        # the stored chunks that overlap the new values
        ranges = [range((s // c) * c, e, c) for s, e, c in zip(starts, stops, arr.chunks)]
        for corner in itertools.product(*ranges):
            target = tuple(slice(max(c, s), min(c + k, e, n))
                           for c, k, s, e, n in zip(corner, arr.chunks, starts, stops, arr.shape))
            source = tuple(slice(t.start - s, t.stop - s) for t, s in zip(target, starts))
            new = values[source]
            coords = tuple(c // k for c, k in zip(corner, arr.chunks))
            key = f"{path}/{name}/" + arr.metadata.encode_chunk_key(coords)
            if all(t.start == c and t.stop == c + k for t, c, k in zip(target, corner, arr.chunks)):
                whole.append((arr, coords, new, key))  # a whole chunk: compared and written encoded
            elif not np.array_equal(arr[target], new, equal_nan=new.dtype.kind == "f"):
                writes.append((arr, target, new, key))
    delta = _write_whole_chunks(store, whole, writes, written) if whole else 0
    keys = [w[3] for w in writes]
    before = _stored_sizes(store, keys)
    for arr, target, new, _ in writes:
        arr[target] = new
    after = _stored_sizes(store, keys)
    if written is not None:
        written.update(zip(keys, after))
    return delta + sum(after) - sum(before)


def _write_whole_chunks(store, whole: list[tuple[Any, tuple[int, ...], Any, str]], fallback: list,
                        written: dict[str, int] | None = None) -> int:
    """Encode each whole chunk with its array's codecs and compare the bytes with the stored
    chunk: equal bytes are the same values (the codecs are deterministic), so only chunks
    that differ are written, as the encoded bytes — one round trip for all of them instead of
    decoding, comparing and re-encoding through Zarr's selection machinery. Returns the change
    in stored bytes; ``written`` (if given) receives the stored size of each chunk written.
    Chunks of different encoded lengths differ without reading the stored one. If this Zarr
    cannot encode a chunk on its own, the chunks go to ``fallback`` (the general path)."""
    try:
        from zarr.core.array import _get_chunk_spec
        from zarr.core.buffer import default_buffer_prototype
        from zarr.core.buffer.cpu import NDBuffer
    except ImportError:  # pragma: no cover - another Zarr version: the general path
        fallback.extend((arr, tuple(slice(c * k, c * k + k) for c, k in zip(coords, arr.chunks)), new, key)
                        for arr, coords, new, key in whole)
        return 0
    from zarr.core.sync import sync

    proto = default_buffer_prototype()

    async def stored_size(key: str) -> int | None:
        try:
            return int(await store.getsize(key))
        except (FileNotFoundError, KeyError):
            return None

    async def one(arr, coords, new, key) -> int:
        import asyncio

        aa = arr._async_array
        spec = _get_chunk_spec(aa.metadata, aa._chunk_grid, coords, aa.config, proto)
        data = np.ascontiguousarray(new, dtype=arr.dtype)
        # encode while the store looks up the stored chunk's size (its manifest entry, no chunk read)
        (encoded,), size = await asyncio.gather(
            aa.codec_pipeline.encode([(NDBuffer.from_numpy_array(data), spec)]), stored_size(key))
        if size is not None and size == len(encoded):  # same length: compare the bytes themselves
            stored = await store.get(key, prototype=proto)
            if stored is not None and stored.to_bytes() == encoded.to_bytes():
                return 0
        await store.set(key, encoded)
        if written is not None:
            written[key] = len(encoded)
        return len(encoded) - (size or 0)

    async def all_chunks() -> list[int]:
        import asyncio

        return list(await asyncio.gather(*(one(*w) for w in whole)))

    return int(sum(sync(all_chunks())))


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
        self._doc_cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._doc_cache_lock = threading.Lock()

    def _doc_cache_get(self, key: tuple[str, str]) -> Any:
        with self._doc_cache_lock:
            if key in self._doc_cache:
                self._doc_cache.move_to_end(key)
                return self._doc_cache[key]
        return _MISSING

    def _doc_cache_put(self, key: tuple[str, str], doc: Any) -> None:
        with self._doc_cache_lock:
            self._doc_cache[key] = doc
            while len(self._doc_cache) > _DOC_CACHE_SIZE:
                self._doc_cache.popitem(last=False)

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
                session = self.repo.readonly_session(branch=branch)
            elif tag is not None:
                session = self.repo.readonly_session(tag=tag)
            else:
                session = self.repo.readonly_session(snapshot_id=snapshot_id)
        except icechunk.IcechunkError as exc:
            what = branch or tag or snapshot_id
            raise NotFoundError(f"no branch, tag or snapshot {what!r} in enclave {self.name!r}") from exc
        return Snapshot(self, session)

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
