"""Conceptual sizing helpers: aspect ratio, wing loading, thrust-to-weight, mass breakdown."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike

from ..errors import InvalidInputError
from ._validate import out, positive
from .atmosphere import G0

__all__ = [
    "DEFAULT_OEW_FRACTIONS",
    "MASS_COMPONENTS",
    "aspect_ratio",
    "mass_breakdown_dataset",
    "thrust_to_weight",
    "wing_loading",
]

MASS_COMPONENTS: tuple[str, ...] = (
    "wing",
    "fuselage",
    "empennage",
    "landing_gear",
    "propulsion",
    "systems",
    "furnishings",
)
"""Components of the operating-empty-mass breakdown."""

DEFAULT_OEW_FRACTIONS: dict[str, float] = {
    "wing": 0.21,
    "fuselage": 0.25,
    "empennage": 0.03,
    "landing_gear": 0.07,
    "propulsion": 0.18,
    "systems": 0.16,
    "furnishings": 0.10,
}
"""Typical transport-aircraft shares of OEW (sum to 1)."""


def aspect_ratio(span: ArrayLike, wing_area: ArrayLike) -> Any:
    """Aspect ratio ``b**2 / S`` (span in m, area in m**2)."""
    return out(positive("span", span) ** 2 / positive("wing_area", wing_area))


def wing_loading(mass: ArrayLike, wing_area: ArrayLike) -> Any:
    """Wing loading ``m / S`` in kg/m**2 (mass in kg, area in m**2)."""
    return out(positive("mass", mass) / positive("wing_area", wing_area))


def thrust_to_weight(thrust: ArrayLike, mass: ArrayLike, g: float = G0) -> Any:
    """Thrust-to-weight ratio ``T / (m g)`` (thrust in N, mass in kg)."""
    return out(positive("thrust", thrust) / (positive("mass", mass) * float(g)))


def mass_breakdown_dataset(oew: float, fractions: Mapping[str, float] | None = None) -> xr.Dataset:
    """Build the ``mass_breakdown`` dataset of the operating empty mass.

    Parameters
    ----------
    oew : float
        Operating empty mass, kg.
    fractions : mapping of str to float, optional
        Share of OEW per component; defaults to :data:`DEFAULT_OEW_FRACTIONS`.
        Must be positive and sum to 1 within 1e-3 (then normalised exactly).

    Returns
    -------
    xarray.Dataset
        Dimension ``component``; variable ``mass`` (kg) summing to ``oew``.
    """
    total = float(positive("oew", oew))
    frac = dict(DEFAULT_OEW_FRACTIONS if fractions is None else fractions)
    if not frac:
        raise InvalidInputError("fractions must name at least one component")
    names = [str(k) for k in frac]
    values = np.array([float(positive(f"fractions[{k!r}]", v)) for k, v in frac.items()])
    if abs(values.sum() - 1.0) > 1e-3:
        raise InvalidInputError(f"mass fractions must sum to 1, they sum to {values.sum():.4f}")
    mass = total * values / values.sum()
    width = max(len(n) for n in names)
    return xr.Dataset(
        data_vars={"mass": ("component", mass, {"units": "kg", "long_name": "component mass"})},
        coords={"component": ("component", np.array(names, dtype=f"<U{width}"), {"long_name": "mass breakdown component"})},
        attrs={"title": "operating empty mass breakdown", "oew": total},
    )
