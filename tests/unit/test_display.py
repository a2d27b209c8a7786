"""Notebook display: Workspace, Program, Context, FrozenContext and GateReport render as HTML."""

from __future__ import annotations

import pytest

from tests.conftest import fill_cad, make_program


@pytest.fixture
def frozen_setup(local_ws):
    admin = local_ws("admin")
    make_program(admin)
    ana = local_ws("ana").program("AMPEL360")
    fill_cad(ana.context)
    raj = local_ws("raj").program("AMPEL360")
    raj.gate().approve(comment="<script>alert(1)</script>")
    frozen = raj.advance(message="CAD gate passed")
    return admin, ana, frozen


def test_workspace_and_program_html(frozen_setup):
    admin, ana, frozen = frozen_setup
    html = admin._repr_html_()
    assert "AMPEL360" in html and "CAE" in html and "(admin)" in html
    phtml = ana._repr_html_()
    assert "AMPEL360@CAD#1" in phtml and "EAR99" in phtml and "ana (engineer)" in phtml


def test_context_and_frozen_html_show_params_with_units(frozen_setup):
    _, ana, frozen = frozen_setup
    html = ana.context._repr_html_()
    assert "35.8 m" in html and "mass_breakdown" in html and "component: 6" in html
    fhtml = frozen._repr_html_()
    assert "Frozen context AMPEL360@CAD#1" in fhtml and frozen.id in fhtml


def test_report_html_escapes_user_text(frozen_setup):
    _, _, frozen = frozen_setup
    html = frozen.report._repr_html_()
    assert "PASSED" in html and "mass_budget_closes" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
