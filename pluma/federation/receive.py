"""Receiving bundles: verify everything, then import atomically, read-only, under the peer's name.

The steps, each of which can refuse the bundle with a clear reason:

1. ``negotiate``: the envelope's signature must verify with the peer's key (an
   unsigned or re-signed bundle is refused), the manifest must be well formed,
   addressed to this workspace, not too old, never seen before (a replay is
   refused), and every item must pass this workspace's *import* rules. Only then
   does the receiver answer which objects it lacks (by sha256).
2. ``stage``: arriving objects must hash to what the manifest says; they are kept
   in a local staging folder (content-addressed), so an interrupted transfer
   resumes without sending again what arrived.
3. ``commit``: every object must be there (a truncated bundle is refused), every
   hash is checked again, and the frozen context is written into the peer's
   enclave in one Icechunk commit, tagged ``frozen/<peer>--<program>/...``,
   indexed and registered as a read-only program ``<peer>--<PROGRAM>``.

A refusal leaves nothing behind (staged objects of the bundle are removed) and is
recorded, like every receipt, in the exchange log and the audit trail.

Examples
--------
>>> receiver = Receiver(fed, fed.peer("prime"))              # doctest: +SKIP
>>> answer = receiver.negotiate(envelope)                     # doctest: +SKIP
>>> receiver.stage(answer["bundle_id"], chunks)               # doctest: +SKIP
>>> receiver.commit(answer["bundle_id"])["program"]           # doctest: +SKIP
'prime--AMPEL360'
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .._time import now
from ..errors import AccessDenied, InvalidInputError, PlumaError
from ..names import name_key, validate_item_name, validate_name
from ..programs.phases import (
    Phase,
    classification_rank,
    validate_classification,
    validate_domains,
    validate_priority,
)
from ._docs import update_docs
from .bundle import FORMAT
from .identity import canonical
from .rules import KINDS, Item, ProgramInfo
from .status import record_exchange

if TYPE_CHECKING:  # pragma: no cover
    from .api import Federation
    from .peers import Peer

log = logging.getLogger(__name__)

__all__ = ["BundleRefused", "Receiver", "received_name"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_BUNDLE_ID = re.compile(r"^[0-9a-f]{32}$")
_SNAPSHOT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_OBJECT_KEY = re.compile(r"^[A-Za-z0-9_.\-/]{1,512}$")
_PREFIX = {"dataset": "data", "artifact": "artifacts"}
MAX_ITEMS = 10_000
MAX_OBJECTS = 1_000_000
MAX_OBJECT_SIZE = 1 << 30
CLOCK_SKEW = 300.0
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class BundleRefused(AccessDenied):
    """A bundle was refused (bad signature, tampering, replay, import rules, ...); nothing was imported."""

    kind = "bundle_refused"


def received_name(peer: str, program: str) -> str:
    """The local name of a program received from ``peer``: ``<peer>--<program>``."""
    name = f"{peer}--{program}"
    if len(name) > 64:
        raise InvalidInputError(f"received program name {name!r} would be longer than 64 characters; "
                                "give the peer a shorter name")
    return validate_name(name, "received program name")


def _lock(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _parse_time(value: Any, what: str) -> float:
    if not isinstance(value, str):
        raise ValueError(f"{what} is missing")
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


def validate_manifest(m: Any) -> None:
    """Raise ValueError saying what is malformed; data from outside is checked field by field."""
    _check(isinstance(m, dict), "the manifest is not a JSON object")
    _check(m.get("format") == FORMAT, f"format is {m.get('format')!r}, expected {FORMAT!r}")
    _check(isinstance(m.get("bundle_id"), str) and bool(_BUNDLE_ID.match(m["bundle_id"])), "bad bundle_id")
    _parse_time(m.get("created"), "created")
    for part in ("source", "receiver", "frozen", "program", "lineage"):
        _check(isinstance(m.get(part), dict), f"{part} is missing")
    f = m["frozen"]
    _check(isinstance(f.get("id"), str) and bool(_SNAPSHOT_ID.match(f["id"])), "bad frozen id")
    for k in ("seq", "n"):
        _check(isinstance(f.get(k), int) and not isinstance(f.get(k), bool) and 1 <= f[k] < 10**6, f"bad frozen {k}")
    Phase.parse(f.get("phase"))
    _parse_time(f.get("frozen_at"), "frozen_at")
    for k in ("frozen_by", "message", "ref"):
        _check(isinstance(f.get(k), str) and len(f[k]) < 10_000, f"bad frozen {k}")
    p = m["program"]
    validate_name(p.get("name"), "program name")
    validate_classification(p.get("classification"))
    validate_priority(p.get("priority"))
    validate_domains(p.get("domains") if isinstance(p.get("domains"), list) else None)
    Phase.parse(p.get("phase"))
    _check(isinstance(p.get("declared"), dict), "declared is not a mapping")
    from ..context.params import spec_from_dict

    for name, spec in p["declared"].items():
        spec_from_dict(name, spec)
    items = m.get("items")
    _check(isinstance(items, list) and 0 < len(items) <= MAX_ITEMS, "items must be a non-empty list")
    seen: set[tuple[str, str]] = set()
    n_objects = 0
    for item in items:
        _check(isinstance(item, dict) and item.get("kind") in KINDS, "an item has no valid kind")
        validate_item_name(item.get("name"), item["kind"])
        _check((item["kind"], item["name"]) not in seen, f"item {item['name']} is listed twice")
        seen.add((item["kind"], item["name"]))
        label = validate_classification(item.get("label"), "label")
        _check(classification_rank(label) <= classification_rank(p["classification"]),
               f"item {item['name']} is labelled {label}, above its program's {p['classification']}")
        _check(isinstance(item.get("record"), dict), f"item {item['name']} has no record")
        if item["kind"] == "param":
            _check("value" in item["record"] and "objects" not in item, f"param {item['name']} is malformed")
            continue
        objects = item.get("objects")
        _check(isinstance(objects, dict) and objects, f"{item['kind']} {item['name']} names no stored objects")
        prefix = f"{_PREFIX[item['kind']]}/{item['name']}/"
        for key, obj in objects.items():
            _check(isinstance(key, str) and bool(_OBJECT_KEY.match(key)) and key.startswith(prefix)
                   and ".." not in key and "//" not in key and not key.endswith("/"),
                   f"object key {key!r} is not inside {prefix}")
            _check(isinstance(obj, dict) and isinstance(obj.get("sha256"), str) and bool(_HEX64.match(obj["sha256"])),
                   f"object {key} has no valid sha256")
            size = obj.get("size")
            _check(isinstance(size, int) and not isinstance(size, bool) and 0 <= size <= MAX_OBJECT_SIZE,
                   f"object {key} has no valid size")
        _check(f"{prefix}zarr.json" in objects, f"{item['kind']} {item['name']} lacks its zarr.json")
        n_objects += len(objects)
    _check(n_objects <= MAX_OBJECTS, "too many objects")
    _check(isinstance(m.get("withheld", 0), int), "withheld is not a number")


class Receiver:
    """Receives bundles from one peer into this workspace."""

    def __init__(self, fed: "Federation", peer: "Peer") -> None:
        self.fed = fed
        self.ws = fed.ws
        self.peer = peer
        self.folder = fed.local_dir / "staging" / name_key(peer.name)
        self.objects = self.folder / "objects"
        self.pending = self.folder / "pending"

    # -- refusals -----------------------------------------------------------------
    def refuse(self, reason: str, manifest: dict[str, Any] | None = None, *, transport: str | None = None) -> BundleRefused:
        """Record a refusal, clean up what the bundle staged, and return the error to raise."""
        m = manifest or {}
        frozen = m.get("frozen") if isinstance(m.get("frozen"), dict) else {}
        bundle_id = m.get("bundle_id") if isinstance(m.get("bundle_id"), str) else None
        if bundle_id and _BUNDLE_ID.match(bundle_id):
            self._discard(bundle_id)
        try:
            record_exchange(self.ws, direction="receive", peer=self.peer.name, outcome="refused", reason=reason,
                            ref=frozen.get("ref") if isinstance(frozen.get("ref"), str) else None,
                            frozen_id=frozen.get("id") if isinstance(frozen.get("id"), str) else None,
                            phase=frozen.get("phase") if frozen.get("phase") in Phase.__members__ else None,
                            bundle_id=bundle_id if bundle_id and _BUNDLE_ID.match(bundle_id) else None,
                            transport=transport, itar=isinstance(m.get("program"), dict)
                            and m["program"].get("classification") == "ITAR")
        except PlumaError as exc:  # the refusal stands even if it cannot be recorded
            log.warning("could not record the refusal of a bundle from %s: %s", self.peer.name, exc)
        log.warning("refused a bundle from %s: %s", self.peer.name, reason)
        return BundleRefused(f"bundle from {self.peer.name} refused: {reason}; nothing was imported")

    # -- 1. verify and negotiate ----------------------------------------------------------
    def verify(self, envelope: Any, *, transport: str | None = None) -> dict[str, Any]:
        """Signature, form, address and age; returns the manifest."""
        if not isinstance(envelope, dict) or not isinstance(envelope.get("manifest"), dict):
            raise self.refuse("it is not a bundle envelope (manifest + signature)", transport=transport)
        m = envelope["manifest"]
        signature = envelope.get("signature")
        if not isinstance(signature, str) or not signature:
            raise self.refuse("it is unsigned", None, transport=transport)
        try:
            raw_sig = base64.b64decode(signature, validate=True)
            data = canonical(m)
        except (ValueError, TypeError):
            raise self.refuse("its signature or manifest cannot be decoded", None, transport=transport) from None
        if not self.peer.key.verify(raw_sig, data):
            raise self.refuse(f"its signature does not verify with {self.peer.name}'s public key "
                              f"({self.peer.fingerprint[:8]}): tampered, or signed by another key", None,
                              transport=transport)
        try:
            validate_manifest(m)
        except (ValueError, PlumaError) as exc:
            raise self.refuse(f"its manifest is malformed: {exc}", None, transport=transport) from None
        if m["source"].get("fingerprint") != self.peer.fingerprint:
            raise self.refuse("it names another source key than the one that signed it", m, transport=transport)
        if m["receiver"].get("fingerprint") != self.fed.identity.fingerprint:
            raise self.refuse("it is addressed to another workspace", m, transport=transport)
        age = time.time() - _parse_time(m["created"], "created")
        if age > self.peer.max_age:
            raise self.refuse(f"it is {age:.0f} s old, older than the {self.peer.max_age:.0f} s allowed "
                              "(an old bundle replayed?)", m, transport=transport)
        if age < -CLOCK_SKEW:
            raise self.refuse("it was created in the future (check the clocks)", m, transport=transport)
        return m

    def local_program(self, m: dict[str, Any]) -> tuple[str, str, str]:
        """(local name, enclave, tag) a manifest imports into."""
        from ..context.frozen import tag_name

        local = received_name(self.peer.name, m["program"]["name"])
        key = name_key(local)
        enclave = self.peer.enclave if m["program"]["classification"] != "ITAR" else f"{self.peer.enclave}--{key}"
        f = m["frozen"]
        return local, enclave, tag_name(key, f["seq"], Phase.parse(f["phase"]).value, f["n"])

    def _import_refusals(self, m: dict[str, Any]) -> list[str]:
        p = m["program"]
        info = ProgramInfo(p["name"], m["frozen"]["phase"], p["classification"], list(p["domains"]))
        out = []
        for item in m["items"]:
            d = self.peer.rules.decide("import", Item(item["kind"], item["name"], item["label"]), info)
            if not d.allowed:
                out.append(f"{item['kind']} {item['name']} [{item['label']}] (rule {d.rule})")
        return out

    def _received_doc(self, enclave_name: str, local: str) -> dict[str, Any]:
        from ..memory import Enclave

        if enclave_name not in self.ws._enclaves and not Enclave.exists(self.ws.root, enclave_name):
            return {}
        enclave = self.ws._enclave(enclave_name, create=True)
        branch = f"programs/{name_key(local)}"
        if branch not in enclave.branches("programs/"):
            return {}
        return enclave.snapshot(branch=branch).doc("received", {}) or {}

    def have(self) -> dict[str, tuple[str, str, str]]:
        """sha256 -> (enclave, snapshot, key) of objects already imported from this peer."""
        out: dict[str, tuple[str, str, str]] = {}
        for entry in self.ws._registry_doc("programs", {}).values():
            if entry.get("received_from") != self.peer.name:
                continue
            enclave = self.ws._enclave(entry["enclave"])
            snap = enclave.snapshot(branch=entry["branch"])
            for key, sha in (snap.doc("received", {}) or {}).get("objects", {}).items():
                out.setdefault(sha, (entry["enclave"], snap.id, key))
        return out

    def _staged(self, sha: str) -> Path:
        return self.objects / sha

    def negotiate(self, envelope: Any, *, transport: str | None = None) -> dict[str, Any]:
        """Verify a bundle and say which objects are missing (or that it is here already)."""
        m = self.verify(envelope, transport=transport)
        local, enclave_name, tag = self.local_program(m)
        self._mark_seen(m, transport)
        self._sweep()
        entry = self.ws._registry_doc("programs", {}).get(name_key(local))
        if entry is not None and entry.get("received_from") != self.peer.name:
            raise self.refuse(f"a local program {entry['name']!r} has the name it would be received under", m,
                              transport=transport)
        received = self._received_doc(enclave_name, local)
        if m["frozen"]["id"] in received.get("sources", {}):
            self._ensure_registered(m, local, enclave_name)
            return {"status": "up_to_date", "bundle_id": m["bundle_id"], "program": local, "missing": [],
                    "ref": f"{local}@{m['frozen']['phase']}#{m['frozen']['n']}"}
        refused = self._import_refusals(m)
        if refused:
            raise self.refuse(f"this workspace's import rules refuse {len(refused)} item(s): " + "; ".join(refused[:10]),
                              m, transport=transport)
        self.pending.mkdir(parents=True, exist_ok=True)
        self.objects.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.pending / f"{m['bundle_id']}.json", json.dumps(envelope).encode())
        have = self.have()
        wanted = {obj["sha256"] for item in m["items"] for obj in item.get("objects", {}).values()}
        missing = sorted(h for h in wanted if h not in have and not self._staged(h).exists())
        return {"status": "ready", "bundle_id": m["bundle_id"], "program": local, "missing": missing}

    def _mark_seen(self, m: dict[str, Any], transport: str | None) -> None:
        path = f"seen/{name_key(self.peer.name)}"
        bundle_id = m["bundle_id"]
        horizon = time.time() - self.peer.max_age - 3600

        def change(txn):
            seen = txn.doc(path, {})
            if bundle_id in seen:
                return False
            seen = {k: v for k, v in seen.items() if v >= horizon}
            seen[bundle_id] = time.time()
            txn.put_doc(path, seen)
            return True

        if not update_docs(self.ws, change, message=f"bundle {bundle_id} from {self.peer.name}"):
            raise self.refuse(f"bundle {bundle_id} was received before: a replay", None, transport=transport)

    # -- 2. stage ---------------------------------------------------------------------
    def _pending(self, bundle_id: str) -> dict[str, Any]:
        if not isinstance(bundle_id, str) or not _BUNDLE_ID.match(bundle_id):
            raise InvalidInputError(f"bad bundle id {bundle_id!r}")
        path = self.pending / f"{bundle_id}.json"
        if not path.is_file():
            raise self.refuse(f"bundle {bundle_id} was not negotiated, or was imported or refused already")
        return json.loads(path.read_bytes())["manifest"]

    def stage(self, bundle_id: str, chunks: Iterable[tuple[str, bytes]], *, transport: str | None = None) -> int:
        """Keep arriving objects (each must hash to its name); returns how many were stored."""
        m = self._pending(bundle_id)
        wanted = {obj["sha256"]: obj["size"] for item in m["items"] for obj in item.get("objects", {}).values()}
        self.objects.mkdir(parents=True, exist_ok=True)
        stored = 0
        for sha, data in chunks:
            if sha not in wanted:
                raise self.refuse(f"it sent object {sha[:12]}... that its manifest does not name", m,
                                  transport=transport)
            if len(data) != wanted[sha] or hashlib.sha256(data).hexdigest() != sha:
                raise self.refuse(f"object {sha[:12]}... does not match its hash or size (tampered or truncated)",
                                  m, transport=transport)
            target = self._staged(sha)
            if not target.exists():
                _atomic_write(target, data)
                stored += 1
        return stored

    # -- 3. commit ----------------------------------------------------------------------
    def commit(self, bundle_id: str, *, transport: str | None = None) -> dict[str, Any]:
        """Check that every object is here and intact, then import atomically."""
        m = self._pending(bundle_id)
        with _lock(f"{self.ws.root.uri}|{self.peer.name}"):
            try:
                result = self._import(m, transport)
            except BundleRefused:
                raise
            except _Refusal as exc:
                raise self.refuse(str(exc), m, transport=transport) from None
        self._discard(bundle_id, also_frozen=m["frozen"]["id"])
        return result

    def receive(self, envelope: Any, fetch: Callable[[list[str]], Iterable[tuple[str, bytes]]], *,
                transport: str | None = None) -> dict[str, Any]:
        """Negotiate, fetch what is missing through ``fetch(hashes)``, stage and commit (drops, pulls)."""
        answer = self.negotiate(envelope, transport=transport)
        if answer["status"] == "up_to_date":
            return answer
        if answer["missing"]:
            self.stage(answer["bundle_id"], fetch(answer["missing"]), transport=transport)
        return self.commit(answer["bundle_id"], transport=transport)

    def _import(self, m: dict[str, Any], transport: str | None) -> dict[str, Any]:
        from ..audit import chain
        from ..query import FrozenIndex, entry_for

        ws = self.ws
        local, enclave_name, tag = self.local_program(m)
        key = name_key(local)
        branch = f"programs/{key}"
        objects = {k: obj["sha256"] for item in m["items"] for k, obj in item.get("objects", {}).items()}
        have = self.have()
        missing = sorted({h for h in objects.values() if h not in have and not self._staged(h).exists()})
        if missing:
            raise _Refusal(f"it is truncated: {len(missing)} object(s) never arrived")
        enclave = ws._enclave(enclave_name, create=True)
        with enclave.lock.hold():
            if branch not in enclave.branches("programs/"):
                enclave.create_branch(branch, enclave.initial_snapshot())
        f, p = m["frozen"], m["program"]
        ref = f"{local}@{Phase.parse(f['phase']).value}#{f['n']}"
        received_at = now()

        def load(sha: str) -> bytes:
            staged = self._staged(sha)
            if staged.exists():
                data = staged.read_bytes()
            else:
                from .bundle import read_raw

                where = have[sha]
                data = read_raw(ws._enclave(where[0]).snapshot(snapshot_id=where[1]).store, [where[2]])[0] or b""
            if hashlib.sha256(data).hexdigest() != sha:
                raise _Refusal(f"object {sha[:12]}... does not match its hash (tampered in staging?)")
            return data

        def change(txn):
            received = txn.doc("received", {}) or {}
            if f["id"] in received.get("sources", {}):
                return None
            previous = received.get("objects", {})
            state = txn.doc("program", {}) or {}
            items_now = {(i["kind"], i["name"]) for i in m["items"] if i["kind"] != "param"}
            for old in {tuple(x) for x in received.get("items", [])} - items_now:
                txn.delete(f"{_PREFIX[old[0]]}/{old[1]}")
            _delete_keys(txn, [k for k in previous if k not in objects and _item_of(k) in items_now])
            writes = sorted(((k, sha) for k, sha in objects.items() if previous.get(k) != sha),
                            key=lambda kv: (not kv[0].endswith("zarr.json"), kv[0].count("/"), kv[0]))
            manifest = {"rev": int(m.get("rev", 0)), "params": {}, "datasets": {}, "artifacts": {}}
            for item in m["items"]:
                manifest[item["kind"] + "s"][item["name"]] = {
                    **item["record"], "label": item["label"]}
            state.update(_received_state(m, local, key, tag, self.peer, ws.user, state, received_at))
            txn.put_doc("program", state)
            txn.put_doc("context", manifest)
            event = {"time": received_at, "user": ws.user, "kind": "received", "phase": f["phase"],
                     "peer": self.peer.name, "ref": ref, "source_ref": f["ref"], "source_id": f["id"],
                     "bundle_id": m["bundle_id"]}
            cid = chain.chain_id(enclave.name, branch)
            (chain.append if txn.has(chain.TRAIL_DOC) else chain.start)(txn, cid, event)
            sources = dict(received.get("sources", {}))
            sources[f["id"]] = tag
            txn.put_doc("received", {"objects": objects, "sources": sources, "bundle_id": m["bundle_id"],
                                     "items": sorted([list(x) for x in items_now])})
            _write_objects(txn, [(k, load(sha)) for k, sha in writes])
            txn.metadata["tag"] = tag
            return len(writes)

        sid, written = enclave.update(branch, change, message=f"receive {f['ref']} from {self.peer.name}",
                                      metadata={"author": ws.user, "kind": "freeze", "source": "federation",
                                                "peer": self.peer.name, "bundle_id": m["bundle_id"]})
        if sid is None:  # arrived meanwhile (a concurrent push of the same frozen context)
            return {"status": "up_to_date", "bundle_id": m["bundle_id"], "program": local, "ref": ref}
        enclave.create_tag(tag, sid)
        FrozenIndex(ws).record(enclave, [entry_for(enclave, tag, sid)], author=ws.user)
        self._ensure_registered(m, local, enclave_name)
        queryable = time.time()
        fsl_ms = (queryable - _parse_time(f["frozen_at"], "frozen_at")) * 1000.0
        record_exchange(ws, direction="receive", peer=self.peer.name, program=local, phase=f["phase"], ref=ref,
                        frozen_id=f["id"], bundle_id=m["bundle_id"], outcome="ok", fsl_ms=round(fsl_ms, 3),
                        chunks_total=len(set(objects.values())), chunks_sent=written, transport=transport,
                        itar=p["classification"] == "ITAR")
        try:  # checksums of the frozen context for `pluma fsck`, as a local freeze records them
            from ..integrity import record_freeze_checksums
        except ImportError:  # pragma: no cover - an older tree without pluma.integrity
            pass
        else:
            record_freeze_checksums(enclave, tag, sid, author=ws.user)
        return {"status": "imported", "bundle_id": m["bundle_id"], "program": local, "ref": ref, "id": sid,
                "source_ref": f["ref"], "fsl_ms": round(fsl_ms, 3), "objects_written": written}

    def _ensure_registered(self, m: dict[str, Any], local: str, enclave_name: str) -> None:
        key = name_key(local)
        if key in self.ws._registry_doc("programs", {}):
            return
        self.ws._register_received_program(key, {
            "name": local, "enclave": enclave_name, "branch": f"programs/{key}", "created": now(),
            "created_by": self.ws.user, "classification": m["program"]["classification"],
            "members": dict(self.peer.members), "received_from": self.peer.name, "read_only": True,
            "source_program": m["program"]["name"], "source_workspace": m["source"].get("workspace"),
        })

    # -- staging housekeeping -------------------------------------------------------------
    def _pending_manifests(self) -> dict[str, dict[str, Any]]:
        out = {}
        if self.pending.is_dir():
            for path in self.pending.glob("*.json"):
                try:
                    out[path.stem] = json.loads(path.read_bytes())["manifest"]
                except (OSError, ValueError, KeyError):
                    path.unlink(missing_ok=True)
        return out

    def _discard(self, bundle_id: str, *, also_frozen: str | None = None) -> None:
        """Forget a pending bundle (and others of the same frozen context) and objects no one else needs."""
        pending = self._pending_manifests()
        drop = {bundle_id} | {b for b, m in pending.items() if also_frozen and m["frozen"]["id"] == also_frozen}
        keep_hashes = {obj["sha256"] for b, m in pending.items() if b not in drop
                       for item in m["items"] for obj in item.get("objects", {}).values()}
        for b in drop:
            m = pending.get(b)
            if m is not None:
                for item in m["items"]:
                    for obj in item.get("objects", {}).values():
                        if obj["sha256"] not in keep_hashes:
                            self._staged(obj["sha256"]).unlink(missing_ok=True)
            (self.pending / f"{b}.json").unlink(missing_ok=True)

    def _sweep(self) -> None:
        """Drop pending bundles older than the peer's max age (abandoned transfers)."""
        horizon = time.time() - self.peer.max_age
        for b, m in self._pending_manifests().items():
            try:
                old = _parse_time(m["created"], "created") < horizon
            except ValueError:
                old = True
            if old:
                self._discard(b)


class _Refusal(Exception):
    pass


def _item_of(key: str) -> tuple[str, str] | None:
    top, _, rest = key.partition("/")
    kind = {"data": "dataset", "artifacts": "artifact"}.get(top)
    return (kind, rest.split("/", 1)[0]) if kind else None


def _received_state(m, local, key, tag, peer, user, previous, received_at) -> dict[str, Any]:
    f, p = m["frozen"], m["program"]
    phase = Phase.parse(f["phase"]).value
    counts = dict(previous.get("freeze_counts") or {})
    counts[phase] = max(int(counts.get(phase, 0)), f["n"])
    return {
        "name": local, "key": key, "priority": p["priority"], "classification": p["classification"],
        "domains": p["domains"], "quotas": {}, "members": dict(peer.members), "phase": p["phase"],
        "status": "active", "status_reason": "", "epoch": 0, "declared": p["declared"], "gate_overrides": {},
        "approvals": [], "contributors": [], "freeze_seq": max(int(previous.get("freeze_seq", 0)), f["seq"]),
        "freeze_counts": counts,
        "last_freeze": {"phase": phase, "n": f["n"], "seq": f["seq"], "tag": tag, "user": f["frozen_by"],
                        "time": f["frozen_at"], "message": f["message"], "report": {}, "ref": f"{local}@{phase}#{f['n']}"},
        "transitions": [], "created": previous.get("created", received_at), "created_by": previous.get("created_by", user),
        "origin": None, "read_only": True, "received_from": peer.name,
        "source": {"workspace": m["source"].get("workspace"), "fingerprint": m["source"].get("fingerprint"),
                   "program": p["name"], "ref": f["ref"], "id": f["id"], "bundle_id": m["bundle_id"],
                   "lineage": m["lineage"], "withheld": m.get("withheld", 0), "received_at": received_at},
    }


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _write_objects(txn, objects: list[tuple[str, bytes]]) -> None:
    """Write raw objects (metadata first, parents before children) into an open session."""
    from zarr.core.buffer import cpu
    from zarr.core.sync import sync

    from ..memory.enclave import _EMPTY_GROUP

    store = txn.store

    async def write() -> None:
        import asyncio

        for top in ("data", "artifacts"):
            if any(k.startswith(top + "/") for k, _ in objects) and not await store.exists(f"{top}/zarr.json"):
                await store.set(f"{top}/zarr.json", cpu.Buffer.from_bytes(_EMPTY_GROUP))
        meta = [(k, v) for k, v in objects if k.endswith("zarr.json")]
        chunks = [(k, v) for k, v in objects if not k.endswith("zarr.json")]
        for k, v in meta:
            await store.set(k, cpu.Buffer.from_bytes(v))
        await asyncio.gather(*(store.set(k, cpu.Buffer.from_bytes(v)) for k, v in chunks))

    sync(write())


def _delete_keys(txn, keys: list[str]) -> None:
    from zarr.core.sync import sync

    store = txn.store
    chunks = [k for k in keys if not k.endswith("zarr.json")]
    meta = sorted((k for k in keys if k.endswith("zarr.json")), key=lambda k: -k.count("/"))

    async def delete() -> None:
        for k in chunks + meta:
            try:
                await store.delete(k)
            except Exception:  # noqa: BLE001 - gone with its array already
                pass

    if keys:
        sync(delete())
