"""Breguet cruise range of a jet (sweepable), on :mod:`pluma.engineering.performance`.

ENGINEERING.md::

    weight-specific c_T (1/s):      R = (V / c_T) (L/D) ln(m0/m1)
    mass-specific c (kg/(N s)):     R = (V / (g c)) (L/D) ln(m0/m1)

Mixing the two is a factor-9.81 error, so the consumption is passed by a
keyword whose name carries its unit and exactly one of them must be given:
``tsfc_per_s`` (weight-specific, 1/s), ``tsfc_per_hour`` (weight-specific,
1/h, the way engine data is usually quoted) or ``tsfc_kg_per_n_s``
(mass-specific). The speed is either ``speed_m_s`` or ``mach`` at
``altitude_m`` in the ISA.
"""

from __future__ import annotations

import math

from ..engineering.atmosphere import G0, true_airspeed
from ..engineering.performance import (
    breguet_range_jet,
    breguet_range_jet_mass_specific,
    tsfc_per_hour_to_per_s,
)
from ..errors import InvalidInputError
from .lifting_line import _positive, _scalar  # shared scalar checks

__all__ = ["breguet_range"]

_MIN_TSFC_PER_HOUR = 1e-2  # far below any engine (hydrogen ~0.2 /h): a value in 1/s given as per hour
_MAX_TSFC_KG_PER_N_S = 1e-3  # 36 /h weight-specific: far above any air-breathing engine


def breguet_range(
    lift_to_drag: float,
    initial_mass_kg: float,
    final_mass_kg: float,
    *,
    tsfc_per_s: float | None = None,
    tsfc_per_hour: float | None = None,
    tsfc_kg_per_n_s: float | None = None,
    speed_m_s: float | None = None,
    mach: float | None = None,
    altitude_m: float | None = None,
    g: float = G0,
) -> dict[str, float]:
    """Breguet range of a jet in cruise.

    Parameters
    ----------
    lift_to_drag : float
        Cruise L/D.
    initial_mass_kg, final_mass_kg : float
        Masses at the start and end of cruise, kg (``W0/W1 = m0/m1``).
    tsfc_per_s : float, optional
        Weight-specific thrust fuel consumption c_T (fuel weight flow / thrust),
        1/s; a modern turbofan at cruise: 1.4-1.7e-4 /s.
    tsfc_per_hour : float, optional
        The same quantity in 1/h (0.5-0.6 /h).
    tsfc_kg_per_n_s : float, optional
        Mass-specific consumption c (kg of fuel per N of thrust per s), ``c_T / g``.
        Exactly one of the three consumption arguments must be given.
    speed_m_s : float, optional
        True airspeed, m/s.
    mach, altitude_m : float, optional
        Cruise Mach number and ISA altitude (m, 0..20 000) instead of ``speed_m_s``.
    g : float, default 9.80665
        Gravitational acceleration, m/s**2 (mass-specific form only).

    Returns
    -------
    dict of str to float
        ``range_km`` (km), ``fuel_fraction`` (cruise fuel / initial mass,
        ``1 - m1/m0``) and ``speed_m_s`` (the true airspeed used).
    """
    given = {k: v for k, v in (("tsfc_per_s", tsfc_per_s), ("tsfc_per_hour", tsfc_per_hour),
                               ("tsfc_kg_per_n_s", tsfc_kg_per_n_s)) if v is not None}
    if len(given) != 1:
        raise InvalidInputError(
            "give exactly one fuel consumption: tsfc_per_s (weight-specific, 1/s), tsfc_per_hour "
            f"(weight-specific, 1/h) or tsfc_kg_per_n_s (mass-specific, kg/(N s)); got {sorted(given) or 'none'}"
        )
    if speed_m_s is not None:
        if mach is not None or altitude_m is not None:
            raise InvalidInputError("give either speed_m_s or mach with altitude_m, not both")
        v = _positive("speed_m_s", speed_m_s)
    elif mach is not None and altitude_m is not None:
        v = float(true_airspeed(_positive("mach", mach), _scalar("altitude_m", altitude_m)))
    else:
        raise InvalidInputError("give the cruise speed: speed_m_s, or mach with altitude_m")
    ld = _positive("lift_to_drag", lift_to_drag)
    m0 = _positive("initial_mass_kg", initial_mass_kg)
    m1 = _positive("final_mass_kg", final_mass_kg)

    (name, value), = given.items()
    if name == "tsfc_kg_per_n_s":
        c = _positive(name, value)
        if c > _MAX_TSFC_KG_PER_N_S:
            raise InvalidInputError(
                f"tsfc_kg_per_n_s={c:g} kg/(N s) is implausibly large (> {_MAX_TSFC_KG_PER_N_S:g}); "
                "a turbofan is about 1.5e-5 (was a weight-specific or per-hour value given?)"
            )
        r = breguet_range_jet_mass_specific(v, ld, m0, m1, tsfc_kg_per_n_s=c, g=_positive("g", g))
    else:
        ct = _positive(name, value)
        if name == "tsfc_per_hour":
            if ct < _MIN_TSFC_PER_HOUR:
                raise InvalidInputError(
                    f"tsfc_per_hour={ct:g} 1/h is implausibly small (< {_MIN_TSFC_PER_HOUR:g}); was it given per second? use tsfc_per_s"
                )
            ct = float(tsfc_per_hour_to_per_s(ct))
        r = breguet_range_jet(v, ld, m0, m1, tsfc_per_s=ct)
    fraction = 1.0 - m1 / m0
    if not math.isfinite(float(r)):
        raise InvalidInputError("range is not finite; check the inputs")
    return {"range_km": float(r) / 1000.0, "fuel_fraction": fraction, "speed_m_s": v}
