"""Wing spar as an Euler-Bernoulli cantilever; elliptic lift; stress and margins.

Formulas (ENGINEERING.md), semi-span ``L``, bending stiffness ``E I``::

    uniform load w:      tip deflection = w L**4 / (8 E I),  root moment = w L**2 / 2
    tip point load P:    tip deflection = P L**3 / (3 E I)
    elliptic load F:     root moment    = 4 F L / (3 pi)
    bending stress       sigma = M c / I
    margin of safety     MS = sigma_allow / (FS sigma) - 1,  FS = 1.5 (CS/FAR 25.303)

``sigma`` is the stress at limit load (load factor ``n``, CS/FAR 25.337) and
``sigma_allow`` the material's ultimate allowable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike

from ..errors import InvalidInputError
from ._validate import as_array, non_negative, out, positive
from .atmosphere import G0

__all__ = [
    "AL_7075_T6",
    "CFRP_QUASI_ISOTROPIC",
    "FACTOR_OF_SAFETY",
    "MATERIALS",
    "Material",
    "bending_stress",
    "elliptic_lift_per_span",
    "margin_of_safety",
    "root_moment_elliptic",
    "root_moment_uniform",
    "tip_deflection_point",
    "tip_deflection_uniform",
    "wing_loads_dataset",
]

FACTOR_OF_SAFETY: float = 1.5
"""Ultimate / limit load factor of safety (CS/FAR 25.303)."""


@dataclass(frozen=True)
class Material:
    """Structural material properties (SI).

    Attributes
    ----------
    name : str
        Material designation.
    youngs_modulus : float
        Young's modulus E, Pa.
    allowable_stress : float
        Ultimate allowable stress, Pa.
    density : float
        Density, kg/m**3.
    """

    name: str
    youngs_modulus: float
    allowable_stress: float
    density: float


AL_7075_T6 = Material("Al 7075-T6", youngs_modulus=71.7e9, allowable_stress=572e6, density=2810.0)
"""Aluminium 7075-T6: E 71.7 GPa, ultimate 572 MPa, 2810 kg/m**3."""

CFRP_QUASI_ISOTROPIC = Material("CFRP quasi-isotropic", youngs_modulus=65e9, allowable_stress=500e6, density=1575.0)
"""CFRP quasi-isotropic laminate, mid-range of ENGINEERING.md's bands
(E 60-70 GPa, allowable 400-600 MPa, 1550-1600 kg/m**3)."""

MATERIALS: dict[str, Material] = {m.name: m for m in (AL_7075_T6, CFRP_QUASI_ISOTROPIC)}
"""Materials by name."""


def tip_deflection_uniform(w: ArrayLike, length: float, youngs_modulus: float, second_moment: float) -> Any:
    """Tip deflection of a cantilever under uniform load, ``w L**4 / (8 E I)``.

    Parameters
    ----------
    w : float or array_like
        Distributed load, N/m.
    length : float
        Cantilever length (semi-span), m.
    youngs_modulus : float
        E, Pa.
    second_moment : float
        Second moment of area I, m**4.

    Returns
    -------
    float or ndarray
        Tip deflection, m.
    """
    ei = float(positive("youngs_modulus", youngs_modulus)) * float(positive("second_moment", second_moment))
    return out(as_array("w", w) * float(positive("length", length)) ** 4 / (8.0 * ei))


def tip_deflection_point(p: ArrayLike, length: float, youngs_modulus: float, second_moment: float) -> Any:
    """Tip deflection of a cantilever under a tip point load, ``P L**3 / (3 E I)``.

    Parameters
    ----------
    p : float or array_like
        Tip load, N.
    length : float
        Cantilever length, m.
    youngs_modulus : float
        E, Pa.
    second_moment : float
        I, m**4.

    Returns
    -------
    float or ndarray
        Tip deflection, m.
    """
    ei = float(positive("youngs_modulus", youngs_modulus)) * float(positive("second_moment", second_moment))
    return out(as_array("p", p) * float(positive("length", length)) ** 3 / (3.0 * ei))


def root_moment_uniform(w: ArrayLike, length: float) -> Any:
    """Root bending moment of a cantilever under uniform load, ``w L**2 / 2`` (N m)."""
    return out(as_array("w", w) * float(positive("length", length)) ** 2 / 2.0)


def root_moment_elliptic(total_lift: ArrayLike, semi_span: float) -> Any:
    """Root bending moment of an elliptic lift distribution, ``4 F L / (3 pi)``.

    Parameters
    ----------
    total_lift : float or array_like
        Total lift on the semi-span F, N.
    semi_span : float
        Semi-span L, m.

    Returns
    -------
    float or ndarray
        Root bending moment, N m.
    """
    return out(4.0 * as_array("total_lift", total_lift) * float(positive("semi_span", semi_span)) / (3.0 * math.pi))


def elliptic_lift_per_span(y: ArrayLike, total_lift: float, semi_span: float) -> Any:
    """Elliptic spanwise lift distribution carrying ``total_lift`` on one semi-span.

    ``w(y) = w0 sqrt(1 - (y/L)**2)`` with ``w0 = 4 F / (pi L)`` so that the
    integral from root to tip equals F.

    Parameters
    ----------
    y : float or array_like
        Spanwise station from the root (centreline), m, 0 <= y <= L.
    total_lift : float
        F, N.
    semi_span : float
        L, m.

    Returns
    -------
    float or ndarray
        Lift per unit span, N/m.
    """
    length = float(positive("semi_span", semi_span))
    yy = as_array("y", y)
    if np.any(yy < 0) or np.any(yy > length * (1 + 1e-12)):
        raise InvalidInputError(f"stations y must lie within 0..{length:g} m")
    w0 = 4.0 * float(as_array("total_lift", total_lift)) / (math.pi * length)
    return out(w0 * np.sqrt(np.clip(1.0 - (yy / length) ** 2, 0.0, None)))


def bending_stress(moment: ArrayLike, extreme_fibre: ArrayLike, second_moment: ArrayLike) -> Any:
    """Bending stress ``sigma = M c / I``.

    Parameters
    ----------
    moment : float or array_like
        Bending moment M, N m.
    extreme_fibre : float or array_like
        Distance from the neutral axis to the extreme fibre c, m.
    second_moment : float or array_like
        Second moment of area I, m**4.

    Returns
    -------
    float or ndarray
        Stress, Pa.
    """
    return out(as_array("moment", moment) * non_negative("extreme_fibre", extreme_fibre) / positive("second_moment", second_moment))


def margin_of_safety(stress: ArrayLike, allowable_stress: float, factor_of_safety: float = FACTOR_OF_SAFETY) -> Any:
    """Margin of safety ``MS = sigma_allow / (FS |sigma|) - 1``.

    Parameters
    ----------
    stress : float or array_like
        Stress at limit load, Pa (sign ignored).
    allowable_stress : float
        Ultimate allowable stress, Pa.
    factor_of_safety : float, default 1.5
        Ultimate / limit factor (CS/FAR 25.303).

    Returns
    -------
    float or ndarray
        Margin of safety (dimensionless); ``+inf`` where the stress is zero.
        A design passes with MS >= 0.
    """
    s = np.abs(as_array("stress", stress))
    allow = float(positive("allowable_stress", allowable_stress))
    fs = float(positive("factor_of_safety", factor_of_safety))
    with np.errstate(divide="ignore"):
        ms = np.where(s > 0, allow / (fs * np.where(s > 0, s, 1.0)) - 1.0, np.inf)
    return out(ms)


def _cumulative_from_tip(values: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Trapezoidal integral of ``values`` from each station to the last (tip) station."""
    seg = 0.5 * (values[1:] + values[:-1]) * np.diff(y)
    return np.concatenate([np.cumsum(seg[::-1])[::-1], [0.0]])


def _linear(root: float, tip: float | None, eta: np.ndarray) -> np.ndarray:
    t = root if tip is None else tip
    return root + (t - root) * eta


def wing_loads_dataset(
    span: float,
    mtow: float,
    *,
    second_moment_root: float,
    half_depth_root: float,
    second_moment_tip: float | None = None,
    half_depth_tip: float | None = None,
    limit_load_factor: float = 2.5,
    factor_of_safety: float = FACTOR_OF_SAFETY,
    material: Material = AL_7075_T6,
    allowable_stress: float | None = None,
    stations: ArrayLike | None = None,
    n_stations: int = 41,
    g: float = G0,
    tolerance: float = 0.005,
) -> xr.Dataset:
    """Build the ``wing_loads`` dataset for one semi-span at limit load.

    The semi-span ``L = span / 2`` (measured from the centreline, fuselage
    carry-through ignored) carries ``F = n mtow g / 2`` with an elliptic
    distribution. Shear and bending moment are integrated from the tip with
    the trapezoidal rule; the integrated root moment is checked against
    ``4 F L / (3 pi)``. The spar section's second moment ``I`` and extreme
    fibre distance ``c`` vary linearly from root to tip.

    Parameters
    ----------
    span : float
        Wing span b, m.
    mtow : float
        Maximum take-off mass, kg.
    second_moment_root, second_moment_tip : float
        Spar second moment of area I at root and tip, m**4 (tip defaults to root).
    half_depth_root, half_depth_tip : float
        Extreme fibre distance c at root and tip, m (tip defaults to root).
    limit_load_factor : float, default 2.5
        Limit manoeuvre load factor n (CS/FAR 25.337: 2.5..3.8 for transports).
    factor_of_safety : float, default 1.5
        Ultimate / limit factor.
    material : Material, default Al 7075-T6
        Spar material; its ``allowable_stress`` is used unless ``allowable_stress`` is given.
    allowable_stress : float, optional
        Ultimate allowable stress override, Pa.
    stations : array_like, optional
        Spanwise stations y, m, increasing, within 0..L. Default: ``n_stations``
        stations ``L sin(pi/2 k/(n-1))``, clustered towards the tip where the
        elliptic load varies fastest. Integration always includes root and tip.
    n_stations : int, default 41
        Number of default stations.
    g : float, default 9.80665
        Gravitational acceleration, m/s**2.
    tolerance : float, default 0.005
        Largest accepted relative difference between the integrated and the
        closed-form root moment.

    Returns
    -------
    xarray.Dataset
        Dimension ``y`` (m); variables ``lift_per_span`` (N/m), ``shear`` (N),
        ``bending_moment`` (N*m), ``stress`` (Pa), ``margin_of_safety`` (1;
        ``+inf`` at the unloaded tip).

    Raises
    ------
    InvalidInputError
        On bad inputs, or if the stations are too coarse for the root moment to
        match the closed form within ``tolerance``.
    """
    b = float(positive("span", span))
    m = float(positive("mtow", mtow))
    n = float(positive("limit_load_factor", limit_load_factor))
    fs = float(positive("factor_of_safety", factor_of_safety))
    allow = float(positive("allowable_stress", material.allowable_stress if allowable_stress is None else allowable_stress))
    i_root = float(positive("second_moment_root", second_moment_root))
    c_root = float(positive("half_depth_root", half_depth_root))
    i_tip = None if second_moment_tip is None else float(positive("second_moment_tip", second_moment_tip))
    c_tip = None if half_depth_tip is None else float(positive("half_depth_tip", half_depth_tip))
    length = b / 2.0
    total_lift = n * m * float(g) / 2.0

    if stations is None:
        if int(n_stations) < 3:
            raise InvalidInputError("n_stations must be at least 3")
        y = length * np.sin(0.5 * math.pi * np.linspace(0.0, 1.0, int(n_stations)))
        y[-1] = length
    else:
        y = np.atleast_1d(as_array("stations", stations)).astype(float)
        if y.ndim != 1 or y.size < 1:
            raise InvalidInputError("stations must be a 1-D array of spanwise positions in m")
        if np.any(np.diff(y) <= 0):
            raise InvalidInputError("stations must be strictly increasing")
        if y[0] < 0 or y[-1] > length * (1 + 1e-12):
            raise InvalidInputError(f"stations must lie within 0..{length:g} m (the semi-span)")
    y_int = np.union1d(y, [0.0, length])
    w_int = np.asarray(elliptic_lift_per_span(y_int, total_lift, length))
    shear_int = _cumulative_from_tip(w_int, y_int)
    moment_int = _cumulative_from_tip(shear_int, y_int)

    m_closed = float(root_moment_elliptic(total_lift, length))
    rel_err = abs(moment_int[0] - m_closed) / m_closed
    if rel_err > tolerance:
        raise InvalidInputError(
            f"integrated root moment differs from 4FL/(3pi) by {rel_err:.2%} (> {tolerance:.2%}): use more stations near the tip"
        )

    idx = np.searchsorted(y_int, y)
    w = w_int[idx]
    shear = shear_int[idx]
    moment = moment_int[idx]
    eta = y / length
    inertia = _linear(i_root, i_tip, eta)
    fibre = _linear(c_root, c_tip, eta)
    stress = np.asarray(bending_stress(moment, fibre, inertia), dtype=float)
    ms = np.asarray(margin_of_safety(stress, allow, fs), dtype=float)

    return xr.Dataset(
        data_vars={
            "lift_per_span": ("y", w, {"units": "N/m", "long_name": "lift per unit span at limit load"}),
            "shear": ("y", shear, {"units": "N", "long_name": "shear force at limit load"}),
            "bending_moment": ("y", moment, {"units": "N*m", "long_name": "bending moment at limit load"}),
            "stress": ("y", stress, {"units": "Pa", "long_name": "spar bending stress at limit load"}),
            "margin_of_safety": (
                "y",
                ms,
                {"units": "1", "long_name": "margin of safety sigma_allow/(FS*sigma) - 1 (inf where unloaded)"},
            ),
        },
        coords={"y": ("y", y, {"units": "m", "long_name": "spanwise station from centreline"})},
        attrs={
            "title": "wing loads, elliptic lift at limit load, spar as Euler-Bernoulli cantilever",
            "span": b,
            "semi_span": length,
            "mtow": m,
            "limit_load_factor": n,
            "factor_of_safety": fs,
            "semi_span_lift": total_lift,
            "material": material.name,
            "allowable_stress": allow,
            "second_moment_root": i_root,
            "second_moment_tip": i_root if i_tip is None else i_tip,
            "half_depth_root": c_root,
            "half_depth_tip": c_root if c_tip is None else c_tip,
            "root_moment_closed_form": m_closed,
            "root_moment_integrated": float(moment_int[0]),
            "root_moment_relative_error": float(rel_err),
            "min_margin_of_safety": float(np.min(ms)),
        },
    )
