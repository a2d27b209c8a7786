"""The peer registry: the organisations this workspace exchanges frozen contexts with.

A peer is known by name, its public key, how to reach it (an HTTP ``url`` of its
federation server, a ``drop`` folder or ``s3://`` bucket it shares, or both) and
the rules for what may go to it and what is accepted from it. Peers live in the
``peers`` federation document; only a workspace admin changes them.

Examples
--------
>>> fed.add_peer("supplier-b", url="http://127.0.0.1:8791", key="ed25519:...",
...              rules="rules/supplier-b.yaml")                  # doctest: +SKIP
<Peer supplier-b http://127.0.0.1:8791 key 3f2a...>
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import urlparse

from .._time import now
from ..errors import InvalidInputError, NotFoundError
from ..names import name_key, validate_name
from ..programs.roles import validate_roles
from ._docs import read_doc, update_docs
from .identity import PublicKey
from .rules import Rules

if TYPE_CHECKING:  # pragma: no cover
    from ..workspace import Workspace

__all__ = ["Peer", "add_peer", "get_peer", "list_peers", "remove_peer", "peer_by_fingerprint"]

DROP_OPTION_NAMES = frozenset({"endpoint_url", "region"})
DEFAULT_MAX_AGE = 24 * 3600.0


@dataclass(frozen=True)
class Peer:
    """Another organisation's workspace, as this workspace knows it."""

    name: str
    public_key: str
    rules: Rules
    url: str | None = None
    drop: str | None = None
    drop_options: Mapping[str, str] = field(default_factory=dict)
    members: Mapping[str, list[str]] = field(default_factory=dict)
    max_age: float = DEFAULT_MAX_AGE
    added_by: str = ""
    added: str = ""

    @property
    def key(self) -> PublicKey:
        return PublicKey.parse(self.public_key)

    @property
    def fingerprint(self) -> str:
        return self.key.fingerprint

    @property
    def enclave(self) -> str:
        """The enclave (Icechunk repository) holding what this peer sent."""
        return f"peer-{name_key(self.name)}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "public_key": self.public_key, "fingerprint": self.fingerprint,
                "rules": self.rules.to_dict(), "url": self.url, "drop": self.drop,
                "drop_options": dict(self.drop_options), "members": dict(self.members), "max_age": self.max_age,
                "added_by": self.added_by, "added": self.added}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Peer":
        return cls(d["name"], d["public_key"], Rules.from_dict(d.get("rules") or {}), d.get("url"), d.get("drop"),
                   dict(d.get("drop_options") or {}), dict(d.get("members") or {}),
                   float(d.get("max_age", DEFAULT_MAX_AGE)), d.get("added_by", ""), d.get("added", ""))

    def __repr__(self) -> str:
        where = " ".join(x for x in (self.url, self.drop and f"drop {self.drop}") if x)
        return f"<Peer {self.name} {where} key {self.fingerprint[:8]}>"


def _validate_url(url: object) -> str | None:
    if url is None:
        return None
    if not isinstance(url, str):
        raise InvalidInputError("url must be text such as 'http://127.0.0.1:8791'")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidInputError(f"url {url!r} must be http(s)://host:port of the peer's federation server")
    return url.rstrip("/")


def _validate_drop(drop: object) -> str | None:
    if drop is None:
        return None
    if isinstance(drop, os.PathLike):
        drop = os.fspath(drop)
    if not isinstance(drop, str) or not drop.strip():
        raise InvalidInputError("drop must be a folder path or s3://bucket/prefix")
    parsed = urlparse(drop)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise InvalidInputError(f"drop {drop!r} names no bucket: write s3://bucket/prefix")
        return drop.rstrip("/")
    if parsed.scheme not in ("", "file"):
        raise InvalidInputError(f"drop {drop!r}: use a folder path or s3://bucket/prefix")
    return str(Path(parsed.path if parsed.scheme == "file" else drop).expanduser().resolve())


def load_rules(rules: object) -> Rules:
    """Rules from a Rules object, a mapping, YAML text or a path to a YAML file."""
    if rules is None:
        return Rules()
    if isinstance(rules, (Rules, Mapping)):
        return Rules.from_dict(rules)
    if isinstance(rules, os.PathLike) or (isinstance(rules, str) and "\n" not in rules and rules.endswith((".yaml", ".yml"))):
        path = Path(rules).expanduser()
        if not path.is_file():
            raise InvalidInputError(f"rules file {path} does not exist")
        return Rules.from_yaml(path.read_text())
    if isinstance(rules, str):
        return Rules.from_yaml(rules)
    raise InvalidInputError("rules must be a path to a YAML file, YAML text or a mapping")


def list_peers(ws: "Workspace") -> list[Peer]:
    return [Peer.from_dict(d) for _, d in sorted(read_doc(ws, "peers", {}).items())]


def get_peer(ws: "Workspace", name: str) -> Peer:
    if not isinstance(name, str):
        raise InvalidInputError("a peer name must be text")
    peers = read_doc(ws, "peers", {})
    if name_key(name) not in peers:
        known = ", ".join(d["name"] for d in peers.values()) or "none yet"
        raise NotFoundError(f"no federation peer {name!r} (known: {known}); add it with `pluma federation peer add`")
    return Peer.from_dict(peers[name_key(name)])


def peer_by_fingerprint(ws: "Workspace", fingerprint: str) -> Peer | None:
    for d in read_doc(ws, "peers", {}).values():
        if PublicKey.parse(d["public_key"]).fingerprint == fingerprint:
            return Peer.from_dict(d)
    return None


def add_peer(ws: "Workspace", name: str, *, key: str, url: str | None = None, drop: str | None = None,
             rules: object = None, drop_options: Mapping[str, str] | None = None,
             members: Mapping[str, Any] | None = None, max_age: float = DEFAULT_MAX_AGE,
             replace: bool = False) -> Peer:
    """Register (or, with ``replace``, change) a peer (admin only)."""
    validate_name(name, "peer name")
    if len(name) > 30:
        raise InvalidInputError(f"peer name {name!r} is longer than 30 characters (it prefixes received program names)")
    public = PublicKey.parse(key)
    url, drop = _validate_url(url), _validate_drop(drop)
    if url is None and drop is None:
        raise InvalidInputError(f"peer {name}: give its federation server url, a drop (folder or s3://), or both")
    parsed_rules = load_rules(rules)
    options = dict(drop_options or {})
    unknown = sorted(set(options) - DROP_OPTION_NAMES)
    if unknown or not all(isinstance(v, str) for v in options.values()):
        raise InvalidInputError(f"drop_options take text values for {', '.join(sorted(DROP_OPTION_NAMES))} "
                                f"(credentials come from the environment){'; unknown: ' + str(unknown) if unknown else ''}")
    if isinstance(max_age, bool) or not isinstance(max_age, (int, float)) or not 60 <= max_age <= 30 * 86400:
        raise InvalidInputError("max_age (how old a bundle may be, in seconds) must be between 60 and 2592000")
    mem: dict[str, list[str]] = {}
    for user, roles in dict(members if members is not None else {ws.user: ["viewer"]}).items():
        validate_name(user, "user name")
        mem[user.lower()] = validate_roles(roles, user)
        if mem[user.lower()] != ["viewer"]:
            raise InvalidInputError(f"members of programs received from {name} can only be viewers (received "
                                    f"programs are read-only); give {user} ['viewer']")
    ws._require_admin("manage federation peers")
    peer = Peer(name, public.text, parsed_rules, url, drop, options, mem, float(max_age), ws.user, now())

    def change(txn):
        peers = txn.doc("peers", {})
        if name_key(name) in peers and not replace:
            raise InvalidInputError(f"peer {peers[name_key(name)]['name']!r} exists already; pass replace=True "
                                    "(--replace) to change it")
        for other_key, d in peers.items():
            if other_key != name_key(name) and PublicKey.parse(d["public_key"]).fingerprint == public.fingerprint:
                raise InvalidInputError(f"peer {d['name']!r} has this public key already")
        peers[name_key(name)] = peer.to_dict()
        txn.put_doc("peers", peers)

    update_docs(ws, change, message=f"peer {name}", kind="federation_peer")
    ws._ensure_users(list(mem))
    return peer


def remove_peer(ws: "Workspace", name: str) -> None:
    """Forget a peer (admin only). What it sent stays readable."""
    ws._require_admin("manage federation peers")
    get_peer(ws, name)

    def change(txn):
        peers = txn.doc("peers", {})
        peers.pop(name_key(name), None)
        txn.put_doc("peers", peers)

    update_docs(ws, change, message=f"remove peer {name}", kind="federation_peer")
