"""pluma.analysis against closed forms and the published results in ENGINEERING.md."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from pluma.analysis import breguet_range, solve_lifting_line, spar_bending, wing_lifting_line
from pluma.analysis.spar import bending_moment_fraction, resolve_material
from pluma.engineering import AL_7075_T6, CFRP_QUASI_ISOTROPIC, wing_loads_dataset
from pluma.errors import InvalidInputError

G = 9.80665
TWO_PI = 2.0 * math.pi


def _is_flat_float_dict(result: dict) -> bool:
    return isinstance(result, dict) and all(isinstance(k, str) and type(v) is float for k, v in result.items())


def converged_e(aspect_ratio: float, taper_ratio: float, tol: float = 1e-5) -> tuple[float, list[tuple[int, float]]]:
    """Double N from 10 until e stops moving by more than ``tol``; return e and the history."""
    history: list[tuple[int, float]] = []
    n = 10
    while n <= 1280:
        e = wing_lifting_line(aspect_ratio, taper_ratio, 5.0, n_terms=n)["span_efficiency"]
        if history and abs(e - history[-1][1]) < tol:
            history.append((n, e))
            return e, history
        history.append((n, e))
        n *= 2
    raise AssertionError(f"lifting line did not converge: {history}")


# -- lifting line: elliptic planform ------------------------------------------------------------


@pytest.mark.parametrize("n_terms", [4, 12, 40])
@pytest.mark.parametrize("aspect_ratio", [4.0, 6.0, 9.5, 14.0])
@pytest.mark.parametrize("a0", [TWO_PI, 5.7])
def test_elliptic_planform_is_exact(n_terms, aspect_ratio, a0):
    alpha = 4.0
    r = wing_lifting_line(aspect_ratio, 1.0, alpha, a0_per_rad=a0, n_terms=n_terms, planform="elliptic")
    cl_closed = a0 * math.radians(alpha) / (1.0 + a0 / (math.pi * aspect_ratio))
    assert r["span_efficiency"] == pytest.approx(1.0, abs=1e-12)
    assert r["cl"] == pytest.approx(cl_closed, rel=1e-12)
    assert r["cdi"] == pytest.approx(r["cl"] ** 2 / (math.pi * aspect_ratio), rel=1e-10)
    assert r["cl_alpha_per_rad"] == pytest.approx(a0 / (1.0 + a0 / (math.pi * aspect_ratio)), rel=1e-12)
    assert r["valid"] == 1.0


def test_elliptic_wing_has_constant_section_cl_and_elliptic_circulation():
    s = solve_lifting_line(8.0, 1.0, 6.0, planform="elliptic", alpha_zero_lift_deg=-2.0)
    assert s.cl == pytest.approx(TWO_PI * math.radians(8.0) / (1 + 2 / 8.0), rel=1e-12)
    np.testing.assert_allclose(s.section_cl, s.cl, rtol=1e-10)
    np.testing.assert_allclose(s.circulation, s.circulation.max() * np.sqrt(1 - s.eta**2), rtol=1e-10)
    np.testing.assert_allclose(s.coefficients[1:], 0.0, atol=1e-14)


# -- lifting line: straight wings against converged published values ------------------------------


@pytest.mark.parametrize(("aspect_ratio", "published"), [(6.0, 0.954), (7.0, 0.945), (8.0, 0.937)])
def test_rectangular_wing_converged_span_efficiency(aspect_ratio, published):
    e, history = converged_e(aspect_ratio, 1.0)
    assert history[-1][0] <= 160, history  # settles well within the doubling sequence
    assert e == pytest.approx(published, abs=0.003), history
    # the default N = 40 is already converged to 1e-4
    assert wing_lifting_line(aspect_ratio, 1.0, 5.0)["span_efficiency"] == pytest.approx(e, abs=1e-4)


@pytest.mark.parametrize(("aspect_ratio", "published"), [(8.0, 0.987), (10.0, 0.983), (12.0, 0.979)])
def test_tapered_wing_converged_span_efficiency(aspect_ratio, published):
    e, history = converged_e(aspect_ratio, 0.4)
    assert e == pytest.approx(published, abs=0.004), history
    assert wing_lifting_line(aspect_ratio, 0.4, 5.0)["span_efficiency"] == pytest.approx(e, abs=1e-4)


def test_rectangular_efficiency_falls_with_aspect_ratio_and_taper_beats_rectangular():
    es = [converged_e(ar, 1.0)[0] for ar in (6.0, 7.0, 8.0)]
    assert es[0] > es[1] > es[2]
    for ar in (6.0, 8.0, 10.0):
        assert wing_lifting_line(ar, 0.4, 5.0)["span_efficiency"] > wing_lifting_line(ar, 1.0, 5.0)["span_efficiency"]
    # taper near 0.35-0.45 is within about 1 % of elliptic near AR 6
    assert wing_lifting_line(6.0, 0.4, 5.0, n_terms=160)["span_efficiency"] > 0.99


def test_straight_wing_induced_drag_and_lift_consistency():
    s = solve_lifting_line(9.0, 0.3, 6.0, n_terms=60)
    assert s.cdi == pytest.approx(s.cl**2 / (math.pi * 9.0 * s.span_efficiency), rel=1e-12)
    assert s.cl == pytest.approx(s.cl_alpha_per_rad * math.radians(6.0), rel=1e-12)
    # lift from the spanwise circulation (Kutta-Joukowski): CL = 2 int Gamma dy / (V S)
    # = 2 AR int_{-1/2}^{1/2} Gamma/(bV) d(y/b) = 2 AR int_0^1 Gamma/(bV) d eta, eta = |2y/b|
    eta = np.linspace(0.0, 1.0, 20001)
    g = s.circulation_at(eta)
    integral = float(np.sum(0.5 * (g[1:] + g[:-1]) * np.diff(eta)))
    assert 2.0 * 9.0 * integral == pytest.approx(s.cl, rel=1e-5)
    assert s.circulation_at([1.0])[0] == pytest.approx(0.0, abs=1e-15)  # no circulation at the tip
    assert s.circulation_at([0.0])[0] == pytest.approx(s.circulation[-1], rel=1e-12)  # root = last collocation point


# -- lifting line: twist, zero-lift angle, validity -----------------------------------------------


def test_twist_shifts_lift_by_the_expected_sign():
    base = wing_lifting_line(8.0, 0.4, 4.0)["cl"]
    washout = wing_lifting_line(8.0, 0.4, 4.0, twist_tip_deg=-3.0)["cl"]
    washin = wing_lifting_line(8.0, 0.4, 4.0, twist_tip_deg=+3.0)["cl"]
    assert washout < base < washin
    assert base - washout == pytest.approx(washin - base, rel=1e-12)  # linear in twist
    # a washed-out wing at zero root incidence lifts downwards and still has induced drag
    zero = wing_lifting_line(8.0, 0.4, 0.0, twist_tip_deg=-3.0)
    assert zero["cl"] < 0 and zero["cdi"] > 0
    # washout moves the loading inboard: less efficient than the untwisted taper-0.4 wing at the same CL
    assert washout > 0 and wing_lifting_line(8.0, 0.4, 4.0, twist_tip_deg=-3.0)["span_efficiency"] < 0.987


def test_twisted_wing_at_zero_lift_has_zero_efficiency_and_untwisted_reports_basic_loading():
    s = solve_lifting_line(8.0, 1.0, 0.0, twist_tip_deg=-2.0, n_terms=30)
    # find the root incidence that gives zero lift: alpha = -twist * (CL per twist) / CL_alpha
    alpha_zero = -math.degrees(math.radians(-2.0) * s.coefficients_twist_per_rad[0] / s.coefficients_per_rad[0])
    r = wing_lifting_line(8.0, 1.0, alpha_zero, twist_tip_deg=-2.0, n_terms=30)
    assert abs(r["cl"]) < 1e-12 and r["cdi"] > 0
    assert r["span_efficiency"] == pytest.approx(0.0, abs=1e-6)
    flat = wing_lifting_line(8.0, 1.0, 0.0, n_terms=30)
    assert flat["cl"] == 0.0 and flat["cdi"] == 0.0
    assert flat["span_efficiency"] == pytest.approx(wing_lifting_line(8.0, 1.0, 5.0, n_terms=30)["span_efficiency"])


def test_zero_lift_angle_shifts_alpha():
    a = wing_lifting_line(10.0, 0.5, 3.0, alpha_zero_lift_deg=-2.0)
    b = wing_lifting_line(10.0, 0.5, 5.0)
    assert a["cl"] == pytest.approx(b["cl"], rel=1e-12)
    assert wing_lifting_line(10.0, 0.5, -2.0, alpha_zero_lift_deg=-2.0)["cl"] == pytest.approx(0.0, abs=1e-15)


def test_lift_beyond_stall_is_flagged_not_clipped():
    ok = wing_lifting_line(8.0, 1.0, 12.0)
    stalled = wing_lifting_line(8.0, 1.0, 20.0)
    negative = wing_lifting_line(8.0, 1.0, -20.0)
    assert ok["valid"] == 1.0 and abs(ok["cl"]) < 1.5
    assert stalled["valid"] == 0.0 and stalled["cl"] > 1.5
    assert negative["valid"] == 0.0 and negative["cl"] < -1.5
    assert stalled["cl"] == pytest.approx(stalled["cl_alpha_per_rad"] * math.radians(20.0), rel=1e-12)
    assert wing_lifting_line(8.0, 1.0, 12.0, cl_max_valid=0.5)["valid"] == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"aspect_ratio": 0.0},
        {"aspect_ratio": -6.0},
        {"aspect_ratio": float("nan")},
        {"aspect_ratio": np.array([6.0, 8.0])},
        {"taper_ratio": 0.0},
        {"taper_ratio": -0.2},
        {"taper_ratio": 1.6},
        {"n_terms": 3},
        {"n_terms": 0},
        {"n_terms": 12.5},
        {"n_terms": True},
        {"planform": "swept"},
        {"alpha_deg": 95.0},
        {"alpha_deg": "5"},
        {"a0_per_rad": 0.0},
        {"cl_max_valid": -1.0},
    ],
)
def test_lifting_line_rejects_inputs_outside_the_model(kwargs):
    args = {"aspect_ratio": 8.0, "taper_ratio": 0.5, "alpha_deg": 4.0} | kwargs
    with pytest.raises(InvalidInputError):
        wing_lifting_line(**args)


def test_taper_limits_are_inclusive_where_documented():
    assert wing_lifting_line(8.0, 1.5, 4.0)["valid"] == 1.0
    assert wing_lifting_line(8.0, 0.01, 4.0)["cl"] > 0


# -- sweep shape ---------------------------------------------------------------------------------


def test_analyses_take_numpy_scalars_and_return_flat_float_dicts():
    point = {"aspect_ratio": np.float64(8.0), "taper_ratio": np.float64(0.45), "alpha_deg": np.int64(3),
             "n_terms": np.float64(40.0)}
    r = wing_lifting_line(**point)
    assert set(r) == {"cl", "cdi", "span_efficiency", "cl_alpha_per_rad", "valid"} and _is_flat_float_dict(r)
    s = spar_bending(semi_span_m=np.float64(17.0), mtow_kg=np.int64(78000), load_factor=np.float64(2.5),
                     root_second_moment_m4=4e-3, root_half_depth_m=0.3)
    assert {"root_moment", "root_stress", "tip_deflection", "margin_of_safety"} <= set(s) and _is_flat_float_dict(s)
    b = breguet_range(lift_to_drag=np.float64(17.0), initial_mass_kg=73500, final_mass_kg=58000,
                      tsfc_per_s=np.float64(1.5e-4), speed_m_s=230.0)
    assert {"range_km", "fuel_fraction"} <= set(b) and _is_flat_float_dict(b)
    for func in (wing_lifting_line, spar_bending, breguet_range):  # shipped to Dask workers by reference
        assert pickle.loads(pickle.dumps(func)) is func


# -- spar ----------------------------------------------------------------------------------------

L, MTOW, N_LOAD, I_ROOT, C_ROOT = 17.0, 78000.0, 2.5, 4.0e-3, 0.30


def _spar(**kw):
    args = dict(semi_span_m=L, mtow_kg=MTOW, load_factor=N_LOAD, root_second_moment_m4=I_ROOT, root_half_depth_m=C_ROOT)
    return spar_bending(**(args | kw))


def test_spar_uniform_load_matches_beam_theory():
    r = _spar(distribution="uniform")
    force = N_LOAD * MTOW * G / 2.0
    w = force / L
    e = 71.7e9
    assert r["semi_span_lift"] == pytest.approx(force, rel=1e-12)
    assert r["root_moment"] == pytest.approx(w * L**2 / 2.0, rel=1e-12)
    assert r["tip_deflection"] == pytest.approx(w * L**4 / (8.0 * e * I_ROOT), rel=1e-12)
    sigma = w * L**2 / 2.0 * C_ROOT / I_ROOT
    assert r["root_stress"] == pytest.approx(sigma, rel=1e-12)
    assert r["margin_of_safety"] == pytest.approx(572e6 / (1.5 * sigma) - 1.0, rel=1e-12)


def test_spar_elliptic_load_root_moment_and_deflection():
    r = _spar(distribution="elliptic")
    force = N_LOAD * MTOW * G / 2.0
    assert r["root_moment"] == pytest.approx(4.0 * force * L / (3.0 * math.pi), rel=1e-12)
    # independent check: integrate the elliptic load twice on a fine grid, then the unit-load integral
    y = np.linspace(0.0, L, 200001)
    w = 4.0 * force / (math.pi * L) * np.sqrt(np.clip(1 - (y / L) ** 2, 0, None))
    seg = 0.5 * (w[1:] + w[:-1]) * np.diff(y)
    shear = np.concatenate([np.cumsum(seg[::-1])[::-1], [0.0]])
    seg = 0.5 * (shear[1:] + shear[:-1]) * np.diff(y)
    moment = np.concatenate([np.cumsum(seg[::-1])[::-1], [0.0]])
    assert moment[0] == pytest.approx(r["root_moment"], rel=1e-6)
    np.testing.assert_allclose(force * L * bending_moment_fraction(y / L, "elliptic"), moment, rtol=1e-4, atol=1e-6 * moment[0])
    f = moment * (L - y)
    delta = float(np.sum(0.5 * (f[1:] + f[:-1]) * np.diff(y))) / (71.7e9 * I_ROOT)
    assert r["tip_deflection"] == pytest.approx(delta, rel=1e-6)
    # less than the uniform load's tip deflection (lift concentrated inboard)
    assert r["tip_deflection"] < _spar(distribution="uniform")["tip_deflection"]
    # agrees with the engineering module's integrated wing_loads dataset
    ds = wing_loads_dataset(2 * L, MTOW, second_moment_root=I_ROOT, half_depth_root=C_ROOT, limit_load_factor=N_LOAD)
    assert float(ds.attrs["root_moment_closed_form"]) == pytest.approx(r["root_moment"], rel=1e-12)
    # its root moment is trapezoid-integrated on 41 stations: same margin within its 0.5 % tolerance
    assert float(ds["margin_of_safety"][0]) == pytest.approx(r["margin_of_safety"], rel=5e-3)


def test_spar_margin_and_materials():
    r = _spar(material="cfrp_quasi_isotropic", factor_of_safety=1.5)
    assert r["margin_of_safety"] == pytest.approx(CFRP_QUASI_ISOTROPIC.allowable_stress / (1.5 * r["root_stress"]) - 1.0)
    assert r["tip_deflection"] == pytest.approx(_spar()["tip_deflection"] * AL_7075_T6.youngs_modulus / CFRP_QUASI_ISOTROPIC.youngs_modulus)
    assert resolve_material("Al 7075-T6") is AL_7075_T6 and resolve_material(AL_7075_T6) is AL_7075_T6
    # stiffer section: margin rises above zero
    assert _spar(root_second_moment_m4=8e-3)["margin_of_safety"] > 0 > _spar()["margin_of_safety"]


def test_tapered_spar():
    prismatic = _spar()
    nearly = _spar(taper_ratio=1.0 - 1e-9)
    tapered = _spar(taper_ratio=0.35)
    assert nearly["tip_deflection"] == pytest.approx(prismatic["tip_deflection"], rel=1e-7)  # quadrature = closed form
    assert _spar(taper_ratio=1.0 - 1e-9, distribution="uniform")["tip_deflection"] == pytest.approx(
        _spar(distribution="uniform")["tip_deflection"], rel=1e-7)
    assert tapered["tip_deflection"] > prismatic["tip_deflection"]
    assert tapered["root_moment"] == prismatic["root_moment"] and tapered["root_stress"] == prismatic["root_stress"]
    assert tapered["margin_of_safety"] == prismatic["margin_of_safety"]  # the root stays critical


@pytest.mark.parametrize("distribution", ["elliptic", "uniform"])
def test_root_is_the_critical_station_of_a_tapered_spar(distribution):
    # sigma(eta) / sigma_root = (M(eta) / M_root) / s(eta)**2 <= 1 because M(eta)/M_root <= (1 - eta)**2
    eta = np.linspace(0.0, 1.0, 10001)
    ratio = bending_moment_fraction(eta, distribution) / bending_moment_fraction(0.0, distribution)
    assert np.all(ratio <= (1.0 - eta) ** 2 + 1e-12)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"semi_span_m": 0.0},
        {"mtow_kg": -1.0},
        {"load_factor": 0.0},
        {"root_second_moment_m4": 0.0},
        {"root_half_depth_m": -0.1},
        {"taper_ratio": 0.0},
        {"taper_ratio": 1.2},
        {"material": "balsa"},
        {"distribution": "triangular"},
        {"factor_of_safety": 0.0},
    ],
)
def test_spar_rejects_bad_inputs(kwargs):
    with pytest.raises(InvalidInputError):
        _spar(**kwargs)


# -- Breguet -------------------------------------------------------------------------------------


def test_breguet_narrowbody_range_is_realistic():
    # A320-class: M 0.78 at 11 km, L/D 17, c_T 0.55 /h, cruise from 73.5 t to 58 t
    r = breguet_range(17.0, 73500.0, 58000.0, tsfc_per_hour=0.55, mach=0.78, altitude_m=11000.0)
    assert 5000.0 <= r["range_km"] <= 7000.0
    v = 0.78 * math.sqrt(1.4 * 287.05 * 216.65)
    assert r["speed_m_s"] == pytest.approx(v, rel=1e-12)
    assert r["range_km"] == pytest.approx(v / (0.55 / 3600.0) * 17.0 * math.log(73500 / 58000) / 1000.0, rel=1e-12)
    assert r["fuel_fraction"] == pytest.approx(1 - 58000 / 73500, rel=1e-12)


def test_breguet_forms_agree_when_c_is_ct_over_g():
    ct = 1.55e-4
    weight = breguet_range(17.0, 73500.0, 58000.0, tsfc_per_s=ct, speed_m_s=230.0)
    mass = breguet_range(17.0, 73500.0, 58000.0, tsfc_kg_per_n_s=ct / G, speed_m_s=230.0)
    per_hour = breguet_range(17.0, 73500.0, 58000.0, tsfc_per_hour=ct * 3600.0, speed_m_s=230.0)
    assert mass["range_km"] == pytest.approx(weight["range_km"], rel=1e-12)
    assert per_hour["range_km"] == pytest.approx(weight["range_km"], rel=1e-12)
    # mixing the forms is a factor of g: passing c_T as mass-specific gives a range ~9.81x too short
    mixed = breguet_range(17.0, 73500.0, 58000.0, tsfc_kg_per_n_s=ct, speed_m_s=230.0)
    assert weight["range_km"] / mixed["range_km"] == pytest.approx(G, rel=1e-12)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # no consumption
        {"tsfc_per_s": 1.5e-4, "tsfc_kg_per_n_s": 1.5e-5},  # two forms at once
        {"tsfc_per_s": 0.55},  # per hour given as per second
        {"tsfc_per_hour": 1.5e-4},  # per second given as per hour
        {"tsfc_kg_per_n_s": 0.55},  # per hour given as mass-specific
        {"tsfc_per_s": -1e-4},
    ],
)
def test_breguet_consumption_forms_cannot_be_mixed(kwargs):
    with pytest.raises(InvalidInputError):
        breguet_range(17.0, 73500.0, 58000.0, speed_m_s=230.0, **kwargs)


def test_breguet_rejects_bad_speed_and_masses():
    with pytest.raises(InvalidInputError):
        breguet_range(17.0, 73500.0, 58000.0, tsfc_per_s=1.5e-4)  # no speed
    with pytest.raises(InvalidInputError):
        breguet_range(17.0, 73500.0, 58000.0, tsfc_per_s=1.5e-4, speed_m_s=230.0, mach=0.78, altitude_m=11000.0)
    with pytest.raises(InvalidInputError):
        breguet_range(17.0, 73500.0, 58000.0, tsfc_per_s=1.5e-4, mach=0.78, altitude_m=30000.0)  # outside ISA model
    with pytest.raises(InvalidInputError):
        breguet_range(17.0, 58000.0, 73500.0, tsfc_per_s=1.5e-4, speed_m_s=230.0)  # fuel gained
    with pytest.raises(InvalidInputError):
        breguet_range(0.0, 73500.0, 58000.0, tsfc_per_s=1.5e-4, speed_m_s=230.0)
