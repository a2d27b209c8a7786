"""The fixed whitelist of functions an expression may call."""

from __future__ import annotations

from typing import Any

import numpy as np

from .values import EvalProblem, describe, is_array, is_quantity, kind_of, magnitude, to_python, unify

__all__ = ["ARITY", "ALLOWED", "call"]

# name -> (fewest, most) arguments; None = no upper bound
ARITY: dict[str, tuple[int, int | None]] = {
    "abs": (1, 1),
    "all": (1, 1),
    "any": (1, 1),
    "len": (1, 1),
    "max": (1, None),
    "mean": (1, 1),
    "min": (1, None),
    "sum": (1, 1),
}
ALLOWED = tuple(sorted(ARITY))

Arg = tuple[Any, bool]  # (value, is it a bare number literal)


def call(name: str, args: list[Arg]) -> Any:
    """Apply whitelisted function ``name``; raise EvalProblem for wrong argument types."""
    return to_python(_IMPL[name](name, args))


def _need(name: str, v: Any, *kinds: str) -> None:
    if kind_of(v) not in kinds:
        wanted = " or ".join({"number": "numbers", "bool": "true/false values", "text": "text"}[k] for k in kinds)
        raise EvalProblem(f"{name}() needs {wanted}, got {describe(v)}")


def _size(v: Any) -> int:
    return int(np.asarray(magnitude(v)).size)


def _min_max(name: str, args: list[Arg]) -> Any:
    if len(args) == 1:
        v = args[0][0]
        _need(name, v, "number")
        if not is_array(v):
            return v
        if _size(v) == 0:
            raise EvalProblem(f"{name}() of an empty array has no value")
        return v.min() if name == "min" else v.max()
    for v, _ in args:
        _need(name, v, "number")
        if is_array(v):
            raise EvalProblem(
                f"{name}() with several arguments compares single numbers; got {describe(v)} "
                f"(use {name}(array) to reduce an array)"
            )
    ref, ref_bare = next(((v, b) for v, b in args if is_quantity(v)), args[0])
    values = [unify(ref, ref_bare, v, bare, "compare")[1] for v, bare in args]
    return min(values) if name == "min" else max(values)


def _mean(name: str, args: list[Arg]) -> Any:
    v = args[0][0]
    _need(name, v, "number", "bool")
    if not is_array(v):
        return v
    if _size(v) == 0:
        raise EvalProblem("mean() of an empty array has no value")
    return np.mean(v)


def _sum(name: str, args: list[Arg]) -> Any:
    v = args[0][0]
    _need(name, v, "number", "bool")
    if not is_array(v):
        return int(v) if kind_of(v) == "bool" else v
    return np.sum(v)


def _all_any(name: str, args: list[Arg]) -> Any:
    v = args[0][0]
    _need(name, v, "bool")
    m = magnitude(v)
    return bool(np.all(m) if name == "all" else np.any(m))


def _abs(name: str, args: list[Arg]) -> Any:
    v = args[0][0]
    _need(name, v, "number")
    return abs(v)


def _len(name: str, args: list[Arg]) -> Any:
    v = args[0][0]
    if is_array(v):
        return _size(v)
    if isinstance(v, str):
        return len(v)
    raise EvalProblem(f"len() needs an array or text, got {describe(v)}")


_IMPL = {
    "abs": _abs,
    "all": _all_any,
    "any": _all_any,
    "len": _len,
    "max": _min_max,
    "mean": _mean,
    "min": _min_max,
    "sum": _sum,
}
