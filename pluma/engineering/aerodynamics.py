"""Drag polar and linear lift curve of a finite wing.

Parabolic drag polar (ENGINEERING.md)::

    CD = CD0 + CL**2 / (pi AR e)
    (L/D)max = 0.5 sqrt(pi AR e / CD0)   at   CL* = sqrt(pi AR e CD0)

Finite-wing lift slope from the section slope ``a0`` (2 pi per radian for a
thin aerofoil)::

    a = a0 / (1 + a0 / (pi AR e)),    CL = a (alpha - alpha_0)

Stall is outside this model: :func:`polar_dataset` records (but neither flags
nor clips) lift coefficients above the validity limit (1.4 by default).
The full lifting-line solver lives elsewhere.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike

from ..errors import InvalidInputError
from ._validate import as_array, non_negative, out, positive
from .atmosphere import G0, dynamic_pressure

__all__ = [
    "A0_THIN_AEROFOIL",
    "CL_VALIDITY_LIMIT",
    "MaxLiftToDrag",
    "cruise_lift_coefficient",
    "drag_coefficient",
    "finite_wing_lift_slope",
    "induced_drag_coefficient",
    "lift_coefficient",
    "lift_to_drag",
    "max_lift_to_drag",
    "polar_dataset",
]

A0_THIN_AEROFOIL: float = 2.0 * math.pi
"""Thin-aerofoil section lift slope, per radian."""
CL_VALIDITY_LIMIT: float = 1.4
"""Lift coefficient above which the linear lift curve is not trusted (stall not modelled)."""


class MaxLiftToDrag(NamedTuple):
    """Best lift-to-drag ratio of a parabolic polar and the CL where it occurs."""

    ld_max: float
    cl: float


def induced_drag_coefficient(cl: ArrayLike, aspect_ratio: float, oswald_efficiency: float) -> Any:
    """Induced drag coefficient ``CL**2 / (pi AR e)``.

    Parameters
    ----------
    cl : float or array_like
        Lift coefficient.
    aspect_ratio : float
        Wing aspect ratio ``b**2 / S``.
    oswald_efficiency : float
        Span (Oswald) efficiency ``e``, 0 < e.

    Returns
    -------
    float or ndarray
        Induced drag coefficient.
    """
    c = as_array("cl", cl)
    k = math.pi * float(positive("aspect_ratio", aspect_ratio)) * float(positive("oswald_efficiency", oswald_efficiency))
    return out(c**2 / k)


def drag_coefficient(cl: ArrayLike, cd0: float, aspect_ratio: float, oswald_efficiency: float) -> Any:
    """Total drag coefficient of the parabolic polar ``CD0 + CL**2 / (pi AR e)``.

    Parameters
    ----------
    cl : float or array_like
        Lift coefficient.
    cd0 : float
        Zero-lift drag coefficient.
    aspect_ratio, oswald_efficiency : float
        See :func:`induced_drag_coefficient`.

    Returns
    -------
    float or ndarray
        Drag coefficient.
    """
    return out(float(positive("cd0", cd0)) + np.asarray(induced_drag_coefficient(cl, aspect_ratio, oswald_efficiency)))


def lift_to_drag(cl: ArrayLike, cd0: float, aspect_ratio: float, oswald_efficiency: float) -> Any:
    """Lift-to-drag ratio ``CL / CD`` on the parabolic polar."""
    c = as_array("cl", cl)
    return out(c / np.asarray(drag_coefficient(c, cd0, aspect_ratio, oswald_efficiency)))


def max_lift_to_drag(cd0: float, aspect_ratio: float, oswald_efficiency: float) -> MaxLiftToDrag:
    """Best lift-to-drag ratio of the parabolic polar.

    Parameters
    ----------
    cd0 : float
        Zero-lift drag coefficient.
    aspect_ratio : float
        Wing aspect ratio.
    oswald_efficiency : float
        Span efficiency ``e``.

    Returns
    -------
    MaxLiftToDrag
        ``ld_max = 0.5 sqrt(pi AR e / CD0)`` and ``cl = sqrt(pi AR e CD0)``
        (where induced drag equals zero-lift drag).
    """
    cd0 = float(positive("cd0", cd0))
    k = math.pi * float(positive("aspect_ratio", aspect_ratio)) * float(positive("oswald_efficiency", oswald_efficiency))
    return MaxLiftToDrag(ld_max=0.5 * math.sqrt(k / cd0), cl=math.sqrt(k * cd0))


def finite_wing_lift_slope(
    aspect_ratio: float, oswald_efficiency: float = 1.0, a0_per_rad: float = A0_THIN_AEROFOIL
) -> float:
    """Lift-curve slope of a finite wing, per radian.

    Parameters
    ----------
    aspect_ratio : float
        Wing aspect ratio.
    oswald_efficiency : float, default 1.0
        Span efficiency ``e`` (1 for an elliptic lift distribution).
    a0_per_rad : float, default 2 pi
        Section lift slope, per radian.

    Returns
    -------
    float
        ``a0 / (1 + a0 / (pi AR e))``, per radian.
    """
    a0 = float(positive("a0_per_rad", a0_per_rad))
    k = math.pi * float(positive("aspect_ratio", aspect_ratio)) * float(positive("oswald_efficiency", oswald_efficiency))
    return a0 / (1.0 + a0 / k)


def lift_coefficient(
    alpha_deg: ArrayLike,
    aspect_ratio: float,
    oswald_efficiency: float = 1.0,
    alpha_zero_lift_deg: float = 0.0,
    a0_per_rad: float = A0_THIN_AEROFOIL,
) -> Any:
    """Linear lift curve ``CL = a (alpha - alpha_0)`` of a finite wing.

    Parameters
    ----------
    alpha_deg : float or array_like
        Angle of attack, degrees.
    aspect_ratio, oswald_efficiency, a0_per_rad : float
        See :func:`finite_wing_lift_slope`.
    alpha_zero_lift_deg : float, default 0
        Zero-lift angle of attack, degrees (negative for a cambered wing).

    Returns
    -------
    float or ndarray
        Lift coefficient (no stall model).
    """
    alpha = as_array("alpha_deg", alpha_deg)
    a = finite_wing_lift_slope(aspect_ratio, oswald_efficiency, a0_per_rad)
    return out(a * np.deg2rad(alpha - float(as_array("alpha_zero_lift_deg", alpha_zero_lift_deg))))


def cruise_lift_coefficient(mass: ArrayLike, wing_area: float, mach: float, altitude: float, g: float = G0) -> Any:
    """Lift coefficient in level flight, ``CL = m g / (q S)``.

    Parameters
    ----------
    mass : float or array_like
        Aircraft mass, kg.
    wing_area : float
        Reference wing area, m**2.
    mach : float
        Flight Mach number.
    altitude : float
        Geopotential altitude, m (ISA, 0..20 km).
    g : float, default 9.80665
        Gravitational acceleration, m/s**2.

    Returns
    -------
    float or ndarray
        Lift coefficient.
    """
    m = positive("mass", mass)
    s = float(positive("wing_area", wing_area))
    q = dynamic_pressure(float(positive("mach", mach)), altitude)
    return out(m * float(g) / (q * s))


def polar_dataset(
    aspect_ratio: float,
    cd0: float,
    oswald_efficiency: float = 0.85,
    *,
    alpha_deg: ArrayLike | None = None,
    alpha_zero_lift_deg: float = 0.0,
    a0_per_rad: float = A0_THIN_AEROFOIL,
    cl_validity_limit: float = CL_VALIDITY_LIMIT,
) -> xr.Dataset:
    """Build the ``polars`` dataset from a linear lift curve and a parabolic polar.

    Parameters
    ----------
    aspect_ratio : float
        Wing aspect ratio.
    cd0 : float
        Zero-lift drag coefficient.
    oswald_efficiency : float, default 0.85
        Span efficiency ``e`` used for both the lift slope and induced drag.
    alpha_deg : array_like, optional
        Angles of attack, degrees; default -4..16 deg in 0.5 deg steps.
    alpha_zero_lift_deg : float, default 0
        Zero-lift angle, degrees.
    a0_per_rad : float, default 2 pi
        Section lift slope, per radian.
    cl_validity_limit : float, default 1.4
        CL above which results are outside the model's validity. Nothing is
        clipped: the dataset's attributes record the limit and how many points
        exceed it.

    Returns
    -------
    xarray.Dataset
        Dimension ``alpha`` (deg); variables ``cl``, ``cdi``, ``cd`` and
        ``l_over_d`` (all dimensionless, unit ``"1"``).
    """
    if alpha_deg is None:
        alpha = np.linspace(-4.0, 16.0, 41)
    else:
        alpha = np.atleast_1d(as_array("alpha_deg", alpha_deg)).astype(float)
        if alpha.ndim != 1 or alpha.size == 0:
            raise InvalidInputError("alpha_deg must be a non-empty 1-D array of angles in degrees")
        if np.any(np.diff(alpha) <= 0):
            raise InvalidInputError("alpha_deg must be strictly increasing")
    cd0 = float(positive("cd0", cd0))
    ar = float(positive("aspect_ratio", aspect_ratio))
    e = float(positive("oswald_efficiency", oswald_efficiency))
    limit = float(non_negative("cl_validity_limit", cl_validity_limit))
    slope = finite_wing_lift_slope(ar, e, a0_per_rad)
    cl = np.asarray(lift_coefficient(alpha, ar, e, alpha_zero_lift_deg, a0_per_rad), dtype=float)
    cdi = cl**2 / (math.pi * ar * e)
    cd = cd0 + cdi
    ld = cl / cd
    above = np.abs(cl) > limit
    if above.any():
        note = (
            f"{int(above.sum())} of {cl.size} points have |CL| > {limit:g} (alpha {float(alpha[above].min()):g}.."
            f"{float(alpha[above].max()):g} deg): outside the linear lift curve's validity, stall not modelled"
        )
    else:
        note = f"all points have |CL| <= {limit:g}: within the linear lift curve's validity"
    best = max_lift_to_drag(cd0, ar, e)
    return xr.Dataset(
        data_vars={
            "cl": ("alpha", cl, {"units": "1", "long_name": "lift coefficient"}),
            "cdi": ("alpha", cdi, {"units": "1", "long_name": "induced drag coefficient"}),
            "cd": ("alpha", cd, {"units": "1", "long_name": "drag coefficient"}),
            "l_over_d": ("alpha", ld, {"units": "1", "long_name": "lift-to-drag ratio"}),
        },
        coords={"alpha": ("alpha", alpha, {"units": "deg", "long_name": "angle of attack"})},
        attrs={
            "title": "drag polar (linear lift curve, parabolic drag polar)",
            "aspect_ratio": ar,
            "cd0": cd0,
            "oswald_efficiency": e,
            "alpha_zero_lift_deg": float(alpha_zero_lift_deg),
            "lift_slope_per_rad": slope,
            "ld_max": best.ld_max,
            "cl_at_ld_max": best.cl,
            "cl_validity_limit": limit,
            "cl_points_above_validity": int(above.sum()),
            "validity_note": note,
        },
    )
