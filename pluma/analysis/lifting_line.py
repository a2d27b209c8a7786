"""Prandtl lifting-line theory for straight (unswept) wings, Glauert series.

Circulation and spanwise coordinate (ENGINEERING.md)::

    Gamma(theta) = 2 b V sum_n A_n sin(n theta),    y = -(b/2) cos(theta)

The monoplane equation, with ``mu(theta) = a0 c(theta) / (4 b)``::

    sum_n A_n sin(n theta) (n mu + sin theta) = mu sin(theta) (alpha(theta) - alpha_L0)

is collocated at ``N`` stations ``theta_k = k pi / (2 N)``, k = 1..N (half
span, root included, tip excluded) for the ``N`` odd terms n = 1, 3, ...,
2N - 1 of a symmetric loading, and solved with :func:`numpy.linalg.solve`.
Then::

    CL  = pi AR A_1
    CDi = pi AR sum_n n A_n**2 = CL**2 / (pi AR e),   e = 1 / (1 + delta),
    delta = sum_{n>=3} n (A_n / A_1)**2

Planforms (``AR = b**2 / S`` in both):

- ``"tapered"``: straight taper ``c(y) = c_root (1 - (1 - lambda) |2y/b|)``,
  ``c_root / b = 2 / (AR (1 + lambda))``; ``lambda = 1`` is the rectangular wing.
- ``"elliptic"``: ``c(y) = c_0 sqrt(1 - (2y/b)**2)``, ``c_0 / b = 4 / (pi AR)``
  (``taper_ratio`` is validated but not used).

Linear twist ``alpha(y) = alpha + twist_tip |2y/b|`` (negative = washout).
Because the system is linear the solver keeps the loading per unit angle of
attack and per unit twist apart, which gives the lift slope and the span
efficiency of the basic loading directly.

Converged span efficiencies (a0 = 2 pi) reproduced in the tests: rectangular
AR 6/7/8: 0.9539/0.9451/0.9367; taper 0.4, AR 8/10/12: 0.9872/0.9831/0.9791.
The kink of the tapered chord at the root makes the series converge slowly
(about 1e-4 in e at N = 20, 3e-5 at N = 40); the elliptic wing is exact for
any N.

Out of validity: sweep, compressibility, viscous effects and stall. Results
with ``|CL|`` above ``cl_max_valid`` (1.5 by default; ENGINEERING.md says
flag above about 1.4-1.6) are returned with ``valid = 0.0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._checks import finite_scalar
from ..errors import InvalidInputError

__all__ = [
    "CL_MAX_VALID",
    "MAX_TERMS",
    "MIN_TERMS",
    "PLANFORMS",
    "LiftingLineSolution",
    "solve_lifting_line",
    "wing_lifting_line",
]

A0_THIN_AEROFOIL = 2.0 * math.pi
CL_MAX_VALID: float = 1.5
"""|CL| above which the (stall-free) lifting-line result is flagged ``valid = 0``."""
MIN_TERMS: int = 4
"""Fewest Glauert terms accepted (fewer cannot resolve a tapered wing's loading)."""
MAX_TERMS: int = 2000
"""Most Glauert terms accepted (the dense solve is O(N**3))."""
PLANFORMS: tuple[str, ...] = ("tapered", "elliptic")
"""Supported planform names."""
MAX_TAPER: float = 1.5


# -- scalar argument checks (shared with the other analysis modules) --------------------------


def _scalar(name: str, value: Any) -> float:
    """``value`` as a finite Python float; InvalidInputError for booleans, arrays, text, NaN/inf."""
    if np.ndim(value) != 0 and not isinstance(value, (str, bytes)):
        raise InvalidInputError(f"{name} must be a scalar (analysis functions take one point; sweep for many), "
                                f"got shape {np.shape(value)}")
    return finite_scalar(name, value)


def _positive(name: str, value: Any) -> float:
    x = _scalar(name, value)
    if x <= 0.0:
        raise InvalidInputError(f"{name} must be > 0, got {value!r}")
    return x


def _integer(name: str, value: Any, lo: int, hi: int) -> int:
    x = _scalar(name, value)
    if x != int(x):
        raise InvalidInputError(f"{name} must be a whole number, got {value!r}")
    if not lo <= x <= hi:
        raise InvalidInputError(f"{name} must be within {lo}..{hi}, got {int(x)}")
    return int(x)


def _choice(name: str, value: Any, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.strip().lower() not in options:
        raise InvalidInputError(f"{name} must be one of {', '.join(options)}; got {value!r}")
    return value.strip().lower()


# -- solver ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiftingLineSolution:
    """A converged-or-not lifting-line solution for one wing and one angle of attack.

    Attributes
    ----------
    aspect_ratio, taper_ratio : float
        Wing geometry (``taper_ratio`` unused for the elliptic planform).
    planform : str
        ``"tapered"`` or ``"elliptic"``.
    alpha_deg, twist_tip_deg, alpha_zero_lift_deg : float
        Root angle of attack, linear tip twist and section zero-lift angle, degrees.
    a0_per_rad : float
        Section lift slope, per radian.
    n : ndarray of int
        Glauert term indices (odd: 1, 3, ..., 2N - 1).
    coefficients : ndarray
        ``A_n`` at this angle of attack (dimensionless).
    coefficients_per_rad : ndarray
        ``A_n`` of the basic loading per radian of uniform angle of attack.
    coefficients_twist_per_rad : ndarray
        ``A_n`` of the loading per radian of tip twist at zero root incidence.
    theta : ndarray
        Collocation angles ``k pi / (2N)``, rad (0 = tip, pi/2 = root).
    eta : ndarray
        Spanwise stations ``|2y/b| = cos(theta)`` of the collocation points.
    chord_over_span : ndarray
        ``c / b`` at the stations.
    circulation : ndarray
        Non-dimensional circulation ``Gamma / (b V)`` at the stations.
    section_cl : ndarray
        Local section lift coefficient ``2 Gamma / (V c)`` at the stations.
    cl, cdi : float
        Wing lift and induced drag coefficients.
    span_efficiency : float
        ``CL**2 / (pi AR CDi)`` = ``1/(1 + delta)``; for ``CL = 0`` without
        twist the efficiency of the basic loading, 0 for a twisted wing at zero
        lift (induced drag without lift).
    cl_alpha_per_rad : float
        Wing lift slope ``pi AR A_1`` of the basic loading, per radian.
    """

    aspect_ratio: float
    taper_ratio: float
    planform: str
    alpha_deg: float
    twist_tip_deg: float
    alpha_zero_lift_deg: float
    a0_per_rad: float
    n: np.ndarray
    coefficients: np.ndarray
    coefficients_per_rad: np.ndarray
    coefficients_twist_per_rad: np.ndarray
    theta: np.ndarray
    eta: np.ndarray
    chord_over_span: np.ndarray
    circulation: np.ndarray
    section_cl: np.ndarray
    cl: float
    cdi: float
    span_efficiency: float
    cl_alpha_per_rad: float

    @property
    def n_terms(self) -> int:
        """Number of Glauert terms (and collocation points) N."""
        return int(self.n.size)

    def circulation_at(self, eta: Any) -> np.ndarray:
        """``Gamma / (b V)`` at arbitrary stations ``eta = |2y/b|`` in 0..1 (0 at the root, 1 at the tip)."""
        e = np.atleast_1d(np.asarray(eta, dtype=float))
        if np.any(e < 0) or np.any(e > 1):
            raise InvalidInputError("eta = |2y/b| must lie within 0..1")
        th = np.arccos(e)
        return 2.0 * np.sin(np.outer(th, self.n)) @ self.coefficients


def _chord_over_span(planform: str, aspect_ratio: float, taper_ratio: float, theta: np.ndarray) -> np.ndarray:
    eta = np.abs(np.cos(theta))
    if planform == "elliptic":
        return 4.0 / (math.pi * aspect_ratio) * np.sin(theta)
    c_root = 2.0 / (aspect_ratio * (1.0 + taper_ratio))
    return c_root * (1.0 - (1.0 - taper_ratio) * eta)


def _span_efficiency(a: np.ndarray, n: np.ndarray) -> float:
    if a[0] == 0.0:
        return math.nan
    return 1.0 / (1.0 + float(np.sum(n[1:] * (a[1:] / a[0]) ** 2)))


def solve_lifting_line(
    aspect_ratio: float,
    taper_ratio: float,
    alpha_deg: float,
    *,
    twist_tip_deg: float = 0.0,
    alpha_zero_lift_deg: float = 0.0,
    a0_per_rad: float = A0_THIN_AEROFOIL,
    n_terms: int = 40,
    planform: str = "tapered",
) -> LiftingLineSolution:
    """Solve the monoplane equation for a straight wing (see the module docstring).

    Parameters
    ----------
    aspect_ratio : float
        ``b**2 / S``, > 0.
    taper_ratio : float
        Tip chord / root chord, within (0, 1.5]; 1 is rectangular. Validated
        but unused for the elliptic planform.
    alpha_deg : float
        Angle of attack of the root section, degrees, within [-90, 90].
    twist_tip_deg : float, default 0
        Linear twist at the tip relative to the root, degrees (negative = washout).
    alpha_zero_lift_deg : float, default 0
        Section zero-lift angle, degrees (negative for positive camber).
    a0_per_rad : float, default 2 pi
        Section lift slope, per radian.
    n_terms : int, default 40
        Number N of odd Glauert terms and collocation points, 4..2000.
    planform : {"tapered", "elliptic"}
        Chord distribution.

    Returns
    -------
    LiftingLineSolution

    Raises
    ------
    InvalidInputError
        For inputs outside the model (AR <= 0, taper outside (0, 1.5],
        N < 4, non-finite values, unknown planform).
    """
    ar = _positive("aspect_ratio", aspect_ratio)
    lam = _positive("taper_ratio", taper_ratio)
    if lam > MAX_TAPER:
        raise InvalidInputError(f"taper_ratio must be within (0, {MAX_TAPER:g}], got {taper_ratio!r}")
    alpha = _scalar("alpha_deg", alpha_deg)
    twist = _scalar("twist_tip_deg", twist_tip_deg)
    alpha0 = _scalar("alpha_zero_lift_deg", alpha_zero_lift_deg)
    for name, val in (("alpha_deg", alpha), ("twist_tip_deg", twist), ("alpha_zero_lift_deg", alpha0)):
        if abs(val) > 90.0:
            raise InvalidInputError(f"{name} must be within -90..90 degrees, got {val:g}")
    a0 = _positive("a0_per_rad", a0_per_rad)
    n_pts = _integer("n_terms", n_terms, MIN_TERMS, MAX_TERMS)
    shape = _choice("planform", planform, PLANFORMS)

    k = np.arange(1, n_pts + 1)
    n = 2 * k - 1
    theta = k * math.pi / (2.0 * n_pts)
    sin_t = np.sin(theta)
    eta = np.abs(np.cos(theta))
    cb = _chord_over_span(shape, ar, lam, theta)
    mu = a0 * cb / 4.0
    matrix = np.sin(np.outer(theta, n)) * (mu[:, None] * n[None, :] + sin_t[:, None])
    rhs = np.column_stack([mu * sin_t, mu * sin_t * eta])  # per radian of angle of attack; per radian of tip twist
    sol = np.linalg.solve(matrix, rhs)
    a_alpha, a_twist = sol[:, 0], sol[:, 1]
    coeffs = math.radians(alpha - alpha0) * a_alpha + math.radians(twist) * a_twist

    cl = math.pi * ar * float(coeffs[0])
    cdi = math.pi * ar * float(np.sum(n * coeffs**2))
    if coeffs[0] != 0.0:
        e = _span_efficiency(coeffs, n)
    elif cdi > 0.0:
        e = 0.0  # twisted wing at zero lift: induced drag without lift
    else:
        e = _span_efficiency(a_alpha, n)  # untwisted wing at zero lift: shape of the basic loading
    gamma = 2.0 * np.sin(np.outer(theta, n)) @ coeffs
    return LiftingLineSolution(
        aspect_ratio=ar,
        taper_ratio=lam,
        planform=shape,
        alpha_deg=alpha,
        twist_tip_deg=twist,
        alpha_zero_lift_deg=alpha0,
        a0_per_rad=a0,
        n=n,
        coefficients=coeffs,
        coefficients_per_rad=a_alpha,
        coefficients_twist_per_rad=a_twist,
        theta=theta,
        eta=eta,
        chord_over_span=cb,
        circulation=gamma,
        section_cl=2.0 * gamma / cb,
        cl=cl,
        cdi=cdi,
        span_efficiency=e,
        cl_alpha_per_rad=math.pi * ar * float(a_alpha[0]),
    )


def wing_lifting_line(
    aspect_ratio: float,
    taper_ratio: float,
    alpha_deg: float,
    *,
    twist_tip_deg: float = 0.0,
    alpha_zero_lift_deg: float = 0.0,
    a0_per_rad: float = A0_THIN_AEROFOIL,
    n_terms: int = 40,
    planform: str = "tapered",
    cl_max_valid: float = CL_MAX_VALID,
) -> dict[str, float]:
    """Lift, induced drag and span efficiency of a straight wing (sweepable).

    Parameters are those of :func:`solve_lifting_line` (aspect ratio and taper
    dimensionless, angles in degrees, ``a0_per_rad`` per radian) plus
    ``cl_max_valid`` (default 1.5), the ``|CL|`` above which the result is
    flagged as outside the theory (stall is not modelled).

    Returns
    -------
    dict of str to float
        ``cl``, ``cdi`` (dimensionless), ``span_efficiency`` (``e``, 1 for an
        elliptic loading), ``cl_alpha_per_rad`` (wing lift slope, 1/rad) and
        ``valid`` (1.0 within the theory, 0.0 when ``|CL| > cl_max_valid``).
    """
    limit = _positive("cl_max_valid", cl_max_valid)
    s = solve_lifting_line(
        aspect_ratio,
        taper_ratio,
        alpha_deg,
        twist_tip_deg=twist_tip_deg,
        alpha_zero_lift_deg=alpha_zero_lift_deg,
        a0_per_rad=a0_per_rad,
        n_terms=n_terms,
        planform=planform,
    )
    return {
        "cl": s.cl,
        "cdi": s.cdi,
        "span_efficiency": s.span_efficiency,
        "cl_alpha_per_rad": s.cl_alpha_per_rad,
        "valid": 0.0 if abs(s.cl) > limit else 1.0,
    }
