"""Deterministic demo data for every phase gate, built on :mod:`pluma.engineering`.

Three demo aircraft (:func:`program_parameters`): ``"narrowbody"`` (A320
class), ``"regional_turboprop"`` (ATR 72 class) and ``"bizjet"`` (large
business jet). One generator per dataset the default gates evaluate:

============================  ==============  ==========================================
generator                     dimension       variables
============================  ==============  ==========================================
:func:`mass_breakdown`        component       mass (kg)
:func:`wing_loads`            y (m)           lift_per_span, shear, bending_moment,
                                              stress, margin_of_safety
:func:`polars`                alpha (deg)     cl, cdi, cd, l_over_d
:func:`interfaces`            interface       domain_a, domain_b, verified, critical,
                                              critical_open, icd
:func:`trade_study`           option          objective, feasible, mass, cost, span,
                                              aspect_ratio, wing_material, selected
:func:`first_article`         feature         nominal, measured, tolerance (mm)
:func:`test_results`          requirement     method, has_result, critical, passed, evidence
:func:`compliance_matrix`     requirement     evidence, means_of_compliance, status, complete
:func:`fleet_events`          event           aircraft, time, kind, hours
============================  ==============  ==========================================

Every generator takes ``passing`` (``False`` makes the phase gate fail on
purpose: a negative margin, an unverified interface, ...) and ``seed``; the
same arguments always give the same data. :func:`phase_results` returns what
an engineering team records in a phase to meet (or miss) its gate.

Strings are fixed-width numpy unicode (``<U..``) and every variable carries
``units`` (pint-readable; ``"1"`` for numbers without dimension, booleans and
text) and ``long_name`` attributes, so all datasets round-trip through Zarr v3.
The one exception is ``fleet_events.time`` (datetime64): xarray's CF time
encoding owns its ``units`` attribute, so it has none.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..engineering.aerodynamics import cruise_lift_coefficient, lift_to_drag, polar_dataset
from ..engineering.atmosphere import G0, true_airspeed
from ..engineering.performance import fuel_fraction_jet, tsfc_per_hour_to_per_s
from ..engineering.sizing import DEFAULT_OEW_FRACTIONS, aspect_ratio, mass_breakdown_dataset
from ..engineering.structures import AL_7075_T6, CFRP_QUASI_ISOTROPIC, MATERIALS, Material, wing_loads_dataset
from .._checks import finite_scalar
from ..errors import InvalidInputError

__all__ = [
    "PHASES",
    "PROGRAM_KINDS",
    "chi2_cdf",
    "chi2_ppf",
    "compliance_matrix",
    "default_domains",
    "first_article",
    "fleet_events",
    "interfaces",
    "mass_breakdown",
    "phase_results",
    "polars",
    "program_parameters",
    "reliability_summary",
    "test_results",
    "trade_study",
    "wing_loads",
]

PHASES: tuple[str, ...] = ("CAD", "CAE", "CAI", "CAO", "CAM", "CAP", "CAV", "CMP", "CAS")
"""Phases in lifecycle order."""

# ---------------------------------------------------------------------------------------------
# Demo aircraft
# ---------------------------------------------------------------------------------------------

_PARAMS: dict[str, dict[str, Any]] = {
    # A320ceo class
    "narrowbody": {
        "span": 35.8,
        "wing_area": 122.6,
        "taper_ratio": 0.24,
        "sweep_quarter_chord": 25.0,
        "twist_tip": -3.0,
        "mtow": 78000.0,
        "oew": 42600.0,
        "max_fuel": 19000.0,
        "max_payload": 19900.0,
        "cruise_mach": 0.78,
        "cruise_altitude": 11000.0,
        "design_range": 6300.0,
        "thrust_to_weight": 0.31,
        "cd0": 0.020,
        "ld_required": 16.0,
        "limit_load_factor": 2.5,
        "factor_of_safety": 1.5,
        "design_dive_speed": 230.0,
        "production_rate_target": 60.0,
        "dal": "A",
        "mtbf_target_hours": 500.0,
        "dispatch_reliability_target": 0.99,
    },
    # ATR 72-600 class
    "regional_turboprop": {
        "span": 27.05,
        "wing_area": 61.0,
        "taper_ratio": 0.53,
        "sweep_quarter_chord": 3.0,
        "twist_tip": -2.0,
        "mtow": 23000.0,
        "oew": 13500.0,
        "max_fuel": 5000.0,
        "max_payload": 7500.0,
        "cruise_mach": 0.44,
        "cruise_altitude": 5200.0,
        "design_range": 1500.0,
        "thrust_to_weight": 0.30,
        "cd0": 0.026,
        "ld_required": 14.0,
        "limit_load_factor": 2.5,
        "factor_of_safety": 1.5,
        "design_dive_speed": 160.0,
        "production_rate_target": 4.0,
        "dal": "A",
        "mtbf_target_hours": 400.0,
        "dispatch_reliability_target": 0.99,
    },
    # Challenger 350 class
    "bizjet": {
        "span": 21.0,
        "wing_area": 48.5,
        "taper_ratio": 0.30,
        "sweep_quarter_chord": 27.0,
        "twist_tip": -3.0,
        "mtow": 18400.0,
        "oew": 11000.0,
        "max_fuel": 6400.0,
        "max_payload": 1600.0,
        "cruise_mach": 0.80,
        "cruise_altitude": 12500.0,
        "design_range": 5900.0,
        "thrust_to_weight": 0.36,
        "cd0": 0.021,
        "ld_required": 14.0,
        "limit_load_factor": 2.5,
        "factor_of_safety": 1.5,
        "design_dive_speed": 250.0,
        "production_rate_target": 5.0,
        "dal": "A",
        "mtbf_target_hours": 600.0,
        "dispatch_reliability_target": 0.99,
    },
}

# Engineering data behind the demos that is not in the shared parameter vocabulary.
_EXTRA: dict[str, dict[str, Any]] = {
    "narrowbody": {
        "oswald_efficiency": 0.80, "alpha_zero_lift_deg": -2.0, "thickness_to_chord": 0.15,
        "propulsion": "jet", "tsfc_per_hour": 0.55, "unit_cost_musd": 48.0, "span_limit": 36.0,
        "domains": ("AAA", "AAP", "DDD", "EEE", "MMM", "PPP"),
        "fleet": {"n_aircraft": 12, "days": 90, "flights_per_day": 5, "mean_block_hours": 1.8, "prefix": "PL-N"},
    },
    "regional_turboprop": {
        "oswald_efficiency": 0.82, "alpha_zero_lift_deg": -2.5, "thickness_to_chord": 0.15,
        "propulsion": "propeller", "propeller_efficiency": 0.82, "psfc_kg_per_kwh": 0.28,
        "unit_cost_musd": 18.0, "span_limit": 28.0,
        "domains": ("AAA", "DDD", "EEE", "MMM", "PPP"),
        "fleet": {"n_aircraft": 8, "days": 90, "flights_per_day": 7, "mean_block_hours": 0.9, "prefix": "PL-R"},
    },
    "bizjet": {
        "oswald_efficiency": 0.80, "alpha_zero_lift_deg": -1.5, "thickness_to_chord": 0.13,
        "propulsion": "jet", "tsfc_per_hour": 0.62, "unit_cost_musd": 22.0, "span_limit": 21.6,
        "domains": ("AAA", "AAP", "CCC", "EEE", "LIB", "PPP"),
        "fleet": {"n_aircraft": 6, "days": 120, "flights_per_day": 2, "mean_block_hours": 2.6, "prefix": "PL-B"},
    },
}

PROGRAM_KINDS: tuple[str, ...] = tuple(_PARAMS)
"""Demo aircraft kinds."""


def _kind(kind: str) -> str:
    if kind not in _PARAMS:
        raise InvalidInputError(f"unknown demo aircraft {kind!r}: choose one of {', '.join(PROGRAM_KINDS)}")
    return kind


def program_parameters(kind: str) -> dict[str, Any]:
    """Design parameters of a demo aircraft, in the shared vocabulary's units.

    Parameters
    ----------
    kind : {"narrowbody", "regional_turboprop", "bizjet"}
        Demo aircraft (A320, ATR 72 and Challenger 350 classes).

    Returns
    -------
    dict
        Configuration, mass, mission and requirement parameters (span m,
        wing_area m**2, aspect_ratio = span**2 / wing_area, mtow kg, ...,
        design_range km, design_dive_speed m/s, production_rate_target
        1/month, dal, mtbf_target_hours h, dispatch_reliability_target 1).
        A new dict each call.
    """
    p = dict(_PARAMS[_kind(kind)])
    p["aspect_ratio"] = float(aspect_ratio(p["span"], p["wing_area"]))
    order = ["span", "wing_area", "aspect_ratio"]
    return {k: p[k] for k in order} | {k: v for k, v in p.items() if k not in order}


def default_domains(kind: str) -> tuple[str, ...]:
    """Engineering domain codes of a demo aircraft program (for :func:`interfaces`)."""
    return tuple(_EXTRA[_kind(kind)]["domains"])


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _text(values: Sequence[str]) -> np.ndarray:
    values = [str(v) for v in values]
    width = max([1, *(len(v) for v in values)])
    return np.array(values, dtype=f"<U{width}")


def _var(dim: str, values: Any, units: str, long_name: str) -> tuple[str, Any, dict[str, str]]:
    return (dim, values, {"units": units, "long_name": long_name})


def _number(name: str, value: Any) -> float:
    return finite_scalar(name, value)


# ---------------------------------------------------------------------------------------------
# CAD
# ---------------------------------------------------------------------------------------------


def mass_breakdown(oew: float, *, fractions: Mapping[str, float] | None = None, passing: bool = True, seed: int = 0) -> xr.Dataset:
    """Operating-empty-mass breakdown (CAD gate: the masses sum to OEW within 5 %).

    Parameters
    ----------
    oew : float
        Operating empty mass, kg.
    fractions : mapping, optional
        Shares of OEW per component (default: typical transport shares); each
        is perturbed by up to +-8 % (seeded) and renormalised.
    passing : bool, default True
        ``False`` gives a bottom-up estimate that falls 9 % short of OEW.
    seed : int, default 0
        Random seed.

    Returns
    -------
    xarray.Dataset
        Dimension ``component``; variable ``mass`` (kg).
    """
    base = dict(DEFAULT_OEW_FRACTIONS if fractions is None else fractions)
    rng = _rng(seed)
    jitter = rng.uniform(0.92, 1.08, size=len(base))
    raw = np.array([float(v) for v in base.values()]) * jitter
    ds = mass_breakdown_dataset(oew, dict(zip(base, raw / raw.sum())))
    if not passing:
        ds["mass"] = ds["mass"] * 0.91
        ds["mass"].attrs.update({"units": "kg", "long_name": "component mass"})
        ds.attrs["note"] = "bottom-up estimate 9 % below the OEW estimate: mass budget does not close"
    return ds


# ---------------------------------------------------------------------------------------------
# CAE
# ---------------------------------------------------------------------------------------------


def polars(
    aspect_ratio: float,
    cd0: float,
    *,
    oswald_efficiency: float = 0.80,
    alpha_zero_lift_deg: float = -2.0,
    ld_required: float | None = None,
    alpha_deg: Sequence[float] | None = None,
    passing: bool = True,
    seed: int = 0,
) -> xr.Dataset:
    """Drag polar of the wing-body (CAE gate: cruise L/D >= required).

    Parameters
    ----------
    aspect_ratio : float
        Wing aspect ratio.
    cd0 : float
        Zero-lift drag coefficient.
    oswald_efficiency : float, default 0.80
        Nominal Oswald efficiency; the seed varies it by up to +-0.01.
    alpha_zero_lift_deg : float, default -2
        Zero-lift angle, deg.
    ld_required : float, optional
        Required cruise L/D; with ``passing=False`` the zero-lift drag is raised
        until (L/D)max is 90 % of it, so no lift coefficient meets it.
    alpha_deg : sequence of float, optional
        Angles of attack, deg (default -4..16 in 0.5 deg steps).
    passing : bool, default True
        ``False`` models an unexpected drag rise (excrescence and interference drag).
    seed : int, default 0
        Random seed.

    Returns
    -------
    xarray.Dataset
        The ``polars`` dataset of :func:`pluma.engineering.polar_dataset`.
    """
    rng = _rng(seed)
    e = _number("oswald_efficiency", oswald_efficiency) + float(rng.uniform(-0.01, 0.01))
    cd0_eff = _number("cd0", cd0)
    if not passing:
        bad = 1.3 * cd0_eff
        if ld_required is not None:
            bad = max(bad, math.pi * aspect_ratio * e / (4.0 * (0.9 * _number("ld_required", ld_required)) ** 2))
        cd0_eff = bad
    ds = polar_dataset(aspect_ratio, cd0_eff, e, alpha_deg=alpha_deg, alpha_zero_lift_deg=alpha_zero_lift_deg)
    if not passing:
        ds.attrs["note"] = f"zero-lift drag {cd0_eff:.4f} instead of {float(cd0):.4f}: unexpected drag rise"
    return ds


def _root_half_depth(span: float, wing_area: float, taper_ratio: float, thickness_to_chord: float) -> float:
    root_chord = 2.0 * wing_area / (span * (1.0 + taper_ratio))
    return 0.5 * 0.85 * thickness_to_chord * root_chord  # wing box depth about 85 % of the section thickness


def wing_loads(
    span: float,
    wing_area: float,
    mtow: float,
    *,
    taper_ratio: float = 0.3,
    limit_load_factor: float = 2.5,
    factor_of_safety: float = 1.5,
    material: Material | str = AL_7075_T6,
    thickness_to_chord: float = 0.14,
    n_stations: int = 41,
    passing: bool = True,
    seed: int = 0,
) -> xr.Dataset:
    """Spanwise wing loads and spar margins at limit load (CAE gate: all margins >= 0).

    The spar box depth follows the wing geometry (root chord from span, area and
    taper; depth 85 % of ``thickness_to_chord``); the root second moment of area
    is sized so that the smallest margin of safety equals a seeded target
    (0.05..0.25 when passing, -0.15..-0.05 otherwise: an undersized spar). The
    second moment tapers linearly to ``taper_ratio**3`` of the root value.

    Parameters
    ----------
    span, wing_area, mtow : float
        Wing span (m), reference area (m**2), maximum take-off mass (kg).
    taper_ratio : float, default 0.3
        Tip chord / root chord.
    limit_load_factor, factor_of_safety : float
        n (2.5..3.8) and FS (1.5).
    material : Material or str, default Al 7075-T6
        Spar material or its name in :data:`pluma.engineering.MATERIALS`.
    thickness_to_chord : float, default 0.14
        Root section thickness ratio.
    n_stations : int, default 41
        Spanwise stations.
    passing : bool, default True
        ``False`` gives an undersized spar with negative margins inboard.
    seed : int, default 0
        Random seed.

    Returns
    -------
    xarray.Dataset
        The ``wing_loads`` dataset of :func:`pluma.engineering.wing_loads_dataset`.
    """
    if isinstance(material, str):
        if material not in MATERIALS:
            raise InvalidInputError(f"unknown material {material!r}: choose one of {', '.join(MATERIALS)}")
        material = MATERIALS[material]
    lam = _number("taper_ratio", taper_ratio)
    if not 0.0 < lam <= 1.0:
        raise InvalidInputError("taper_ratio must be within (0, 1]")
    c_root = _root_half_depth(_number("span", span), _number("wing_area", wing_area), lam, _number("thickness_to_chord", thickness_to_chord))
    rng = _rng(seed)
    target = float(rng.uniform(0.05, 0.25) if passing else rng.uniform(-0.15, -0.05))
    kwargs = dict(
        half_depth_root=c_root,
        half_depth_tip=c_root * lam,
        limit_load_factor=limit_load_factor,
        factor_of_safety=factor_of_safety,
        material=material,
        n_stations=n_stations,
    )
    trial_i = 1.0e-2
    trial = wing_loads_dataset(span, mtow, second_moment_root=trial_i, second_moment_tip=trial_i * max(lam**3, 1e-3), **kwargs)
    # stress scales as 1/I, so 1 + MS scales as I
    i_root = trial_i * (1.0 + target) / (1.0 + trial.attrs["min_margin_of_safety"])
    ds = wing_loads_dataset(span, mtow, second_moment_root=i_root, second_moment_tip=i_root * max(lam**3, 1e-3), **kwargs)
    ds.attrs["design_margin_target"] = target
    if not passing:
        ds.attrs["note"] = "undersized spar: negative margins of safety inboard"
    return ds


# ---------------------------------------------------------------------------------------------
# CAI
# ---------------------------------------------------------------------------------------------


def interfaces(domains: Sequence[str], *, passing: bool = True, seed: int = 0) -> xr.Dataset:
    """One interface per pair of engineering domains (CAI gate: all verified, none critical and open).

    Parameters
    ----------
    domains : sequence of str
        The program's domain codes, e.g. ``("AER", "STR", "PRP")``; unique,
        without ``"-"``. At least two.
    passing : bool, default True
        ``False`` leaves one interface unverified and one critical interface
        with an open issue.
    seed : int, default 0
        Random seed (which interfaces are critical, which fail).

    Returns
    -------
    xarray.Dataset
        Dimension ``interface`` (``"AER-STR"``, ...); variables ``domain_a``,
        ``domain_b`` (str), ``verified``, ``critical``, ``critical_open``
        (bool) and ``icd`` (interface control document id).
    """
    codes = [str(d) for d in domains] if not isinstance(domains, str) else [domains]
    if len(codes) < 2:
        raise InvalidInputError("interfaces need at least two domain codes")
    if len(set(codes)) != len(codes):
        raise InvalidInputError(f"domain codes must be unique, got {codes}")
    for c in codes:
        if not c or "-" in c or not c.strip() == c:
            raise InvalidInputError(f"invalid domain code {c!r}: use short codes without '-' or spaces, e.g. 'AER'")
    pairs = list(itertools.combinations(codes, 2))
    n = len(pairs)
    rng = _rng(seed)
    critical = rng.random(n) < 0.35
    verified = np.ones(n, dtype=bool)
    critical_open = np.zeros(n, dtype=bool)
    if not passing:
        unverified, open_issue = (0, 0) if n == 1 else tuple(int(i) for i in rng.choice(n, size=2, replace=False))
        verified[unverified] = False
        critical[open_issue] = True
        critical_open[open_issue] = True
    names = [f"{a}-{b}" for a, b in pairs]
    return xr.Dataset(
        data_vars={
            "domain_a": _var("interface", _text([a for a, _ in pairs]), "1", "first domain"),
            "domain_b": _var("interface", _text([b for _, b in pairs]), "1", "second domain"),
            "verified": _var("interface", verified, "1", "interface has a verification result"),
            "critical": _var("interface", critical, "1", "interface is safety- or mission-critical"),
            "critical_open": _var("interface", critical_open, "1", "critical interface issue open"),
            "icd": _var("interface", _text([f"ICD-{nm}-{i + 1:03d}" for i, nm in enumerate(names)]), "1",
                        "interface control document"),
        },
        coords={"interface": ("interface", _text(names), {"long_name": "interface between two domains"})},
        attrs={"title": "interface verification status"},
    )


# ---------------------------------------------------------------------------------------------
# CAO
# ---------------------------------------------------------------------------------------------


def trade_study(
    *,
    span: float,
    wing_area: float,
    mtow: float,
    oew: float,
    cruise_mach: float,
    cruise_altitude: float,
    design_range: float,
    cd0: float,
    oswald_efficiency: float = 0.80,
    propulsion: str = "jet",
    tsfc_per_hour: float = 0.55,
    propeller_efficiency: float = 0.82,
    psfc_kg_per_kwh: float = 0.28,
    unit_cost_musd: float = 50.0,
    span_limit: float | None = None,
    aspect_ratio_factors: Sequence[float] = (0.9, 1.0, 1.1, 1.2),
    passing: bool = True,
    seed: int = 0,
) -> xr.Dataset:
    """Wing trade study: aspect ratio x spar material (CAO gate: selected option feasible).

    Each option keeps the wing area and changes aspect ratio (so span) and
    wing material. The wing (21 % of OEW) scales as ``(AR/AR0)**0.6``, a CFRP
    wing weighs 15 % less and costs 35 % more; the objective is the
    design-mission cruise fuel from the Breguet equation with the option's
    cruise L/D. Constraints: span <= ``span_limit`` (gate box; default 3 %
    above the baseline span) and OEW <= 1.03 x baseline.

    Parameters
    ----------
    span, wing_area, mtow, oew : float
        Baseline span (m), area (m**2), MTOW (kg), OEW (kg).
    cruise_mach, cruise_altitude, design_range : float
        Mach, altitude (m), range (km).
    cd0, oswald_efficiency : float
        Drag polar.
    propulsion : {"jet", "propeller"}
        Breguet form: jet with ``tsfc_per_hour`` (weight-specific, 1/h), or
        propeller with ``propeller_efficiency`` and ``psfc_kg_per_kwh``.
    unit_cost_musd : float
        Baseline recurring unit cost, million USD.
    span_limit : float, optional
        Largest span allowed, m.
    aspect_ratio_factors : sequence of float
        Options' aspect ratios relative to the baseline.
    passing : bool, default True
        ``True`` selects the best feasible option; ``False`` selects the option
        with the best objective, which breaks the span limit.
    seed : int, default 0
        Random seed (cost and mass estimate scatter, +-1 %).

    Returns
    -------
    xarray.Dataset
        Dimension ``option``; ``objective`` (kg fuel, minimise), ``feasible``,
        ``mass`` (kg, OEW), ``cost`` (1, MUSD), ``span`` (m), ``aspect_ratio``,
        ``wing_material`` and ``selected``. Attributes name the selected and
        the best feasible options and the optimality gap (``max(0, (J_sel -
        J_best) / J_best)`` with J_best the best feasible objective).
    """
    b0, s, m0, e0 = (_number(n, v) for n, v in (("span", span), ("wing_area", wing_area), ("mtow", mtow), ("oew", oew)))
    ar0 = b0**2 / s
    limit = b0 * 1.03 if span_limit is None else _number("span_limit", span_limit)
    rng = _rng(seed)
    wing0 = DEFAULT_OEW_FRACTIONS["wing"] * e0
    v = float(true_airspeed(cruise_mach, cruise_altitude))
    r = _number("design_range", design_range) * 1000.0
    rows = []
    for factor in aspect_ratio_factors:
        for mat in (AL_7075_T6, CFRP_QUASI_ISOTROPIC):
            ar = ar0 * float(factor)
            b = math.sqrt(ar * s)
            wing_al = wing0 * (ar / ar0) ** 0.6
            is_cfrp = mat is CFRP_QUASI_ISOTROPIC
            wing = wing_al * (0.85 if is_cfrp else 1.0)
            oew_opt = (e0 + wing - wing0) * float(rng.uniform(0.99, 1.01))
            w0 = m0 + (oew_opt - e0)
            cl = float(cruise_lift_coefficient(w0, s, cruise_mach, cruise_altitude))
            ld = float(lift_to_drag(cl, cd0, ar, oswald_efficiency))
            if propulsion == "jet":
                fraction = float(fuel_fraction_jet(r, v, ld, tsfc_per_s=tsfc_per_hour_to_per_s(tsfc_per_hour)))
            elif propulsion == "propeller":
                # Breguet propeller form inverted: ln(m0/m1) = R c_P / (eta L/D), c_P = g c (1/m)
                psfc_per_m = G0 * _number("psfc_kg_per_kwh", psfc_kg_per_kwh) / 3.6e6
                fraction = 1.0 - math.exp(-r * psfc_per_m / (_number("propeller_efficiency", propeller_efficiency) * ld))
            else:
                raise InvalidInputError(f"propulsion must be 'jet' or 'propeller', not {propulsion!r}")
            fuel = w0 * fraction
            wing_cost_share = 0.15 * (wing_al / wing0) * (1.35 if is_cfrp else 1.0)
            cost = _number("unit_cost_musd", unit_cost_musd) * (0.85 + wing_cost_share) * float(rng.uniform(0.99, 1.01))
            feasible = bool(b <= limit and oew_opt <= 1.03 * e0)
            rows.append((f"AR{ar:.1f}-{'CFRP' if is_cfrp else 'Al'}", ar, b, mat.name, fuel, feasible, oew_opt, cost))
    names, ars, spans, mats, obj, feas, mass, cost = (list(col) for col in zip(*rows))
    obj_a = np.array(obj)
    feas_a = np.array(feas, dtype=bool)
    if not feas_a.any():
        raise InvalidInputError("no option of the trade study is feasible: relax span_limit")
    best = int(np.flatnonzero(feas_a)[np.argmin(obj_a[feas_a])])
    if passing:
        sel = best
    else:
        if feas_a.all():
            raise InvalidInputError("every option is feasible: cannot select an infeasible one (lower span_limit)")
        sel = int(np.flatnonzero(~feas_a)[np.argmin(obj_a[~feas_a])])
    gap = max(0.0, float((obj_a[sel] - obj_a[best]) / obj_a[best]))
    selected = np.zeros(len(names), dtype=bool)
    selected[sel] = True
    return xr.Dataset(
        data_vars={
            "objective": _var("option", obj_a, "kg", "design-mission cruise fuel (objective, minimise)"),
            "feasible": _var("option", feas_a, "1", "meets every constraint (span limit, OEW budget)"),
            "mass": _var("option", np.array(mass), "kg", "operating empty mass"),
            "cost": _var("option", np.array(cost), "1", "recurring unit cost (MUSD, million US dollars)"),
            "span": _var("option", np.array(spans), "m", "wing span"),
            "aspect_ratio": _var("option", np.array(ars), "1", "wing aspect ratio"),
            "wing_material": _var("option", _text(mats), "1", "wing box material"),
            "selected": _var("option", selected, "1", "option selected by the trade study"),
        },
        coords={"option": ("option", _text(names), {"long_name": "design option"})},
        attrs={
            "title": "wing aspect ratio / material trade study",
            "selected_option": names[sel],
            "best_feasible_option": names[best],
            "optimality_gap": gap,
            "span_limit": limit,
            "oew_limit": 1.03 * e0,
        },
    )


# ---------------------------------------------------------------------------------------------
# CAM
# ---------------------------------------------------------------------------------------------

_FEATURES: list[tuple[str, float, float]] = [  # name, nominal mm, tolerance mm (symmetric)
    ("front_spar_cap_thickness_root", 12.70, 0.13),
    ("rear_spar_cap_thickness_root", 11.10, 0.13),
    ("front_spar_web_thickness", 4.00, 0.10),
    ("upper_skin_thickness_root", 8.00, 0.10),
    ("lower_skin_thickness_root", 6.35, 0.10),
    ("rib_pitch", 650.0, 1.0),
    ("stringer_pitch", 180.0, 0.5),
    ("fastener_hole_diameter", 4.826, 0.040),
    ("fastener_edge_distance", 9.60, 0.50),
    ("lug_bore_diameter", 25.400, 0.013),
    ("flap_track_bore_diameter", 38.100, 0.025),
    ("engine_mount_pin_diameter", 50.800, 0.013),
    ("main_gear_trunnion_bore", 120.000, 0.020),
    ("fuselage_frame_pitch", 533.4, 0.8),
    ("passenger_door_cutout_width", 813.0, 1.0),
    ("window_cutout_height", 330.0, 0.8),
]


def first_article(*, passing: bool = True, seed: int = 0) -> xr.Dataset:
    """First-article inspection of structural features (CAM gate: every |measured - nominal| <= tolerance).

    Parameters
    ----------
    passing : bool, default True
        ``False`` puts one feature 30 % beyond its tolerance.
    seed : int, default 0
        Random seed (measurement deviations; which feature fails).

    Returns
    -------
    xarray.Dataset
        Dimension ``feature``; variables ``nominal``, ``measured``,
        ``tolerance`` (mm, symmetric +- tolerance).
    """
    names = [f[0] for f in _FEATURES]
    nominal = np.array([f[1] for f in _FEATURES])
    tol = np.array([f[2] for f in _FEATURES])
    rng = _rng(seed)
    deviation = np.clip(rng.normal(0.0, 0.3, size=len(names)), -0.8, 0.8) * tol
    if not passing:
        bad = int(rng.integers(len(names)))
        deviation[bad] = (1.3 if rng.random() < 0.5 else -1.3) * tol[bad]
    measured = np.round(nominal + deviation, 4)
    return xr.Dataset(
        data_vars={
            "nominal": _var("feature", nominal, "mm", "nominal dimension"),
            "measured": _var("feature", measured, "mm", "measured dimension (first article)"),
            "tolerance": _var("feature", tol, "mm", "symmetric tolerance (+-)"),
        },
        coords={"feature": ("feature", _text(names), {"long_name": "inspected feature"})},
        attrs={"title": "first-article inspection (AS9102)"},
    )


# ---------------------------------------------------------------------------------------------
# CAV
# ---------------------------------------------------------------------------------------------

_EVIDENCE_PREFIX = {"test": "TR", "analysis": "AR", "inspection": "IR"}


def test_results(n_requirements: int = 40, *, passing: bool = True, seed: int = 0) -> xr.Dataset:
    """Verification results per requirement (CAV gate: every requirement has a result; critical ones passed).

    Parameters
    ----------
    n_requirements : int, default 40
        Requirements ``REQ-001`` ... (at least 2).
    passing : bool, default True
        ``False`` leaves one requirement without a result and fails one
        critical test.
    seed : int, default 0
        Random seed.

    Returns
    -------
    xarray.Dataset
        Dimension ``requirement``; ``method`` (test / analysis / inspection),
        ``has_result``, ``critical``, ``passed`` (bool) and ``evidence``
        (report id, empty without a result).
    """
    n = int(n_requirements)
    if n < 2:
        raise InvalidInputError("n_requirements must be at least 2")
    rng = _rng(seed)
    methods = rng.choice(["test", "analysis", "inspection"], size=n, p=[0.5, 0.35, 0.15])
    critical = rng.random(n) < 0.3
    has_result = np.ones(n, dtype=bool)
    passed = np.ones(n, dtype=bool)
    if not passing:
        missing, failed = (int(i) for i in rng.choice(n, size=2, replace=False))
        has_result[missing] = False
        passed[missing] = False
        critical[failed] = True
        passed[failed] = False
    evidence = [f"{_EVIDENCE_PREFIX[m]}-{100 + i:04d}" if has_result[i] else "" for i, m in enumerate(methods)]
    return xr.Dataset(
        data_vars={
            "method": _var("requirement", _text(methods.tolist()), "1", "verification method"),
            "has_result": _var("requirement", has_result, "1", "a verification result is recorded"),
            "critical": _var("requirement", critical, "1", "safety-critical requirement"),
            "passed": _var("requirement", passed, "1", "verification passed"),
            "evidence": _var("requirement", _text(evidence), "1", "test, analysis or inspection report"),
        },
        coords={"requirement": ("requirement", _text([f"REQ-{i + 1:03d}" for i in range(n)]), {"long_name": "requirement id"})},
        attrs={"title": "verification results"},
    )


# ---------------------------------------------------------------------------------------------
# CMP
# ---------------------------------------------------------------------------------------------

_CS25: list[tuple[str, str]] = [  # paragraph, means of compliance (EASA MC codes)
    ("CS 25.21", "MC2 MC6"),
    ("CS 25.143", "MC6 MC8"),
    ("CS 25.201", "MC6"),
    ("CS 25.301", "MC2"),
    ("CS 25.303", "MC1 MC2"),
    ("CS 25.305", "MC2 MC4"),
    ("CS 25.307", "MC2 MC4"),
    ("CS 25.337", "MC2"),
    ("CS 25.341", "MC2"),
    ("CS 25.571", "MC2 MC4"),
    ("CS 25.629", "MC2 MC4 MC6"),
    ("CS 25.631", "MC2 MC4"),
    ("CS 25.803", "MC5 MC6"),
    ("CS 25.853", "MC4"),
    ("CS 25.901", "MC1 MC2 MC5"),
    ("CS 25.903", "MC1 MC3"),
    ("CS 25.1301", "MC1 MC5"),
    ("CS 25.1309", "MC3"),
    ("CS 25.1322", "MC1 MC8"),
    ("CS 25.1419", "MC2 MC6"),
]
_MC_PREFIX = {"MC1": "DD", "MC2": "AR", "MC3": "SA", "MC4": "TR", "MC5": "GT", "MC6": "FT", "MC8": "SIM"}


def compliance_matrix(
    requirements: Sequence[str] | None = None, *, passing: bool = True, seed: int = 0
) -> xr.Dataset:
    """Certification compliance matrix (CMP gate: every row complete).

    Parameters
    ----------
    requirements : sequence of str, optional
        Requirement ids; default 20 CS-25 paragraphs with their usual means of
        compliance.
    passing : bool, default True
        ``False`` leaves one row open without evidence and one in work.
    seed : int, default 0
        Random seed.

    Returns
    -------
    xarray.Dataset
        Dimension ``requirement``; ``evidence`` (document ids), ``means_of_compliance``
        (EASA MC codes), ``status`` (compliant / in work / open) and ``complete`` (bool).
    """
    rng = _rng(seed)
    if requirements is None:
        reqs = [r for r, _ in _CS25]
        mocs = [m for _, m in _CS25]
    else:
        reqs = [str(r) for r in requirements]
        if not reqs or len(set(reqs)) != len(reqs):
            raise InvalidInputError("requirements must be a non-empty list of unique ids")
        codes = list(_MC_PREFIX)
        mocs = [" ".join(sorted(rng.choice(codes, size=int(rng.integers(1, 3)), replace=False).tolist())) for _ in reqs]
    n = len(reqs)
    evidence = [
        " ".join(f"{_MC_PREFIX[c]}-{int(rng.integers(1, 999)):04d}" for c in moc.split()) for moc in mocs
    ]
    status = ["compliant"] * n
    complete = np.ones(n, dtype=bool)
    if not passing:
        rows = [0] if n == 1 else [int(i) for i in rng.choice(n, size=2, replace=False)]
        evidence[rows[0]] = ""
        status[rows[0]] = "open"
        complete[rows[0]] = False
        if len(rows) > 1:
            status[rows[1]] = "in work"
            complete[rows[1]] = False
    return xr.Dataset(
        data_vars={
            "evidence": _var("requirement", _text(evidence), "1", "compliance documents"),
            "means_of_compliance": _var("requirement", _text(mocs), "1", "means of compliance (EASA MC codes)"),
            "status": _var("requirement", _text(status), "1", "compliance status"),
            "complete": _var("requirement", complete, "1", "requirement -> evidence -> status complete"),
        },
        coords={"requirement": ("requirement", _text(reqs), {"long_name": "certification requirement"})},
        attrs={"title": "certification compliance matrix"},
    )


# ---------------------------------------------------------------------------------------------
# CAS
# ---------------------------------------------------------------------------------------------


def fleet_events(
    *,
    n_aircraft: int = 10,
    days: int = 90,
    flights_per_day: int = 5,
    mean_block_hours: float = 1.8,
    mtbf_target_hours: float = 500.0,
    dispatch_reliability_target: float = 0.99,
    start: str = "2030-01-01",
    prefix: str = "PL-N",
    passing: bool = True,
    seed: int = 0,
) -> xr.Dataset:
    """In-service fleet event log (CAS gate: MTBF and dispatch reliability meet targets).

    Flights are scheduled per aircraft and day (from 06:00 UTC); delays
    (15 min to 3 h) and cancellations are ``(1 - target) * 0.4`` of
    departures when passing and ``(1 - target) * 2`` otherwise (20 % of them
    cancellations, which then do not fly); failures number
    ``flight hours / (1.5 x target)`` when passing and ``/ (0.5 x target)``
    otherwise, so the targets are met or missed by construction.

    Parameters
    ----------
    n_aircraft, days, flights_per_day : int
        Fleet size, observation days, scheduled flights per aircraft and day.
    mean_block_hours : float
        Mean flight duration, h.
    mtbf_target_hours, dispatch_reliability_target : float
        Targets the data is built to meet (or miss).
    start : str
        First day (ISO date).
    prefix : str
        Registration prefix; aircraft are ``prefix + "01"`` ...
    passing : bool, default True
        ``False`` gives too many failures and delays.
    seed : int, default 0
        Random seed.

    Returns
    -------
    xarray.Dataset
        Dimension ``event`` (``"EV-000001"`` ..., time order); ``aircraft``
        (str), ``time`` (datetime64, UTC, minute resolution), ``kind``
        (flight / delay / cancellation / failure) and ``hours`` (h: flight time
        for flights, delay length for delays, 0 otherwise).
    """
    n_ac, n_days, fpd = int(n_aircraft), int(days), int(flights_per_day)
    if min(n_ac, n_days, fpd) < 1:
        raise InvalidInputError("n_aircraft, days and flights_per_day must be at least 1")
    block = _number("mean_block_hours", mean_block_hours)
    target_mtbf = _number("mtbf_target_hours", mtbf_target_hours)
    target_dr = _number("dispatch_reliability_target", dispatch_reliability_target)
    if block <= 0 or target_mtbf <= 0 or not 0.0 < target_dr < 1.0:
        raise InvalidInputError("mean_block_hours and mtbf_target_hours must be > 0; dispatch_reliability_target within (0, 1)")
    rng = _rng(seed)
    # schedule: minutes from start
    ac = np.repeat(np.arange(n_ac), n_days * fpd)
    day = np.tile(np.repeat(np.arange(n_days), fpd), n_ac)
    leg = np.tile(np.arange(fpd), n_ac * n_days)
    spacing_min = (1.2 * block + 0.75) * 60.0
    dep_min = day * 1440 + 360 + np.round(leg * spacing_min + rng.uniform(0, 10, size=ac.size)).astype(np.int64)
    duration = np.round(block * rng.uniform(0.8, 1.2, size=ac.size), 2)
    n_slots = ac.size

    unrel = (1.0 - target_dr) * (0.4 if passing else 2.0)
    n_dc = int(math.floor(unrel * n_slots)) if passing else int(math.ceil(unrel * n_slots))
    n_cancel = n_dc // 5
    n_delay = n_dc - n_cancel
    chosen = rng.choice(n_slots, size=n_dc, replace=False)
    cancelled = chosen[:n_cancel]
    delayed = chosen[n_cancel:]
    flown = np.ones(n_slots, dtype=bool)
    flown[cancelled] = False
    flown_idx = np.flatnonzero(flown)
    delayed = delayed[flown[delayed]]  # delays only on flown legs (all are: chosen without replacement)

    hours_total = float(duration[flown].sum())
    if passing:
        if hours_total < 1.5 * target_mtbf:
            raise InvalidInputError("fleet too small to demonstrate the MTBF target: add aircraft or days")
        n_fail = max(1, int(math.floor(hours_total / (1.5 * target_mtbf))))
    else:
        n_fail = max(1, int(math.ceil(hours_total / (0.5 * target_mtbf))))
    fail_legs = rng.choice(flown_idx, size=n_fail, replace=n_fail > flown_idx.size)
    fail_min = dep_min[fail_legs] + np.round(rng.uniform(0, 1, size=n_fail) * duration[fail_legs] * 60).astype(np.int64)

    kinds = np.concatenate([
        np.full(flown_idx.size, "flight"), np.full(delayed.size, "delay"),
        np.full(cancelled.size, "cancellation"), np.full(n_fail, "failure"),
    ])
    minutes = np.concatenate([dep_min[flown_idx], dep_min[delayed], dep_min[cancelled], fail_min])
    aircraft_idx = np.concatenate([ac[flown_idx], ac[delayed], ac[cancelled], ac[fail_legs]])
    hours = np.concatenate([
        duration[flown_idx], np.round(rng.uniform(0.25, 3.0, size=delayed.size) * 4) / 4,
        np.zeros(cancelled.size), np.zeros(n_fail),
    ])
    kind_rank = {"cancellation": 0, "delay": 1, "flight": 2, "failure": 3}
    order = np.lexsort((np.vectorize(kind_rank.get)(kinds) if kinds.size else kinds, minutes))
    t0 = np.datetime64(start, "m")
    times = (t0 + minutes[order].astype("timedelta64[m]")).astype("datetime64[ns]")
    regs = [f"{prefix}{i + 1:02d}" for i in range(n_ac)]
    n_ev = order.size
    return xr.Dataset(
        data_vars={
            "aircraft": _var("event", _text([regs[i] for i in aircraft_idx[order]]), "1", "aircraft registration"),
            "time": ("event", times, {"long_name": "event time (UTC)"}),
            "kind": _var("event", _text(kinds[order].tolist()), "1", "event kind: flight, delay, cancellation or failure"),
            "hours": _var("event", hours[order].astype(float), "h", "flight hours (flight) or delay length (delay)"),
        },
        coords={"event": ("event", _text([f"EV-{i + 1:06d}" for i in range(n_ev)]), {"long_name": "event id"})},
        attrs={"title": "fleet in-service events", "fleet_size": n_ac, "observation_days": n_days},
    )


def _gammainc_lower(a: float, x: float) -> float:
    """Regularised lower incomplete gamma function P(a, x) (series / Lentz continued fraction)."""
    if x <= 0.0:
        return 0.0
    log_pre = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        ap = a
        for _ in range(10000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return min(1.0, total * math.exp(log_pre))
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return max(0.0, 1.0 - math.exp(log_pre) * h)


def chi2_cdf(x: float, dof: float) -> float:
    """Chi-square cumulative distribution function (no scipy: regularised incomplete gamma)."""
    if dof <= 0:
        raise InvalidInputError("degrees of freedom must be > 0")
    return _gammainc_lower(0.5 * dof, 0.5 * max(float(x), 0.0))


def chi2_ppf(p: float, dof: float) -> float:
    """Chi-square quantile: the x with ``chi2_cdf(x, dof) = p`` (bisection, relative accuracy 1e-12).

    Exact to numerical precision (not the Wilson-Hilferty approximation);
    scipy is not a dependency of PLUMA.
    """
    p = float(p)
    if not 0.0 < p < 1.0:
        raise InvalidInputError(f"probability must be within (0, 1), got {p}")
    if dof <= 0:
        raise InvalidInputError("degrees of freedom must be > 0")
    lo, hi = 0.0, max(1.0, float(dof))
    while chi2_cdf(hi, dof) < p:
        lo, hi = hi, hi * 2.0
    for _ in range(300):
        mid = 0.5 * (lo + hi)
        if chi2_cdf(mid, dof) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return 0.5 * (lo + hi)


def reliability_summary(fleet_events: xr.Dataset, *, confidence: float = 0.90) -> dict[str, Any]:
    """Exponential-model reliability figures from a ``fleet_events`` dataset.

    ``MTBF = operating hours / failures`` (operating hours: sum of ``hours``
    over flights), ``lambda = failures / operating hours``, dispatch
    reliability ``1 - (delays + cancellations) / departures`` (departures:
    flight events). Confidence bounds on MTBF for a time-truncated record with
    ``r`` failures in ``T`` hours (chi-square, exact quantiles)::

        lower (one-sided, confidence C) = 2 T / chi2_ppf(C, 2 r + 2)
        upper (one-sided, confidence C) = 2 T / chi2_ppf(1 - C, 2 r)   (infinite for r = 0)

    Parameters
    ----------
    fleet_events : xarray.Dataset
        With variables ``kind`` and ``hours`` (h) along ``event``.
    confidence : float, default 0.90
        One-sided confidence level of each bound.

    Returns
    -------
    dict
        ``operating_hours``, ``departures``, ``failures``, ``delays``,
        ``cancellations``, ``mtbf_hours`` (inf without failures),
        ``failure_rate_per_hour``, ``dispatch_reliability``, ``confidence``,
        ``mtbf_lower_hours`` and ``mtbf_upper_hours``.
    """
    for var in ("kind", "hours"):
        if var not in fleet_events.variables:
            raise InvalidInputError(f"fleet_events has no variable {var!r}")
    c = float(confidence)
    if not 0.0 < c < 1.0:
        raise InvalidInputError("confidence must be within (0, 1)")
    kind = np.asarray(fleet_events["kind"].values).astype(str)
    hours = np.asarray(fleet_events["hours"].values, dtype=float)
    units = fleet_events["hours"].attrs.get("units", "h")
    if units not in ("h", "hour", "hours", "hr"):
        from ..units import to_unit

        hours = hours * to_unit(f"1 {units}", "h", name="fleet_events.hours")
    flights = kind == "flight"
    departures = int(flights.sum())
    if departures == 0:
        raise InvalidInputError("fleet_events has no flights: dispatch reliability and MTBF are undefined")
    t = float(hours[flights].sum())
    r = int((kind == "failure").sum())
    delays = int((kind == "delay").sum())
    cancellations = int((kind == "cancellation").sum())
    mtbf = t / r if r else math.inf
    lower = 2.0 * t / chi2_ppf(c, 2 * r + 2)
    upper = 2.0 * t / chi2_ppf(1.0 - c, 2 * r) if r else math.inf
    return {
        "operating_hours": t,
        "departures": departures,
        "failures": r,
        "delays": delays,
        "cancellations": cancellations,
        "mtbf_hours": mtbf,
        "failure_rate_per_hour": r / t if t > 0 else math.inf,
        "dispatch_reliability": 1.0 - (delays + cancellations) / departures,
        "confidence": c,
        "mtbf_lower_hours": lower,
        "mtbf_upper_hours": upper,
    }


# ---------------------------------------------------------------------------------------------
# Phase results
# ---------------------------------------------------------------------------------------------

_AVAILABLE_HOURS_PER_MONTH = 2 * 8.0 * 21  # two 8-hour shifts, 21 working days


def phase_results(
    kind: str,
    phase: str,
    params: Mapping[str, Any] | None = None,
    passing: bool = True,
    *,
    seed: int = 0,
    domains: Sequence[str] | None = None,
) -> tuple[dict[str, Any], dict[str, xr.Dataset]]:
    """What an engineering team records in ``phase`` to meet (or, with ``passing=False``, miss) its gate.

    Parameters
    ----------
    kind : {"narrowbody", "regional_turboprop", "bizjet"}
        Demo aircraft.
    phase : str
        One of CAD, CAE, CAI, CAO, CAM, CAP, CAV, CMP, CAS (case-insensitive).
    params : mapping, optional
        The program's current parameters; missing design values come from
        :func:`program_parameters`.
    passing : bool, default True
        ``False`` makes the phase's gate fail: CAD mass budget 9 % short; CAE
        negative spar margins and cruise L/D below requirement; CAI one
        unverified interface and one open critical issue; CAO infeasible
        selection; CAM a feature out of tolerance; CAP rate, supplier
        readiness and takt missed; CAV a requirement without result, a failed
        critical test and too many non-conformances; CMP incomplete matrix;
        CAS MTBF and dispatch reliability below target.
    seed : int, default 0
        Random seed; the generators get ``seed + 1000 * index of kind``.
    domains : sequence of str, optional
        Domain codes for CAI (default :func:`default_domains`).

    Returns
    -------
    (dict, dict)
        Parameters to record in this phase (vocabulary names and units) and
        datasets by name.
    """
    k = _kind(kind)
    ph = str(phase).upper()
    if ph not in PHASES:
        raise InvalidInputError(f"unknown phase {phase!r}: choose one of {', '.join(PHASES)}")
    p = program_parameters(k) | dict(params or {})
    x = _EXTRA[k]
    seed = int(seed) + 1000 * PROGRAM_KINDS.index(k)  # different (still deterministic) data per aircraft

    if ph == "CAD":
        return program_parameters(k), {"mass_breakdown": mass_breakdown(float(p["oew"]), passing=passing, seed=seed)}

    if ph == "CAE":
        ar = float(aspect_ratio(p["span"], p["wing_area"]))
        polar = polars(
            ar, float(p["cd0"]), oswald_efficiency=x["oswald_efficiency"], alpha_zero_lift_deg=x["alpha_zero_lift_deg"],
            ld_required=float(p["ld_required"]), passing=passing, seed=seed,
        )
        cl_cruise = float(cruise_lift_coefficient(p["mtow"], p["wing_area"], p["cruise_mach"], p["cruise_altitude"]))
        ld_cruise = float(np.interp(cl_cruise, polar["cl"].values, polar["l_over_d"].values))
        polar.attrs["cl_cruise"] = cl_cruise
        polar.attrs["ld_cruise"] = ld_cruise
        loads = wing_loads(
            p["span"], p["wing_area"], p["mtow"], taper_ratio=float(p["taper_ratio"]),
            limit_load_factor=float(p["limit_load_factor"]), factor_of_safety=float(p["factor_of_safety"]),
            thickness_to_chord=x["thickness_to_chord"], passing=passing, seed=seed,
        )
        out = {
            "analysis_converged": True,
            "ld_cruise": round(ld_cruise, 3),
            "flutter_speed": round(1.25 * float(p["design_dive_speed"]), 1),
        }
        return out, {"polars": polar, "wing_loads": loads}

    if ph == "CAI":
        ds = interfaces(default_domains(k) if domains is None else domains, passing=passing, seed=seed)
        return {"open_critical_interface_issues": int(ds["critical_open"].sum())}, {"interfaces": ds}

    if ph == "CAO":
        extra = {kk: x[kk] for kk in ("propulsion", "tsfc_per_hour", "propeller_efficiency", "psfc_kg_per_kwh") if kk in x}
        ds = trade_study(
            span=p["span"], wing_area=p["wing_area"], mtow=p["mtow"], oew=p["oew"], cruise_mach=p["cruise_mach"],
            cruise_altitude=p["cruise_altitude"], design_range=p["design_range"], cd0=p["cd0"],
            oswald_efficiency=x["oswald_efficiency"], unit_cost_musd=x["unit_cost_musd"], span_limit=x["span_limit"],
            passing=passing, seed=seed, **extra,
        )
        sel = ds.attrs["selected_option"]
        return (
            {"selected_feasible": bool(ds["feasible"].sel(option=sel)), "optimality_gap": float(ds.attrs["optimality_gap"])},
            {"trade_study": ds},
        )

    if ph == "CAM":
        return (
            {"producibility_review_passed": True, "manufacturing_instructions_released": True},
            {"first_article": first_article(passing=passing, seed=seed)},
        )

    if ph == "CAP":
        target = float(p["production_rate_target"])
        takt = _AVAILABLE_HOURS_PER_MONTH / target
        cycle = takt * (0.92 if passing else 1.15)
        return (
            {
                "production_rate_planned": round(_AVAILABLE_HOURS_PER_MONTH / cycle, 3),
                "supplier_readiness": 1.0 if passing else 0.9,
                "takt_time": round(takt, 3),
                "cycle_time": round(cycle, 3),
            },
            {},
        )

    if ph == "CAV":
        threshold = 5
        return (
            {"open_nonconformances": 2 if passing else threshold + 3, "nonconformance_threshold": threshold},
            {"test_results": test_results(passing=passing, seed=seed)},
        )

    if ph == "CMP":
        return (
            {"assurance_objectives_met": True, "authority_coordination_recorded": True},
            {"compliance_matrix": compliance_matrix(passing=passing, seed=seed)},
        )

    # CAS
    fleet = dict(x["fleet"])
    ds = fleet_events(
        mtbf_target_hours=float(p["mtbf_target_hours"]), dispatch_reliability_target=float(p["dispatch_reliability_target"]),
        passing=passing, seed=seed, **fleet,
    )
    summary = reliability_summary(ds)
    return (
        {
            "mtbf_hours": round(summary["mtbf_hours"], 1),
            "mtbf_target_hours": float(p["mtbf_target_hours"]),
            "dispatch_reliability": round(summary["dispatch_reliability"], 5),
            "dispatch_reliability_target": float(p["dispatch_reliability_target"]),
            "maintenance_programme_approved": True,
        },
        {"fleet_events": ds},
    )
