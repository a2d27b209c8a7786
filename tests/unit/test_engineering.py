"""Engineering analyses (pluma.engineering) and demo gate data (pluma.demo.datasets)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import xarray as xr
import zarr

from pluma.demo import datasets as demo
from pluma.engineering import (
    AL_7075_T6,
    CFRP_QUASI_ISOTROPIC,
    aspect_ratio,
    battery_range,
    bending_stress,
    breguet_range_jet,
    breguet_range_jet_mass_specific,
    breguet_range_propeller,
    breguet_range_propeller_mass_specific,
    cruise_lift_coefficient,
    drag_coefficient,
    finite_wing_lift_slope,
    isa,
    lift_to_drag,
    margin_of_safety,
    mass_breakdown_dataset,
    max_lift_to_drag,
    polar_dataset,
    root_moment_elliptic,
    root_moment_uniform,
    thrust_to_weight,
    tip_deflection_point,
    tip_deflection_uniform,
    tsfc_per_hour_to_per_s,
    wing_loading,
    wing_loads_dataset,
)
from pluma.engineering.atmosphere import G0
from pluma.errors import InvalidInputError

# -- atmosphere -------------------------------------------------------------------------------


def test_isa_sea_level():
    s = isa(0.0)
    assert s.temperature == pytest.approx(288.15)
    assert s.pressure == pytest.approx(101325.0)
    assert s.density == pytest.approx(1.2250, abs=1e-4)
    assert s.speed_of_sound == pytest.approx(340.29, abs=0.01)


def test_isa_11_km():
    s = isa(11000.0)
    assert s.temperature == pytest.approx(216.65, abs=1e-9)
    assert s.pressure == pytest.approx(22632.0, abs=1.0)
    assert s.density == pytest.approx(0.3639, abs=1e-4)
    assert s.speed_of_sound == pytest.approx(295.07, abs=0.01)


def test_isa_stratosphere_and_vectorised():
    h = np.array([0.0, 5000.0, 11000.0, 15000.0, 20000.0])
    s = isa(h)
    assert s.pressure.shape == h.shape
    assert s.temperature[3] == pytest.approx(216.65)
    assert s.pressure[3] == pytest.approx(22632.0 * math.exp(-4000.0 / 6341.6))
    assert np.all(np.diff(s.pressure) < 0) and np.all(np.diff(s.density) < 0)
    # continuous at the tropopause up to the rounding of the tabulated constants (5.2559, 22632 Pa)
    assert isa(10999.999).pressure == pytest.approx(isa(11000.001).pressure, rel=1e-5)


@pytest.mark.parametrize("h", [-1.0, 20000.1, float("nan"), [0.0, 25000.0]])
def test_isa_rejects_out_of_range(h):
    with pytest.raises(InvalidInputError):
        isa(h)
    assert issubclass(InvalidInputError, ValueError)


# -- aerodynamics -----------------------------------------------------------------------------


def test_max_lift_to_drag_matches_closed_form():
    ar, e, cd0 = 10.45, 0.8, 0.02
    best = max_lift_to_drag(cd0, ar, e)
    assert best.ld_max == pytest.approx(0.5 * math.sqrt(math.pi * ar * e / cd0))
    assert best.cl == pytest.approx(math.sqrt(math.pi * ar * e * cd0))
    assert lift_to_drag(best.cl, cd0, ar, e) == pytest.approx(best.ld_max)
    # induced drag equals zero-lift drag at the optimum, and it is a maximum
    assert drag_coefficient(best.cl, cd0, ar, e) == pytest.approx(2 * cd0)
    cls = np.linspace(0.1, 1.5, 281)
    assert np.max(lift_to_drag(cls, cd0, ar, e)) <= best.ld_max + 1e-12
    assert 15.0 <= best.ld_max <= 20.0  # typical transport


def test_polar_dataset():
    ar, e, cd0 = 9.0, 0.85, 0.02
    ds = polar_dataset(ar, cd0, e, alpha_zero_lift_deg=-2.0)
    slope = finite_wing_lift_slope(ar, e)
    assert slope == pytest.approx(2 * math.pi / (1 + 2 * math.pi / (math.pi * ar * e)))
    assert float(ds.cl.sel(alpha=-2.0)) == pytest.approx(0.0, abs=1e-12)
    assert float(ds.cl.sel(alpha=4.0)) == pytest.approx(slope * math.radians(6.0))
    np.testing.assert_allclose(ds.cd, cd0 + ds.cl**2 / (math.pi * ar * e))
    np.testing.assert_allclose(ds.l_over_d, ds.cl / ds.cd)
    for name in ("cl", "cdi", "cd", "l_over_d"):
        assert ds[name].attrs["units"] == "1" and ds[name].attrs["long_name"]
    assert ds.alpha.attrs["units"] == "deg"
    # nothing clipped above the validity limit; the attribute says so
    assert float(ds.cl.max()) > 1.4
    assert ds.attrs["cl_points_above_validity"] == int((np.abs(ds.cl) > 1.4).sum()) > 0
    assert "validity" in ds.attrs["validity_note"]


def test_cruise_lift_coefficient_narrowbody():
    cl = cruise_lift_coefficient(78000.0, 122.6, 0.78, 11000.0)
    q = 0.5 * 1.4 * isa(11000.0).pressure * 0.78**2
    assert cl == pytest.approx(78000.0 * G0 / (q * 122.6))
    assert 0.4 < cl < 0.8


# -- structures -------------------------------------------------------------------------------


def test_beam_formulas():
    w, p, length, e, i = 2000.0, 5000.0, 10.0, 70e9, 1e-4
    assert tip_deflection_uniform(w, length, e, i) == pytest.approx(w * length**4 / (8 * e * i))
    assert tip_deflection_point(p, length, e, i) == pytest.approx(p * length**3 / (3 * e * i))
    assert root_moment_uniform(w, length) == pytest.approx(w * length**2 / 2)
    assert tip_deflection_uniform(w, length, e, i) == pytest.approx(0.3571428571, rel=1e-9)
    assert tip_deflection_point(p, length, e, i) == pytest.approx(0.2380952381, rel=1e-9)
    assert root_moment_elliptic(1000.0, 3.0) == pytest.approx(4000.0 / math.pi)
    assert bending_stress(1e6, 0.3, 5e-3) == pytest.approx(60e6)


def test_margin_of_safety():
    assert margin_of_safety(300e6, 572e6) == pytest.approx(572 / (1.5 * 300) - 1)
    assert margin_of_safety(400e6, 600e6, 1.5) == pytest.approx(0.0)
    ms = margin_of_safety(np.array([0.0, 500e6]), AL_7075_T6.allowable_stress)
    assert np.isinf(ms[0]) and ms[1] < 0


def test_materials():
    assert AL_7075_T6.youngs_modulus == pytest.approx(71.7e9)
    assert AL_7075_T6.allowable_stress == pytest.approx(572e6)
    assert AL_7075_T6.density == pytest.approx(2810.0)
    assert 60e9 <= CFRP_QUASI_ISOTROPIC.youngs_modulus <= 70e9
    assert 400e6 <= CFRP_QUASI_ISOTROPIC.allowable_stress <= 600e6
    assert 1550 <= CFRP_QUASI_ISOTROPIC.density <= 1600


def test_wing_loads_integrated_root_moment_matches_closed_form():
    span, mtow, n = 35.8, 78000.0, 2.5
    ds = wing_loads_dataset(span, mtow, second_moment_root=7e-3, half_depth_root=0.35,
                            second_moment_tip=1e-4, half_depth_tip=0.08, limit_load_factor=n)
    f = n * mtow * G0 / 2
    length = span / 2
    assert float(ds.y[0]) == 0.0 and float(ds.y[-1]) == pytest.approx(length)
    assert float(ds.shear[0]) == pytest.approx(f, rel=5e-3)
    assert float(ds.bending_moment[0]) == pytest.approx(4 * f * length / (3 * math.pi), rel=5e-3)
    assert float(ds.bending_moment[-1]) == 0.0 and float(ds.shear[-1]) == 0.0
    np.testing.assert_allclose(ds.stress[0], ds.bending_moment[0] * 0.35 / 7e-3)
    np.testing.assert_allclose(ds.margin_of_safety[:-1], 572e6 / (1.5 * ds.stress[:-1]) - 1)
    units = {"lift_per_span": "N/m", "shear": "N", "bending_moment": "N*m", "stress": "Pa", "margin_of_safety": "1"}
    for name, unit in units.items():
        assert ds[name].attrs["units"] == unit and ds[name].attrs["long_name"]
    assert ds.y.attrs["units"] == "m"
    # uniform stations also integrate to within 0.5 %
    uni = wing_loads_dataset(span, mtow, second_moment_root=7e-3, half_depth_root=0.35, stations=np.linspace(0, length, 61))
    assert uni.attrs["root_moment_relative_error"] < 5e-3
    with pytest.raises(InvalidInputError, match="more stations"):
        wing_loads_dataset(span, mtow, second_moment_root=7e-3, half_depth_root=0.35, stations=np.linspace(0, length, 5))


# -- performance ------------------------------------------------------------------------------


def test_breguet_jet_forms_agree_and_narrowbody_range_is_realistic():
    v = 0.78 * isa(11000.0).speed_of_sound
    c_t = tsfc_per_hour_to_per_s(0.55)
    assert c_t == pytest.approx(1.528e-4, rel=1e-3)
    r_weight = breguet_range_jet(v, 17.0, 78000.0, 62000.0, tsfc_per_s=c_t)
    r_mass = breguet_range_jet_mass_specific(v, 17.0, 78000.0, 62000.0, tsfc_kg_per_n_s=c_t / G0)
    assert r_mass == pytest.approx(r_weight, rel=1e-12)
    assert r_weight == pytest.approx(v / c_t * 17.0 * math.log(78000 / 62000))
    assert 5000e3 < r_weight < 7000e3  # A320-class: about 6000 km
    # the two consumption forms are distinct keyword arguments
    with pytest.raises(TypeError):
        breguet_range_jet(v, 17.0, 78000.0, 62000.0, tsfc_kg_per_n_s=c_t / G0)
    with pytest.raises(InvalidInputError, match="per hour"):
        breguet_range_jet(v, 17.0, 78000.0, 62000.0, tsfc_per_s=0.55)
    with pytest.raises(InvalidInputError):
        breguet_range_jet(v, 17.0, 62000.0, 78000.0, tsfc_per_s=c_t)


def test_breguet_propeller_forms_agree():
    c_mass = 0.28 / 3.6e6  # 0.28 kg/kWh in kg/(W s)
    r1 = breguet_range_propeller(0.82, 15.0, 23000.0, 21000.0, psfc_per_m=G0 * c_mass)
    r2 = breguet_range_propeller_mass_specific(0.82, 15.0, 23000.0, 21000.0, psfc_kg_per_w_s=c_mass)
    assert r1 == pytest.approx(r2, rel=1e-12)
    assert r1 == pytest.approx(0.82 / (G0 * c_mass) * 15.0 * math.log(23000 / 21000))
    assert 1000e3 < r1 < 2000e3


def test_battery_range():
    r = battery_range(9.0e5, 0.8, 15.0, 300.0, 1000.0)
    assert r == pytest.approx(9.0e5 * 0.8 * 15.0 * 0.3 / G0)
    assert r == pytest.approx(330.4e3, rel=1e-3)
    with pytest.raises(InvalidInputError):
        battery_range(9.0e5, 1.2, 15.0, 300.0, 1000.0)


# -- sizing -----------------------------------------------------------------------------------


def test_sizing_helpers():
    assert aspect_ratio(35.8, 122.6) == pytest.approx(35.8**2 / 122.6)
    assert wing_loading(78000.0, 122.6) == pytest.approx(636.2, abs=0.1)
    assert thrust_to_weight(2 * 120e3, 78000.0) == pytest.approx(240e3 / (78000 * G0))


def test_mass_breakdown_sums_to_oew():
    ds = mass_breakdown_dataset(42600.0)
    assert list(ds.component.values) == ["wing", "fuselage", "empennage", "landing_gear", "propulsion", "systems", "furnishings"]
    assert float(ds.mass.sum()) == pytest.approx(42600.0)
    assert ds.mass.attrs["units"] == "kg"
    with pytest.raises(InvalidInputError):
        mass_breakdown_dataset(42600.0, {"wing": 0.5, "fuselage": 0.3})


# -- demo parameters --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", demo.PROGRAM_KINDS)
def test_program_parameters_are_consistent(kind):
    p = demo.program_parameters(kind)
    assert abs(p["aspect_ratio"] - p["span"] ** 2 / p["wing_area"]) <= 0.01 * p["aspect_ratio"]
    assert 200 <= p["mtow"] / p["wing_area"] <= 800
    assert 0.2 <= p["thrust_to_weight"] <= 0.5
    assert p["oew"] < p["mtow"]
    assert 2.5 <= p["limit_load_factor"] <= 3.8 and p["factor_of_safety"] >= 1.5
    assert p["dal"] in "ABCDE"
    nb = demo.program_parameters("narrowbody")
    assert (nb["span"], nb["wing_area"], nb["mtow"], nb["oew"], nb["cruise_mach"]) == (35.8, 122.6, 78000.0, 42600.0, 0.78)
    with pytest.raises(InvalidInputError):
        demo.program_parameters("airship")


# -- demo generators meet / miss their gate conditions ----------------------------------------


def _gate(kind: str, phase: str, passing: bool) -> bool:
    """The default gate's conditions for ``phase``, evaluated with numpy."""
    p = demo.program_parameters(kind)
    new, ds = demo.phase_results(kind, phase, p, passing)
    p = p | new
    if phase == "CAD":
        return abs(float(ds["mass_breakdown"].mass.sum()) - p["oew"]) <= 0.05 * p["oew"]
    if phase == "CAE":
        return bool(
            p["analysis_converged"]
            and np.all(ds["wing_loads"].margin_of_safety.values >= 0)
            and p["ld_cruise"] >= p["ld_required"]
            and p["flutter_speed"] >= 1.15 * p["design_dive_speed"]
        )
    if phase == "CAI":
        itf = ds["interfaces"]
        return bool(np.all(itf.verified.values) and not np.any(itf.critical_open.values)
                    and p["open_critical_interface_issues"] == 0)
    if phase == "CAO":
        return bool(p["selected_feasible"] and np.any(ds["trade_study"].feasible.values) and p["optimality_gap"] <= 0.10)
    if phase == "CAM":
        fa = ds["first_article"]
        return bool(np.all(np.abs(fa.measured.values - fa.nominal.values) <= fa.tolerance.values)
                    and p["producibility_review_passed"] and p["manufacturing_instructions_released"])
    if phase == "CAP":
        return bool(p["production_rate_planned"] >= p["production_rate_target"] and p["supplier_readiness"] >= 1
                    and p["cycle_time"] <= p["takt_time"])
    if phase == "CAV":
        tr = ds["test_results"]
        return bool(np.all(tr.has_result.values) and np.all(tr.passed.values | ~tr.critical.values)
                    and p["open_nonconformances"] <= p["nonconformance_threshold"])
    if phase == "CMP":
        return bool(np.all(ds["compliance_matrix"].complete.values) and p["assurance_objectives_met"]
                    and p["authority_coordination_recorded"])
    assert phase == "CAS"
    return bool(p["mtbf_hours"] >= p["mtbf_target_hours"] and p["dispatch_reliability"] >= 0.99
                and p["maintenance_programme_approved"] and ds["fleet_events"].sizes["event"] > 0)


@pytest.mark.parametrize("kind", demo.PROGRAM_KINDS)
@pytest.mark.parametrize("phase", demo.PHASES)
def test_phase_results_meet_or_miss_gate(kind, phase):
    assert _gate(kind, phase, passing=True)
    assert not _gate(kind, phase, passing=False)


def test_cae_ld_cruise_comes_from_polar_at_cruise_cl():
    p = demo.program_parameters("narrowbody")
    new, ds = demo.phase_results("narrowbody", "CAE", p)
    cl = cruise_lift_coefficient(p["mtow"], p["wing_area"], p["cruise_mach"], p["cruise_altitude"])
    polar = ds["polars"]
    expected = lift_to_drag(cl, polar.attrs["cd0"], p["aspect_ratio"], polar.attrs["oswald_efficiency"])
    assert new["ld_cruise"] == pytest.approx(expected, rel=2e-3)
    assert 16.0 <= new["ld_cruise"] <= 20.0
    assert ds["wing_loads"].attrs["limit_load_factor"] == p["limit_load_factor"]


def test_generators_pass_and_fail_directly():
    mb = demo.mass_breakdown(42600.0, passing=False)
    assert abs(float(mb.mass.sum()) - 42600.0) > 0.05 * 42600.0
    wl = demo.wing_loads(35.8, 122.6, 78000.0, taper_ratio=0.24, passing=False, seed=3)
    assert np.any(wl.margin_of_safety.values < 0)
    itf = demo.interfaces(["AER", "STR", "PRP"], passing=True)
    assert list(itf.interface.values) == ["AER-STR", "AER-PRP", "STR-PRP"]
    assert list(itf.domain_a.values) == ["AER", "AER", "STR"] and list(itf.domain_b.values) == ["STR", "PRP", "PRP"]
    bad = demo.interfaces(["AER", "STR", "PRP"], passing=False)
    assert not bad.verified.all() and bad.critical_open.any()
    with pytest.raises(InvalidInputError):
        demo.interfaces(["AER"])
    fa = demo.first_article(passing=False, seed=5)
    assert np.any(np.abs(fa.measured - fa.nominal) > fa.tolerance)
    tr = demo.test_results(passing=True, seed=1)
    assert set(tr.method.values) <= {"test", "analysis", "inspection"}
    assert all(r.startswith("REQ-") for r in tr.requirement.values)


def test_generators_are_deterministic():
    a = demo.phase_results("bizjet", "CAS", seed=7)[1]["fleet_events"]
    b = demo.phase_results("bizjet", "CAS", seed=7)[1]["fleet_events"]
    assert a.identical(b)
    c = demo.phase_results("bizjet", "CAS", seed=8)[1]["fleet_events"]
    assert not a.identical(c)


# -- reliability ------------------------------------------------------------------------------


def test_chi2_quantiles():
    assert demo.chi2_ppf(0.90, 2) == pytest.approx(-2 * math.log(0.1), rel=1e-9)
    assert demo.chi2_ppf(0.95, 10) == pytest.approx(18.307038, rel=1e-6)
    assert demo.chi2_ppf(0.05, 4) == pytest.approx(0.710723, rel=1e-5)
    assert demo.chi2_ppf(0.90, 6) == pytest.approx(10.644641, rel=1e-6)
    assert demo.chi2_ppf(0.10, 3) == pytest.approx(0.584374, rel=1e-5)


def test_reliability_summary_hand_computed():
    kinds = ["flight"] * 10 + ["failure", "failure", "delay"]
    hours = [2.0] * 10 + [0.0, 0.0, 0.5]
    n = len(kinds)
    ds = xr.Dataset(
        {
            "aircraft": ("event", np.array(["PL-X01"] * n)),
            "time": ("event", np.arange(n).astype("timedelta64[h]") + np.datetime64("2030-01-01T00:00", "ns")),
            "kind": ("event", np.array(kinds)),
            "hours": ("event", np.array(hours), {"units": "h"}),
        }
    )
    s = demo.reliability_summary(ds, confidence=0.90)
    assert s["operating_hours"] == 20.0 and s["failures"] == 2 and s["departures"] == 10
    assert s["mtbf_hours"] == pytest.approx(10.0)
    assert s["failure_rate_per_hour"] == pytest.approx(0.1)
    assert s["dispatch_reliability"] == pytest.approx(0.9)
    assert s["mtbf_lower_hours"] == pytest.approx(40.0 / 10.644641, rel=1e-6)  # 2T / chi2(0.90; 2r+2)
    assert s["mtbf_upper_hours"] == pytest.approx(40.0 / 1.063623, rel=1e-6)  # 2T / chi2(0.10; 2r)


def test_reliability_summary_of_generated_fleet():
    ds = demo.fleet_events(n_aircraft=4, days=60, flights_per_day=4, mean_block_hours=1.5, mtbf_target_hours=100.0)
    s = demo.reliability_summary(ds)
    kind = ds.kind.values
    assert s["departures"] == int((kind == "flight").sum())
    assert s["mtbf_hours"] == pytest.approx(ds.hours.values[kind == "flight"].sum() / (kind == "failure").sum())
    assert s["mtbf_hours"] >= 100.0 and s["dispatch_reliability"] >= 0.99
    assert s["mtbf_lower_hours"] < s["mtbf_hours"] < s["mtbf_upper_hours"]
    assert set(np.unique(kind)) <= {"flight", "delay", "cancellation", "failure"}
    assert np.all(np.diff(ds.time.values) >= np.timedelta64(0, "ns"))


# -- datasets: units and Zarr v3 round trip ---------------------------------------------------


def _all_demo_datasets():
    out = {}
    for phase in demo.PHASES:
        for passing in (True, False):
            for name, ds in demo.phase_results("regional_turboprop", phase, passing=passing)[1].items():
                out[f"{name}-{passing}"] = ds
    return out


def test_every_variable_has_units_and_long_name():
    for key, ds in _all_demo_datasets().items():
        for name, var in ds.data_vars.items():
            assert var.attrs.get("long_name"), (key, name)
            if var.dtype.kind == "M":  # CF time encoding owns "units"
                continue
            unit = var.attrs.get("units")
            assert unit, (key, name)
            from pluma.units import parse_unit

            parse_unit(unit)


def test_zarr_v3_round_trip():
    for key, ds in _all_demo_datasets().items():
        store = zarr.storage.MemoryStore()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ds.to_zarr(store, zarr_format=3, consolidated=False)
            back = xr.open_zarr(store, consolidated=False).load()
        xr.testing.assert_identical(ds, back)
        for name in ds.variables:
            assert back[name].dtype == ds[name].dtype or ds[name].dtype.kind == "M", (key, name)
