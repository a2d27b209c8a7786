"""The federation server: Starlette on uvicorn, bound to 127.0.0.1 unless told otherwise.

Every ``/v1`` route except ``/v1/identity`` needs a request signed by a known
peer (see :mod:`pluma.federation.auth`) and answers with a signed response. The
server describes itself at ``/openapi.json``.

========================================  ==========================================
``GET  /v1/identity``                      this workspace's name and public key
``POST /v1/bundles``                       offer a signed bundle; answer: missing objects
``PUT  /v1/bundles/{id}/objects``          send objects (framed, see ``client``)
``POST /v1/bundles/{id}/commit``           verify everything and import
``POST /v1/notify``                        "a bundle waits in our drop": import it now
``GET  /v1/exports``                       frozen contexts this workspace would send you
``POST /v1/exports``                       a signed bundle of one of them, for you
``POST /v1/exports/{id}/objects``          objects of that bundle (only those)
========================================  ==========================================

Examples
--------
>>> handle = ws.federation.start_server(port=0)   # doctest: +SKIP
>>> handle.url                                     # doctest: +SKIP
'http://127.0.0.1:41873'
>>> handle.stop()                                  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..errors import (
    AccessDenied,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PlumaError,
    StateError,
)
from .auth import AuthError, NonceCache, parse_request_headers, request_string, response_signature

if TYPE_CHECKING:  # pragma: no cover
    from .api import Federation

log = logging.getLogger(__name__)

__all__ = ["create_app", "ServerHandle", "serve", "openapi"]

MAX_BODY = 96 << 20
MAX_EXPORT_BYTES = 64 << 20
_BUNDLE_ID = re.compile(r"^[0-9a-f]{32}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _status_of(exc: BaseException) -> int:
    from .receive import BundleRefused

    if isinstance(exc, AuthError):
        return 401
    if isinstance(exc, BundleRefused):
        return 422
    if isinstance(exc, AccessDenied):
        return 403
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, (ConflictError, StateError)):
        return 409
    return 400


class _Server:
    """Request handling, independent of the web framework (plain bytes in, bytes out)."""

    def __init__(self, fed: "Federation") -> None:
        self.fed = fed
        self.nonces = NonceCache()
        self.exports: OrderedDict[str, tuple[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def authenticate(self, method: str, path_qs: str, headers, body: bytes):
        from .peers import peer_by_fingerprint

        fp, t, nonce, sig = parse_request_headers(headers)
        peer = peer_by_fingerprint(self.fed.ws, fp)
        if peer is None:
            raise AuthError("the request is signed by a key this workspace does not know as a peer")
        data = request_string(method, path_qs, headers["x-pluma-time"], nonce, body, self.fed.identity.fingerprint)
        if not peer.key.verify(sig, data):
            raise AuthError(f"the request signature does not verify with {peer.name}'s key")
        if not self.nonces.add(f"{fp}:{nonce}", t):
            raise AuthError("this request was seen before (a replay)")
        return peer

    # -- routes (sync; run in a worker thread) -----------------------------------------
    def negotiate(self, peer, body: bytes) -> tuple[int, Any]:
        try:
            envelope = json.loads(body)
        except ValueError:
            raise InvalidInputError("the body must be a JSON bundle envelope") from None
        return 200, self.fed.receiver(peer).negotiate(envelope, transport="http")

    def objects(self, peer, bundle_id: str, body: bytes) -> tuple[int, Any]:
        from .client import unpack_objects

        _check_id(bundle_id)
        try:
            objects = unpack_objects(body)
        except ValueError as exc:
            raise InvalidInputError(f"malformed object frames: {exc}") from None
        return 200, {"stored": self.fed.receiver(peer).stage(bundle_id, objects, transport="http")}

    def commit(self, peer, bundle_id: str, body: bytes) -> tuple[int, Any]:
        _check_id(bundle_id)
        return 200, self.fed.receiver(peer).commit(bundle_id, transport="http")

    def notify(self, peer, body: bytes) -> tuple[int, Any]:
        from .drop import pull_from_drop

        if not peer.drop:
            raise StateError(f"this workspace knows no drop for {peer.name}; push over HTTP instead")
        return 200, {"imported": pull_from_drop(self.fed, peer)}

    def list_exports(self, peer, body: bytes) -> tuple[int, Any]:
        return 200, {"exports": exportable(self.fed, peer)}

    def export_bundle(self, peer, body: bytes) -> tuple[int, Any]:
        from .bundle import build_bundle
        from .status import record_exchange

        try:
            ref = json.loads(body).get("ref")
        except (ValueError, AttributeError):
            raise InvalidInputError("the body must be JSON {\"ref\": \"PROGRAM@PHASE#N\"}") from None
        if not isinstance(ref, str) or "@" not in ref:
            raise InvalidInputError("ref must be a frozen reference such as 'AMPEL360@CAE#1'")
        offered = {e["ref"] for e in exportable(self.fed, peer)}
        if ref not in offered:
            raise NotFoundError(f"{ref} is not among the frozen contexts offered to {peer.name}")
        fc = self.fed._frozen(ref)
        bundle = build_bundle(self.fed, fc, peer)
        with self._lock:
            self.exports[bundle.id] = (peer.name, bundle)
            while len(self.exports) > 32:
                self.exports.popitem(last=False)
        record_exchange(self.fed.ws, direction="push", peer=peer.name, program=fc.program.name, phase=fc.phase.value,
                        ref=fc.ref, frozen_id=fc.id, bundle_id=bundle.id, outcome="ok", transport="http-pull-served",
                        chunks_total=len(bundle.hashes))
        return 200, bundle.envelope

    def export_objects(self, peer, bundle_id: str, body: bytes) -> tuple[int, bytes]:
        _check_id(bundle_id)
        with self._lock:
            found = self.exports.get(bundle_id)
        if found is None or found[0] != peer.name:
            raise NotFoundError(f"no bundle {bundle_id} was prepared for {peer.name} (ask POST /v1/exports first)")
        try:
            hashes = json.loads(body).get("hashes")
        except (ValueError, AttributeError):
            raise InvalidInputError("the body must be JSON {\"hashes\": [...]}") from None
        if not isinstance(hashes, list) or not all(isinstance(h, str) and _HEX64.match(h) for h in hashes):
            raise InvalidInputError("hashes must be a list of sha256 hex strings")
        bundle = found[1]
        sizes = bundle.hashes
        if sum(sizes.get(h, 0) for h in hashes) > MAX_EXPORT_BYTES:
            raise InvalidInputError(f"ask for at most {MAX_EXPORT_BYTES} bytes of objects at a time")
        from .client import pack_objects

        return 200, pack_objects(bundle.read(hashes))


def _check_id(bundle_id: str) -> None:
    if not _BUNDLE_ID.match(bundle_id):
        raise InvalidInputError("a bundle id is 32 lowercase hex characters")


def exportable(fed: "Federation", peer) -> list[dict[str, Any]]:
    """Frozen contexts of which at least one item may leave for ``peer``."""
    from ..query import FrozenIndex
    from .bundle import decide_items

    ws = fed.ws
    index = FrozenIndex(ws)
    index.reconcile()
    readable = ws._readable_program_keys()
    registry = ws._registry_doc("programs", {})
    out = []
    for entry in sorted(index.entries(), key=lambda e: (e["frozen_at"], e["seq"])):
        reg = registry.get(entry["key"])
        if reg is None or entry["key"] not in readable or reg.get("received_from"):
            continue
        program = ws.program(reg["name"])
        fc = program._frozen_from_tag(entry["tag"])
        if any(d.allowed for _, _, d in decide_items(fc, peer)):
            out.append({"ref": fc.ref, "id": fc.id, "program": program.name, "phase": fc.phase.value,
                        "frozen_at": entry["frozen_at"]})
    return out


def create_app(fed: "Federation"):
    """The Starlette application of ``fed``'s federation server."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    fed.ws._require_admin("run the federation server (it imports what peers send)")
    fed.identity  # fail now, not at the first request, if there is no key
    server = _Server(fed)

    def answer(status: int, payload: Any, nonce: str | None) -> Response:
        if isinstance(payload, bytes):
            body, media = payload, "application/octet-stream"
        else:
            body, media = json.dumps(payload, separators=(",", ":"), default=str).encode(), "application/json"
        headers = {}
        if nonce:
            headers["X-Pluma-Signature"] = response_signature(fed.identity, status, nonce, body)
        return Response(body, status_code=status, media_type=media, headers=headers)

    def error(status: int, kind: str, message: str, nonce: str | None) -> Response:
        return answer(status, {"error": kind, "message": message}, nonce)

    def signed(handler: Callable, *, with_id: bool = False):
        async def endpoint(request: Request) -> Response:
            nonce = request.headers.get("x-pluma-nonce")
            nonce = nonce if nonce and re.match(r"^[A-Za-z0-9_-]{16,64}$", nonce) else None
            length = request.headers.get("content-length")
            if length and length.isdigit() and int(length) > MAX_BODY:
                return error(413, "too_large", f"bodies are limited to {MAX_BODY} bytes", nonce)
            body = await request.body()
            if len(body) > MAX_BODY:
                return error(413, "too_large", f"bodies are limited to {MAX_BODY} bytes", nonce)
            raw_path = request.scope.get("raw_path") or request.url.path.encode()
            query = request.scope.get("query_string") or b""
            path_qs = raw_path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")  # as signed
            args = (request.path_params["bundle_id"],) if with_id else ()
            try:
                peer = await run_in_threadpool(server.authenticate, request.method, path_qs, request.headers, body)
                status, payload = await run_in_threadpool(handler, peer, *args, body)
            except PlumaError as exc:
                return error(_status_of(exc), exc.kind, str(exc), nonce)
            except Exception as exc:  # noqa: BLE001 - a bug: logged, answered as a 500 with a JSON body
                log.exception("federation server error on %s %s", request.method, request.url.path)
                return error(500, "internal", f"internal error ({type(exc).__name__})", nonce)
            return answer(status, payload, nonce)

        return endpoint

    async def identity(request: Request) -> Response:
        ident = fed.identity
        return JSONResponse({"name": ident.name, "public_key": ident.public_text, "fingerprint": ident.fingerprint})

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi(fed.identity.name))

    routes = [
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/v1/identity", identity, methods=["GET"]),
        Route("/v1/bundles", signed(server.negotiate), methods=["POST"]),
        Route("/v1/bundles/{bundle_id}/objects", signed(server.objects, with_id=True), methods=["PUT"]),
        Route("/v1/bundles/{bundle_id}/commit", signed(server.commit, with_id=True), methods=["POST"]),
        Route("/v1/notify", signed(server.notify), methods=["POST"]),
        Route("/v1/exports", signed(server.list_exports), methods=["GET"]),
        Route("/v1/exports", signed(server.export_bundle), methods=["POST"]),
        Route("/v1/exports/{bundle_id}/objects", signed(server.export_objects, with_id=True), methods=["POST"]),
    ]

    async def not_found(request: Request, exc) -> Response:
        status = getattr(exc, "status_code", 404)
        kind = "not_found" if status == 404 else "method_not_allowed" if status == 405 else "http_error"
        return JSONResponse({"error": kind, "message": str(getattr(exc, "detail", "not found"))}, status_code=status)

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})


# -- OpenAPI -------------------------------------------------------------------------------
def openapi(name: str = "pluma") -> dict[str, Any]:
    """The OpenAPI 3.0 description of the federation server."""
    err = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    errors = {str(s): {**err, "description": d} for s, d in (
        ("400", "invalid request"), ("401", "unsigned, unknown key, bad signature, stale time or replayed nonce"),
        ("403", "not allowed"), ("404", "unknown bundle or reference"), ("409", "illegal in the current state"),
        ("413", "body too large"), ("422", "bundle refused (tampered, truncated, replayed, import rules)"))}
    auth = [{"name": n, "in": "header", "required": True, "schema": {"type": "string"}, "description": d} for n, d in (
        ("X-Pluma-Key", "fingerprint of the caller's public key"), ("X-Pluma-Time", "unix time, seconds"),
        ("X-Pluma-Nonce", "16-64 characters, used once"), ("X-Pluma-Signature", "base64 Ed25519 request signature"))]
    bundle_id = {"name": "bundle_id", "in": "path", "required": True, "schema": {"type": "string"}}

    def ok(schema: str | dict, media: str = "application/json") -> dict[str, Any]:
        s = {"$ref": f"#/components/schemas/{schema}"} if isinstance(schema, str) else schema
        return {"200": {"description": "ok", "content": {media: {"schema": s}}}, **errors}

    def json_body(schema: str) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}

    binary = {"type": "string", "format": "binary"}
    return {
        "openapi": "3.0.3",
        "info": {"title": f"PLUMA federation server ({name})", "version": "1.0.0",
                 "description": "Signed exchange of frozen contexts between PLUMA workspaces."},
        "paths": {
            "/v1/identity": {"get": {"operationId": "identity", "summary": "This workspace's public identity",
                                     "responses": {"200": {"description": "ok", "content": {"application/json": {
                                         "schema": {"$ref": "#/components/schemas/Identity"}}}}}}},
            "/v1/bundles": {"post": {"operationId": "negotiate", "summary": "Offer a signed bundle",
                                     "parameters": auth, "requestBody": json_body("Envelope"),
                                     "responses": ok("Negotiation")}},
            "/v1/bundles/{bundle_id}/objects": {"put": {
                "operationId": "send_objects", "summary": "Send objects of a negotiated bundle",
                "parameters": [bundle_id, *auth],
                "requestBody": {"required": True, "content": {"application/octet-stream": {"schema": binary}}},
                "responses": ok("Stored")}},
            "/v1/bundles/{bundle_id}/commit": {"post": {
                "operationId": "commit", "summary": "Verify and import a bundle", "parameters": [bundle_id, *auth],
                "responses": ok("Imported")}},
            "/v1/notify": {"post": {"operationId": "notify", "summary": "Import what waits in the drop now",
                                    "parameters": auth, "responses": ok("Notified")}},
            "/v1/exports": {
                "get": {"operationId": "list_exports", "summary": "Frozen contexts offered to the caller",
                        "parameters": auth, "responses": ok("Exports")},
                "post": {"operationId": "export_bundle", "summary": "A signed bundle for the caller",
                         "parameters": auth, "requestBody": json_body("ExportRequest"), "responses": ok("Envelope")}},
            "/v1/exports/{bundle_id}/objects": {"post": {
                "operationId": "export_objects", "summary": "Objects of a bundle prepared for the caller",
                "parameters": [bundle_id, *auth], "requestBody": json_body("ObjectRequest"),
                "responses": ok(binary, "application/octet-stream")}},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error", "message"],
                      "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
            "Identity": {"type": "object", "required": ["name", "public_key", "fingerprint"],
                         "properties": {"name": {"type": "string"}, "public_key": {"type": "string"},
                                        "fingerprint": {"type": "string"}}},
            "Envelope": {"type": "object", "required": ["manifest", "signature"],
                         "properties": {"manifest": {"type": "object"}, "signature": {"type": "string"},
                                        "key": {"type": "string"}}},
            "Negotiation": {"type": "object", "required": ["status", "bundle_id", "missing"],
                            "properties": {"status": {"type": "string", "enum": ["ready", "up_to_date"]},
                                           "bundle_id": {"type": "string"}, "program": {"type": "string"},
                                           "ref": {"type": "string"},
                                           "missing": {"type": "array", "items": {"type": "string"}}}},
            "Stored": {"type": "object", "required": ["stored"], "properties": {"stored": {"type": "integer"}}},
            "Imported": {"type": "object", "required": ["status", "bundle_id", "program"],
                         "properties": {"status": {"type": "string", "enum": ["imported", "up_to_date"]},
                                        "bundle_id": {"type": "string"}, "program": {"type": "string"},
                                        "ref": {"type": "string"}, "id": {"type": "string"},
                                        "source_ref": {"type": "string"}, "fsl_ms": {"type": "number"},
                                        "objects_written": {"type": "integer"}}},
            "Notified": {"type": "object", "required": ["imported"],
                         "properties": {"imported": {"type": "array", "items": {"type": "object"}}}},
            "Exports": {"type": "object", "required": ["exports"], "properties": {"exports": {
                "type": "array", "items": {"type": "object", "required": ["ref", "id"], "properties": {
                    "ref": {"type": "string"}, "id": {"type": "string"}, "program": {"type": "string"},
                    "phase": {"type": "string"}, "frozen_at": {"type": "string"}}}}}},
            "ExportRequest": {"type": "object", "required": ["ref"], "properties": {"ref": {"type": "string"}}},
            "ObjectRequest": {"type": "object", "required": ["hashes"],
                              "properties": {"hashes": {"type": "array", "items": {"type": "string"}}}},
        }},
    }


# -- running it ------------------------------------------------------------------------------
@dataclass
class ServerHandle:
    """A federation server running in a background thread."""

    url: str
    _server: Any
    _thread: threading.Thread

    @classmethod
    def start(cls, fed: "Federation", *, host: str = "127.0.0.1", port: int = 0, timeout: float = 30.0) -> "ServerHandle":
        import uvicorn

        app = create_app(fed)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                                  name=f"pluma-federation-{sock.getsockname()[1]}")
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise StateError(f"the federation server did not start on {host}:{port}")
            time.sleep(0.01)
        h, p = sock.getsockname()[:2]
        return cls(f"http://{h}:{p}", server, thread)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    def __enter__(self) -> "ServerHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ServerHandle {self.url}{'' if self._thread.is_alive() else ' (stopped)'}>"


def serve(fed: "Federation", *, host: str = "127.0.0.1", port: int = 8790) -> None:
    """Run the server in the foreground (Ctrl-C stops it)."""
    import uvicorn

    uvicorn.run(create_app(fed), host=host, port=port, log_level="info", access_log=False)
