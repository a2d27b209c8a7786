"""Names of programs and users: 1-64 letters, digits, '-' and '_', starting with a
letter, unique without regard to case (they become JupyterHub groups and storage refs)."""

from __future__ import annotations

import re

from .errors import InvalidInputError

__all__ = ["validate_name", "name_key", "validate_item_name"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_ITEM = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")


def validate_name(name: object, what: str = "name") -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInputError(
            f"invalid {what} {name!r}: use 1-64 letters, digits, '-' or '_', starting with a letter (e.g. 'AMPEL360')"
        )
    return name


def name_key(name: str) -> str:
    """The case-insensitive key under which a name is unique."""
    return name.lower()


def validate_item_name(name: object, what: str) -> str:
    """Parameter, dataset and artifact names: identifiers (letters, digits, '_')."""
    if not isinstance(name, str) or not _ITEM.match(name):
        raise InvalidInputError(
            f"invalid {what} name {name!r}: use letters, digits and '_', starting with a letter (e.g. 'wing_loads')"
        )
    return name
