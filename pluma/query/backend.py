"""Where the frozen-context index lives: the backend interface and its configuration.

Two backends implement :class:`IndexBackend`:

- ``embedded`` (default): a branch ``index`` in each enclave (:class:`pluma.query.index.EmbeddedIndex`).
- ``postgresql``: one table in a PostgreSQL database shared by every hub user and
  service, each program's rows protected by row-level security
  (:class:`pluma.query.postgres.PostgresIndex`). It serves the default enclave; a
  program with an enclave of its own (ITAR) keeps its index in that enclave, so its
  values never leave it.

The URL comes from ``$PLUMA_INDEX_URL`` (a service or kernel given its own
credentials; ``embedded`` forces the embedded index), else from the workspace
setting an admin stores with ``ws.set_index_url(...)``. Either way the store stays the source of truth: a freeze
writes its tag first and the index after, and every backend can be reconciled with
and rebuilt from the tags.

Examples
--------
>>> validate_index_url("postgresql://pluma@db.example:5432/pluma")
'postgresql://pluma@db.example:5432/pluma'
>>> redact("postgresql://svc:s3cret@db.example/pluma")
'postgresql://svc:***@db.example/pluma'
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, Hashable, Protocol

from ..errors import InvalidInputError, MissingDependencyError

if TYPE_CHECKING:  # pragma: no cover
    from ..memory import Enclave
    from ..workspace import Workspace

__all__ = ["IndexBackend", "ENV_VAR", "EMBEDDED", "index_url", "validate_index_url", "redact", "backend_for",
           "require_psycopg"]

ENV_VAR = "PLUMA_INDEX_URL"
EMBEDDED = "embedded"
SETTING = "index_url"
_SCHEMES = ("postgresql://", "postgres://")


class IndexBackend(Protocol):
    """What the index of one enclave must do. Entries are the dicts built by
    :func:`pluma.query.index.entry_for`; ``load`` returns those the workspace's
    user may see (a backend may return more: ``ws.query`` filters by access too)."""

    name: str

    def record(self, enclave: "Enclave", entries: list[dict[str, Any]], *, author: str) -> None: ...

    def load(self, enclave: "Enclave") -> list[dict[str, Any]]: ...

    def state(self, enclave: "Enclave") -> Hashable: ...

    def reconcile(self, enclave: "Enclave", *, author: str) -> int: ...

    def rebuild(self, enclave: "Enclave", entries: list[dict[str, Any]], *, author: str) -> None: ...


def require_psycopg():
    """The psycopg module, or a MissingDependencyError with the pip line."""
    try:
        import psycopg
    except ImportError as exc:
        raise MissingDependencyError(
            "the PostgreSQL query index needs psycopg 3: pip install 'pluma[postgres]'"
        ) from exc
    return psycopg


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages and logs)."""
    return re.sub(r"^([a-z]+://[^:/@]*):[^@]*@", r"\1:***@", url)


def validate_index_url(url: object, *, allow_password: bool = True) -> str:
    """Check that ``url`` is a PostgreSQL URL (``postgresql://user@host:port/db``)."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInputError("an index URL is text such as 'postgresql://pluma@db.example:5432/pluma'")
    url = url.strip()
    if not url.startswith(_SCHEMES):
        raise InvalidInputError(
            f"unsupported index URL {redact(url)!r}: PLUMA's shared index is PostgreSQL, e.g. "
            "'postgresql://pluma@db.example:5432/pluma' (or None for the embedded index)"
        )
    require_psycopg()
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(url)
    except Exception as exc:  # psycopg.ProgrammingError for malformed URIs
        raise InvalidInputError(f"malformed index URL {redact(url)!r}: {str(exc).splitlines()[0]}") from None
    if not allow_password and params.get("password"):
        raise InvalidInputError(
            "the stored index URL must not contain a password (every user can read workspace settings): "
            "give the password through ~/.pgpass / PGPASSFILE or PGPASSWORD, or set PLUMA_INDEX_URL "
            "with credentials in the service's environment"
        )
    return url


def index_url(ws: "Workspace") -> str | None:
    """The PostgreSQL URL of the index of ``ws``, or None for the embedded index."""
    url = os.environ.get(ENV_VAR, "").strip()
    if not url:
        url = (ws.settings().get(SETTING) or "").strip()
    if not url or url == EMBEDDED:
        return None
    return validate_index_url(url)


def backend_for(ws: "Workspace", enclave: "Enclave", url: str | None) -> IndexBackend:
    """The backend holding the index of ``enclave``: PostgreSQL (when configured) for
    the default enclave, the embedded branch otherwise."""
    from .index import EmbeddedIndex

    if url is not None and enclave.name == "default":
        from .postgres import PostgresIndex

        return PostgresIndex(ws, url)
    return EmbeddedIndex(ws)
