"""Gates, approvals, separation of duties, freezing and the phase state machine —
on local storage and on S3."""

from __future__ import annotations

import numpy as np
import pytest

import pluma
from tests.conftest import CAD_PARAMS, fill_cad, make_program, mass_breakdown


@pytest.fixture
def team(open_ws):
    make_program(open_ws("admin"))
    return {u: open_ws(u).program("AMPEL360") for u in ("ana", "raj", "lin", "pam", "admin")}


def test_evaluate_is_read_only_and_reports_evidence(team):
    ana = team["ana"]
    n0 = len(ana.context.log())
    report = ana.gate().evaluate()
    assert not report.passed
    assert {i.name for i in report.missing_items} >= {"span", "mtow", "mass_breakdown"}
    assert len(ana.context.log()) == n0
    fill_cad(ana.context)
    report = ana.gate().evaluate()
    assert report.checks_passed, report.summary()
    assert report.approvals_needed == ["chief_engineer"]
    assert not report.passed
    check = {c.id: c for c in report.checks}["mass_budget_closes"]
    assert "oew" in check.evidence and check.evidence["oew"].endswith("kg")
    assert "chief_engineer" in report._repr_html_()


def test_failing_check_names_the_values(team):
    ana = team["ana"]
    fill_cad(ana.context)
    ana.context.set_params(aspect_ratio=12.0)  # span²/area is 10.45
    report = ana.gate().evaluate()
    failed = [c.id for c in report.failed_checks]
    assert failed == ["aspect_ratio_consistent"]
    assert "aspect_ratio=12" in report.summary()


def test_full_cad_gate_freeze_and_history(team):
    ana, raj = team["ana"], team["raj"]
    fill_cad(ana.context)
    raj.gate().approve(role="chief_engineer", comment="margins ok")
    frozen = raj.advance(message="CAD gate passed")
    assert frozen.ref == "AMPEL360@CAD#1"
    assert frozen.phase is pluma.Phase.CAD and frozen.user == "raj" and frozen.message == "CAD gate passed"
    assert frozen.params["span"] == CAD_PARAMS["span"]
    assert frozen.dataset("mass_breakdown")["mass"].sum() == pytest.approx(42600.0)
    assert frozen.report.passed and frozen.report.approvals[0]["user"] == "raj"
    assert ana.phase is pluma.Phase.CAE
    assert [f.ref for f in ana.history()] == ["AMPEL360@CAD#1"]
    assert ana.frozen("AMPEL360@CAD").id == frozen.id == ana.frozen(frozen.id).id == ana.frozen("CAD#1").id
    kinds = [e["kind"] for e in ana.events()]
    assert kinds == ["created", "approval", "freeze"]
    # the frozen context never changes: later work on the working context does not reach it
    ana.context.set_params(span=40.0)
    assert ana.frozen("CAD#1").params["span"] == CAD_PARAMS["span"]
    assert ana.context.params["span"] == 40.0
    assert "AMPEL360@CAD#1" in frozen._repr_html_()


def test_advance_without_passing_gate_changes_nothing(team):
    ana, raj = team["ana"], team["raj"]
    fill_cad(ana.context)
    before = len(raj.context.log())
    with pytest.raises(pluma.GateNotPassed, match="approval by chief_engineer needed") as info:
        raj.advance()
    assert info.value.report.checks_passed
    assert len(raj.context.log()) == before and raj.phase is pluma.Phase.CAD and raj.history() == []


def test_an_approval_never_survives_a_later_change(team):
    ana, raj = team["ana"], team["raj"]
    fill_cad(ana.context)
    raj.gate().approve(comment="ok")
    ana.context.set_params(mtow=78500.0)
    report = raj.gate().evaluate()
    assert report.approvals_needed == ["chief_engineer"]
    assert report.approvals[0]["valid"] is False and "changed after this approval" in report.approvals[0]["reason"]
    with pytest.raises(pluma.GateNotPassed):
        raj.advance()
    raj.gate().approve()
    assert raj.advance().ref == "AMPEL360@CAD#1"


def test_separation_of_duties(team):
    raj = team["raj"]
    fill_cad(raj.context)  # the chief engineer produced the evidence himself
    raj.gate().approve()
    report = raj.gate().evaluate()
    assert report.checks_passed and not report.approvals_needed
    assert not report.passed and not report.separation_of_duties["ok"]
    with pytest.raises(pluma.GateNotPassed, match="separation of duties"):
        raj.advance()


def test_approval_roles(open_ws, team):
    ana, lin, pam = team["ana"], team["lin"], team["pam"]
    with pytest.raises(pluma.AccessDenied, match="needs chief_engineer"):
        ana.gate().approve()
    with pytest.raises(pluma.InvalidInputError, match="asks for approvals by chief_engineer, not 'quality'"):
        lin.gate().approve(role="quality")
    pam.set_member("raj", ["chief_engineer", "quality"])
    pam.set_gate("CAD", {**pluma.default_gate("CAD").to_dict(), "approvals": [{"role": "chief_engineer"}, {"role": "quality"}]})
    raj = open_ws("raj").program("AMPEL360")
    with pytest.raises(pluma.InvalidInputError, match="say which"):
        raj.gate().approve()
    raj.gate().approve(role="quality")
    with pytest.raises(pluma.StateError, match="one person gives one approval"):
        raj.gate().approve(role="chief_engineer")


def test_gate_override_is_recorded_and_used_in_the_stored_report(team):
    ana, raj, pam = team["ana"], team["raj"], team["pam"]
    pam.set_gate("CAD", """
phase: CAD
title: quick look
requires: {params: [span]}
checks:
  - id: span_fits_gate
    expr: span <= 36 m
approvals: [{role: chief_engineer}]
""", reason="concept study")
    assert [e["kind"] for e in ana.events()][-1] == "gate_override"
    ana.context.set_params(span="115 ft")
    raj.gate().approve()
    frozen = raj.advance(message="concept")
    assert frozen.report.definition_source == "override"
    assert frozen.report.definition["title"] == "quick look"
    with pytest.raises(pluma.AccessDenied, match="override gate definitions"):
        raj.set_gate("CAE", {"phase": "CAE"})


@pytest.mark.parametrize(
    "definition, message",
    [
        ("phase: CAD\nchecks: [{id: x, expr: 'span >'}]", "check 'x'"),
        ("phase: CAD\nchecks: [{id: x, expr: '__import__(\"os\")'}]", "check 'x'"),
        ("phase: CAD\napprovals: [{role: pilot}]", "unknown approval role"),
        ("phase: CAE\n", "is for CAE, not CAD"),
        ("phase: CAD\nsurprise: 1\n", "unknown key"),
        ("phase: [CAD\n", "not valid YAML at line"),
        ("phase: CAD\nchecks: [{id: x, expr: 'a > 1'}, {id: x, expr: 'b > 1'}]", "appears twice"),
    ],
)
def test_bad_gate_definitions_are_refused(team, definition, message):
    pam = team["pam"]
    with pytest.raises(pluma.InvalidInputError, match=message):
        pam.set_gate("CAD", definition)
    assert [e["kind"] for e in pam.events()] == ["created"]


def test_stale_handle_refuses_writes_and_says_why(team):
    ana, raj = team["ana"], team["raj"]
    ctx = ana.context
    fill_cad(ctx)
    raj.gate().approve()
    raj.advance()
    with pytest.raises(pluma.StaleContextError, match="advanced \\(CAD -> CAE\\) by raj"):
        ctx.set_params(span=1.0)
    ctx.refresh()
    ctx.set_params(span=36.0)
    assert ctx.phase is pluma.Phase.CAE


def test_hold_resume_rework_kill(team):
    ana, raj, pam = team["ana"], team["raj"], team["pam"]
    with pytest.raises(pluma.InvalidInputError, match="needs a reason"):
        pam.hold("")
    pam.hold("supplier audit")
    assert ana.status is pluma.Status.HOLD
    with pytest.raises(pluma.StateError, match="on hold \\(supplier audit\\)"):
        ana.context.set_params(span=30.0)
    with pytest.raises(pluma.StateError, match="on hold"):
        raj.advance()
    with pytest.raises(pluma.StateError, match="on hold"):
        pam.hold("again")
    pam.resume("audit closed")
    with pytest.raises(pluma.StateError, match="not on hold"):
        pam.resume("twice")
    fill_cad(ana.context)
    raj.gate().approve()
    raj.advance()
    with pytest.raises(pluma.StateError, match="earlier phase.*CAD"):
        raj.rework("CAI", reason="forward is not rework")
    with pytest.raises(pluma.InvalidInputError, match="unknown phase"):
        raj.rework("XYZ", reason="bad")
    raj.rework("CAD", reason="wing too heavy")
    assert ana.phase is pluma.Phase.CAD
    assert [f.ref for f in ana.history()] == ["AMPEL360@CAD#1"]  # frozen contexts stay
    ana.context.set_params(mtow=77000.0)  # the working context carries on
    assert ana.context.params["span"] == CAD_PARAMS["span"]
    raj.gate().approve()
    assert raj.advance().ref == "AMPEL360@CAD#2"
    with pytest.raises(pluma.AccessDenied, match="kill the program"):
        raj.kill("no budget")
    pam.kill("no budget")
    for action in (lambda: ana.context.set_params(span=1.0), lambda: pam.resume("x"), lambda: raj.advance(),
                   lambda: pam.kill("again"), lambda: pam.hold("x")):
        with pytest.raises(pluma.StateError):
            action()
    assert ana.status is pluma.Status.KILLED
    assert ana.frozen("CAD#2").params["mtow"] == 77000.0
    kinds = [e["kind"] for e in ana.events()]
    assert kinds == ["created", "hold", "resume", "approval", "freeze", "rework", "approval", "freeze", "kill"]


def test_cae_gate_uses_datasets_and_flutter_only_when_given(team):
    ana, raj, lin = team["ana"], team["raj"], team["lin"]
    fill_cad(ana.context)
    raj.gate().approve()
    raj.advance()
    y = np.linspace(0, 17.9, 20)
    import xarray as xr

    loads = xr.Dataset({"margin_of_safety": ("y", np.linspace(0.05, 2.0, 20), {"units": "1"})}, coords={"y": y})
    polars = xr.Dataset({"l_over_d": ("alpha", np.array([10.0, 16.0, 18.0, 15.0]))},
                        coords={"alpha": [0.0, 2.0, 4.0, 6.0]})
    with ana.context.transaction(message="CAE results") as tx:
        tx.set_params(analysis_converged=True, limit_load_factor=2.5, factor_of_safety=1.5, ld_required=16.0,
                      ld_cruise=17.2, design_dive_speed=240.0, flutter_speed=250.0)
        tx.put_dataset("wing_loads", loads)
        tx.put_dataset("polars", polars)
    report = ana.gate().evaluate()
    assert [c.id for c in report.failed_checks] == ["flutter_margin"]  # 250 < 1.15 × 240
    ana.context.set_params(flutter_speed=290.0)
    raj.gate().approve()
    lin.gate().approve()
    frozen = raj.advance(message="CAE gate")
    assert frozen.ref == "AMPEL360@CAE#1"
    assert {a["role"] for a in frozen.approvals} == {"chief_engineer", "quality"}


def test_cas_is_the_last_phase_and_a_freeze_there_keeps_it(team, open_ws):
    pam = team["pam"]
    gate = {"phase": None, "requires": {}, "checks": [], "approvals": [{"role": "chief_engineer"}]}
    for phase in pluma.Phase:
        pam.set_gate(phase, {**gate, "phase": phase.value})
    ana, raj = team["ana"], team["raj"]
    refs = []
    for phase in pluma.Phase:
        ana.context.set_params(span=30.0 + phase.index)
        raj.gate().approve()
        refs.append(raj.advance(message=f"leave {phase.value}").ref)
    assert ana.phase is pluma.Phase.CAS
    assert refs[-1] == "AMPEL360@CAS#1" and refs[0] == "AMPEL360@CAD#1"
    assert [f.ref for f in ana.history()] == refs


def test_an_approval_counts_only_while_the_approver_holds_the_role(team):
    ana, raj, pam = team["ana"], team["raj"], team["pam"]
    fill_cad(ana.context)
    raj.gate().approve()
    pam.set_member("raj", ["viewer"])
    report = pam.gate().evaluate()
    assert report.approvals[0]["valid"] is False and "no longer holds the role" in report.approvals[0]["reason"]
    assert report.approvals_needed == ["chief_engineer"]


def test_approving_without_the_role_is_access_denied_even_on_hold(team):
    team["pam"].hold("audit")
    with pytest.raises(pluma.AccessDenied):
        team["ana"].gate().approve()
    with pytest.raises(pluma.StateError, match="on hold"):
        team["raj"].gate().approve()
