"""The end-to-end demo (pluma.demo.run_demo): what it builds is real, and it never
overwrites a workspace, or deletes a folder, that the user did not ask it to."""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pytest
from rich.console import Console

import pluma
from pluma.demo import DemoResult, run_demo
from pluma.demo.datasets import program_parameters


def quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One small demo for the whole module: (result, printed output)."""
    console = quiet()
    result = run_demo(tmp_path_factory.mktemp("demo") / "demo", small=True, console=console)
    return result, console.file.getvalue()


def reader(result: DemoResult, user: str = "vic") -> pluma.Workspace:
    return pluma.open(result.location, user=user)


# -- what it built ----------------------------------------------------------------------------


def test_programs_phases_and_frozen_refs(demo):
    result, _ = demo
    assert isinstance(result, DemoResult) and result.duration > 0
    assert result.programs == ["AMPEL360", "ATR-NEO"]
    assert result.frozen == {"AMPEL360": ["AMPEL360@CAD#1", "AMPEL360@CAE#1"],
                             "ATR-NEO": ["ATR-NEO@CAD#1", "ATR-NEO@CAD#2"]}
    ws = reader(result)
    assert ws.program_names() == ["AMPEL360", "ATR-NEO"]
    ampel, atr = ws.program("AMPEL360"), ws.program("ATR-NEO")
    assert (ampel.phase, ampel.status) == (pluma.Phase.CAI, pluma.Status.ACTIVE)
    assert (atr.phase, atr.status) == (pluma.Phase.CAE, pluma.Status.ACTIVE)
    assert (ampel.priority, ampel.classification) == ("research", "EAR99")
    assert atr.classification == "PUBLIC"
    for name, refs in result.frozen.items():
        assert [f.ref for f in ws.program(name).history()] == refs
    users = {u["name"]: u for u in ws.users()}
    assert {"admin", "ana", "raj", "lin", "pam", "fin", "vic"} <= set(users)
    assert users["admin"]["admin"] and not users["ana"]["admin"]
    assert users["lin"]["display_name"] != "lin"
    assert ampel.members["ana"] == ["engineer"] and ampel.members["raj"] == ["chief_engineer"]


def test_cad_freezes_hold_consistent_engineering_data(demo):
    result, _ = demo
    ws = reader(result)
    for name, ref in (("AMPEL360", "CAD#1"), ("ATR-NEO", "CAD#1"), ("ATR-NEO", "CAD#2")):
        frozen = ws.program(name).frozen(ref)
        p = frozen.params
        assert p["aspect_ratio"] == pytest.approx(p["span"] ** 2 / p["wing_area"], rel=0.01)
        assert 200 <= p["mtow"] / p["wing_area"] <= 800
        mass = frozen.dataset("mass_breakdown")["mass"].values
        assert abs(mass.sum() - p["oew"]) <= 0.05 * p["oew"]
        assert frozen.report.passed and frozen.report.phase == "CAD"
        sheet = frozen.artifact("sizing_sheet").decode()
        assert sheet.startswith("<!DOCTYPE html>") and f"{p['span']:.2f} m" in sheet
        assert frozen.artifact_info("sizing_sheet")["media_type"] == "text/html"
    cad1 = ws.program("AMPEL360").frozen("CAD#1").params
    for key, value in program_parameters("narrowbody").items():
        assert cad1[key] == (pytest.approx(value) if isinstance(value, float) else value)


def test_cae_freeze_has_positive_margins_and_the_required_lift_to_drag(demo):
    result, _ = demo
    frozen = reader(result).program("AMPEL360").frozen("AMPEL360@CAE#1")
    assert frozen.report.passed and not frozen.report.failed_checks
    margins = frozen.dataset("wing_loads")["margin_of_safety"].values
    assert margins.size > 10 and np.all(margins >= 0)
    assert frozen.params["ld_cruise"] >= frozen.params["ld_required"]
    polars = frozen.dataset("polars")
    assert float(polars["l_over_d"].max()) >= frozen.params["ld_required"]
    findings = frozen.artifact("cae_gate_findings").decode()
    assert "NOT PASSED" in findings and "margins_of_safety_positive" in findings


def test_failed_cae_attempt_is_printed_and_kept_in_the_context_history(demo):
    result, output = demo
    assert "AMPEL360: CAE gate NOT passed" in output
    assert "[FAIL] margins_of_safety_positive" in output
    ctx = reader(result, "ana").program("AMPEL360").context
    first = [c for c in ctx.log() if c.message == "CAE loads and polars v1"]
    assert len(first) == 1 and first[0].author == "ana"
    old = ctx.at(first[0].id)
    assert float(old.dataset("wing_loads")["margin_of_safety"].min()) < 0
    assert old.params["ld_cruise"] < old.params["ld_required"]


def test_hold_resume_and_rework_are_recorded(demo):
    result, output = demo
    prog = reader(result).program("ATR-NEO")
    events = prog.events()
    kinds = [e["kind"] for e in events]
    assert kinds.index("hold") < kinds.index("resume") < kinds.index("rework")
    hold = next(e for e in events if e["kind"] == "hold")
    assert hold["user"] == "pam" and hold["reason"]
    rework = next(e for e in events if e["kind"] == "rework")
    assert (rework["phase"], rework["to"], rework["user"]) == ("CAE", "CAD", "raj")
    assert "L/D" in rework["reason"]
    cad1, cad2 = prog.frozen("CAD#1"), prog.frozen("CAD#2")
    assert cad2.params["span"] > cad1.params["span"]
    assert cad2.params["aspect_ratio"] > cad1.params["aspect_ratio"]
    assert cad2.params["oew"] > cad1.params["oew"]
    assert "refused while on hold" in output


def test_approvals_come_from_other_people_than_the_engineer(demo):
    result, _ = demo
    ws = reader(result)
    for name, refs in result.frozen.items():
        for ref in refs:
            frozen = ws.program(name).frozen(ref)
            approvals = frozen.approvals
            assert approvals, ref
            approvers = {a["user"] for a in approvals}
            authors = {item["author"] for item in frozen.items()}
            assert authors == {"ana"}
            assert not approvers & authors
            assert {a["role"] for a in approvals} == {a["role"] for a in frozen.report.definition["approvals"]}
            assert frozen.report.separation_of_duties["ok"]
    cae = ws.program("AMPEL360").frozen("CAE#1")
    assert {(a["role"], a["user"]) for a in cae.approvals} == {("chief_engineer", "raj"), ("quality", "lin")}


def test_summary_and_progress_output(demo):
    result, output = demo
    lines = "\n".join(result.summary_lines)
    assert "AMPEL360: phase CAI, active; frozen: AMPEL360@CAD#1, AMPEL360@CAE#1" in lines
    assert "ATR-NEO: phase CAE" in lines and result.location in lines
    assert "history AMPEL360" in lines and "import pluma" in lines
    assert "frozen AMPEL360@CAD#1 (id " in output
    assert "try next:" in output
    assert re.search(r"PLUMA demo: done .* (\d+)/\1 ", output)  # the progress bar ran to the end


# -- existing workspaces and folders ------------------------------------------------------------


def test_running_again_without_fresh_is_refused(demo):
    result, _ = demo
    with pytest.raises(pluma.StateError, match="--fresh") as info:
        run_demo(result.location, small=True, console=quiet())
    assert "AMPEL360" in str(info.value) and result.location in str(info.value)
    assert [f.ref for f in reader(result).program("AMPEL360").history()] == result.frozen["AMPEL360"]


def test_default_location_is_pluma_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    pluma.open(home, user="boss").create_program("OLD")
    monkeypatch.setenv("PLUMA_HOME", str(home))
    with pytest.raises(pluma.StateError, match=r"programs OLD already exists at .*home.*--fresh"):
        run_demo(console=quiet())


def test_fresh_replaces_the_workspace_and_keeps_foreign_files(tmp_path):
    home = tmp_path / "home"
    pluma.open(home, user="boss").create_program("OLD")
    (home / "notes.txt").write_text("mine")
    console = quiet()
    result = run_demo(home, small=True, fresh=True, console=console)
    assert "removed the earlier workspace" in console.file.getvalue()
    ws = pluma.open(home, user="admin")
    assert ws.is_admin and ws.program_names() == ["AMPEL360", "ATR-NEO"]
    assert result.frozen["ATR-NEO"] == ["ATR-NEO@CAD#1", "ATR-NEO@CAD#2"]
    assert (home / "notes.txt").read_text() == "mine"


def test_an_empty_workspace_of_someone_else_is_filled_by_its_admin(tmp_path):
    home = tmp_path / "home"
    pluma.open(home, user="boss")  # a workspace without programs: not refused
    result = run_demo(home, small=True, console=quiet())
    ws = pluma.open(home, user="boss")
    assert ws.program_names() == result.programs
    assert ws.program("AMPEL360").info["created_by"] == "boss"
    assert not pluma.open(home, user="admin").is_admin


def test_fresh_refuses_to_delete_a_folder_that_is_not_a_workspace(tmp_path):
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "chapter1.tex").write_text("precious")
    with pytest.raises(pluma.StateError, match="not empty and holds no PLUMA workspace"):
        run_demo(folder, small=True, fresh=True, console=quiet())
    assert sorted(p.name for p in folder.iterdir()) == ["chapter1.tex"]


@pytest.mark.integration
def test_fresh_on_an_object_store_asks_for_a_new_prefix(moto_server):
    from tests.conftest import make_bucket, s3_options

    uri, options = f"s3://{make_bucket(moto_server)}/demo", s3_options(moto_server)
    pluma.open(uri, user="boss", storage_options=options).create_program("OLD")
    with pytest.raises(pluma.StateError, match="new prefix"):
        run_demo(uri, small=True, fresh=True, console=quiet(), storage_options=options)
    with pytest.raises(pluma.StateError, match="--fresh"):
        run_demo(uri, small=True, console=quiet(), storage_options=options)
    assert pluma.open(uri, user="boss", storage_options=options).program_names() == ["OLD"]


def test_sizing_sheet_numbers():
    from pluma.demo.builder import sizing_sheet_html

    p = program_parameters("narrowbody")
    sheet = sizing_sheet_html("X<1>", p).decode()
    assert "X&lt;1&gt;" in sheet  # escaped
    assert f"{p['mtow'] / p['wing_area']:.0f} kg/m²" in sheet
    root_chord = 2 * p["wing_area"] / (p["span"] * (1 + p["taper_ratio"]))
    assert f"{root_chord:.2f} m / {p['taper_ratio'] * root_chord:.2f} m" in sheet
    assert not math.isnan(root_chord)
