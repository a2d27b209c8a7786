"""Argument checks shared across PLUMA's computational modules (private)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import InvalidInputError


def finite_scalar(name: str, value: Any) -> float:
    """``value`` as a finite float; booleans, text and arrays are refused with a clear error."""
    if isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{name} must be a number, got a boolean")
    if isinstance(value, (str, bytes)):
        raise InvalidInputError(f"{name} must be a number, got text {value!r}")
    arr = np.asarray(value)
    if arr.ndim != 0:
        raise InvalidInputError(f"{name} must be a single number, got an array of shape {arr.shape}")
    try:
        x = float(arr)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise InvalidInputError(f"{name} must be finite, got {value!r}")
    return x
