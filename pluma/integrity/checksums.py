"""Checksums recorded at freeze time.

For every frozen context (tag ``frozen/<program>/<seq>.<PHASE>.<n>``) PLUMA keeps a
*checksum manifest* in the same enclave, on a branch ``checksums``, one document
per tag (``checksums/<program>/<seq>_<PHASE>_<n>``)::

    {"tag": ..., "snapshot": <snapshot id>, "recorded_at": ..., "late": false,
     "keys":    {"<zarr key>": [sha256, size], ...},     # every key the snapshot holds
     "objects": {"snapshots/<id>": [sha256, size], "transactions/<id>": [...],
                 "manifests/<id>": [...]}}                # the metadata objects behind it

Keys are hashed on the raw (encoded) bytes Icechunk's Zarr store returns, so the
hash of a chunk key equals the hash of the chunk object behind it. Recording is
incremental: keys a program's previous recorded freeze already hashed, and that
Icechunk's diff says are unchanged since, are not read again.

Examples
--------
>>> enclave = ws.program("AMPEL360")._enclave                                  # doctest: +SKIP
>>> tag = enclave.tags("frozen/ampel360/")[0]                                   # doctest: +SKIP
>>> manifest = record_freeze_checksums(enclave, tag, enclave.lookup_tag(tag))  # doctest: +SKIP
>>> len(manifest["keys"]) > 0                                                   # doctest: +SKIP
True
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

from .._time import now
from .objects import ObjectStore, sha256

if TYPE_CHECKING:  # pragma: no cover
    from ..memory import Enclave

log = logging.getLogger(__name__)

__all__ = ["CHECKSUM_BRANCH", "record_freeze_checksums", "compute_manifest", "hash_keys", "load_manifests",
           "doc_path", "snapshot_objects"]

CHECKSUM_BRANCH = "checksums"
CHECKSUM_PREFIX = "checksums"
_CONCURRENCY = 32
_MAX_ANCESTRY = 10_000
_THREAD_HASH_BYTES = 256 * 1024


def doc_path(tag: str) -> str:
    """Where the checksum manifest of ``tag`` lives on the ``checksums`` branch."""
    parts = [re.sub(r"[^A-Za-z0-9_-]", "_", p) or "_" for p in tag.split("/")[1:]] or ["_"]
    return "/".join([CHECKSUM_PREFIX, *parts])


async def _hash_many(store, keys: list[str]) -> dict[str, list]:
    from zarr.core.buffer import default_buffer_prototype

    proto = default_buffer_prototype()
    sem = asyncio.Semaphore(_CONCURRENCY)

    async def one(key: str):
        async with sem:
            buf = await store.get(key, prototype=proto)
        if buf is None:
            return key, None
        raw = buf.to_bytes()
        # hashlib releases the GIL: large chunks hash on other cores while more are read
        digest = await asyncio.to_thread(sha256, raw) if len(raw) > _THREAD_HASH_BYTES else sha256(raw)
        return key, [digest, len(raw)]

    return dict(await asyncio.gather(*(one(k) for k in keys)))


def hash_keys(store, keys: list[str] | None = None) -> dict[str, list]:
    """``{key: [sha256, size]}`` of ``keys`` (default: every key) of a Zarr store."""
    from zarr.core.sync import sync

    async def go():
        ks = keys if keys is not None else [k async for k in store.list()]
        return await _hash_many(store, ks)

    return sync(go())


def _list_keys(store) -> list[str]:
    from zarr.core.sync import sync

    async def go():
        return [k async for k in store.list()]

    return sync(go())


def snapshot_objects(repo, snapshot_id: str) -> list[str]:
    """The metadata objects a snapshot needs: itself, its transaction log, its manifests."""
    names = [f"snapshots/{snapshot_id}", f"transactions/{snapshot_id}"]
    names += [f"manifests/{m.id}" for m in repo.list_manifest_files(snapshot_id)]
    return names


def _array_of(key: str) -> tuple[str, tuple[int, ...] | None]:
    """``data/x/v/c/1/2`` -> (``data/x/v``, (1, 2)); a metadata key -> (node, None)."""
    if key == "zarr.json" or key.endswith("/zarr.json"):
        return key[: -len("zarr.json")].rstrip("/"), None
    head, sep, tail = key.rpartition("/c/")
    if sep:
        try:
            return head, tuple(int(x) for x in tail.split("/"))
        except ValueError:
            return head, ()
    if key.endswith("/c"):
        return key[:-2], ()
    return key, ()


def _reusable(enclave: "Enclave", base: dict[str, Any], snapshot_id: str) -> set[str] | None:
    """Keys of ``base`` whose bytes did not change between its snapshot and ``snapshot_id``
    (None when Icechunk cannot say: then everything is hashed again)."""
    try:
        d = enclave.repo.diff(from_snapshot_id=base["snapshot"], to_snapshot_id=snapshot_id)
    except Exception as exc:  # noqa: BLE001 - an old base without transaction logs: hash all
        log.debug("no diff from %s to %s: %s", base["snapshot"], snapshot_id, exc)
        return None
    touched_arrays = {str(p).strip("/") for p in (*d.new_arrays, *d.updated_arrays, *d.deleted_arrays)}
    touched_chunks = {str(p).strip("/"): {tuple(int(i) for i in c) for c in coords}
                      for p, coords in d.updated_chunks.items()}
    keep = set()
    for key in base.get("keys", {}):
        array, coords = _array_of(key)
        if coords is None or array in touched_arrays:
            continue  # metadata is always re-read (it lives in the snapshot: no extra I/O)
        if coords in touched_chunks.get(array, ()):
            continue
        keep.add(key)
    return keep


def _base_manifest(enclave: "Enclave", snapshot_id: str, docs: dict[str, dict]) -> dict[str, Any] | None:
    by_snapshot = {d["snapshot"]: d for d in docs.values() if d and d.get("snapshot") and d.get("keys") is not None}
    if not by_snapshot:
        return None
    for i, info in enumerate(enclave.repo.ancestry(snapshot_id=snapshot_id)):
        if info.id != snapshot_id and info.id in by_snapshot:
            return by_snapshot[info.id]
        if i > _MAX_ANCESTRY:
            break
    return None


def compute_manifest(enclave: "Enclave", tag: str, snapshot_id: str, *, base: dict[str, Any] | None = None,
                     objects: ObjectStore | None = None, hashes: dict[str, list] | None = None) -> dict[str, Any]:
    """Hash every key of ``snapshot_id`` (reusing ``base`` where Icechunk's diff allows;
    ``hashes`` = already computed) and the metadata objects behind it."""
    todo: list[str] = []
    if hashes is None:
        store = enclave.repo.readonly_session(snapshot_id=snapshot_id).store
        keys = _list_keys(store)
        reuse = _reusable(enclave, base, snapshot_id) if base else None
        hashes = {}
        for k in keys:
            if reuse is not None and k in reuse:
                hashes[k] = base["keys"][k]
            else:
                todo.append(k)
        hashes.update(hash_keys(store, todo))
    objects = objects or ObjectStore.for_root(enclave.root)
    known = dict(base.get("objects", {})) if base else {}
    recorded: dict[str, list] = {}
    for name in snapshot_objects(enclave.repo, snapshot_id):
        if name in known and not name.startswith(("snapshots/", "transactions/")):
            recorded[name] = known[name]  # immutable name: same bytes
            continue
        data = objects.try_get(f"enclaves/{enclave.name}/{name}")
        if data is not None:
            recorded[name] = [sha256(data), len(data)]
    return {"tag": tag, "snapshot": snapshot_id, "recorded_at": now(), "late": False,
            "base": base["snapshot"] if base else None, "hashed": len(todo),
            "keys": {k: v for k, v in hashes.items() if v is not None}, "objects": recorded}


def _ensure_branch(enclave: "Enclave") -> None:
    import icechunk

    if CHECKSUM_BRANCH in enclave.repo.list_branches():
        return
    try:
        enclave.create_branch(CHECKSUM_BRANCH, enclave.initial_snapshot())
    except icechunk.IcechunkError:
        if CHECKSUM_BRANCH not in enclave.repo.list_branches():
            raise


def load_manifests(enclave: "Enclave", program_key: str | None = None) -> dict[str, dict[str, Any]]:
    """Recorded checksum manifests of an enclave (of one program), by tag."""
    if CHECKSUM_BRANCH not in enclave.repo.list_branches():
        return {}
    snap = enclave.snapshot(branch=CHECKSUM_BRANCH)
    out: dict[str, dict[str, Any]] = {}
    keys = [program_key] if program_key else snap.members(CHECKSUM_PREFIX)
    for key in keys:
        for doc in snap.docs_under(f"{CHECKSUM_PREFIX}/{key}").values():
            if doc and doc.get("tag"):
                out[doc["tag"]] = doc
    return out


def store_manifests(enclave: "Enclave", manifests: list[dict[str, Any]], *, author: str) -> None:
    if not manifests:
        return
    _ensure_branch(enclave)

    def change(txn):
        for m in manifests:
            txn.put_doc(doc_path(m["tag"]), m)

    what = manifests[0]["tag"] if len(manifests) == 1 else f"{len(manifests)} frozen contexts"
    enclave.update(CHECKSUM_BRANCH, change, message=f"checksums of {what}",
                   metadata={"author": author, "kind": "checksums"})


def record_freeze_checksums(enclave: "Enclave", tag: str, snapshot_id: str, *, author: str = "pluma",
                            strict: bool = False) -> dict[str, Any] | None:
    """Hash the frozen context ``tag`` (snapshot ``snapshot_id``) and store its checksum
    manifest on the enclave's ``checksums`` branch. Returns the manifest.

    Called right after a freeze is tagged. A failure here must not undo a freeze
    that already happened: unless ``strict``, it is logged and ``None`` returned;
    ``pluma fsck`` records the manifests that are missing.
    """
    try:
        parts = tag.split("/")
        program_key = parts[1] if len(parts) > 2 else None
        docs = {}
        if program_key and CHECKSUM_BRANCH in enclave.repo.list_branches():
            docs = enclave.snapshot(branch=CHECKSUM_BRANCH).docs_under(f"{CHECKSUM_PREFIX}/{program_key}")
        base = _base_manifest(enclave, snapshot_id, docs)
        manifest = compute_manifest(enclave, tag, snapshot_id, base=base)
        store_manifests(enclave, [manifest], author=author)
        return manifest
    except Exception as exc:  # noqa: BLE001 - see the docstring
        if strict:
            raise
        log.warning("could not record the checksums of %s in enclave %s (pluma fsck will): %s",
                    tag, enclave.name, exc)
        return None
