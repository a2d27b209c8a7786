"""Argument checks shared by the engineering modules (private)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..errors import InvalidInputError


def as_array(name: str, value: ArrayLike) -> np.ndarray:
    """``value`` as a float array; InvalidInputError if it is not numeric or not finite."""
    if isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{name} must be a number, got a boolean")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number or array of numbers, got {value!r}") from None
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{name} must be finite")
    return arr


def positive(name: str, value: ArrayLike) -> np.ndarray:
    """``value`` as a float array, every element > 0."""
    arr = as_array(name, value)
    if np.any(arr <= 0.0):
        raise InvalidInputError(f"{name} must be > 0, got {value!r}")
    return arr


def non_negative(name: str, value: ArrayLike) -> np.ndarray:
    """``value`` as a float array, every element >= 0."""
    arr = as_array(name, value)
    if np.any(arr < 0.0):
        raise InvalidInputError(f"{name} must be >= 0, got {value!r}")
    return arr


def out(x: Any) -> Any:
    """Return a Python float for 0-d results, the array otherwise."""
    arr = np.asarray(x)
    return float(arr) if arr.ndim == 0 else arr
