"""Wing spar at limit load as an Euler-Bernoulli cantilever (sweepable).

One semi-span ``L`` (centreline to tip, carry-through ignored) carries
``F = n m g / 2`` at limit load factor ``n``. Closed forms (ENGINEERING.md,
:mod:`pluma.engineering.structures`)::

    uniform load w = F / L:   M_root = w L**2 / 2,        tip deflection = w L**4 / (8 E I)
    elliptic load:            M_root = 4 F L / (3 pi),    tip deflection = (4 F L**3 / (pi E I)) (pi/32 - 1/45)
    sigma = M c / I,          MS = sigma_allow / (FS sigma) - 1

The elliptic tip deflection follows from the unit-load integral
``delta = int_0^L w(s) (L s**2/2 - s**3/6) ds / (E I)`` with
``w(s) = (4F/(pi L)) sqrt(1 - (s/L)**2)``.

A tapered spar (``taper_ratio < 1``) is a thin-walled box whose width and
depth scale with the wing chord ``c(eta) = c_root (1 - (1 - lambda) eta)``
at constant wall thickness: half-depth ``~ c`` and second moment ``~ c**3``.
Its tip deflection is integrated numerically (Gauss-Legendre) from the exact
bending moment. The stress ``sigma(eta) ~ M(eta) / s(eta)**2`` (``s`` the
section scale) never exceeds the root stress, because for both distributions
``M(eta) / M_root <= (1 - eta)**2 <= s(eta)**2``: the root is the critical
station and the margin of safety is the root's.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from ..engineering.atmosphere import G0
from ..engineering.structures import (
    FACTOR_OF_SAFETY,
    MATERIALS,
    Material,
    bending_stress,
    margin_of_safety,
    root_moment_elliptic,
    root_moment_uniform,
    tip_deflection_uniform,
)
from ..errors import InvalidInputError
from .lifting_line import _choice, _positive  # shared scalar checks

__all__ = ["DISTRIBUTIONS", "SECOND_MOMENT_EXPONENT", "bending_moment_fraction", "resolve_material", "spar_bending"]

DISTRIBUTIONS: tuple[str, ...] = ("elliptic", "uniform")
"""Spanwise lift distributions."""
SECOND_MOMENT_EXPONENT: float = 3.0
"""I ~ c(eta)**3 along a tapered spar (thin-walled box, width and depth ~ chord)."""

_GAUSS_X, _GAUSS_W = np.polynomial.legendre.leggauss(96)
_ETA = 0.5 * (_GAUSS_X + 1.0)  # quadrature nodes on 0..1
_WEIGHTS = 0.5 * _GAUSS_W


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_MATERIALS_BY_KEY: dict[str, Material] = {_key(m.name): m for m in MATERIALS.values()}


def resolve_material(material: str | Material) -> Material:
    """A :class:`~pluma.engineering.structures.Material`, or one looked up by name.

    Names ignore case and punctuation: ``"al7075_t6"``, ``"Al 7075-T6"`` and
    ``"cfrp_quasi_isotropic"`` all work.
    """
    if isinstance(material, Material):
        return material
    if isinstance(material, str) and _key(material) in _MATERIALS_BY_KEY:
        return _MATERIALS_BY_KEY[_key(material)]
    known = ", ".join(sorted(_MATERIALS_BY_KEY))
    raise InvalidInputError(f"unknown material {material!r}; known: {known} (or pass a Material)")


def bending_moment_fraction(eta: Any, distribution: str) -> np.ndarray:
    """Bending moment at ``eta = y/L`` as a fraction of ``F L`` (F = semi-span lift).

    ``uniform``: ``(1 - eta)**2 / 2``. ``elliptic``: ``(4/pi) [(1 - eta**2)**1.5 / 3
    - eta (pi/4 - (eta sqrt(1 - eta**2) + asin(eta)) / 2)]``, which is ``4/(3 pi)``
    at the root and 0 at the tip.
    """
    x = np.clip(np.asarray(eta, dtype=float), 0.0, 1.0)
    dist = _choice("distribution", distribution, DISTRIBUTIONS)
    if dist == "uniform":
        return 0.5 * (1.0 - x) ** 2
    root = np.sqrt(1.0 - x**2)
    tail = math.pi / 4.0 - 0.5 * (x * root + np.arcsin(x))
    return np.maximum((4.0 / math.pi) * ((1.0 - x**2) ** 1.5 / 3.0 - x * tail), 0.0)


def spar_bending(
    semi_span_m: float,
    mtow_kg: float,
    load_factor: float,
    *,
    root_second_moment_m4: float,
    root_half_depth_m: float,
    taper_ratio: float = 1.0,
    material: str | Material = "al7075_t6",
    factor_of_safety: float = FACTOR_OF_SAFETY,
    distribution: str = "elliptic",
    g: float = G0,
) -> dict[str, float]:
    """Root moment, stress, tip deflection and margin of a wing spar at limit load.

    Parameters
    ----------
    semi_span_m : float
        Cantilever length L (centreline to tip), m.
    mtow_kg : float
        Maximum take-off mass, kg; the semi-span carries ``n mtow g / 2``.
    load_factor : float
        Limit manoeuvre load factor n, > 0 (CS/FAR 25.337: 2.5..3.8 for transports).
    root_second_moment_m4 : float
        Spar second moment of area I at the root, m**4.
    root_half_depth_m : float
        Extreme-fibre distance c at the root, m.
    taper_ratio : float, default 1.0
        Tip / root chord ratio the spar box follows, within (0, 1]; half-depth
        scales with the chord and I with its cube. 1 is a prismatic spar (the
        closed forms).
    material : str or Material, default "al7075_t6"
        Spar material (E and the ultimate allowable stress).
    factor_of_safety : float, default 1.5
        Ultimate / limit factor (CS/FAR 25.303).
    distribution : {"elliptic", "uniform"}
        Spanwise lift distribution.
    g : float, default 9.80665
        Gravitational acceleration, m/s**2.

    Returns
    -------
    dict of str to float
        ``root_moment`` (N*m), ``root_stress`` (Pa), ``tip_deflection`` (m),
        ``margin_of_safety`` (at the root, the critical station; a design
        passes with MS >= 0) and ``semi_span_lift`` (N).
    """
    length = _positive("semi_span_m", semi_span_m)
    mass = _positive("mtow_kg", mtow_kg)
    n = _positive("load_factor", load_factor)
    i_root = _positive("root_second_moment_m4", root_second_moment_m4)
    c_root = _positive("root_half_depth_m", root_half_depth_m)
    lam = _positive("taper_ratio", taper_ratio)
    if lam > 1.0:
        raise InvalidInputError(f"taper_ratio must be within (0, 1] for a spar, got {taper_ratio!r}")
    fs = _positive("factor_of_safety", factor_of_safety)
    gg = _positive("g", g)
    dist = _choice("distribution", distribution, DISTRIBUTIONS)
    mat = resolve_material(material)
    e_mod = mat.youngs_modulus

    force = n * mass * gg / 2.0
    if dist == "uniform":
        w = force / length
        m_root = float(root_moment_uniform(w, length))
    else:
        m_root = float(root_moment_elliptic(force, length))

    if lam == 1.0:  # prismatic: closed forms
        if dist == "uniform":
            deflection = float(tip_deflection_uniform(force / length, length, e_mod, i_root))
        else:
            deflection = 4.0 * force * length**3 / (math.pi * e_mod * i_root) * (math.pi / 32.0 - 1.0 / 45.0)
    else:  # unit-load integral: delta = int M(y) (L - y) / (E I(y)) dy
        size = 1.0 - (1.0 - lam) * _ETA
        moment = force * length * bending_moment_fraction(_ETA, dist)
        integrand = moment * (1.0 - _ETA) * length / (e_mod * i_root * size**SECOND_MOMENT_EXPONENT)
        deflection = float(np.sum(_WEIGHTS * integrand) * length)

    root_stress = float(bending_stress(m_root, c_root, i_root))
    ms = float(margin_of_safety(root_stress, mat.allowable_stress, fs))
    return {
        "root_moment": m_root,
        "root_stress": root_stress,
        "tip_deflection": deflection,
        "margin_of_safety": ms,
        "semi_span_lift": force,
    }
