"""Breguet range equations, kept apart by the unit of the fuel consumption.

ENGINEERING.md::

    jet, weight-specific c_T (1/s):         R = (V / c_T) (L/D) ln(W0/W1)
    jet, mass-specific c (kg/(N s)):        R = (V / (g c)) (L/D) ln(W0/W1)
    propeller, weight-specific c_P (1/m):   R = (eta / c_P) (L/D) ln(W0/W1)
    propeller, mass-specific c (kg/(W s)):  R = (eta / (g c)) (L/D) ln(W0/W1)
    battery, specific energy e* (J/kg):     R = e* eta (L/D) (m_batt / m) / g

The consumption is always a keyword-only argument whose name carries its unit
(``tsfc_per_s``, ``tsfc_kg_per_n_s``, ``psfc_per_m``, ``psfc_kg_per_w_s``), so
a weight-specific value cannot be passed where a mass-specific one is expected
(the factor-9.81 mix-up). ``W0/W1`` equals the mass ratio, so masses are
passed. Hydrogen aircraft use :func:`breguet_range_jet` with hydrogen's c_T.
All ranges are in metres.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..errors import InvalidInputError
from ._validate import out, positive
from .atmosphere import G0

__all__ = [
    "battery_range",
    "breguet_range_jet",
    "breguet_range_jet_mass_specific",
    "breguet_range_propeller",
    "breguet_range_propeller_mass_specific",
    "fuel_fraction_jet",
    "tsfc_per_hour_to_per_s",
]

_MAX_TSFC_PER_S = 1e-2  # 36 per hour: far above any air-breathing engine; catches values given per hour


def tsfc_per_hour_to_per_s(tsfc_per_hour: ArrayLike) -> Any:
    """Convert a weight-specific thrust fuel consumption from 1/h to 1/s (divide by 3600)."""
    return out(positive("tsfc_per_hour", tsfc_per_hour) / 3600.0)


def _log_mass_ratio(initial_mass: ArrayLike, final_mass: ArrayLike) -> np.ndarray:
    m0 = positive("initial_mass", initial_mass)
    m1 = positive("final_mass", final_mass)
    if np.any(m1 > m0):
        raise InvalidInputError("final_mass must not exceed initial_mass (fuel is burnt, not gained)")
    return np.log(m0 / m1)


def breguet_range_jet(
    speed: ArrayLike,
    lift_to_drag: ArrayLike,
    initial_mass: ArrayLike,
    final_mass: ArrayLike,
    *,
    tsfc_per_s: ArrayLike,
) -> Any:
    """Breguet range of a jet with weight-specific thrust fuel consumption.

    Parameters
    ----------
    speed : float or array_like
        True airspeed V, m/s.
    lift_to_drag : float or array_like
        Cruise L/D.
    initial_mass, final_mass : float or array_like
        Masses at start and end of cruise, kg (W0/W1 = m0/m1).
    tsfc_per_s : float or array_like
        Weight-specific thrust fuel consumption c_T = fuel weight flow / thrust,
        unit 1/s (a modern turbofan at cruise: 1.4-1.7e-4 /s, i.e. 0.5-0.6 /h;
        convert with :func:`tsfc_per_hour_to_per_s`).

    Returns
    -------
    float or ndarray
        Range, m: ``(V / c_T) (L/D) ln(m0/m1)``.
    """
    ct = positive("tsfc_per_s", tsfc_per_s)
    if np.any(ct > _MAX_TSFC_PER_S):
        raise InvalidInputError(
            f"tsfc_per_s={float(np.max(ct)):g} 1/s is implausible (>{_MAX_TSFC_PER_S:g}); "
            "was it given per hour? use tsfc_per_hour_to_per_s()"
        )
    v = positive("speed", speed)
    ld = positive("lift_to_drag", lift_to_drag)
    return out(v / ct * ld * _log_mass_ratio(initial_mass, final_mass))


def breguet_range_jet_mass_specific(
    speed: ArrayLike,
    lift_to_drag: ArrayLike,
    initial_mass: ArrayLike,
    final_mass: ArrayLike,
    *,
    tsfc_kg_per_n_s: ArrayLike,
    g: float = G0,
) -> Any:
    """Breguet range of a jet with mass-specific thrust fuel consumption.

    Parameters
    ----------
    speed : float or array_like
        True airspeed V, m/s.
    lift_to_drag : float or array_like
        Cruise L/D.
    initial_mass, final_mass : float or array_like
        Masses at start and end of cruise, kg.
    tsfc_kg_per_n_s : float or array_like
        Mass-specific consumption c, kg of fuel per N of thrust per s
        (about 1.5e-5 for a modern turbofan). Equals c_T / g.
    g : float, default 9.80665
        Gravitational acceleration, m/s**2.

    Returns
    -------
    float or ndarray
        Range, m: ``(V / (g c)) (L/D) ln(m0/m1)``.
    """
    c = positive("tsfc_kg_per_n_s", tsfc_kg_per_n_s)
    v = positive("speed", speed)
    ld = positive("lift_to_drag", lift_to_drag)
    return out(v / (float(g) * c) * ld * _log_mass_ratio(initial_mass, final_mass))


def breguet_range_propeller(
    propeller_efficiency: ArrayLike,
    lift_to_drag: ArrayLike,
    initial_mass: ArrayLike,
    final_mass: ArrayLike,
    *,
    psfc_per_m: ArrayLike,
) -> Any:
    """Breguet range of a propeller aircraft with weight-specific power consumption.

    Parameters
    ----------
    propeller_efficiency : float or array_like
        Propulsive efficiency eta, 0 < eta <= 1.
    lift_to_drag : float or array_like
        Cruise L/D.
    initial_mass, final_mass : float or array_like
        Masses at start and end of cruise, kg.
    psfc_per_m : float or array_like
        Weight-specific power consumption c_P, N of fuel weight per W per s,
        i.e. unit 1/m (a turboprop: about 7-8e-7 /m).

    Returns
    -------
    float or ndarray
        Range, m: ``(eta / c_P) (L/D) ln(m0/m1)``.
    """
    eta = _efficiency(propeller_efficiency)
    cp = positive("psfc_per_m", psfc_per_m)
    ld = positive("lift_to_drag", lift_to_drag)
    return out(eta / cp * ld * _log_mass_ratio(initial_mass, final_mass))


def breguet_range_propeller_mass_specific(
    propeller_efficiency: ArrayLike,
    lift_to_drag: ArrayLike,
    initial_mass: ArrayLike,
    final_mass: ArrayLike,
    *,
    psfc_kg_per_w_s: ArrayLike,
    g: float = G0,
) -> Any:
    """Breguet range of a propeller aircraft with mass-specific power consumption.

    Parameters
    ----------
    propeller_efficiency : float or array_like
        Propulsive efficiency eta.
    lift_to_drag : float or array_like
        Cruise L/D.
    initial_mass, final_mass : float or array_like
        Masses at start and end of cruise, kg.
    psfc_kg_per_w_s : float or array_like
        Mass-specific power consumption c, kg of fuel per W per s
        (0.28 kg/kWh = 7.8e-8 kg/(W s)).
    g : float, default 9.80665
        Gravitational acceleration, m/s**2.

    Returns
    -------
    float or ndarray
        Range, m: ``(eta / (g c)) (L/D) ln(m0/m1)``.
    """
    eta = _efficiency(propeller_efficiency)
    c = positive("psfc_kg_per_w_s", psfc_kg_per_w_s)
    ld = positive("lift_to_drag", lift_to_drag)
    return out(eta / (float(g) * c) * ld * _log_mass_ratio(initial_mass, final_mass))


def battery_range(
    specific_energy_j_per_kg: ArrayLike,
    total_efficiency: ArrayLike,
    lift_to_drag: ArrayLike,
    battery_mass: ArrayLike,
    total_mass: ArrayLike,
    *,
    g: float = G0,
) -> Any:
    """Range of a battery-electric aircraft (mass constant in flight).

    Parameters
    ----------
    specific_energy_j_per_kg : float or array_like
        Usable battery specific energy e*, J/kg (250 Wh/kg = 9.0e5 J/kg).
    total_efficiency : float or array_like
        Battery-to-thrust-power efficiency eta (0 < eta <= 1).
    lift_to_drag : float or array_like
        Cruise L/D.
    battery_mass, total_mass : float or array_like
        Battery mass and aircraft mass, kg.
    g : float, default 9.80665
        Gravitational acceleration, m/s**2.

    Returns
    -------
    float or ndarray
        Range, m: ``e* eta (L/D) (m_batt / m) / g``.
    """
    e = positive("specific_energy_j_per_kg", specific_energy_j_per_kg)
    eta = _efficiency(total_efficiency)
    ld = positive("lift_to_drag", lift_to_drag)
    mb = positive("battery_mass", battery_mass)
    m = positive("total_mass", total_mass)
    if np.any(mb > m):
        raise InvalidInputError("battery_mass must not exceed total_mass")
    return out(e * eta * ld * (mb / m) / float(g))


def fuel_fraction_jet(
    range_m: ArrayLike, speed: ArrayLike, lift_to_drag: ArrayLike, *, tsfc_per_s: ArrayLike
) -> Any:
    """Cruise fuel fraction ``1 - m1/m0 = 1 - exp(-R c_T / (V L/D))`` (jet, weight-specific c_T in 1/s)."""
    r = positive("range_m", range_m)
    v = positive("speed", speed)
    ld = positive("lift_to_drag", lift_to_drag)
    ct = positive("tsfc_per_s", tsfc_per_s)
    if np.any(ct > _MAX_TSFC_PER_S):
        raise InvalidInputError("tsfc_per_s is implausibly large; was it given per hour?")
    return out(1.0 - np.exp(-r * ct / (v * ld)))


def _efficiency(value: ArrayLike) -> np.ndarray:
    eta = positive("efficiency", value)
    if np.any(eta > 1.0):
        raise InvalidInputError("efficiency must be within (0, 1]")
    return eta
