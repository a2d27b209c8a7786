from __future__ import annotations

from datetime import datetime, timezone


def now() -> str:
    """UTC timestamp as ISO 8601 text (what PLUMA stores)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
