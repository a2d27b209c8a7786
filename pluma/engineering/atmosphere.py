"""International Standard Atmosphere (ISA), sea level to 20 km.

Troposphere (0-11 km), per ENGINEERING.md::

    T = 288.15 - 0.0065 h                    [K]
    p = 101325 (T / 288.15) ** 5.2559        [Pa]

Lower stratosphere (11-20 km)::

    T = 216.65                               [K]
    p = 22632 exp(-(h - 11000) / 6341.6)     [Pa]

and everywhere ``rho = p / (R T)``, ``a = sqrt(gamma R T)`` with
``R = 287.05 J/(kg K)`` and ``gamma = 1.4``. Altitudes are geopotential
metres; all functions accept scalars or arrays and return the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..errors import InvalidInputError

__all__ = [
    "G0",
    "GAMMA",
    "H_MAX",
    "H_TROPOPAUSE",
    "LAPSE_RATE",
    "P0",
    "R_AIR",
    "RHO0",
    "T0",
    "ISAState",
    "density",
    "dynamic_pressure",
    "isa",
    "pressure",
    "speed_of_sound",
    "temperature",
    "true_airspeed",
]

T0: float = 288.15
"""Sea-level temperature, K."""
P0: float = 101325.0
"""Sea-level pressure, Pa."""
R_AIR: float = 287.05
"""Specific gas constant of air, J/(kg K)."""
GAMMA: float = 1.4
"""Ratio of specific heats of air."""
LAPSE_RATE: float = 0.0065
"""Tropospheric temperature lapse rate, K/m."""
G0: float = 9.80665
"""Standard gravity, m/s**2."""
H_TROPOPAUSE: float = 11000.0
"""Tropopause altitude, m."""
H_MAX: float = 20000.0
"""Upper altitude limit of this model, m."""
RHO0: float = P0 / (R_AIR * T0)
"""Sea-level density, kg/m**3 (about 1.225)."""

_PRESSURE_EXPONENT = 5.2559
_T_STRAT = 216.65
_P_TROPOPAUSE = 22632.0
_SCALE_HEIGHT_STRAT = 6341.6


@dataclass(frozen=True)
class ISAState:
    """Atmospheric state at one or more altitudes.

    Attributes
    ----------
    altitude : float or ndarray
        Geopotential altitude, m.
    temperature : float or ndarray
        Static temperature, K.
    pressure : float or ndarray
        Static pressure, Pa.
    density : float or ndarray
        Density, kg/m**3.
    speed_of_sound : float or ndarray
        Speed of sound, m/s.
    """

    altitude: Any
    temperature: Any
    pressure: Any
    density: Any
    speed_of_sound: Any

    def as_dict(self) -> dict[str, Any]:
        """Return the state as a plain ``dict``."""
        return {
            "altitude": self.altitude,
            "temperature": self.temperature,
            "pressure": self.pressure,
            "density": self.density,
            "speed_of_sound": self.speed_of_sound,
        }


def _altitude(h: ArrayLike) -> tuple[np.ndarray, bool]:
    try:
        arr = np.asarray(h, dtype=float)
    except (TypeError, ValueError):
        raise InvalidInputError(f"altitude must be a number or array of numbers in m, got {h!r}") from None
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError("altitude must be finite (m)")
    if np.any(arr < 0.0) or np.any(arr > H_MAX):
        bad = arr[(arr < 0.0) | (arr > H_MAX)]
        raise InvalidInputError(
            f"altitude {float(bad.flat[0]):g} m is outside the ISA model's range 0..{H_MAX:g} m"
        )
    return arr, arr.ndim == 0


def _out(x: np.ndarray, scalar: bool) -> Any:
    return float(x) if scalar else x


def _temperature(h: np.ndarray) -> np.ndarray:
    return np.where(h <= H_TROPOPAUSE, T0 - LAPSE_RATE * h, _T_STRAT)


def _pressure(h: np.ndarray) -> np.ndarray:
    t_tropo = T0 - LAPSE_RATE * np.minimum(h, H_TROPOPAUSE)
    p_tropo = P0 * (t_tropo / T0) ** _PRESSURE_EXPONENT
    p_strat = _P_TROPOPAUSE * np.exp(-(np.maximum(h, H_TROPOPAUSE) - H_TROPOPAUSE) / _SCALE_HEIGHT_STRAT)
    return np.where(h <= H_TROPOPAUSE, p_tropo, p_strat)


def temperature(h: ArrayLike) -> Any:
    """ISA static temperature.

    Parameters
    ----------
    h : float or array_like
        Geopotential altitude, m, within 0..20 000.

    Returns
    -------
    float or ndarray
        Temperature, K.

    Raises
    ------
    InvalidInputError
        If any altitude is outside 0..20 km or not finite.
    """
    arr, scalar = _altitude(h)
    return _out(_temperature(arr), scalar)


def pressure(h: ArrayLike) -> Any:
    """ISA static pressure, Pa, at altitude ``h`` (m, 0..20 000)."""
    arr, scalar = _altitude(h)
    return _out(_pressure(arr), scalar)


def density(h: ArrayLike) -> Any:
    """ISA density, kg/m**3, at altitude ``h`` (m, 0..20 000): ``p / (R T)``."""
    arr, scalar = _altitude(h)
    return _out(_pressure(arr) / (R_AIR * _temperature(arr)), scalar)


def speed_of_sound(h: ArrayLike) -> Any:
    """ISA speed of sound, m/s, at altitude ``h`` (m, 0..20 000): ``sqrt(gamma R T)``."""
    arr, scalar = _altitude(h)
    return _out(np.sqrt(GAMMA * R_AIR * _temperature(arr)), scalar)


def isa(h: ArrayLike) -> ISAState:
    """Full ISA state at altitude ``h``.

    Parameters
    ----------
    h : float or array_like
        Geopotential altitude, m, within 0..20 000.

    Returns
    -------
    ISAState
        Temperature (K), pressure (Pa), density (kg/m**3) and speed of sound
        (m/s); floats for a scalar ``h``, arrays of ``h``'s shape otherwise.

    Examples
    --------
    >>> s = isa(11000.0)
    >>> round(s.temperature, 2), round(s.pressure)
    (216.65, 22632)
    """
    arr, scalar = _altitude(h)
    t = _temperature(arr)
    p = _pressure(arr)
    return ISAState(
        altitude=_out(arr, scalar),
        temperature=_out(t, scalar),
        pressure=_out(p, scalar),
        density=_out(p / (R_AIR * t), scalar),
        speed_of_sound=_out(np.sqrt(GAMMA * R_AIR * t), scalar),
    )


def true_airspeed(mach: ArrayLike, h: ArrayLike) -> Any:
    """True airspeed, m/s, for Mach number ``mach`` at altitude ``h`` (m)."""
    m = np.asarray(mach, dtype=float)
    if np.any(m < 0) or not np.all(np.isfinite(m)):
        raise InvalidInputError("Mach number must be finite and >= 0")
    arr, scalar = _altitude(h)
    v = m * np.sqrt(GAMMA * R_AIR * _temperature(arr))
    return float(v) if (scalar and m.ndim == 0) else v


def dynamic_pressure(mach: ArrayLike, h: ArrayLike) -> Any:
    """Dynamic pressure ``q = 0.5 rho V**2 = 0.5 gamma p M**2``, Pa, at Mach ``mach`` and altitude ``h`` (m)."""
    m = np.asarray(mach, dtype=float)
    if np.any(m < 0) or not np.all(np.isfinite(m)):
        raise InvalidInputError("Mach number must be finite and >= 0")
    arr, scalar = _altitude(h)
    q = 0.5 * GAMMA * _pressure(arr) * m**2
    return float(q) if (scalar and m.ndim == 0) else q
