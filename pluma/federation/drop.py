"""The drop transport: a folder or an object-store bucket that two organisations share.

Each direction has its own area, ``<sender fingerprint>-<receiver fingerprint>/``::

    have.json              what the receiver holds (signed by the receiver): hashes, frozen ids
    objects/<sha256>       objects, content-addressed: an interrupted push resumes
    bundles/<id>.json      signed bundle envelopes, written after their objects
    receipts/<id>.json     the receiver's signed answer (imported or refused, and why)

The sender reads ``have.json`` first (the two sides agree on what is missing
through it), writes the missing objects, then the envelope, and — if the peer
also has a federation server — notifies it so that it imports at once. The
receiver imports with :func:`pull_from_drop` (``pluma federation pull``), which
runs every envelope through the same checks as the HTTP path.

Examples
--------
>>> fed.add_peer("supplier-b", key=their_key, drop="/mnt/shared/pluma-drop", rules=rules)   # doctest: +SKIP
>>> fed.push("AMPEL360@CAE", to="supplier-b").status                                         # doctest: +SKIP
'delivered'
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlparse

from .._time import now
from ..errors import MissingDependencyError, PlumaError, StorageError
from .identity import canonical

if TYPE_CHECKING:  # pragma: no cover
    from .api import Federation, PushResult
    from .bundle import Bundle
    from .peers import Peer

log = logging.getLogger(__name__)

__all__ = ["FolderDrop", "S3Drop", "open_drop", "push_to_drop", "pull_from_drop"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class FolderDrop:
    """A drop on a (shared) folder; writes are atomic (temporary file, then rename)."""

    def __init__(self, path: str) -> None:
        self.root = Path(path)

    def put(self, key: str, data: bytes) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)

    def get(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        return sorted(f"{prefix.rstrip('/')}/{p.name}" for p in base.iterdir() if p.is_file() and not p.name.startswith("."))

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)


class S3Drop:
    """A drop in an S3 bucket (credentials from the environment, as boto3 finds them)."""

    def __init__(self, uri: str, options: dict[str, str] | None = None) -> None:
        try:
            import boto3
        except ImportError as exc:  # pragma: no cover - boto3 ships with the test and io extras
            raise MissingDependencyError("an s3:// drop needs boto3: pip install boto3") from exc
        parsed = urlparse(uri)
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        opts = dict(options or {})
        self._s3 = boto3.client("s3", endpoint_url=opts.get("endpoint_url"), region_name=opts.get("region"))

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes | None:
        try:
            return self._s3.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            return None

    def exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except Exception:  # noqa: BLE001 - botocore raises ClientError(404)
            return False

    def list(self, prefix: str) -> list[str]:
        out = []
        strip = len(self.prefix) + 1 if self.prefix else 0
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            out.extend(o["Key"][strip:] for o in page.get("Contents", []))
        return sorted(out)

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=self._key(key))


def open_drop(peer: "Peer"):
    if peer.drop is None:
        raise StorageError(f"peer {peer.name} has no drop")
    if peer.drop.startswith("s3://"):
        return S3Drop(peer.drop, dict(peer.drop_options))
    return FolderDrop(peer.drop)


def _signed(identity, payload: dict[str, Any]) -> bytes:
    return json.dumps({"manifest": payload, "signature": identity.sign_b64(canonical(payload)),
                       "key": identity.fingerprint}).encode()


def _verified(raw: bytes | None, key, what: str) -> dict[str, Any] | None:
    import base64

    if raw is None:
        return None
    try:
        doc = json.loads(raw)
        ok = key.verify(base64.b64decode(doc["signature"], validate=True), canonical(doc["manifest"]))
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        log.warning("ignoring %s in the drop: its signature does not verify", what)
        return None
    return doc["manifest"]


def push_to_drop(fed: "Federation", bundle: "Bundle", peer: "Peer", *,
                 progress: Callable[[int, int], None] | None = None) -> "PushResult":
    from .api import PushResult

    drop = open_drop(peer)
    area = f"{fed.identity.fingerprint}-{peer.fingerprint}"
    sizes = bundle.hashes
    result = PushResult(peer.name, bundle.manifest["frozen"]["ref"], "delivered", "drop", bundle_id=bundle.id,
                        objects_total=len(sizes), bytes_total=sum(sizes.values()))
    have = _verified(drop.get(f"{area}/have.json"), peer.key, "have.json") or {}
    if bundle.manifest["frozen"]["id"] in set(have.get("sources", [])):
        result.status = "up_to_date"
        return result
    held = set(have.get("hashes", []))
    missing = [h for h in sizes if h not in held and not drop.exists(f"{area}/objects/{h}")]
    todo = sum(sizes[h] for h in missing)
    done = 0
    for i in range(0, len(missing), 32):
        for sha, data in bundle.read(missing[i:i + 32]):
            drop.put(f"{area}/objects/{sha}", data)
            done += len(data)
            result.objects_sent += 1
        if progress is not None:
            progress(done, todo)
    envelope = json.dumps(bundle.envelope).encode()
    drop.put(f"{area}/bundles/{bundle.id}.json", envelope)
    result.bytes_sent = done + len(envelope)
    if peer.url:  # tell the receiver: it imports now instead of at its next pull
        from .client import HttpPeer

        try:
            with HttpPeer(fed.identity, peer) as link:
                answers = link.notify().get("imported", [])
                result.bytes_sent += link.bytes_sent
        except StorageError as exc:  # delivered all the same: the receiver imports at its next pull
            log.warning("bundle %s is in %s's drop, but its server could not be notified: %s", bundle.id,
                        peer.name, exc)
            answers = []
        mine = [a for a in answers if a.get("bundle_id") == bundle.id]
        if mine:
            if mine[0].get("status") == "refused":
                from .receive import BundleRefused

                raise BundleRefused(mine[0].get("reason", "refused"))
            result.status = mine[0].get("status", "imported")
            result.remote_program = mine[0].get("program")
            result.remote_ref = mine[0].get("ref")
            result.fsl_ms = mine[0].get("fsl_ms")
    return result


def pull_from_drop(fed: "Federation", peer: "Peer") -> list[dict[str, Any]]:
    """Import every bundle waiting in ``peer``'s drop area for this workspace."""
    from .receive import BundleRefused, _lock

    drop = open_drop(peer)
    area = f"{peer.fingerprint}-{fed.identity.fingerprint}"
    receiver = fed.receiver(peer)
    results = []
    with _lock(f"drop|{fed.ws.root.uri}|{peer.name}"):
        for key in drop.list(f"{area}/bundles"):
            if not key.endswith(".json"):
                continue
            bundle_id = key.rsplit("/", 1)[-1][:-5]
            raw = drop.get(key)
            try:
                envelope = json.loads(raw) if raw is not None else None
            except ValueError:
                envelope = None

            def fetch(hashes: list[str]):
                for h in hashes:
                    data = drop.get(f"{area}/objects/{h}")
                    if data is not None:
                        yield h, data

            try:
                answer = receiver.receive(envelope, fetch, transport="drop")
            except BundleRefused as exc:
                answer = {"status": "refused", "bundle_id": bundle_id, "reason": str(exc)}
            except PlumaError as exc:  # storage trouble: leave the bundle for the next pull
                log.warning("could not import bundle %s from %s's drop: %s", bundle_id, peer.name, exc)
                continue
            results.append(answer)
            drop.put(f"{area}/receipts/{bundle_id}.json", _signed(fed.identity, {**answer, "time": now()}))
            drop.delete(key)
            if isinstance(envelope, dict) and isinstance(envelope.get("manifest"), dict):
                for item in envelope["manifest"].get("items", []) or []:
                    for obj in (item.get("objects") or {}).values() if isinstance(item, dict) else []:
                        if isinstance(obj, dict) and isinstance(obj.get("sha256"), str) and _HEX64.match(obj["sha256"]):
                            drop.delete(f"{area}/objects/{obj['sha256']}")
        have = receiver.have()
        sources = set()
        for entry in fed.ws._registry_doc("programs", {}).values():
            if entry.get("received_from") == peer.name:
                snap = fed.ws._enclave(entry["enclave"]).snapshot(branch=entry["branch"])
                sources |= set((snap.doc("received", {}) or {}).get("sources", {}))
        drop.put(f"{area}/have.json", _signed(fed.identity, {"hashes": sorted(have), "sources": sorted(sources),
                                                              "time": time.time()}))
    return results
