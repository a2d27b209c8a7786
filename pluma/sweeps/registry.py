"""The analyses a sweep may run by name (the command line resolves names only here).

The registry is filled lazily, the first time it is read, from

* the public functions of :mod:`pluma.analysis` (its ``__all__``) that
  return a mapping (unannotated ones too), when that package is installed;
* the entry point group ``pluma.analyses`` of installed packages
  (``name = "package.module:function"``); a broken entry point warns and is
  skipped;
* :func:`register` calls.

A name from the command line is looked up here and nowhere else: PLUMA never
imports a dotted path given on the command line.

Examples
--------
>>> from pluma.sweeps import registry
>>> def drag(cl: float, ar: float) -> dict:
...     return {"cdi": cl**2 / (3.14159 * ar)}
>>> registry.register("toy_drag", drag)
>>> registry.get("toy_drag") is drag
True
"""

from __future__ import annotations

import inspect
import logging
import threading
from typing import Callable

from ..errors import InvalidInputError, NotFoundError, PlumaWarning

log = logging.getLogger(__name__)

__all__ = ["available", "get", "register"]

ENTRY_POINT_GROUP = "pluma.analyses"

_REGISTRY: dict[str, Callable] = {}
_LOADED = False
_LOCK = threading.Lock()


def register(name: str, func: Callable, *, replace: bool = False) -> None:
    """Make ``func`` runnable by name (``pluma sweep run NAME ...``)."""
    from ..names import validate_item_name

    validate_item_name(name, "analysis")
    if not callable(func):
        raise InvalidInputError(f"analysis {name!r} must be callable, got {type(func).__name__}")
    with _LOCK:
        if name in _REGISTRY and _REGISTRY[name] is not func and not replace:
            raise InvalidInputError(f"an analysis named {name!r} is registered already; pass replace=True to replace it")
        _REGISTRY[name] = func


def _load() -> None:
    global _LOADED
    with _LOCK:
        if _LOADED:
            return
        _LOADED = True
    found: dict[str, Callable] = {}
    try:
        from .. import analysis  # type: ignore[attr-defined]
    except ImportError as exc:
        log.debug("pluma.analysis is not available: %s", exc)
    else:
        for name in getattr(analysis, "__all__", ()):
            obj = getattr(analysis, name, None)
            if inspect.isfunction(obj) and _returns_mapping(obj):
                found[name] = obj
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            func = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the registry
            import warnings

            warnings.warn(f"analysis entry point {ep.name!r} ({ep.value}) does not load: {exc}", PlumaWarning,
                          stacklevel=3)
            continue
        if callable(func):
            found.setdefault(ep.name, func)
    with _LOCK:
        for name, func in found.items():
            _REGISTRY.setdefault(name, func)


def _returns_mapping(func: Callable) -> bool:
    """True unless ``func`` is annotated to return something other than a mapping
    (a sweep stores a mapping of scalars per point)."""
    annotation = inspect.signature(func).return_annotation
    if annotation is inspect.Signature.empty:
        return True
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    return text.split("[")[0].strip().rsplit(".", 1)[-1] in ("dict", "Dict", "Mapping", "MutableMapping")


def available() -> list[str]:
    """Names of the registered analyses, sorted."""
    _load()
    with _LOCK:
        return sorted(_REGISTRY)


def get(name: str) -> Callable:
    """The analysis registered as ``name``; an unknown name lists what exists."""
    _load()
    with _LOCK:
        func = _REGISTRY.get(name)
    if func is None:
        names = ", ".join(available()) or "none registered (install pluma.analysis or call pluma.sweeps.register)"
        raise NotFoundError(f"no analysis {name!r}; available: {names}")
    return func
