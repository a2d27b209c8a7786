"""``pluma.record(name, value)``: what a template notebook hands back to PLUMA.

Inside a kernel, :func:`record` displays the value (readable in the report)
together with a machine-readable copy under the MIME type :data:`MIME`, so
the executed notebook itself carries its results — a plain ``papermill`` run
keeps them too, and :func:`collect` reads them back from any executed
notebook. The runner stores them in the program's context with provenance
(:mod:`pluma.templates.runner`).

Values: numbers (with ``unit=`` or as a pint Quantity), booleans, text, numpy
arrays (1-D or more, optionally with a unit) and xarray Datasets / DataArrays.

Examples
--------
>>> from pluma.templates import record
>>> record("ld_cruise", 17.2)                    # doctest: +SKIP
>>> record("tip_deflection", 1.9, unit="m")      # doctest: +SKIP
>>> record("wing_loads", wing_loads_ds)          # doctest: +SKIP
"""

from __future__ import annotations

import html
import math
from typing import Any, Iterable

import numpy as np

from ..errors import InvalidInputError
from ..names import validate_item_name

__all__ = ["MIME", "Recorded", "collect", "decode", "encode", "record"]

MIME = "application/vnd.pluma.record+json"

#: what this process recorded (outside a kernel, or for inspection)
RECORDED: dict[str, Any] = {}


class Recorded(dict):
    """One decoded record: ``kind`` (scalar / array / dataset), ``name``, ``value``, ``unit``."""

    @property
    def value(self) -> Any:
        return self["value"]


# -- JSON encoding of numbers that JSON lacks ------------------------------------------------
def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if hasattr(value, "isoformat"):
        return {"__datetime__": value.isoformat()}
    return value


def _unclean(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__float__"}:
            return float(value["__float__"])
        if set(value) == {"__datetime__"}:
            return np.datetime64(value["__datetime__"].replace("+00:00", ""), "ns")
        return {k: _unclean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unclean(v) for v in value]
    return value


def _unit_of(value: Any, unit: str | None) -> tuple[Any, str | None]:
    if hasattr(value, "magnitude") and hasattr(value, "units"):  # pint Quantity
        if unit is not None:
            from ..units import to_unit

            return to_unit(value, unit), unit
        return value.magnitude, f"{value.units:~C}" or "1"
    if unit is not None:
        from ..units import parse_unit

        parse_unit(unit)
    return value, unit


def encode(name: str, value: Any, unit: str | None = None) -> dict[str, Any]:
    """The JSON payload for one record."""
    validate_item_name(name, "recorded output")
    value, unit = _unit_of(value, unit)
    try:
        import xarray as xr
    except ImportError:  # pragma: no cover
        xr = None
    if xr is not None and isinstance(value, xr.DataArray):
        value = value.to_dataset(name=value.name or name)
    if xr is not None and isinstance(value, xr.Dataset):
        return {"name": name, "kind": "dataset", "unit": None, "value": _clean(value.to_dict(data="list"))}
    if isinstance(value, (list, tuple)):
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            value = value[()]
        else:
            if value.dtype.kind not in "biuf":
                raise InvalidInputError(f"recorded output {name!r}: arrays must be numeric or boolean, not {value.dtype}")
            return {"name": name, "kind": "array", "unit": unit, "dtype": value.dtype.str,
                    "value": _clean(value.tolist())}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or isinstance(value, str):
        return {"name": name, "kind": "scalar", "unit": None, "value": value}
    if isinstance(value, (int, float)):
        return {"name": name, "kind": "scalar", "unit": unit, "value": _clean(value)}
    raise InvalidInputError(
        f"recorded output {name!r}: record numbers (with a unit), booleans, text, numpy arrays or xarray Datasets, "
        f"not {type(value).__name__}"
    )


def decode(payload: dict[str, Any]) -> Recorded:
    """A record payload back to Python values (Dataset, ndarray, number)."""
    kind = payload.get("kind")
    value = _unclean(payload.get("value"))
    if kind == "dataset":
        import xarray as xr

        value = xr.Dataset.from_dict(value)
    elif kind == "array":
        value = np.asarray(value, dtype=np.dtype(payload.get("dtype", "<f8")))
    elif kind != "scalar":
        raise InvalidInputError(f"unknown record kind {kind!r}")
    return Recorded(name=payload["name"], kind=kind, value=value, unit=payload.get("unit"))


def _text(payload: dict[str, Any], value: Any) -> str:
    unit = payload.get("unit")
    suffix = f" {unit}" if unit not in (None, "", "1") else ""
    if payload["kind"] == "dataset":
        sizes = ", ".join(f"{k}: {v}" for k, v in value.sizes.items())
        return f"recorded {payload['name']}: dataset ({sizes}) with {', '.join(map(str, value.data_vars))}"
    if payload["kind"] == "array":
        return f"recorded {payload['name']}: array of shape {np.shape(value)}{suffix}"
    shown = f"{value:.6g}" if isinstance(value, float) else str(value)
    return f"recorded {payload['name']} = {shown}{suffix}"


def record(name: str, value: Any, *, unit: str | None = None) -> Any:
    """Record an output of a template run; it flows back into the program's context.

    In a notebook the record is shown (one line) and kept, machine-readable, in
    the cell's output. Returns ``value`` so it can be used inline.
    """
    payload = encode(name, value, unit)
    RECORDED[name] = value
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython is always there with a kernel
        shell = None
    if shell is not None:
        from IPython.display import display

        text = _text(payload, value)
        display({MIME: payload, "text/plain": text,
                 "text/html": f"<p style='color:#555'><code>{html.escape(text)}</code></p>"}, raw=True)
    return value


def collect(nb: Any) -> dict[str, Recorded]:
    """Every record in an executed notebook (a NotebookNode, a dict or a path), in order; a later record of
    the same name replaces an earlier one."""
    if isinstance(nb, (str, bytes)) or hasattr(nb, "__fspath__"):
        import nbformat

        nb = nbformat.read(str(nb), as_version=4)
    out: dict[str, Recorded] = {}
    cells: Iterable = nb["cells"] if isinstance(nb, dict) else nb.cells
    for cell in cells:
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = output.get("data") or {}
            if MIME in data:
                payload = data[MIME]
                if isinstance(payload, str):
                    import json

                    payload = json.loads(payload)
                rec = decode(payload)
                out[rec["name"]] = rec
    return out
