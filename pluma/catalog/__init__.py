"""intake (v2) catalogs of frozen contexts.

* :class:`~pluma.catalog.reader.PlumaFrozenDataset`: the intake reader of one
  dataset of one frozen context (``reader: pluma.catalog.reader:PlumaFrozenDataset``);
  intake finds it through the ``intake.imports`` entry point, without
  ``import pluma`` first. Needs ``pip install 'pluma[catalog]'``.
* :func:`export_catalog`: write the catalog of every frozen context a user may
  read (``pluma catalog export OUT.yaml``).
* :func:`entry_name` / :func:`parse_entry_name`: collision-free entry names
  such as ``ampel360_cae_1_wing_loads`` (see :mod:`pluma.catalog.names`).

Only the reader needs intake; names and export work without it.

>>> from pluma.catalog import entry_name
>>> entry_name("ATR-NEO", "CAD", 2, "mass_breakdown")
'atr_1neo_cad_2_mass_breakdown'
"""

from __future__ import annotations

from typing import Any

from .export import build_catalog, export_catalog
from .names import LATEST, EntryName, entry_name, parse_entry_name

__all__ = ["EntryName", "LATEST", "PlumaFrozenDataset", "build_catalog", "entry_name", "export_catalog",
           "parse_entry_name"]


def __getattr__(name: str) -> Any:
    if name == "PlumaFrozenDataset":  # imports intake: only when asked for
        from .reader import PlumaFrozenDataset

        return PlumaFrozenDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
