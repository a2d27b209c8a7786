"""Federation: organisations exchange frozen contexts under export-control rules.

Each workspace has an Ed25519 identity (:mod:`.identity`) and a registry of
peers (:mod:`.peers`), each with YAML rules (:mod:`.rules`) saying what may leave
for it and what is accepted from it — deny by default, ITAR only to peers marked
ITAR-authorised, a deny always beats an allow. What leaves is a signed bundle
(:mod:`.bundle`): a manifest with content hashes plus only the objects the
receiver lacks. The receiver (:mod:`.receive`) verifies signature, hashes and its
own import rules, then imports atomically into a read-only program
``<peer>--<PROGRAM>``. Bundles travel over the HTTP federation server
(:mod:`.server`, signed requests both ways, OpenAPI at ``/openapi.json``) or a
shared folder / bucket (:mod:`.drop`). Every exchange is recorded with its
federation sync latency (:mod:`.status`).

Examples
--------
>>> from pluma.federation import Federation
>>> fed = Federation(ws)                                   # doctest: +SKIP
>>> fed.keygen(name="prime")                               # doctest: +SKIP
>>> fed.add_peer("supplier-b", url="http://127.0.0.1:8791", key="ed25519:...",
...              rules="rules/supplier-b.yaml")           # doctest: +SKIP
>>> fed.push("AMPEL360@CAE", to="supplier-b")              # doctest: +SKIP
"""

from __future__ import annotations

from .api import Federation, PushResult
from .bundle import Explanation
from .identity import Identity, PublicKey
from .peers import Peer
from .receive import BundleRefused
from .rules import Decision, Rules
from .status import FederationStatus

__all__ = [
    "BundleRefused",
    "Decision",
    "Explanation",
    "Federation",
    "FederationStatus",
    "Identity",
    "Peer",
    "PublicKey",
    "PushResult",
    "Rules",
]
