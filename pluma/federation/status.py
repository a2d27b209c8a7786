"""Exchange records and the federation status: peers, last sync, FSL p50/p99, refusals.

Every push, receipt, pull and refusal is kept (the last 1,000 per peer) in the
federation document ``exchanges/<peer>``, and also goes to the workspace audit
trail (``pluma.audit``) when that is installed. FSL (federation sync latency) is
the time from the freeze at the sender to the moment the frozen context is
queryable at the receiver; the receiver measures it, the sender keeps the value
the receiver reports. Sender and receiver clocks must agree (NTP) for it to mean
what it says across machines.

Examples
--------
>>> st = ws.federation.status()          # doctest: +SKIP
>>> st.peers[0]["fsl_p99_ms"]             # doctest: +SKIP
41.7
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .._time import now
from ..names import name_key
from ._docs import read_doc, update_docs

if TYPE_CHECKING:  # pragma: no cover
    from ..workspace import Workspace

log = logging.getLogger(__name__)

__all__ = ["FederationStatus", "record_exchange", "exchanges", "percentiles"]

KEEP = 1000
_FIELDS = ("direction", "peer", "program", "phase", "ref", "frozen_id", "bundle_id", "outcome", "reason",
           "bytes_sent", "chunks_sent", "chunks_total", "fsl_ms", "local_program", "transport")


def _audit(ws: "Workspace", entry: dict[str, Any]) -> None:
    try:
        from .. import audit  # type: ignore[attr-defined]
    except ImportError:  # the audit trail is not installed here: the exchange record is the trail
        return
    detail = {k: v for k, v in entry.items() if k not in ("program", "phase", "outcome", "time") and v is not None}
    action = f"federation.{entry['direction']}"
    try:
        audit.record(ws, action, program=entry.get("program"), phase=entry.get("phase"),
                     outcome=entry.get("outcome", "ok"), **detail)
    except Exception as exc:  # noqa: BLE001 - an audit failure must be seen but not undo an import
        log.warning("could not write %s to the audit trail: %s", action, exc)


_ITAR_HIDDEN = ("program", "ref", "frozen_id", "local_program", "reason")


def record_exchange(ws: "Workspace", *, itar: bool = False, **entry: Any) -> dict[str, Any]:
    """Keep one exchange (and send it to the audit trail).

    For an ITAR program (``itar=True``) the exchange log in the default enclave
    keeps only peer, direction, outcome, sizes and latency; the full entry goes to
    the audit trail, which keeps it in the program's own enclave."""
    unknown = set(entry) - set(_FIELDS)
    if unknown:
        raise ValueError(f"unknown exchange fields {sorted(unknown)}")
    full = {"time": now(), **{k: entry.get(k) for k in _FIELDS if entry.get(k) is not None}}
    record = {k: v for k, v in full.items() if not (itar and k in _ITAR_HIDDEN)}
    if itar:
        record["program"] = "(ITAR)"
    path = f"exchanges/{name_key(record['peer'])}"

    def change(txn):
        items = txn.doc(path, [])
        items.append(record)
        del items[:-KEEP]
        txn.put_doc(path, items)

    update_docs(ws, change, message=f"federation {record['direction']} {record.get('ref', '')} "
                                    f"{record['peer']}: {record.get('outcome')}", kind="federation_exchange")
    _audit(ws, full)
    return record


def exchanges(ws: "Workspace", peer: str | None = None) -> list[dict[str, Any]]:
    """Recorded exchanges, oldest first (one peer, or all)."""
    from .peers import list_peers

    names = [peer] if peer else [p.name for p in list_peers(ws)]
    out: list[dict[str, Any]] = []
    for name in names:
        out.extend(read_doc(ws, f"exchanges/{name_key(name)}", []))
    return sorted(out, key=lambda e: e["time"])


def percentiles(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    arr = np.asarray(values, dtype=float)
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


@dataclass
class FederationStatus:
    """Identity, and per peer: how to reach it, last sync, counts, FSL p50/p99, refusals."""

    identity: dict[str, Any] | None
    peers: list[dict[str, Any]] = field(default_factory=list)
    fsl_p50_ms: float | None = None
    fsl_p99_ms: float | None = None
    refusals: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def build(cls, ws: "Workspace") -> "FederationStatus":
        from .peers import list_peers

        all_fsl: list[float] = []
        rows = []
        refusals = []
        for peer in list_peers(ws):
            items = read_doc(ws, f"exchanges/{name_key(peer.name)}", [])
            ok = [e for e in items if e.get("outcome") in ("ok", "up_to_date")]
            fsl = [float(e["fsl_ms"]) for e in items if e.get("outcome") == "ok" and e.get("fsl_ms") is not None]
            all_fsl.extend(fsl)
            p50, p99 = percentiles(fsl)
            refused = [e for e in items if e.get("outcome") == "refused"]
            refusals.extend(refused)
            rows.append({
                "peer": peer.name, "url": peer.url, "drop": peer.drop, "fingerprint": peer.fingerprint,
                "itar_authorised": peer.rules.itar_authorised, "last_sync": ok[-1]["time"] if ok else None,
                "pushes": sum(e["direction"] == "push" and e.get("outcome") == "ok" for e in items),
                "received": sum(e["direction"] in ("receive", "pull") and e.get("outcome") == "ok" for e in items),
                "refusals": len(refused), "exchanges": len(fsl), "fsl_p50_ms": p50, "fsl_p99_ms": p99,
                "bytes_sent": sum(int(e.get("bytes_sent") or 0) for e in items if e["direction"] == "push"),
            })
        p50, p99 = percentiles(all_fsl)
        refusals.sort(key=lambda e: e["time"])
        return cls(read_doc(ws, "identity"), rows, p50, p99, refusals[-20:])

    def to_dict(self) -> dict[str, Any]:
        return {"identity": self.identity, "peers": self.peers, "fsl_p50_ms": self.fsl_p50_ms,
                "fsl_p99_ms": self.fsl_p99_ms, "refusals": self.refusals}

    def __repr__(self) -> str:
        who = (self.identity or {}).get("name", "no identity")
        return f"<FederationStatus {who}: {len(self.peers)} peers, FSL p99 {_ms(self.fsl_p99_ms)}>"

    def _repr_html_(self) -> str:
        from html import escape

        head = ["peer", "reach", "last sync", "pushes", "received", "refusals", "FSL p50", "FSL p99"]
        rows = "".join(
            "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in (
                p["peer"], p["url"] or p["drop"], (p["last_sync"] or "never")[:19], p["pushes"], p["received"],
                p["refusals"], _ms(p["fsl_p50_ms"]), _ms(p["fsl_p99_ms"]))) + "</tr>"
            for p in self.peers)
        who = escape(str((self.identity or {}).get("name", "no identity yet (keygen)")))
        refused = "".join(f"<li>{escape(e['time'][:19])} {escape(e['peer'])} {escape(str(e.get('ref', '')))}: "
                          f"{escape(str(e.get('reason', '')))}</li>" for e in self.refusals[-5:])
        return (f"<div class='pluma'><h4>Federation: {who}</h4><table><thead><tr>"
                + "".join(f"<th>{h}</th>" for h in head) + f"</tr></thead><tbody>{rows}</tbody></table>"
                + (f"<p>Recent refusals:</p><ul>{refused}</ul>" if refused else "") + "</div>")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"
