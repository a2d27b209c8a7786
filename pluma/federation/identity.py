"""A workspace's federation identity: one Ed25519 key pair.

The private key is a PEM file readable by its owner only (mode 0600), kept out
of the shared store: under ``<workspace>/config/federation/`` for a local
workspace, under ``$PLUMA_CONFIG_HOME`` (else ``~/.config/pluma``) for an object
store, or in a folder you give. The public key is text such as
``ed25519:3q2+7w...`` that you hand to your peers; its fingerprint names you in
signed requests and bundles.

Examples
--------
>>> from pluma.federation.identity import Identity
>>> me = Identity.generate(tmp_path, name="prime")          # doctest: +SKIP
>>> peer_key = PublicKey.parse(me.public_text)               # doctest: +SKIP
>>> peer_key.verify(me.sign(b"hello"), b"hello")             # doctest: +SKIP
True
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, NotFoundError, StateError
from ..names import validate_name

__all__ = ["Identity", "PublicKey", "canonical", "default_key_dir"]

KEY_FILE = "identity.key"
INFO_FILE = "identity.json"
_PREFIX = "ed25519:"


def canonical(data: Any) -> bytes:
    """The bytes that are signed: JSON with sorted keys, no spaces, no NaN."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def default_key_dir(ws) -> Path:
    """Where a workspace keeps its private key unless told otherwise."""
    if ws.root.is_local:
        return Path(ws.root.location) / "config" / "federation"
    base = Path(os.environ.get("PLUMA_CONFIG_HOME") or Path.home() / ".config" / "pluma")
    return base / ("ws-" + hashlib.sha256(ws.root.uri.encode()).hexdigest()[:16]) / "federation"


@dataclass(frozen=True)
class PublicKey:
    """A peer's public key (verifies what it signed)."""

    raw: bytes

    @classmethod
    def parse(cls, text: object) -> "PublicKey":
        if not isinstance(text, str) or not text.startswith(_PREFIX):
            raise InvalidInputError(
                f"a public key is text such as 'ed25519:<44 base64 characters>' (from `pluma federation keygen`), "
                f"not {text!r}"
            )
        try:
            raw = base64.b64decode(text[len(_PREFIX):], validate=True)
        except ValueError:
            raise InvalidInputError(f"public key {text!r} is not valid base64") from None
        if len(raw) != 32:
            raise InvalidInputError(f"public key {text!r} must hold 32 bytes, it holds {len(raw)}")
        return cls(raw)

    @property
    def text(self) -> str:
        return _PREFIX + base64.b64encode(self.raw).decode()

    @property
    def fingerprint(self) -> str:
        """32 hex characters naming this key (sha256 of the raw key)."""
        return hashlib.sha256(self.raw).hexdigest()[:32]

    def verify(self, signature: bytes, data: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, data)
            return True
        except (InvalidSignature, ValueError):
            return False

    def __str__(self) -> str:
        return self.text


class Identity:
    """This workspace's key pair and name (what peers know it as)."""

    def __init__(self, name: str, private_key, folder: Path) -> None:
        self.name = name
        self._key = private_key
        self.folder = folder
        from cryptography.hazmat.primitives import serialization

        raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public = PublicKey(raw)

    @property
    def public_text(self) -> str:
        return self.public.text

    @property
    def fingerprint(self) -> str:
        return self.public.fingerprint

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def sign_b64(self, data: bytes) -> str:
        return base64.b64encode(self.sign(data)).decode()

    # -- files ----------------------------------------------------------------
    @classmethod
    def generate(cls, folder: str | os.PathLike, *, name: str, force: bool = False) -> "Identity":
        """Create a key pair in ``folder`` (private key mode 0600). Refuses to
        replace an existing key unless ``force`` (peers would no longer know you)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        validate_name(name, "workspace name")
        folder = Path(folder).expanduser()
        path = folder / KEY_FILE
        if path.exists() and not force:
            raise StateError(
                f"{path} holds a key already; peers know this workspace by it. Use it, or pass force=True "
                "(--force) to replace it and give peers the new public key"
            )
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        tmp = folder / (KEY_FILE + ".tmp")
        if tmp.exists():
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        identity = cls(name, key, folder)
        (folder / INFO_FILE).write_text(json.dumps({"name": name, "public_key": identity.public_text,
                                                    "fingerprint": identity.fingerprint}, indent=2))
        return identity

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "Identity":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        folder = Path(folder).expanduser()
        path = folder / KEY_FILE
        if not path.is_file():
            raise NotFoundError(f"no federation identity in {folder}; create one with `pluma federation keygen`")
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise StateError(
                f"{path} is readable by others (mode {mode:o}); the private key must be private: chmod 600 {path}"
            )
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except ValueError as exc:
            raise StateError(f"{path} is not a readable private key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise StateError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
        try:
            info = json.loads((folder / INFO_FILE).read_text())
            name = info["name"]
        except (OSError, ValueError, KeyError):
            name = "workspace"
        return cls(name, key, folder)

    def __repr__(self) -> str:
        return f"<Identity {self.name} {self.public_text}>"
