"""Disk accounting shared by the benchmarks."""

from __future__ import annotations

import os
from pathlib import Path


def disk_usage(folder: Path) -> dict[str, int]:
    """Bytes under ``folder`` per top-level entry (chunks, manifests, snapshots, overwritten, ...)."""
    out: dict[str, int] = {}
    for root, _, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        top = rel.parts[0] if rel.parts else "."
        out[top] = out.get(top, 0) + sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return out
