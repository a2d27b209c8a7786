"""Catalog entry names: one per (program, phase, freeze number or ``latest``,
dataset), readable, valid Python identifiers, and free of collisions.

The scheme::

    <program>_<phase>_<n | latest>_<dataset>

* ``<program>`` is the program name in lower case (program names are unique
  without regard to case) with ``_`` written as ``_0`` and ``-`` as ``_1``.
  The encoded program therefore contains ``_`` only in front of a digit.
* ``<phase>`` is the phase in lower case (``cad``, ``cae``, ...): letters only.
* ``<n | latest>`` is the freeze number (1, 2, ...) or the word ``latest``.
* ``<dataset>`` is the dataset name as it is (an identifier).

Examples: ``AMPEL360@CAE#1`` dataset ``wing_loads`` -> ``ampel360_cae_1_wing_loads``;
``ATR-NEO@CAD#2`` dataset ``mass_breakdown`` -> ``atr_1neo_cad_2_mass_breakdown``;
``My_Plane@CAD`` (latest) dataset ``polars`` -> ``my_0plane_cad_latest_polars``.

Why it cannot collide: a program name starts with a letter, so its encoding
is made of ``[a-z0-9]`` and the pairs ``_0``/``_1``. Reading a name from the
left, the first ``_`` followed by a letter ends the program (no ``_`` inside
the encoding is followed by a letter); the phase runs to the next ``_`` (a
phase has no ``_``); the freeze number (digits) or ``latest`` runs to the next
``_``; the rest is the dataset. Every step is forced, so
:func:`parse_entry_name` recovers (program key, phase, n, dataset) uniquely,
and two different tuples never give the same name.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..errors import InvalidInputError
from ..names import name_key, validate_item_name, validate_name
from ..programs.phases import Phase

__all__ = ["EntryName", "LATEST", "decode_program", "encode_program", "entry_name", "parse_entry_name"]

LATEST = "latest"

_ENCODE = {"_": "_0", "-": "_1"}
_DECODE = {"0": "_", "1": "-"}
_ENTRY = re.compile(
    r"^(?P<program>[a-z](?:[a-z0-9]|_[01])*)"
    r"_(?P<phase>[a-z]+)"
    r"_(?P<n>[1-9][0-9]*|latest)"
    r"_(?P<dataset>[A-Za-z][A-Za-z0-9_]*)$"
)


class EntryName(NamedTuple):
    """What an entry name says. ``program`` is the program's key (lower case:
    ``ws.program(...)`` accepts any case), ``n`` a freeze number or ``"latest"``."""

    program: str
    phase: Phase
    n: int | str
    dataset: str

    @property
    def latest(self) -> bool:
        return self.n == LATEST


def encode_program(program: str) -> str:
    """``ATR-NEO`` -> ``atr_1neo``; ``My_Plane`` -> ``my_0plane``."""
    validate_name(program, "program name")
    return "".join(_ENCODE.get(c, c) for c in name_key(program))


def decode_program(encoded: str) -> str:
    """The inverse of :func:`encode_program` (gives the lower-case program key)."""
    if not isinstance(encoded, str) or not re.fullmatch(r"[a-z](?:[a-z0-9]|_[01])*", encoded):
        raise InvalidInputError(f"{encoded!r} is not an encoded program name (e.g. 'ampel360', 'atr_1neo')")
    out, i = [], 0
    while i < len(encoded):
        if encoded[i] == "_":
            out.append(_DECODE[encoded[i + 1]])
            i += 2
        else:
            out.append(encoded[i])
            i += 1
    return "".join(out)


def _check_n(n: object) -> int | str:
    if n == LATEST and isinstance(n, str):
        return LATEST
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidInputError(f"the freeze number must be a positive integer or 'latest', got {n!r}")
    return n


def entry_name(program: str, phase: Phase | str, n_or_latest: int | str, dataset: str) -> str:
    """The catalog entry name of ``dataset`` in ``program@phase#n`` (or the latest
    freeze of that phase with ``n_or_latest="latest"``).

    >>> entry_name("AMPEL360", "CAE", 1, "wing_loads")
    'ampel360_cae_1_wing_loads'
    >>> entry_name("ATR-NEO", "CAD", 2, "mass_breakdown")
    'atr_1neo_cad_2_mass_breakdown'
    >>> entry_name("ATR-NEO", "CAD", "latest", "polars")
    'atr_1neo_cad_latest_polars'
    """
    encoded = encode_program(program)
    phase_value = Phase.parse(phase).value.lower()
    n = _check_n(n_or_latest)
    validate_item_name(dataset, "dataset")
    return f"{encoded}_{phase_value}_{n}_{dataset}"


def parse_entry_name(name: str) -> EntryName:
    """The inverse of :func:`entry_name`.

    >>> parse_entry_name("atr_1neo_cad_2_mass_breakdown")
    EntryName(program='atr-neo', phase=<Phase.CAD: 'CAD'>, n=2, dataset='mass_breakdown')
    """
    m = _ENTRY.match(name) if isinstance(name, str) else None
    if m is None:
        raise InvalidInputError(
            f"{name!r} is not a PLUMA catalog entry name: expected <program>_<phase>_<n|latest>_<dataset>, "
            "e.g. 'ampel360_cae_1_wing_loads' (in the program, '_' is written '_0' and '-' '_1')"
        )
    phase_text = m["phase"]
    if phase_text.upper() not in Phase.__members__:
        raise InvalidInputError(f"{name!r}: unknown phase {phase_text!r}; use one of "
                                + ", ".join(p.value.lower() for p in Phase))
    program = decode_program(m["program"])
    if len(program) > 64:
        raise InvalidInputError(f"{name!r}: the program name is longer than 64 characters")
    n: int | str = LATEST if m["n"] == LATEST else int(m["n"])
    dataset = validate_item_name(m["dataset"], "dataset")
    return EntryName(program, Phase.parse(phase_text), n, dataset)
