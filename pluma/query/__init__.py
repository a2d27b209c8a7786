"""Finding frozen contexts fast: the index (rebuildable from the store) and queries."""

from .index import FrozenIndex, entry_for
from .query import query

__all__ = ["FrozenIndex", "entry_for", "query"]
