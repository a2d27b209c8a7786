"""``ws.federation``: keygen, peers, explain, push, pull, serve and status in one place.

Examples
--------
>>> fed = Federation(ws)                                                 # doctest: +SKIP
>>> fed.keygen(name="prime").public_key                                   # doctest: +SKIP
'ed25519:...'
>>> fed.add_peer("supplier-b", url="http://127.0.0.1:8791", key=their_key,
...              rules="rules/supplier-b.yaml")                          # doctest: +SKIP
>>> print(fed.explain("AMPEL360@CAE", to="supplier-b"))                  # doctest: +SKIP
>>> fed.push("AMPEL360@CAE", to="supplier-b").fsl_ms                      # doctest: +SKIP
38.2
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .._time import now
from ..errors import AccessDenied, InvalidInputError, PlumaError
from ._docs import read_doc, update_docs
from .identity import Identity, default_key_dir
from .peers import DEFAULT_MAX_AGE, Peer, add_peer, get_peer, list_peers, remove_peer
from .status import FederationStatus, exchanges, record_exchange

if TYPE_CHECKING:  # pragma: no cover
    from ..context.frozen import FrozenContext
    from ..workspace import Workspace
    from .bundle import Explanation
    from .server import ServerHandle

log = logging.getLogger(__name__)

__all__ = ["Federation", "PushResult"]

BATCH_BYTES = 4 << 20


@dataclass
class PushResult:
    """What one push did: where it went, what it sent, and the FSL the receiver measured."""

    peer: str
    ref: str
    status: str  # imported | up_to_date
    transport: str
    remote_program: str | None = None
    remote_ref: str | None = None
    bundle_id: str | None = None
    objects_total: int = 0
    objects_sent: int = 0
    bytes_total: int = 0
    bytes_sent: int = 0
    fsl_ms: float | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __repr__(self) -> str:
        fsl = f", FSL {self.fsl_ms:.0f} ms" if self.fsl_ms is not None else ""
        return (f"<PushResult {self.ref} -> {self.peer}: {self.status}, {self.objects_sent}/{self.objects_total} "
                f"objects, {self.bytes_sent} bytes sent{fsl}>")

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in self.to_dict().items())
        return f"<div class='pluma'><h4>push {escape(self.ref)} &rarr; {escape(self.peer)}</h4><table>{rows}</table></div>"


def _default_name(ws: "Workspace") -> str:
    base = Path(ws.root.location).name if ws.root.is_local else (ws.root.prefix.rsplit("/", 1)[-1] or ws.root.location)
    name = re.sub(r"[^A-Za-z0-9_-]", "-", base).strip("-_")[:30]
    return name if name and name[0].isalpha() else "workspace"


class Federation:
    """This workspace's side of the federation (see :mod:`pluma.federation`)."""

    def __init__(self, ws: "Workspace", *, key_dir: str | os.PathLike | None = None) -> None:
        self.ws = ws
        self.key_dir = Path(key_dir).expanduser() if key_dir is not None else default_key_dir(ws)
        self._identity: Identity | None = None

    @property
    def local_dir(self) -> Path:
        """Local state of this workspace's federation (private key, staging of arriving objects)."""
        return self.key_dir

    # -- identity ---------------------------------------------------------------------
    def keygen(self, name: str | None = None, *, force: bool = False) -> Identity:
        """Create this workspace's Ed25519 key pair (admin only); give peers ``.public_text``."""
        self.ws._require_admin("create the federation identity")
        identity = Identity.generate(self.key_dir, name=name or _default_name(self.ws), force=force)
        record = {"name": identity.name, "public_key": identity.public_text, "fingerprint": identity.fingerprint,
                  "created": now(), "created_by": self.ws.user}
        update_docs(self.ws, lambda txn: txn.put_doc("identity", record), message="federation identity")
        self._identity = identity
        return identity

    @property
    def identity(self) -> Identity:
        if self._identity is None:
            self._identity = Identity.load(self.key_dir)
        return self._identity

    @property
    def public_key(self) -> str:
        return self.identity.public_text

    # -- peers ------------------------------------------------------------------------
    def add_peer(self, name: str, *, key: str, url: str | None = None, drop: str | os.PathLike | None = None,
                 rules: Any = None, drop_options: Mapping[str, str] | None = None,
                 members: Mapping[str, Any] | None = None, max_age: float = DEFAULT_MAX_AGE,
                 replace: bool = False) -> Peer:
        """Register a peer (admin only): its public key, url and/or drop, and rules (YAML path, text or dict)."""
        return add_peer(self.ws, name, key=key, url=url, drop=drop, rules=rules, drop_options=drop_options,
                        members=members, max_age=max_age, replace=replace)

    def peers(self) -> list[Peer]:
        return list_peers(self.ws)

    def peer(self, name: str) -> Peer:
        return get_peer(self.ws, name)

    def remove_peer(self, name: str) -> None:
        remove_peer(self.ws, name)

    # -- export -----------------------------------------------------------------------
    def _frozen(self, ref: "str | FrozenContext") -> "FrozenContext":
        from ..context.frozen import FrozenContext

        fc = ref if isinstance(ref, FrozenContext) else self.ws.frozen(ref)
        state = fc.program._state()
        if state.get("received_from"):
            raise AccessDenied(f"{fc.program.name} was received from peer {state['received_from']!r}: "
                               "a received frozen context is never exported again")
        return fc

    def explain(self, ref: "str | FrozenContext", *, to: str) -> "Explanation":
        """What of a frozen context would leave for peer ``to``, what would not, and the rule that decided."""
        from .bundle import explain

        return explain(self._frozen(ref), self.peer(to))

    def _require_export(self, fc: "FrozenContext") -> None:
        program = fc.program
        roles = program._roles(program._state())
        if not (self.ws.is_admin or "program_manager" in roles):
            raise AccessDenied(f"{self.ws.user} may not send {fc.ref} to another organisation: needs workspace "
                               f"admin or program_manager of {program.name}")

    def push(self, ref: "str | FrozenContext", *, to: str, progress: Callable[[int, int], None] | None = None,
             batch_bytes: int = BATCH_BYTES, rate_limit: float | None = None, full: bool = False) -> PushResult:
        """Send a frozen context to peer ``to``: only what its export rules allow, only the objects it lacks.

        ``progress(bytes_done, bytes_to_send)`` is called as objects go; ``rate_limit``
        caps the sending rate in bytes per second. A repeated push is a no-op
        (``status == "up_to_date"``); an interrupted push, pushed again, sends only
        what did not arrive. ``full=True`` sends every object the bundle names whatever
        the receiver has (re-seeding a peer; the naive baseline of the benchmark).
        """
        from .bundle import build_bundle
        from .receive import BundleRefused

        if isinstance(batch_bytes, bool) or not isinstance(batch_bytes, int) or batch_bytes < 1:
            raise InvalidInputError("batch_bytes must be a positive whole number")
        if rate_limit is not None and (isinstance(rate_limit, bool) or not isinstance(rate_limit, (int, float))
                                       or rate_limit <= 0):
            raise InvalidInputError("rate_limit must be a number of bytes per second > 0")
        peer = self.peer(to)
        fc = self._frozen(ref)
        self._require_export(fc)
        started = time.perf_counter()
        bundle = build_bundle(self, fc, peer)
        transport = "drop" if peer.drop else "http"
        base = dict(peer=peer.name, program=fc.program.name, phase=fc.phase.value, ref=fc.ref, frozen_id=fc.id,
                    bundle_id=bundle.id, transport=transport, itar=fc._state.get("classification") == "ITAR")
        try:
            if transport == "drop":
                from .drop import push_to_drop

                result = push_to_drop(self, bundle, peer, progress=progress)
            else:
                result = self._push_http(bundle, peer, progress=progress, batch_bytes=batch_bytes,
                                         rate_limit=rate_limit, full=full)
        except BundleRefused as exc:
            record_exchange(self.ws, direction="push", outcome="refused", reason=str(exc), **base)
            raise
        except PlumaError as exc:
            record_exchange(self.ws, direction="push", outcome="failed", reason=str(exc)[:500], **base)
            raise
        result.seconds = time.perf_counter() - started
        record_exchange(self.ws, direction="push", outcome="ok" if result.status == "imported" else result.status,
                        bytes_sent=result.bytes_sent, chunks_sent=result.objects_sent,
                        chunks_total=result.objects_total, fsl_ms=result.fsl_ms, local_program=result.remote_program,
                        **base)
        return result

    def _push_http(self, bundle, peer: Peer, *, progress, batch_bytes: int, rate_limit: float | None,
                   full: bool = False) -> PushResult:
        from .client import HttpPeer

        sizes = bundle.hashes
        result = PushResult(peer.name, bundle.manifest["frozen"]["ref"], "up_to_date", "http", bundle_id=bundle.id,
                            objects_total=len(sizes), bytes_total=sum(sizes.values()))
        with HttpPeer(self.identity, peer) as link:
            answer = link.negotiate(bundle.envelope)
            result.remote_program = answer.get("program")
            if answer.get("status") == "up_to_date":
                result.remote_ref = answer.get("ref")
                result.bytes_sent = link.bytes_sent
                return result
            missing = list(sizes) if full else [h for h in answer.get("missing", []) if h in sizes]
            todo = sum(sizes[h] for h in missing)
            done = 0
            began = time.perf_counter()
            batch: list[str] = []
            batch_size = 0

            def flush() -> None:
                nonlocal done, batch, batch_size
                if not batch:
                    return
                link.send(bundle.id, bundle.read(batch))
                done += batch_size
                result.objects_sent += len(batch)
                batch, batch_size = [], 0
                if progress is not None:
                    progress(done, todo)
                if rate_limit:
                    ahead = done / rate_limit - (time.perf_counter() - began)
                    if ahead > 0:
                        time.sleep(ahead)

            for h in missing:
                if batch and batch_size + sizes[h] > batch_bytes:
                    flush()
                batch.append(h)
                batch_size += sizes[h]
            flush()
            answer = link.commit(bundle.id)
            result.bytes_sent = link.bytes_sent
        result.status = answer.get("status", "imported")
        result.remote_ref = answer.get("ref")
        result.fsl_ms = answer.get("fsl_ms")
        return result

    # -- import -----------------------------------------------------------------------
    def receiver(self, peer: str | Peer):
        from .receive import Receiver

        return Receiver(self, peer if isinstance(peer, Peer) else self.peer(peer))

    def pull(self, peer: str, *, ref: str | None = None) -> list[dict[str, Any]]:
        """Import what peer ``peer`` has for this workspace: bundles waiting in its drop,
        and (from its server) every frozen context its rules let it send here that is
        not here yet (``ref``: only that source reference, e.g. ``AMPEL360@CAE#1``)."""
        from .drop import pull_from_drop

        p = self.peer(peer)
        self.ws._require_admin("import from federation peers")
        results: list[dict[str, Any]] = []
        if p.drop:
            results.extend(pull_from_drop(self, p))
        if p.url and not p.drop:
            results.extend(self._pull_http(p, ref))
        return results

    def _pull_http(self, peer: Peer, ref: str | None) -> list[dict[str, Any]]:
        from .client import HttpPeer
        from .receive import BundleRefused

        receiver = self.receiver(peer)
        have_sources = set()
        for entry in self.ws._registry_doc("programs", {}).values():
            if entry.get("received_from") == peer.name:
                snap = self.ws._enclave(entry["enclave"]).snapshot(branch=entry["branch"])
                have_sources |= set((snap.doc("received", {}) or {}).get("sources", {}))
        out = []
        with HttpPeer(self.identity, peer) as link:
            for offer in link.exports():
                if offer.get("id") in have_sources or (ref is not None and offer.get("ref") != ref):
                    continue
                envelope = link.export_bundle(offer["ref"])
                bundle_id = envelope.get("manifest", {}).get("bundle_id", "")

                def fetch(hashes: list[str], bundle_id=bundle_id):
                    for i in range(0, len(hashes), 256):
                        yield from link.export_objects(bundle_id, hashes[i:i + 256])

                try:
                    out.append(receiver.receive(envelope, fetch, transport="http-pull"))
                except BundleRefused as exc:
                    out.append({"status": "refused", "ref": offer.get("ref"), "reason": str(exc)})
        return out

    # -- serving ------------------------------------------------------------------------
    def app(self):
        """The federation server as an ASGI application (Starlette)."""
        from .server import create_app

        return create_app(self)

    def start_server(self, port: int = 0, host: str = "127.0.0.1") -> "ServerHandle":
        """Serve in a background thread (notebooks, tests); ``.url``, ``.stop()``."""
        from .server import ServerHandle

        return ServerHandle.start(self, host=host, port=port)

    def serve(self, port: int = 8790, host: str = "127.0.0.1") -> None:
        """Serve in the foreground until interrupted (``pluma federation serve``)."""
        from .server import serve

        serve(self, host=host, port=port)

    # -- status -----------------------------------------------------------------------
    def status(self) -> FederationStatus:
        """Peers, last sync, FSL p50/p99, refusals."""
        return FederationStatus.build(self.ws)

    def exchanges(self, peer: str | None = None) -> list[dict[str, Any]]:
        return exchanges(self.ws, peer)

    def __repr__(self) -> str:
        who = (read_doc(self.ws, "identity") or {}).get("name", "no identity")
        return f"<Federation {who}: {len(self.peers())} peers>"

    def _repr_html_(self) -> str:
        return self.status()._repr_html_()
