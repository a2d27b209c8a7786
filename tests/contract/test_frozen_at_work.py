"""Clone, diff, query and frozen lookup — on local storage and on S3 (moto)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import pluma
from tests.conftest import CAD_PARAMS, fill_cad, make_program


def _loads(n=400, cases=50, seed=0):
    rng = np.random.default_rng(seed)
    return xr.Dataset({"lift_per_span": (("y", "case"), rng.random((n, cases)), {"units": "N/m"})},
                      coords={"y": np.linspace(0, 17.9, n)}).chunk({"y": 100})


@pytest.fixture
def frozen(open_ws):
    admin = open_ws("admin")
    make_program(admin)
    ana = open_ws("ana").program("AMPEL360")
    fill_cad(ana.context)
    ana.context.put_dataset("wing_loads", _loads())
    ana.context.attach("sizing_sheet", b"<h1>sizing</h1>")
    raj = open_ws("raj").program("AMPEL360")
    raj.gate().approve()
    fc = raj.advance(message="CAD gate passed")
    return open_ws("admin").frozen(fc.ref)


def test_clone_shares_unchanged_data_and_starts_a_new_history(open_ws, frozen):
    region = frozen.dataset("wing_loads").isel(y=slice(0, 100)).load() * 2.0
    child = frozen.clone("AMPEL360-F", overrides={"span": "38 m"}, dataset_overrides={"wing_loads": region})
    assert child.phase is pluma.Phase.CAD  # the clone must pass that gate itself
    assert child.history() == [] and [e["kind"] for e in child.events()] == ["created"]
    assert child.origin["ref"] == "AMPEL360@CAD#1" and child.origin["id"] == frozen.id
    assert 0.5 < child.reuse < 1.0
    ctx = child.context
    assert ctx.params["span"] == 38.0 and ctx.params.info("span").source == "clone:AMPEL360@CAD#1"
    assert ctx.params["mtow"] == CAD_PARAMS["mtow"]  # inherited unchanged
    back = ctx.dataset("wing_loads").load()
    np.testing.assert_allclose(back["lift_per_span"][:100], region["lift_per_span"])
    np.testing.assert_allclose(back["lift_per_span"][100:], frozen.dataset("wing_loads")["lift_per_span"][100:])
    assert ctx.artifact("sizing_sheet") == b"<h1>sizing</h1>"
    info = child.info
    assert info["classification"] == "EAR99" and info["priority"] == "research" and info["domains"] == ["AAA", "PPP"]
    assert info["members"]["admin"] == ["program_manager"] and info["members"]["ana"] == ["engineer"]
    # the source is untouched
    assert frozen.params["span"] == CAD_PARAMS["span"]
    assert open_ws("admin").program("AMPEL360").context.params["span"] == CAD_PARAMS["span"]
    # the clone passes its own gate with its own approvals
    raj = open_ws("raj").program("AMPEL360-F")
    raj.context.set_params(aspect_ratio=38.0**2 / CAD_PARAMS["wing_area"])
    open_ws("pam").program("AMPEL360-F").set_member("ann", ["chief_engineer"])
    open_ws("ann").program("AMPEL360-F").gate().approve()
    assert raj.advance().ref == "AMPEL360-F@CAD#1"


def test_clone_with_program_overrides_and_refusals(open_ws, frozen):
    child = frozen.clone("Twin", classification="EAR", priority="defense", members={"bob": ["engineer"]})
    assert child.info["members"] == {"bob": ["engineer"], "admin": ["program_manager"]}
    assert child.info["classification"] == "EAR" and child.reuse == pytest.approx(1.0, abs=0.01)
    with pytest.raises(pluma.InvalidInputError, match="exists already"):
        frozen.clone("twin")
    with pytest.raises(pluma.InvalidInputError, match="unknown parameter 'spam'"):
        frozen.clone("Other", overrides={"spam": 1})
    with pytest.raises(pluma.UnitError):
        frozen.clone("Other", overrides={"span": "3 kg"})
    with pytest.raises(pluma.InvalidInputError, match="unknown argument"):
        frozen.clone("Other", colour="red")
    with pytest.raises(pluma.StateError, match="ITAR"):
        frozen.clone("Other", classification="ITAR")
    ana_view = open_ws("ana").frozen(frozen.ref)
    with pytest.raises(pluma.AccessDenied, match="workspace admin"):
        ana_view.clone("Other")
    assert "Other" not in open_ws("admin").program_names()


def test_diff_params_datasets_to_the_chunk_and_artifacts(open_ws, frozen):
    region = frozen.dataset("wing_loads").isel(y=slice(100, 200)).load() + 1.0
    child = frozen.clone("AMPEL360-F", overrides={"span": 38.0}, dataset_overrides={"wing_loads": region})
    ctx = open_ws("ana").program("AMPEL360-F").context
    ctx.set_params(ld_required=16.0)
    ctx.attach("sizing_sheet", b"<h1>sizing v2</h1>")
    d = pluma.diff(frozen, child.context)
    assert d.params["changed"]["span"]["old"] == CAD_PARAMS["span"] and d.params["changed"]["span"]["new"] == 38.0
    assert d.params["changed"]["span"]["unit"] == "m"
    assert list(d.params["added"]) == ["ld_required"] and d.params["removed"] == {}
    assert d.datasets["changed"]["wing_loads"]["arrays"]["lift_per_span"]["chunks"] == [[1, 0]]
    assert d.artifacts["changed"] == ["sizing_sheet"]
    assert "span" in d.summary() and "1 chunk(s) differ" in d._repr_html_()
    back = pluma.diff(child.context, frozen)
    assert back.params["removed"] == {"ld_required": {"value": 16.0, "unit": "1"}}
    assert pluma.diff(frozen, frozen).is_empty


def test_diff_without_shared_history_needs_deep_to_see_equal_bytes(open_ws, frozen):
    admin = open_ws("admin")
    admin.create_program("Other", members={"ana": ["engineer"]})
    other = open_ws("ana").program("Other")
    other.context.put_dataset("wing_loads", frozen.dataset("wing_loads").load())
    other.context.set_params(span=CAD_PARAMS["span"])
    shallow = pluma.diff(frozen, other.context)
    assert len(shallow.datasets["changed"]["wing_loads"]["arrays"]["lift_per_span"]["chunks"]) == 4
    deep = pluma.diff(frozen, other.context, deep=True)
    assert "wing_loads" not in deep.datasets["changed"]  # same bytes, written twice
    span = deep.params["changed"]["span"]  # same value; only the label differs (programs' ceilings)
    assert span["old"] == span["new"] and (span["old_label"], span["label"]) == ("EAR99", "PUBLIC")
    assert set(deep.params["removed"]) == set(CAD_PARAMS) - {"span"}
    assert deep.datasets["removed"] == ["mass_breakdown"] and deep.artifacts["removed"] == ["sizing_sheet"]


def test_diff_and_clone_need_read_access(open_ws, frozen):
    open_ws("admin").create_program("Secret", members={"zed": ["engineer"]})
    zed_ctx = open_ws("zed").program("Secret").context
    with pytest.raises(pluma.AccessDenied):
        open_ws("zed").frozen(frozen.ref)
    with pytest.raises(pluma.AccessDenied):
        open_ws("zed").program("AMPEL360")
    ana_ctx = open_ws("ana").program("AMPEL360").context
    # whoever asks (the first context's user) must be able to read both sides
    with pytest.raises(pluma.AccessDenied, match="zed may not read"):
        pluma.diff(zed_ctx, ana_ctx)
    with pytest.raises(pluma.AccessDenied, match="ana may not read"):
        pluma.diff(ana_ctx, zed_ctx)
    with pytest.raises(pluma.InvalidInputError, match="compares contexts"):
        pluma.diff(frozen, {"span": 1})


def test_query_filters_with_the_expression_language(open_ws, frozen):
    admin = open_ws("admin")
    for name, span, mach in (("B2", 28.0, 0.70), ("C3", 40.0, 0.85)):
        make_program(admin, name)
        ana = open_ws("ana").program(name)
        fill_cad(ana.context)
        ana.context.set_params(span=span, aspect_ratio=span**2 / CAD_PARAMS["wing_area"], cruise_mach=mach)
        raj = open_ws("raj").program(name)
        raj.gate().approve()
        raj.advance()
    ws = open_ws("ana")
    df = ws.query(phase="CAD", params=["span", "cruise_mach"], where="span > 30 and cruise_mach < 0.8")
    assert list(df.columns) == ["program", "phase", "ref", "id", "frozen_at", "frozen_by", "span", "cruise_mach"]
    assert df["ref"].tolist() == ["AMPEL360@CAD#1"]
    assert ws.query(where="span > 100 ft")["program"].tolist() == ["AMPEL360", "C3"]
    assert ws.query(program="b2", params="span")["span"].tolist() == [28.0]
    assert ws.query(phase="CAE").empty
    assert len(ws.query(since="2000-01-01", until="2999-01-01")) == 3
    assert ws.query(where="flutter_speed > 0").empty  # rows lacking the parameter are left out
    row = ws.query(program="C3").iloc[0]
    assert ws.frozen(row["id"]).ref == "C3@CAD#1" and row["frozen_by"] == "raj"
    with pytest.raises(pluma.ExpressionError):
        ws.query(where="span >")
    with pytest.raises(pluma.InvalidInputError, match="ISO"):
        ws.query(since="last tuesday")
    with pytest.raises(pluma.InvalidInputError, match="unknown phase"):
        ws.query(phase="XYZ")
    assert open_ws("stranger").query().empty
    open_ws("admin").create_program("Hidden", members={"zed": ["engineer"]})
    assert "Hidden" not in set(open_ws("ana").query()["program"])


def test_index_heals_and_rebuilds(open_ws, frozen):
    from pluma.query import FrozenIndex
    from pluma.query.index import INDEX_BRANCH

    ws = open_ws("admin")
    enclave = ws._enclave("default")
    # lose the index entirely (as if the index commit never happened): queries heal it
    enclave.update(INDEX_BRANCH, lambda txn: txn.delete("index/ampel360"), message="drop",
                   metadata={"author": "test", "kind": "test"})
    assert [e["ref"] for e in FrozenIndex(ws).entries()] == []
    assert ws.query()["ref"].tolist() == ["AMPEL360@CAD#1"]
    assert ws.reindex() == 1
    with pytest.raises(pluma.AccessDenied):
        open_ws("ana").reindex()


def test_frozen_references(open_ws, frozen):
    ws = open_ws("ana")
    assert ws.frozen("AMPEL360@CAD").id == frozen.id
    assert ws.frozen("ampel360@cad#1").id == frozen.id
    with pytest.raises(pluma.NotFoundError, match="it has: AMPEL360@CAD#1"):
        ws.frozen("AMPEL360@CAE")
    with pytest.raises(pluma.NotFoundError, match="no frozen context with id"):
        ws.frozen("NOTANID")
    with pytest.raises(pluma.InvalidInputError):
        ws.frozen("AMPEL360@CAD#x")
    # references stay stable after a rework: CAD#1 is still the first CAD freeze
    raj = open_ws("raj").program("AMPEL360")
    raj.rework("CAD", reason="again")
    raj.context.set_params(mtow=77000.0)
    open_ws("admin").program("AMPEL360").set_member("ann", ["chief_engineer"])
    open_ws("ann").program("AMPEL360").gate().approve()
    second = raj.advance()
    assert second.ref == "AMPEL360@CAD#2"
    assert ws.frozen("AMPEL360@CAD").id == second.id and ws.frozen("AMPEL360@CAD#1").id == frozen.id


def test_clone_cannot_lower_the_ceiling_below_item_labels(open_ws, frozen):
    with pytest.raises(pluma.InvalidInputError, match="labelled EAR99, above that ceiling"):
        frozen.clone("Public", classification="PUBLIC")
    assert "Public" not in open_ws("admin").program_names()
