"""Forecasts of live programs, and the approval rules that turn them into quotas."""

from __future__ import annotations

import pytest

import pluma
from pluma.capacity import forecast
from pluma.capacity.model import CapacityModel, default_model
from tests.conftest import fill_cad, make_program


@pytest.fixture(scope="module")
def model():
    return default_model()


@pytest.fixture
def programs(local_ws):
    admin = local_ws("admin")
    make_program(admin, members={"ana": ["engineer"], "raj": ["chief_engineer"], "pam": ["program_manager"],
                                 "fin": ["finance"], "fay": ["finance", "program_manager"]})
    fill_cad(local_ws("ana").program("AMPEL360").context)
    return {u: local_ws(u).program("AMPEL360") for u in ("ana", "raj", "pam", "fin", "fay", "admin")}


def test_forecast_of_a_live_program(programs, model):
    fc = forecast(programs["raj"], model=model)
    assert fc.phases == ["CAD"]
    assert list(fc.table["resource"])[:3] == ["cores", "core_hours", "memory_gb"]
    assert (fc.table["p10"] <= fc.table["p50"]).all() and (fc.table["p50"] <= fc.table["p90"]).all()
    assert fc.cost["p10"] <= fc.cost["p50"] <= fc.cost["p90"] and fc.cost["currency"]
    assert fc.quotas["cores"] >= fc.table.set_index("resource").loc["cores", "p90"]
    assert fc.model_version == model.version and "cost" in str(fc) and "<table" in fc._repr_html_()
    later = forecast(programs["raj"], model=model, phases=["CAD", "CAE"])
    cae = later.table[later.table["phase"] == "CAE"].set_index("resource")
    cad = later.table[later.table["phase"] == "CAD"].set_index("resource")
    assert cae.loc["core_hours", "p50"] > cad.loc["core_hours", "p50"]  # analysis phases compute more


def test_within_threshold_is_granted_at_once(programs, model):
    fc = forecast(programs["raj"], model=model)
    request = fc.request(approver_role="finance", reason="CAD sizing")
    assert request["status"] == "approved" and request["threshold_source"] == "default"
    assert programs["ana"].quotas["cores"] == fc.quotas["cores"]
    kinds = [e["kind"] for e in programs["ana"].events()]
    assert kinds[-2:] == ["capacity_request", "quotas_changed"]


def test_above_threshold_needs_finance_and_not_the_requester(programs, model):
    pam, fin, fay, raj, ana = (programs[u] for u in ("pam", "fin", "fay", "raj", "ana"))
    pam.set_capacity_threshold(0.0)
    before = dict(ana.quotas)
    fc = forecast(fay, model=model)
    request = fc.request(approver_role="finance")
    assert request["status"] == "pending" and request["threshold_source"] == "program"
    assert ana.quotas == before  # nothing changes before approval
    with pytest.raises(pluma.AccessDenied, match="separation of duties"):
        fc.approve()  # fay requested it; fay is finance too
    with pytest.raises(pluma.AccessDenied, match="needs finance"):
        raj.approve_capacity(request["id"])
    with pytest.raises(pluma.AccessDenied, match="request capacity"):
        forecast(ana, model=model).request()
    decided = fc.approve(by=fin, comment="budget line 7")
    assert decided["status"] == "approved" and decided["decided_by"] == "fin"
    assert ana.quotas["cores"] == fc.quotas["cores"]
    with pytest.raises(pluma.StateError, match="already approved"):
        fin.approve_capacity(request["id"])
    assert [e["kind"] for e in ana.events()][-3:] == ["capacity_request", "capacity_approved", "quotas_changed"]


def test_rejection_and_bad_input(programs, model):
    pam, fin = programs["pam"], programs["fin"]
    admin_ws = pluma.open(pam._ws.root.location, user="admin")
    admin_ws.set_capacity_threshold(1.0)
    fc = forecast(pam, model=model)
    request = fc.request()
    assert request["threshold_source"] == "organisation"
    fin.reject_capacity(request["id"], reason="not this quarter")
    assert pam.capacity_requests()[-1]["status"] == "rejected"
    with pytest.raises(pluma.InvalidInputError, match="finance role only"):
        fc.request(approver_role="quality")
    with pytest.raises(pluma.InvalidInputError, match="unknown quota"):
        fc.request(quotas={"cpus": 4})
    with pytest.raises(pluma.NotFoundError, match="no capacity request"):
        fin.approve_capacity("nope")
    with pytest.raises(pluma.AccessDenied):
        pluma.open(pam._ws.root.location, user="ana").set_capacity_threshold(5.0)
