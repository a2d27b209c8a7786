"""Bundles: what leaves this workspace for a peer.

A bundle is a signed manifest — source workspace, frozen context id, program,
phase, lineage, and the items the export rules allow with their labels and the
content hash (sha256) of every stored object (Zarr metadata and chunks) behind
them — plus the raw bytes of the objects the receiver lacks. Icechunk has no
copy between repositories, but its Zarr store moves raw encoded bytes: the keys
of the frozen snapshot are listed, read with ``default_buffer_prototype`` and
hashed, and the receiver writes the same bytes into its own enclave.

Denied items are left out of the manifest entirely (only their number is said):
neither their values, their names nor their bytes ever leave.

Hashes of a snapshot are kept in memory; the next freeze of the same program is
hashed incrementally from Icechunk's diff, so an incremental bundle costs in
proportion to what changed.

Examples
--------
>>> b = build_bundle(fed, ws.frozen("AMPEL360@CAE"), fed.peer("supplier-b"))   # doctest: +SKIP
>>> b.manifest["frozen"]["ref"], len(b.hashes)                                  # doctest: +SKIP
('AMPEL360@CAE#1', 42)
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from .._time import now
from ..context.view import ARTIFACT_PREFIX, DATA_PREFIX
from ..errors import AccessDenied, StorageError
from .identity import canonical
from .rules import Decision, Item, ProgramInfo

if TYPE_CHECKING:  # pragma: no cover
    from ..context.frozen import FrozenContext
    from ..memory import Enclave
    from .api import Federation
    from .peers import Peer

__all__ = ["Bundle", "Explanation", "build_bundle", "explain", "FORMAT", "read_raw", "sign_manifest"]

FORMAT = "pluma-bundle/1"
_SECTIONS = (("params", "param"), ("datasets", "dataset"), ("artifacts", "artifact"))
_PREFIX = {"dataset": DATA_PREFIX, "artifact": ARTIFACT_PREFIX}
_CACHE_SIZE = 64
_READ_BATCH = 64


# -- items and decisions ------------------------------------------------------------
def context_items(fc: "FrozenContext") -> list[tuple[Item, dict[str, Any]]]:
    """Every item of a frozen context with its label (the program's ceiling if unlabelled) and record."""
    ceiling = fc._state.get("classification", "PUBLIC")
    out = []
    for section, kind in _SECTIONS:
        for name, record in sorted(fc._manifest.get(section, {}).items()):
            out.append((Item(kind, name, record.get("label") or ceiling), record))
    return out


def program_info(fc: "FrozenContext") -> ProgramInfo:
    s = fc._state
    return ProgramInfo(fc.program.name, fc.phase.value, s.get("classification", "PUBLIC"), list(s.get("domains") or []))


@dataclass
class Explanation:
    """What would leave for a peer, what would not, and the rule that decided each item."""

    ref: str
    peer: str
    rows: list[dict[str, Any]]

    @property
    def allowed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["allowed"]]

    @property
    def denied(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if not r["allowed"]]

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "peer": self.peer, "items": self.rows,
                "allowed": len(self.allowed), "denied": len(self.denied)}

    def summary(self) -> str:
        lines = [f"{self.ref} -> {self.peer}: {len(self.allowed)} item(s) would leave, {len(self.denied)} would not"]
        for r in self.rows:
            lines.append(f"  {r['decision']:5} {r['kind']:8} {r['name']:24} [{r['label']}] rule {r['rule']}: {r['reason']}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<Explanation {self.ref} -> {self.peer}: {len(self.allowed)} allowed, {len(self.denied)} denied>"

    def _repr_html_(self) -> str:
        from html import escape

        body = "".join(
            f"<tr><td class='{'ok' if r['allowed'] else 'bad'}'>{r['decision']}</td>"
            + "".join(f"<td>{escape(str(r[k]))}</td>" for k in ("kind", "name", "label", "rule", "reason")) + "</tr>"
            for r in self.rows)
        return (f"<div class='pluma'><h4>{escape(self.ref)} &rarr; {escape(self.peer)}</h4><table><thead><tr>"
                "<th>decision</th><th>kind</th><th>name</th><th>label</th><th>rule</th><th>reason</th></tr></thead>"
                f"<tbody>{body}</tbody></table></div>")


def decide_items(fc: "FrozenContext", peer: "Peer") -> list[tuple[Item, dict[str, Any], Decision]]:
    info = program_info(fc)
    return [(item, record, peer.rules.decide("export", item, info)) for item, record in context_items(fc)]


def explain(fc: "FrozenContext", peer: "Peer") -> Explanation:
    rows = [{"kind": i.kind, "name": i.name, "label": i.label, **d.to_dict()} for i, _, d in decide_items(fc, peer)]
    return Explanation(fc.ref, peer.name, rows)


# -- raw objects and their hashes ----------------------------------------------------
def read_raw(store, keys: list[str]) -> list[bytes | None]:
    """Raw stored bytes of ``keys`` (None for an absent key), read concurrently."""
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    proto = default_buffer_prototype()

    async def collect():
        import asyncio

        bufs = await asyncio.gather(*(store.get(k, prototype=proto) for k in keys))
        return [b.to_bytes() if b is not None else None for b in bufs]

    return sync(collect()) if keys else []


def list_keys(store, prefix: str) -> list[str]:
    from zarr.core.sync import sync

    async def collect():
        return [k async for k in store.list_prefix(prefix)]

    try:
        return sync(collect())
    except Exception as exc:  # icechunk refuses prefixes that name no node
        raise StorageError(f"cannot list {prefix!r}: {exc}") from exc


@dataclass
class _Hashed:
    """What is known of one snapshot: prefixes listed in full, and hashes of objects under them."""

    listed: set[str] = field(default_factory=set)
    objects: dict[str, tuple[str, int]] = field(default_factory=dict)


class _HashCache:
    """sha256 and size of stored objects, per (workspace, enclave, snapshot)."""

    def __init__(self) -> None:
        self._maps: OrderedDict[tuple[str, str, str], _Hashed] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> _Hashed | None:
        with self._lock:
            found = self._maps.get(key)
            if found is not None:
                self._maps.move_to_end(key)
            return found

    def put(self, key: tuple[str, str, str], entry: _Hashed) -> None:
        with self._lock:
            self._maps[key] = entry
            self._maps.move_to_end(key)
            while len(self._maps) > _CACHE_SIZE:
                self._maps.popitem(last=False)

    def candidates(self, uri: str, enclave: str) -> list[tuple[str, _Hashed]]:
        with self._lock:
            return [(k[2], v) for k, v in reversed(self._maps.items()) if k[0] == uri and k[1] == enclave]


HASHES = _HashCache()


def _dirty_from_diff(enclave: "Enclave", base: str, sid: str) -> tuple[set[str], tuple[str, ...]] | None:
    """Keys and key prefixes (arrays, deleted groups) that changed from ``base`` to ``sid``;
    None if ``base`` is no ancestor of ``sid``."""
    try:
        d = enclave.repo.diff(from_snapshot_id=base, to_snapshot_id=sid)
    except Exception:  # noqa: BLE001 - not an ancestor: no incremental path
        return None
    if d.moved_nodes:
        return None
    keys: set[str] = set()
    for path, coords in d.updated_chunks.items():
        p = path.strip("/")
        for c in coords:
            keys.add(f"{p}/c/" + "/".join(str(i) for i in c) if len(c) else f"{p}/c")
    prefixes = [path.strip("/") + "/" for path in
                list(d.new_arrays) + list(d.updated_arrays) + list(d.deleted_arrays) + list(d.deleted_groups)]
    for path in list(d.new_groups) + list(d.updated_groups) + list(d.deleted_groups):
        p = path.strip("/")
        keys.add(f"{p}/zarr.json" if p else "zarr.json")
    return keys, tuple(prefixes)


def _safe_list(store, prefix: str) -> list[str]:
    try:
        return list_keys(store, prefix)
    except StorageError:  # the node is gone in this snapshot
        return []


def object_hashes(enclave: "Enclave", sid: str, prefixes: Iterable[str]) -> dict[str, tuple[str, int]]:
    """sha256 and size of every stored object under ``prefixes`` in snapshot ``sid``.

    A snapshot hashed before is answered from memory; a descendant of one is
    listed and hashed only where Icechunk's diff says it changed."""
    prefixes = list(prefixes)
    uri = enclave.root.uri
    key = (uri, enclave.name, sid)
    entry = HASHES.get(key) or _Hashed()
    need = [p for p in prefixes if p not in entry.listed]
    if need:
        store = enclave.snapshot(snapshot_id=sid).store
        todo: set[str] = set()
        base = None
        for base_sid, base_entry in HASHES.candidates(uri, enclave.name):
            if base_sid != sid and all(p in base_entry.listed for p in need):
                dirty = _dirty_from_diff(enclave, base_sid, sid)
                if dirty is not None:
                    base = (base_entry, dirty)
                    break
        if base is None:
            for p in need:
                todo.update(list_keys(store, p))
        else:
            base_entry, (dirty_keys, dirty_prefixes) = base
            for p in need:
                for k, v in base_entry.objects.items():
                    if k.startswith(p) and k not in dirty_keys and not k.startswith(dirty_prefixes):
                        entry.objects[k] = v
                for dp in dirty_prefixes:
                    if dp.startswith(p):
                        todo.update(_safe_list(store, dp))
                    elif p.startswith(dp):
                        todo.update(_safe_list(store, p))
                todo.update(k for k in dirty_keys if k.startswith(p))
        todo_list = sorted(todo)
        for i in range(0, len(todo_list), _READ_BATCH):
            batch = todo_list[i:i + _READ_BATCH]
            for k, raw in zip(batch, read_raw(store, batch)):
                if raw is None:  # deleted in this snapshot
                    entry.objects.pop(k, None)
                else:
                    entry.objects[k] = (hashlib.sha256(raw).hexdigest(), len(raw))
        entry.listed.update(need)
        HASHES.put(key, entry)
    return {k: v for k, v in entry.objects.items() if k.startswith(tuple(prefixes))}


# -- the bundle ------------------------------------------------------------------------
def sign_manifest(identity, manifest: dict[str, Any]) -> dict[str, Any]:
    return {"manifest": manifest, "signature": identity.sign_b64(canonical(manifest)), "key": identity.fingerprint}


@dataclass
class Bundle:
    """A signed manifest and where this workspace reads the bytes it names."""

    envelope: dict[str, Any]
    enclave: "Enclave"
    snapshot_id: str
    keys_by_hash: dict[str, str] = field(default_factory=dict)
    decisions: list[tuple[Item, Decision]] = field(default_factory=list)

    @property
    def manifest(self) -> dict[str, Any]:
        return self.envelope["manifest"]

    @property
    def id(self) -> str:
        return self.manifest["bundle_id"]

    @property
    def hashes(self) -> dict[str, int]:
        """sha256 -> size of every object the bundle names (each once)."""
        out: dict[str, int] = {}
        for item in self.manifest["items"]:
            for obj in item.get("objects", {}).values():
                out[obj["sha256"]] = obj["size"]
        return out

    def read(self, hashes: list[str]) -> list[tuple[str, bytes]]:
        """The bytes behind ``hashes`` (only objects of allowed items; re-verified)."""
        unknown = [h for h in hashes if h not in self.keys_by_hash]
        if unknown:
            raise AccessDenied(f"{len(unknown)} requested object(s) are not part of bundle {self.id}")
        snap = self.enclave.snapshot(snapshot_id=self.snapshot_id)
        out = []
        for h, raw in zip(hashes, read_raw(snap.store, [self.keys_by_hash[h] for h in hashes])):
            if raw is None or hashlib.sha256(raw).hexdigest() != h:
                raise StorageError(f"object {self.keys_by_hash[h]} changed or vanished in frozen snapshot "
                                   f"{self.snapshot_id}; run a storage check")
            out.append((h, raw))
        return out


def _lineage(fc: "FrozenContext") -> dict[str, Any]:
    program = fc.program
    tags = program._enclave.tags(f"frozen/{program.key}/")
    earlier = tags[:tags.index(fc.tag)] if fc.tag in tags else []
    previous = [program._enclave.lookup_tag(t) for t in earlier[-50:]]  # the last 50 freezes before this one
    origin = fc._state.get("origin")
    return {"previous": previous,
            "origin": {k: origin.get(k) for k in ("program", "ref", "id")} if origin else None}


def build_bundle(fed: "Federation", fc: "FrozenContext", peer: "Peer") -> Bundle:
    """Build and sign the bundle of ``fc`` for ``peer`` (only what its export rules allow)."""
    identity = fed.identity
    decided = decide_items(fc, peer)
    allowed = [(i, r) for i, r, d in decided if d.allowed]
    if not allowed:
        raise AccessDenied(
            f"nothing of {fc.ref} may leave for {peer.name}: its export rules allow no item "
            f"(see `pluma federation explain {fc.ref} --to {peer.name}`)"
        )
    enclave = fc.program._enclave
    sid = fc.id
    prefixes = [f"{_PREFIX[i.kind]}/{i.name}/" for i, _ in allowed if i.kind != "param"]
    hashes = object_hashes(enclave, sid, prefixes)
    items = []
    keys_by_hash: dict[str, str] = {}
    for item, record in allowed:
        entry: dict[str, Any] = {"kind": item.kind, "name": item.name, "label": item.label, "record": record}
        if item.kind != "param":
            prefix = f"{_PREFIX[item.kind]}/{item.name}/"
            objects = {k: {"sha256": h, "size": n} for k, (h, n) in sorted(hashes.items()) if k.startswith(prefix)}
            entry["objects"] = objects
            for k, obj in objects.items():
                keys_by_hash.setdefault(obj["sha256"], k)
        items.append(entry)
    state = fc._state
    record = fc._record
    allowed_params = {i.name for i, _ in allowed if i.kind == "param"}
    manifest = {
        "format": FORMAT,
        "bundle_id": uuid.uuid4().hex,
        "created": now(),
        "source": {"workspace": identity.name, "fingerprint": identity.fingerprint},
        "receiver": {"peer": peer.name, "fingerprint": peer.fingerprint},
        "frozen": {"id": sid, "ref": fc.ref, "tag": fc.tag, "seq": fc.seq, "n": fc.n, "phase": fc.phase.value,
                   "frozen_at": record.get("time", ""), "frozen_by": record.get("user", ""),
                   "message": record.get("message", "")},
        "program": {"name": fc.program.name, "classification": state.get("classification", "PUBLIC"),
                    "priority": state.get("priority", "standard"), "domains": list(state.get("domains") or []),
                    "phase": state.get("phase", fc.phase.value),
                    "declared": {k: v for k, v in (state.get("declared") or {}).items() if k in allowed_params}},
        "lineage": _lineage(fc),
        "rev": int(fc._manifest.get("rev", 0)),
        "items": items,
        "withheld": len(decided) - len(allowed),
    }
    envelope = sign_manifest(identity, manifest)
    return Bundle(envelope, enclave, sid, keys_by_hash, [(i, d) for i, _, d in decided])
