"""Workspace roots: where enclaves live, on a local folder or an object store."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

from ..errors import InvalidInputError, StorageError

__all__ = ["WorkspaceRoot", "parse_root", "S3_OPTION_NAMES", "enclave_root", "enclave_options_variable"]

#: Storage options accepted for ``s3://`` roots: Icechunk's own names.
S3_OPTION_NAMES = frozenset(
    {"endpoint_url", "region", "allow_http", "force_path_style", "access_key_id", "secret_access_key", "session_token"}
)


def _quiet_icechunk() -> None:
    """Icechunk warns on every local open that local storage is unsafe for concurrent
    commits; PLUMA serialises them with a lock (see ``locking``), so keep its log to
    errors unless the user configured ICECHUNK_LOG."""
    if "ICECHUNK_LOG" not in os.environ:
        import icechunk

        icechunk.set_logs_filter("error")
        os.environ["ICECHUNK_LOG"] = "error"


@dataclass(frozen=True)
class WorkspaceRoot:
    """A workspace root: ``file`` (a folder) or ``s3`` (bucket + prefix).

    Layout under the root::

        enclaves/default/     Icechunk repository: workspace registry + every non-ITAR program
        enclaves/<name>/      one repository per ITAR program (its own root / credentials)
        locks/                commit locks (local roots only)
    """

    scheme: str
    location: str  # folder path, or bucket
    prefix: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return self.scheme == "file"

    @property
    def uri(self) -> str:
        if self.is_local:
            return self.location
        return f"s3://{self.location}/{self.prefix}".rstrip("/")

    def enclave_storage(self, enclave: str):
        import icechunk

        _quiet_icechunk()
        if self.is_local:
            return icechunk.local_filesystem_storage(str(Path(self.location) / "enclaves" / enclave))
        prefix = "/".join(p for p in (self.prefix, "enclaves", enclave) if p)
        opts = dict(self.options)
        return icechunk.s3_storage(bucket=self.location, prefix=prefix, **opts)

    def lock_path(self, enclave: str) -> Path | None:
        if not self.is_local:
            return None
        return Path(self.location) / "locks" / f"{enclave}.lock"

    def ensure_local_dirs(self) -> None:
        if self.is_local:
            try:
                (Path(self.location) / "enclaves").mkdir(parents=True, exist_ok=True)
                (Path(self.location) / "locks").mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create the workspace folder {self.location}: {exc.strerror}") from exc


def default_home() -> str:
    return os.environ.get("PLUMA_HOME") or str(Path.cwd() / "pluma-home")


def parse_root(uri: str | os.PathLike | None, storage_options: Mapping[str, Any] | None = None) -> WorkspaceRoot:
    """Turn ``None`` (``$PLUMA_HOME`` else ``./pluma-home``), a path, ``file://``
    or ``s3://bucket/prefix`` into a :class:`WorkspaceRoot`, validating the options."""
    if uri is None:
        uri = default_home()
    if isinstance(uri, os.PathLike):
        uri = os.fspath(uri)
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidInputError("workspace location must be a folder path or an 's3://bucket/prefix' URI")
    if "\x00" in uri:
        raise InvalidInputError(f"workspace location {uri!r} contains a NUL character")
    if storage_options is not None and not isinstance(storage_options, Mapping):
        raise InvalidInputError(
            f"storage_options must be a mapping such as {{'endpoint_url': ...}}, not {type(storage_options).__name__}"
        )
    options = dict(storage_options or {})
    if not all(isinstance(k, str) for k in options):
        raise InvalidInputError("storage option names must be text, e.g. 'endpoint_url'")
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        if options:
            raise InvalidInputError(
                f"storage_options {sorted(options)} apply to object stores only; a local workspace takes none"
            )
        path = parsed.path if parsed.scheme == "file" else uri
        return WorkspaceRoot("file", str(Path(path).expanduser().resolve()))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise InvalidInputError(f"{uri!r} names no bucket: write 's3://bucket/prefix'")
        unknown = sorted(set(options) - S3_OPTION_NAMES)
        if unknown:
            raise InvalidInputError(
                f"unknown storage option(s) {', '.join(unknown)}; S3 takes Icechunk's names: "
                + ", ".join(sorted(S3_OPTION_NAMES))
            )
        for key in ("allow_http", "force_path_style"):
            if key in options and not isinstance(options[key], bool):
                raise InvalidInputError(f"storage option {key} must be true or false, got {options[key]!r}")
        for key in ("endpoint_url", "region", "access_key_id", "secret_access_key", "session_token"):
            if key in options and not isinstance(options[key], str):
                raise InvalidInputError(f"storage option {key} must be a string, got {type(options[key]).__name__}")
        return WorkspaceRoot("s3", parsed.netloc, parsed.path.strip("/"), options)
    raise InvalidInputError(f"unsupported workspace URI scheme {parsed.scheme!r}: use a folder path or s3://bucket/prefix")


def enclave_options_variable(enclave: str) -> str:
    """The environment variable holding an enclave's own storage options (JSON), e.g.
    ``PLUMA_ENCLAVE_PROGRAM_HAWK_OPTIONS`` for enclave ``program-hawk``."""
    return "PLUMA_ENCLAVE_" + "".join(c if c.isalnum() else "_" for c in enclave).upper() + "_OPTIONS"


def enclave_root(enclave: str, location: str, fallback: WorkspaceRoot) -> WorkspaceRoot:
    """The root of an enclave kept at its own ``location`` (a folder or ``s3://bucket/prefix``).

    Its storage options (endpoint, credentials, ...) come from the environment
    variable :func:`enclave_options_variable` as a JSON object, so production can
    give each enclave its own bucket and credentials; they are never stored in the
    workspace. Without that variable an ``s3://`` enclave uses the options the
    workspace was opened with.

    Examples
    --------
    >>> enclave_options_variable("program-hawk")
    'PLUMA_ENCLAVE_PROGRAM_HAWK_OPTIONS'
    """
    import json

    variable = enclave_options_variable(enclave)
    raw = os.environ.get(variable)
    if raw is not None:
        try:
            options = json.loads(raw)
        except ValueError:
            raise InvalidInputError(f"{variable} must hold a JSON object of storage options") from None
        if not isinstance(options, dict):
            raise InvalidInputError(f"{variable} must hold a JSON object of storage options")
    elif isinstance(location, str) and urlparse(location).scheme == "s3" and not fallback.is_local:
        options = dict(fallback.options)
    else:
        options = {}
    return parse_root(location, options)
