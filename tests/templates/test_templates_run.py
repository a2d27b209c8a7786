"""Every shipped template runs for a real program, and its recorded outputs make engineering sense."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import pluma
from pluma import templates
from pluma.templates.library import TEMPLATE_DIR, get_template

SIX = ["cad_sizing_sheet", "cae_wing_analysis", "cao_trade_study", "cav_test_campaign", "cmp_evidence_pack",
       "cas_fleet_reliability"]


@pytest.fixture(scope="module")
def runs(ana_ws, dask_client):
    """Each template once for AMPEL360: CAE through a Dask batch (with B2), the rest one by one."""
    prog = ana_ws.program("AMPEL360")
    out = {}
    batch = templates.run_batch(ana_ws, "cae_wing_analysis", ["AMPEL360", "B2"], client=dask_client,
                                progress=False, cruise_mach=0.78)
    out["batch"] = batch
    out["cae_wing_analysis"] = next(r for r in batch.runs if r.program == "AMPEL360")
    for name in ["cad_sizing_sheet", "cao_trade_study", "cav_test_campaign", "cas_fleet_reliability",
                 "cmp_evidence_pack"]:
        out[name] = templates.run(prog, name, cruise_mach=0.8) if name == "cad_sizing_sheet" else templates.run(prog, name)
    return out


def test_six_templates_with_typed_schemas():
    listed = {t["name"]: t for t in templates.list()}
    assert set(SIX) <= set(listed)
    assert [listed[n]["phase"] for n in SIX] == ["CAD", "CAE", "CAO", "CAV", "CMP", "CAS"]
    import papermill as pm

    for name in SIX:
        schema = templates.schema(name)
        assert schema.description and schema.parameters
        for f in schema.parameters:
            assert f.help, (name, f.name)
            assert f.type in ("float", "int", "bool", "str")
            if f.type in ("float", "int"):
                assert f.unit is not None and (f.min is not None or f.max is not None)
        # the papermill parameters cell declares the same names plus the run parameters
        inspected = set(pm.inspect_notebook(str(TEMPLATE_DIR / f"{name}.ipynb")))
        assert inspected == set(schema.names) | set(templates.RUN_PARAMETERS)
    assert templates.schema("cae_wing_analysis")["spar_material"].choices == ("al7075_t6", "cfrp_quasi_isotropic")


def test_cad_sizing_sheet(runs, ana_ws):
    run = runs["cad_sizing_sheet"]
    o = run.outputs
    assert o["aspect_ratio"] == pytest.approx(35.8**2 / 122.6, rel=1e-12)
    assert o["wing_loading"].to("kg/m**2").magnitude == pytest.approx(78000 / 122.6)
    assert 0.4 < o["cl_cruise"] < 0.75          # a narrowbody at Mach 0.8, 11 km
    assert 14 < o["ld_max_estimate"] < 22       # transport (L/D)max 15-20
    assert float(o["mass_breakdown"]["mass"].sum()) == pytest.approx(42600.0)
    assert o["mass_budget_closes"] is True and o["design_space_ok"] is True
    assert run.param_sources["cruise_mach"] == "given" and run.param_sources["span"] == "context"
    assert run.param_sources["cd0"] == "template"
    ctx = ana_ws.program("AMPEL360").context
    info = ctx.params.info("aspect_ratio")
    assert info.source == "template:cad_sizing_sheet" and run.run_id in info.message
    assert {"cad_sizing_sheet_report", "cad_sizing_sheet_notebook", "cad_sizing_sheet_run"} <= set(ctx.artifacts)
    assert ctx.dataset("mass_breakdown").attrs["provenance"]["template_sha256"] == get_template("cad_sizing_sheet").sha256
    provenance = json.loads(ctx.artifact("cad_sizing_sheet_run"))
    assert provenance["run_id"] == run.run_id and provenance["params"]["cruise_mach"] == 0.8
    html = run.report_path.read_text()
    assert "CAD parametric sizing sheet" in html and "<img" in html
    assert "eng.aspect_ratio(b, S)" not in html   # code hidden by default


def test_cae_wing_analysis(runs, ana_ws):
    run = runs["cae_wing_analysis"]
    o = run.outputs
    assert 0.45 < o["cl_cruise"] < 0.75
    assert 0.85 < o["span_efficiency"] <= 1.0
    assert 15 < o["ld_cruise"] < 22
    assert o["ld_cruise"] == pytest.approx(o["cl_cruise"] / o["cd_cruise"])
    assert o["min_margin_of_safety"] > 0 and o["analysis_converged"] is True
    assert 0 < o["tip_deflection"].to("m").magnitude < 0.15 * 35.8 / 2
    loads = o["wing_loads"]
    assert float(loads["bending_moment"][0]) == pytest.approx(4 * (2.5 * 78000 * 9.80665 / 2) * 17.9 / (3 * math.pi),
                                                              rel=0.005)
    ctx = ana_ws.program("AMPEL360").context
    assert ctx.params["ld_cruise"] == pytest.approx(o["ld_cruise"])
    assert {"wing_loads", "polars"} <= set(ctx.datasets)
    batch = runs["batch"]
    assert batch.ok and set(batch.summary()["program"]) == {"AMPEL360", "B2"}


def test_cao_trade_study_reads_the_sweep(runs):
    o = runs["cao_trade_study"].outputs
    assert o["selected_feasible"] is True
    assert 0 <= o["optimality_gap"] < 0.05
    ts = o["trade_study"]
    selected = ts.sel(option=ts.attrs["selected"])
    assert bool(selected.feasible) and float(selected.span) <= 1.10 * 35.8 + 1e-9
    feasible = ts.objective.where(ts.feasible)
    assert float(selected.objective) == pytest.approx(float(feasible.min()))
    assert ts.attrs["sweep_dataset"] == "wing_sweep"


def test_cav_test_campaign(runs):
    o = runs["cav_test_campaign"].outputs   # test_results(passing=False): one missing, one critical failure
    assert o["verification_coverage"] == pytest.approx(39 / 40)
    assert o["requirements_without_result"] == 1 and o["critical_not_passed"] >= 1
    assert o["campaign_ready"] is False
    assert int(o["test_summary"]["total"].sum()) == 40


def test_cas_fleet_reliability(runs):
    o = runs["cas_fleet_reliability"].outputs
    mtbf = o["mtbf_hours"].to("h").magnitude
    assert mtbf >= 500 and o["dispatch_reliability"] >= 0.99 and o["reliability_targets_met"] is True
    assert o["mtbf_lower_hours"].to("h").magnitude < mtbf < o["mtbf_upper_hours"].to("h").magnitude
    assert 0.5 < o["weibull_shape"] < 4
    assert o["failure_rate"].to("1/h").magnitude == pytest.approx(1 / mtbf)
    # the same catalog shows SKYJET missing its targets
    from pluma.demo.datasets import reliability_summary
    from pluma.templates.fleet import load_fleet_events, to_dataset

    assert reliability_summary(to_dataset(load_fleet_events("SKYJET")))["mtbf_hours"] < 600


def test_cmp_evidence_pack(runs, ana_ws):
    o = runs["cmp_evidence_pack"].outputs
    cm = o["compliance_matrix"]
    assert o["compliance_rows"] == cm.sizes["requirement"]
    reqs = [str(r) for r in cm.requirement.values]
    assert "artifact cad_sizing_sheet_report" in reqs           # artifacts of earlier runs are evidence
    assert any(r.startswith("CAD (working) check") for r in reqs)
    assert o["open_items"] == int((~cm.complete).sum()) and 0 < o["compliance_complete_share"] < 1
    assert "compliance_matrix" in ana_ws.program("AMPEL360").context.datasets


def test_every_run_is_an_event_for_kpis(runs, ana_ws):
    events = templates.template_runs(ana_ws.program("AMPEL360"))
    assert {e["template"] for e in events} >= set(SIX)
    for e in events:
        assert e["status"] == "ok" and e["duration_s"] > 0 and len(e["run_id"]) == 12
        assert set(e["param_sources"].values()) <= {"given", "context", "frozen", "template"}
    durations = sorted(e["duration_s"] for e in events)
    p95 = durations[min(len(durations) - 1, math.ceil(0.95 * len(durations)) - 1)]
    sources = [s for e in events for s in e["param_sources"].values()]
    reuse = sum(s in ("context", "frozen") for s in sources) / len(sources)
    assert p95 > 0 and 0 < reuse < 1
    assert runs["batch"].batch_id in {e["batch_id"] for e in events}


def test_plain_papermill_runs_a_template(tws, runs, tmp_path):
    out = tmp_path / "out.ipynb"
    exe = Path(sys.executable).with_name("papermill")
    env = {"PATH": str(Path(sys.executable).parent), "PLUMA_USER": "ana", "ICECHUNK_LOG": "error",
           "HOME": str(tmp_path)}
    proc = subprocess.run([str(exe), str(TEMPLATE_DIR / "cav_test_campaign.ipynb"), str(out), "-p", "program",
                           "AMPEL360", "-p", "workspace", str(tws), "-k", "python3", "--no-progress-bar"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = templates.collect(out)
    assert records["verification_coverage"].value == pytest.approx(39 / 40)
    text = out.read_text()
    assert "plain papermill run" in text and "<td>template</td>" in text   # bound in the notebook itself
