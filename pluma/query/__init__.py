"""Finding frozen contexts fast: the index (rebuildable from the store) and queries.

The index lives in the store by default (:class:`EmbeddedIndex`) or, for a workspace
shared by many users and services, in PostgreSQL with row-level security per
program (``ws.set_index_url(...)``, :mod:`pluma.query.postgres`)."""

from .backend import IndexBackend
from .index import EmbeddedIndex, FrozenIndex, entry_for
from .query import query

__all__ = ["EmbeddedIndex", "FrozenIndex", "IndexBackend", "entry_for", "query"]
