"""Mutual authentication by signed requests and signed responses.

A request carries four headers::

    X-Pluma-Key        fingerprint of the caller's public key (a known peer)
    X-Pluma-Time       unix time in seconds (within 300 s of the server's clock)
    X-Pluma-Nonce      16-64 characters [A-Za-z0-9_-], never used twice
    X-Pluma-Signature  base64 Ed25519 signature of the request string

The request string binds method, path and query, time, nonce, the sha256 of the
body and the fingerprint of the *server* (so a request to one workspace cannot
be replayed to another)::

    pluma-request/1\\n<METHOD>\\n<path?query>\\n<time>\\n<nonce>\\n<sha256(body)>\\n<server fingerprint>

The server signs its answer (``X-Pluma-Signature``) over
``pluma-response/1\\n<status>\\n<request nonce>\\n<sha256(body)>``; the client
checks it with the peer's key, so each side knows who it talks to.

Examples
--------
>>> headers = request_headers(me, peer.fingerprint, "POST", "/v1/bundles", body)   # doctest: +SKIP
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
from typing import TYPE_CHECKING, Mapping

from ..errors import AccessDenied

if TYPE_CHECKING:  # pragma: no cover
    from .identity import Identity, PublicKey

__all__ = ["AuthError", "NonceCache", "request_headers", "request_string", "response_signature",
           "verify_response", "SKEW", "HEADERS"]

SKEW = 300.0
HEADERS = ("x-pluma-key", "x-pluma-time", "x-pluma-nonce", "x-pluma-signature")
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_FP = re.compile(r"^[0-9a-f]{32}$")


class AuthError(AccessDenied):
    """A request or response whose signature does not prove who sent it."""

    kind = "unauthenticated"


def request_string(method: str, path_qs: str, ts: str, nonce: str, body: bytes, audience: str) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return f"pluma-request/1\n{method.upper()}\n{path_qs}\n{ts}\n{nonce}\n{digest}\n{audience}".encode()


def request_headers(identity: "Identity", audience: str, method: str, path_qs: str, body: bytes) -> dict[str, str]:
    ts = f"{time.time():.3f}"
    nonce = secrets.token_urlsafe(18)
    sig = identity.sign_b64(request_string(method, path_qs, ts, nonce, body, audience))
    return {"X-Pluma-Key": identity.fingerprint, "X-Pluma-Time": ts, "X-Pluma-Nonce": nonce,
            "X-Pluma-Signature": sig}


def parse_request_headers(headers: Mapping[str, str]) -> tuple[str, float, str, bytes]:
    """The four headers, checked for form; raises AuthError saying what is wrong."""
    missing = [h for h in HEADERS if not headers.get(h)]
    if missing:
        raise AuthError(f"unsigned request: missing {', '.join(missing)}")
    fp, ts, nonce, sig = (headers[h] for h in HEADERS)
    if not _FP.match(fp):
        raise AuthError("X-Pluma-Key must be a 32-character key fingerprint")
    try:
        t = float(ts)
    except ValueError:
        raise AuthError("X-Pluma-Time must be unix seconds") from None
    if t != t or abs(time.time() - t) > SKEW:
        raise AuthError(f"request time is more than {SKEW:.0f} s from the server's clock (replayed, or clocks differ)")
    if not _NONCE.match(nonce):
        raise AuthError("X-Pluma-Nonce must be 16-64 characters of A-Z a-z 0-9 _ -")
    try:
        raw = base64.b64decode(sig, validate=True)
    except ValueError:
        raise AuthError("X-Pluma-Signature is not base64") from None
    return fp, t, nonce, raw


def response_string(status: int, nonce: str, body: bytes) -> bytes:
    return f"pluma-response/1\n{status}\n{nonce}\n{hashlib.sha256(body).hexdigest()}".encode()


def response_signature(identity: "Identity", status: int, nonce: str, body: bytes) -> str:
    return identity.sign_b64(response_string(status, nonce, body))


def verify_response(key: "PublicKey", status: int, nonce: str, body: bytes, signature: str | None) -> None:
    if not signature:
        raise AuthError("the peer's answer is unsigned: it is not the peer's federation server")
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError:
        raise AuthError("the peer's answer has a malformed signature") from None
    if not key.verify(raw, response_string(status, nonce, body)):
        raise AuthError("the peer's answer is not signed by the peer's key: someone else answered")


class NonceCache:
    """Nonces seen within the time window (a nonce is accepted once)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, key: str, t: float) -> bool:
        now = time.time()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: v for k, v in self._seen.items() if v > now - 2 * SKEW}
            if key in self._seen:
                return False
            self._seen[key] = t
            return True
