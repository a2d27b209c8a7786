"""The HTTP side of a push or pull: signed requests to a peer's federation server.

Objects travel in a small binary framing (``application/octet-stream``): for
each object its 32-byte sha256, its length as 8 bytes big-endian, its bytes.

Examples
--------
>>> with HttpPeer(fed.identity, fed.peer("supplier-b")) as link:   # doctest: +SKIP
...     answer = link.negotiate(bundle.envelope)
"""

from __future__ import annotations

import http.client
import json
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import urlparse

from ..errors import (
    AccessDenied,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PlumaError,
    StateError,
    StorageError,
)
from .auth import AuthError, request_headers, verify_response

if TYPE_CHECKING:  # pragma: no cover
    from .identity import Identity
    from .peers import Peer

__all__ = ["HttpPeer", "pack_objects", "unpack_objects"]

_ERRORS: dict[str, type[PlumaError]] = {
    "invalid_input": InvalidInputError, "not_found": NotFoundError, "access_denied": AccessDenied,
    "unauthenticated": AuthError, "conflict": ConflictError, "illegal_state": StateError,
}


def pack_objects(objects: Iterable[tuple[str, bytes]]) -> bytes:
    parts = []
    for sha, data in objects:
        parts += [bytes.fromhex(sha), len(data).to_bytes(8, "big"), data]
    return b"".join(parts)


def unpack_objects(body: bytes, *, limit: int = 1 << 31) -> list[tuple[str, bytes]]:
    """Split a framed body; raises ValueError if it is malformed."""
    out = []
    i, n = 0, len(body)
    while i < n:
        if n - i < 40:
            raise ValueError("truncated object header")
        sha = body[i:i + 32].hex()
        size = int.from_bytes(body[i + 32:i + 40], "big")
        if size > limit or i + 40 + size > n:
            raise ValueError("object length runs past the end of the body")
        out.append((sha, body[i + 40:i + 40 + size]))
        i += 40 + size
    return out


class HttpPeer:
    """A keep-alive connection to a peer's federation server; counts the bytes it sends."""

    def __init__(self, identity: "Identity", peer: "Peer", *, timeout: float = 60.0) -> None:
        if not peer.url:
            raise InvalidInputError(f"peer {peer.name} has no federation server url (it uses a drop)")
        self.identity = identity
        self.peer = peer
        parsed = urlparse(peer.url)
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname
        self._port = parsed.port or (443 if self._https else 80)
        self._base = parsed.path.rstrip("/")
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self.bytes_sent = 0
        self.requests = 0

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "HttpPeer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def call(self, method: str, path: str, body: bytes = b"", *, content_type: str = "application/json") -> tuple[int, bytes, str]:
        """Send one signed request; returns (status, body, content type) of a verified answer."""
        full = self._base + path
        headers = request_headers(self.identity, self.peer.fingerprint, method, full, body)
        headers["Content-Type"] = content_type
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, full, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                break
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                self.close()
                if attempt:
                    raise StorageError(f"cannot reach peer {self.peer.name} at {self.peer.url}: {exc}") from None
        self.bytes_sent += len(body) + sum(len(k) + len(v) + 4 for k, v in headers.items()) + len(method) + len(full) + 12
        self.requests += 1
        verify_response(self.peer.key, response.status, headers["X-Pluma-Nonce"], data,
                        response.getheader("X-Pluma-Signature"))
        ctype = response.getheader("Content-Type", "")
        if response.status >= 400:
            raise _error(self.peer.name, response.status, data)
        return response.status, data, ctype

    def json(self, method: str, path: str, payload: Any = None) -> Any:
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        _, data, _ = self.call(method, path, body)
        return json.loads(data)

    # -- push ---------------------------------------------------------------------------
    def negotiate(self, envelope: dict[str, Any]) -> dict[str, Any]:
        return self.json("POST", "/v1/bundles", envelope)

    def send(self, bundle_id: str, objects: list[tuple[str, bytes]]) -> dict[str, Any]:
        _, data, _ = self.call("PUT", f"/v1/bundles/{bundle_id}/objects", pack_objects(objects),
                               content_type="application/octet-stream")
        return json.loads(data)

    def commit(self, bundle_id: str) -> dict[str, Any]:
        return self.json("POST", f"/v1/bundles/{bundle_id}/commit")

    def notify(self) -> dict[str, Any]:
        return self.json("POST", "/v1/notify", {})

    # -- pull ---------------------------------------------------------------------------
    def exports(self) -> list[dict[str, Any]]:
        return self.json("GET", "/v1/exports")["exports"]

    def export_bundle(self, ref: str) -> dict[str, Any]:
        return self.json("POST", "/v1/exports", {"ref": ref})

    def export_objects(self, bundle_id: str, hashes: list[str]) -> list[tuple[str, bytes]]:
        body = json.dumps({"hashes": hashes}).encode()
        _, data, _ = self.call("POST", f"/v1/exports/{bundle_id}/objects", body)
        return unpack_objects(data)


def _error(peer: str, status: int, data: bytes) -> PlumaError:
    try:
        payload = json.loads(data)
        kind, message = payload.get("error", ""), payload.get("message", "")
    except ValueError:
        kind, message = "", data[:200].decode(errors="replace")
    if kind == "bundle_refused":
        from .receive import BundleRefused

        return BundleRefused(message)
    cls = _ERRORS.get(kind, StorageError if status >= 500 else PlumaError)
    return cls(f"peer {peer} answered {status}: {message}")
