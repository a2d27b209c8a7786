"""Read-only views of a context at one snapshot (working tip, past commit, frozen tag)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NotFoundError
from ..memory import Snapshot
from .params import ParamSpec, Params
from .vocabulary import VOCABULARY

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

__all__ = ["ContextView", "EMPTY_MANIFEST", "param_specs", "DATA_PREFIX", "ARTIFACT_PREFIX"]

DATA_PREFIX = "data"
ARTIFACT_PREFIX = "artifacts"


def empty_manifest() -> dict[str, Any]:
    return {"rev": 0, "params": {}, "datasets": {}, "artifacts": {}}


EMPTY_MANIFEST = empty_manifest()


def param_specs(program_state: dict) -> dict[str, ParamSpec]:
    """The vocabulary plus what the program declared."""
    from .params import spec_from_dict

    specs = dict(VOCABULARY)
    for name, raw in (program_state.get("declared") or {}).items():
        specs[name] = spec_from_dict(name, raw)
    return specs


class ContextView:
    """Parameters, datasets and artifacts of a context at one snapshot."""

    def __init__(self, program, snapshot: Snapshot, *, state: dict | None = None, manifest: dict | None = None) -> None:
        self._program = program
        self._snapshot = snapshot
        self._state = state if state is not None else snapshot.doc("program", {})
        self._manifest = manifest if manifest is not None else snapshot.doc("context", empty_manifest())

    # -- identity -------------------------------------------------------
    @property
    def program(self):
        return self._program

    @property
    def snapshot_id(self) -> str:
        return self._snapshot.id

    @property
    def rev(self) -> int:
        """Content revision: increases with every change of a parameter, dataset or artifact."""
        return int(self._manifest.get("rev", 0))

    @property
    def label(self) -> str:
        return f"{self._program.name} @ {self.snapshot_id[:8]}"

    # -- parameters -----------------------------------------------------
    @property
    def params(self) -> Params:
        return Params(self._manifest.get("params", {}), param_specs(self._state))

    # -- datasets -------------------------------------------------------
    @property
    def datasets(self) -> list[str]:
        return sorted(self._manifest.get("datasets", {}))

    def dataset(self, name: str) -> "xr.Dataset":
        """The dataset ``name`` (lazily loaded from the Enterprise Memory)."""
        if name not in self._manifest.get("datasets", {}):
            raise NotFoundError(
                f"no dataset {name!r} in {self.label}; it has: {', '.join(self.datasets) or 'none'}"
            )
        return self._snapshot.dataset(f"{DATA_PREFIX}/{name}")

    def dataset_info(self, name: str) -> dict[str, Any]:
        try:
            return dict(self._manifest["datasets"][name])
        except KeyError:
            raise NotFoundError(f"no dataset {name!r} in {self.label}") from None

    # -- artifacts ------------------------------------------------------
    @property
    def artifacts(self) -> list[str]:
        return sorted(self._manifest.get("artifacts", {}))

    def artifact(self, name: str) -> bytes:
        if name not in self._manifest.get("artifacts", {}):
            raise NotFoundError(
                f"no artifact {name!r} in {self.label}; it has: {', '.join(self.artifacts) or 'none'}"
            )
        return self._snapshot.artifact(f"{ARTIFACT_PREFIX}/{name}")

    def artifact_info(self, name: str) -> dict[str, Any]:
        try:
            return dict(self._manifest["artifacts"][name])
        except KeyError:
            raise NotFoundError(f"no artifact {name!r} in {self.label}") from None

    # -- provenance -----------------------------------------------------
    def items(self) -> list[dict[str, Any]]:
        """Every item (parameter, dataset, artifact) with its label and provenance."""
        out = []
        for kind in ("params", "datasets", "artifacts"):
            for name, rec in sorted(self._manifest.get(kind, {}).items()):
                row = {"kind": kind[:-1] if kind != "params" else "param", "name": name}
                row.update({k: v for k, v in rec.items()})
                out.append(row)
        return out

    # -- expressions ----------------------------------------------------
    def resolver(self):
        """A resolver for the safe expression language over this context."""
        return _ContextResolver(self)

    def _repr_html_(self) -> str:
        from ..display import context_html

        return context_html(self)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.label}: {len(self.params)} params, "
            f"{len(self.datasets)} datasets, {len(self.artifacts)} artifacts>"
        )


class _ContextResolver:
    def __init__(self, view: ContextView) -> None:
        self._view = view
        self._params = view.params
        self._cache: dict[str, Any] = {}

    def param(self, name: str):
        from ..expressions import MissingValue

        if name not in self._params:
            raise MissingValue(name)
        return self._params.quantity(name)

    def dataset_var(self, dataset: str, var: str):
        from ..expressions import MissingValue
        from ..units import parse_unit

        if dataset not in self._view.datasets:
            raise MissingValue(f"datasets.{dataset}.{var}")
        if dataset not in self._cache:
            self._cache[dataset] = self._view.dataset(dataset)
        ds = self._cache[dataset]
        if var not in ds.variables:
            raise MissingValue(f"datasets.{dataset}.{var}")
        da = ds[var]
        values = np.asarray(da.values)
        unit = da.attrs.get("units")
        if unit and values.dtype.kind in "fiu":
            try:
                return values * parse_unit(str(unit))
            except Exception:
                return values
        return values
