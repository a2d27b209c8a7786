"""Raw storage objects of a workspace root, on a folder or an S3 bucket.

Icechunk moves whole objects (``snapshots/<id>``, ``manifests/<id>``,
``chunks/<id>``, ``transactions/<id>``, ``overwritten/...`` and the one mutable
``repo`` object holding every ref); integrity checks and replication work on
those objects directly. :class:`ObjectStore` lists, reads, writes and deletes
them under ``enclaves/<enclave>/`` (or any other prefix of the root).

Examples
--------
>>> from pluma.memory import parse_root
>>> store = ObjectStore.for_root(parse_root(tmp_path / "ws"))   # doctest: +SKIP
>>> store.enclaves()                                             # doctest: +SKIP
['default', 'program-x57']
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..errors import InvalidInputError, NotFoundError, StorageError
from ..memory.storage import WorkspaceRoot, parse_root

__all__ = ["ObjectInfo", "ObjectStore", "MUTABLE_OBJECTS", "sha256", "object_kind", "workspace_enclaves"]

#: Objects Icechunk rewrites in place; every other object name is written once.
MUTABLE_OBJECTS = frozenset({"repo"})


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def object_kind(name: str) -> str:
    """``chunk``, ``manifest``, ``snapshot``, ``transaction``, ``repo`` (refs) or ``other``."""
    head = name.split("/", 1)[0]
    return {"chunks": "chunk", "manifests": "manifest", "snapshots": "snapshot", "transactions": "transaction",
            "repo": "repo", "overwritten": "repo-backup"}.get(head, "other")


@dataclass(frozen=True)
class ObjectInfo:
    name: str  # relative to the listed prefix
    size: int
    modified: datetime


class ObjectStore(ABC):
    """Objects under one workspace root: :class:`LocalObjects` or :class:`S3Objects`."""

    root: WorkspaceRoot

    @staticmethod
    def for_root(root: WorkspaceRoot) -> "ObjectStore":
        return LocalObjects(root) if root.is_local else S3Objects(root)

    @staticmethod
    def for_uri(uri: str, storage_options: Mapping[str, Any] | None = None) -> "ObjectStore":
        return ObjectStore.for_root(parse_root(uri, storage_options))

    # -- the interface ----------------------------------------------------------
    @abstractmethod
    def list(self, prefix: str) -> dict[str, ObjectInfo]: ...

    @abstractmethod
    def get(self, key: str) -> bytes: ...

    @abstractmethod
    def put(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def _children(self, prefix: str) -> list[str]: ...

    # -- derived ------------------------------------------------------------------
    def enclaves(self) -> list[str]:
        """Every enclave (Icechunk repository) under the root, registered or not."""
        return sorted(self._children("enclaves/"))

    def enclave_objects(self, enclave: str) -> dict[str, ObjectInfo]:
        return self.list(f"enclaves/{enclave}/")

    def map(self, fn, items: list, workers: int = 8) -> list:
        """``[fn(item) for item in items]`` on a few threads (object stores answer
        requests in parallel; a folder does not mind either)."""
        if len(items) < 2:
            return [fn(i) for i in items]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(fn, items))

    def try_get(self, key: str) -> bytes | None:
        try:
            return self.get(key)
        except NotFoundError:
            return None

    @property
    def uri(self) -> str:
        return self.root.uri


class LocalObjects(ObjectStore):
    def __init__(self, root: WorkspaceRoot) -> None:
        self.root = root
        self.base = Path(root.location)

    def list(self, prefix: str) -> dict[str, ObjectInfo]:
        top = self.base / prefix
        out: dict[str, ObjectInfo] = {}
        if not top.is_dir():
            return out
        for dirpath, _dirs, files in os.walk(top):
            for f in files:
                if f.startswith(".pluma-tmp-"):
                    continue
                path = Path(dirpath) / f
                try:
                    st = path.stat()
                except FileNotFoundError:  # deleted while we listed
                    continue
                rel = path.relative_to(top).as_posix()
                out[rel] = ObjectInfo(rel, st.st_size, datetime.fromtimestamp(st.st_mtime, timezone.utc))
        return out

    def _children(self, prefix: str) -> list[str]:
        top = self.base / prefix
        return [p.name for p in top.iterdir() if p.is_dir()] if top.is_dir() else []

    def get(self, key: str) -> bytes:
        try:
            return (self.base / key).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"no object {key} under {self.uri}") from None
        except OSError as exc:
            raise StorageError(f"cannot read {key} under {self.uri}: {exc.strerror}") from exc

    def put(self, key: str, data: bytes) -> None:
        """Write atomically (a temporary file renamed over the object)."""
        path = self.base / key
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".pluma-tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            raise StorageError(f"cannot write {key} under {self.uri}: {exc.strerror}") from exc

    def delete(self, key: str) -> None:
        try:
            (self.base / key).unlink()
        except FileNotFoundError:
            pass


class S3Objects(ObjectStore):
    """Objects in ``s3://bucket/prefix`` through boto3, with the root's options
    (Icechunk's names: endpoint_url, region, access_key_id, ...)."""

    def __init__(self, root: WorkspaceRoot) -> None:
        import boto3
        from botocore.config import Config

        self.root = root
        opts = dict(root.options)
        config = Config(s3={"addressing_style": "path"} if opts.get("force_path_style") else {},
                        retries={"max_attempts": 5, "mode": "standard"})
        self.client = boto3.client(
            "s3", endpoint_url=opts.get("endpoint_url"), region_name=opts.get("region") or "us-east-1",
            aws_access_key_id=opts.get("access_key_id"), aws_secret_access_key=opts.get("secret_access_key"),
            aws_session_token=opts.get("session_token"), config=config,
        )
        self.bucket = root.location
        self.prefix = f"{root.prefix.strip('/')}/" if root.prefix.strip("/") else ""

    def _error(self, exc: Exception, what: str) -> StorageError:
        return StorageError(f"cannot {what} at {self.uri}: {exc}")

    def _pages(self, prefix: str, **kw) -> Iterator[dict]:
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            yield from paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix, **kw)
        except Exception as exc:  # botocore errors: no bucket, no access, no network
            raise self._error(exc, f"list {prefix}") from exc

    def list(self, prefix: str) -> dict[str, ObjectInfo]:
        out: dict[str, ObjectInfo] = {}
        cut = len(self.prefix + prefix)
        for page in self._pages(prefix):
            for item in page.get("Contents", []):
                rel = item["Key"][cut:]
                out[rel] = ObjectInfo(rel, int(item["Size"]), item["LastModified"])
        return out

    def _children(self, prefix: str) -> list[str]:
        cut = len(self.prefix + prefix)
        names = []
        for page in self._pages(prefix, Delimiter="/"):
            names += [p["Prefix"][cut:].strip("/") for p in page.get("CommonPrefixes", [])]
        return names

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise NotFoundError(f"no object {key} under {self.uri}") from None
        except Exception as exc:
            raise self._error(exc, f"read {key}") from exc

    def put(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)
        except Exception as exc:
            raise self._error(exc, f"write {key}") from exc

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        except Exception as exc:
            raise self._error(exc, f"delete {key}") from exc


def same_root(a: WorkspaceRoot, b: WorkspaceRoot) -> bool:
    if a.scheme != b.scheme:
        return False
    if a.is_local:
        return Path(a.location) == Path(b.location)
    return (a.location, a.prefix.strip("/")) == (b.location, b.prefix.strip("/")) and \
        a.options.get("endpoint_url") == b.options.get("endpoint_url")


def check_distinct(source: WorkspaceRoot, replica: WorkspaceRoot) -> None:
    if same_root(source, replica):
        raise InvalidInputError(f"the replica {replica.uri} is the workspace itself; give another folder or bucket")
    if source.is_local and replica.is_local:
        s, r = Path(source.location), Path(replica.location)
        if s in r.parents or r in s.parents:
            raise InvalidInputError(f"the replica {replica.uri} and the workspace {source.uri} must not contain "
                                    "each other; give a separate folder")


def workspace_enclaves(ws) -> dict[str, WorkspaceRoot]:
    """Every enclave of a workspace and the root it lives under: the enclaves found
    under the workspace root (registered or not) and those the registry places at a
    storage location of their own (options from the environment, see
    :func:`pluma.memory.storage.enclave_root`)."""
    from ..memory.storage import enclave_root

    out = {name: ws.root for name in ObjectStore.for_root(ws.root).enclaves()}
    out.setdefault("default", ws.root)
    for entry in (ws._registry_doc("programs", {}) or {}).values():
        name = entry.get("enclave", "default")
        if entry.get("storage"):
            out[name] = enclave_root(name, entry["storage"], ws.root)
        else:
            out.setdefault(name, ws.root)
    return out
