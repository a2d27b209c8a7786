"""PLUMA's exceptions.

Every error PLUMA raises on purpose is a :class:`PlumaError`. Categories follow
what a caller does about them, and each also derives from the matching
built-in so that generic handlers keep working::

    PlumaError
    ├── InvalidInputError (ValueError)      bad name, unit, value, expression, YAML, option
    │   ├── ExpressionError                 a gate or query expression that does not parse or evaluate
    │   └── UnitError                       a value whose unit does not convert to the declared one
    ├── NotFoundError (KeyError)            a program, user, parameter, dataset, frozen context ...
    ├── AccessDenied (PermissionError)      the principal lacks a role, clearance or identity
    ├── ConflictError                       someone else changed the same item since you last read it
    ├── StateError                          the operation is illegal in the program's current state
    │   ├── GateNotPassed                   advance() with a gate that does not pass
    │   └── StaleContextError               a context handle from before an advance/rework/kill
    ├── StorageError (OSError)              the Enterprise Memory could not be read or written
    └── MissingDependencyError (ImportError) an optional part is not installed

Every error has a stable ``kind`` string (for ``--json`` output and logs) and
pickles (Dask ships errors between processes).
"""

from __future__ import annotations

import warnings

__all__ = [
    "AccessDenied",
    "ConflictError",
    "ExpressionError",
    "GateNotPassed",
    "InvalidInputError",
    "MissingDependencyError",
    "NotFoundError",
    "PlumaError",
    "PlumaWarning",
    "StaleContextError",
    "StateError",
    "StorageError",
    "UnitError",
]


class PlumaError(Exception):
    """Root of every error PLUMA raises on purpose."""

    kind = "pluma_error"

    def __init__(self, message: str, *args: object) -> None:
        super().__init__(message, *args)
        self.message = message

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.message

    def __reduce__(self):  # pickle with the message only
        return (type(self), self.args)


class InvalidInputError(PlumaError, ValueError):
    """An argument, file or option is malformed; the message says what to fix."""

    kind = "invalid_input"


class ExpressionError(InvalidInputError):
    """A gate check or query expression does not parse or cannot be evaluated."""

    kind = "invalid_expression"


class UnitError(InvalidInputError):
    """A value's unit does not convert to the declared unit."""

    kind = "invalid_unit"


class NotFoundError(PlumaError, KeyError):
    """A named thing (program, user, parameter, dataset, frozen context) does not exist."""

    kind = "not_found"


class AccessDenied(PlumaError, PermissionError):
    """The acting user may not do this; the message names the missing role or clearance."""

    kind = "access_denied"


class ConflictError(PlumaError):
    """Someone else changed an item since this handle last read it (never a silent overwrite)."""

    kind = "conflict"


class StateError(PlumaError):
    """The operation is not allowed in the program's current phase or status."""

    kind = "illegal_state"


class GateNotPassed(StateError):
    """``advance()`` was called while the phase gate does not pass."""

    kind = "gate_not_passed"

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report

    def __reduce__(self):
        return (type(self), (self.message, self.report))


class StaleContextError(StateError):
    """A context handle made before an advance, rework or kill may no longer write."""

    kind = "stale_context"


class StorageError(PlumaError, OSError):
    """The Enterprise Memory could not be opened, read or written."""

    kind = "storage"


class MissingDependencyError(PlumaError, ImportError):
    """An optional part of PLUMA is not installed; the message gives the pip line."""

    kind = "missing_dependency"


class PlumaWarning(UserWarning):
    """Something the user should see that does not stop the operation."""


def warn(message: str, stacklevel: int = 2) -> None:
    warnings.warn(message, PlumaWarning, stacklevel=stacklevel + 1)
