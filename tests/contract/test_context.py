"""Working contexts: typed parameters with units, datasets, artifacts, provenance,
transactions and optimistic concurrency — on local storage and on S3."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import pluma
from tests.conftest import CAD_PARAMS, fill_cad, make_program, mass_breakdown


@pytest.fixture
def ana(open_ws):
    make_program(open_ws("admin"))
    return open_ws("ana").program("AMPEL360")


def test_params_convert_to_declared_units_and_keep_provenance(ana):
    ctx = ana.context
    ctx.set_params(span=36.0, cruise_mach=0.78, message="initial sizing")
    ctx.set_params(span="118 ft", label="EAR99")
    assert ctx.params["span"] == pytest.approx(35.9664)
    info = ctx.params.info("span")
    assert info.unit == "m" and info.label == "EAR99" and info.author == "ana"
    assert info.source == "user"
    assert ana.context.params["cruise_mach"] == 0.78
    assert ana.context.params.info("cruise_mach").message == "initial sizing"
    ctx.set_params(design_range="3400 nmi")
    assert ctx.params["design_range"] == pytest.approx(6296.8, rel=1e-4)  # km


@pytest.mark.parametrize(
    "values, error, message",
    [
        ({"spam": 3.0}, pluma.InvalidInputError, "unknown parameter 'spam'"),
        ({"spna": 3.0}, pluma.InvalidInputError, "did you mean span"),
        ({"span": "30 kg"}, pluma.UnitError, "cannot be converted to 'm'"),
        ({"span": "thirty"}, pluma.UnitError, "cannot read 'thirty'"),
        ({"span": -4.0}, pluma.InvalidInputError, "below its minimum"),
        ({"span": float("nan")}, pluma.InvalidInputError, "finite"),
        ({"dal": "F"}, pluma.InvalidInputError, "must be one of A, B, C, D, E"),
        ({"analysis_converged": 3}, pluma.InvalidInputError, "boolean"),
        ({"open_nonconformances": 2.5}, pluma.InvalidInputError, "whole number"),
    ],
)
def test_bad_params_are_refused_and_nothing_is_written(ana, values, error, message):
    ctx = ana.context
    ctx.set_params(span=30.0)
    before = [c.id for c in ctx.log()]
    with pytest.raises(error, match=message):
        ctx.set_params(**values)
    assert [c.id for c in ana.context.log()] == before
    assert dict(ana.context.params) == {"span": 30.0}


def test_reserved_names_and_labels_above_the_ceiling(ana):
    ctx = ana.context
    with pytest.raises(pluma.InvalidInputError, match="above program AMPEL360's classification ceiling EAR99"):
        ctx.set_params(span=30.0, label="ITAR")
    with pytest.raises(pluma.InvalidInputError, match="unknown label"):
        ctx.set_params(span=30.0, label="TOPSECRET")
    with pytest.raises(pluma.InvalidInputError, match="reserved"):
        ana.declare_params({"message": {"type": "float"}})  # engineers may not declare either
    ctx.set_params(span=30.0)
    assert ctx.params.info("span").label == "EAR99"  # default: the program's classification


def test_datasets_round_trip_and_artifacts_keep_their_bytes(ana, tmp_path):
    ctx = ana.context
    y = np.linspace(0, 17.9, 12)
    ds = xr.Dataset({"lift_per_span": ("y", 5e4 * np.sqrt(1 - (y / 17.9) ** 2), {"units": "N/m"})},
                    coords={"y": ("y", y, {"units": "m"})}, attrs={"source": "elliptic"})
    ctx.put_dataset("wing_loads", ds, message="loads v1")
    back = ana.context.dataset("wing_loads").load()
    xr.testing.assert_identical(back, ds)
    report = tmp_path / "report.html"
    report.write_text("<h1>CAD sizing</h1>")
    ctx.attach("sizing_report", report)
    assert ana.context.artifact("sizing_report") == b"<h1>CAD sizing</h1>"
    info = ana.context.artifact_info("sizing_report")
    assert info["media_type"] == "text/html" and info["size"] == 19 and len(info["sha256"]) == 64
    with pytest.raises(pluma.NotFoundError, match="it has: wing_loads"):
        ana.context.dataset("polars")
    with pytest.raises(pluma.InvalidInputError, match="must be an xarray.Dataset"):
        ctx.put_dataset("bad", {"a": 1})
    with pytest.raises(pluma.InvalidInputError, match="not a readable file"):
        ctx.attach("missing", tmp_path / "nope.txt")


def test_a_transaction_is_one_commit_and_a_failed_one_leaves_nothing(ana):
    ctx = ana.context
    n0 = len(ctx.log())
    with ctx.transaction(message="sizing loop 3") as tx:
        tx.set_params(mtow=74_000.0)
        tx.put_dataset("mass_breakdown", mass_breakdown())
    log = ana.context.log()
    assert len(log) == n0 + 1 and log[0].message == "sizing loop 3" and log[0].author == "ana"
    with pytest.raises(pluma.InvalidInputError):
        with ctx.transaction(message="broken") as tx:
            tx.set_params(oew=40_000.0)
            tx.set_params(bogus=1.0)
    with pytest.raises(RuntimeError):
        with ctx.transaction(message="interrupted") as tx:
            tx.set_params(oew=40_000.0)
            raise RuntimeError("kernel interrupted")
    assert len(ana.context.log()) == n0 + 1
    assert "oew" not in ana.context.params


def test_concurrent_change_of_the_same_item_is_a_conflict_naming_who(open_ws, ana):
    c1 = ana.context
    raj = open_ws("raj").program("AMPEL360")
    c2 = raj.context
    c2.set_params(span=36.0, message="raj's sizing")
    with pytest.raises(pluma.ConflictError, match="changed by raj .*at .*raj.s sizing"):
        c1.set_params(span=35.0)
    # a different item is not a conflict: optimistic concurrency, never a silent overwrite
    c1.set_params(mtow=78_000.0)
    assert ana.context.params["span"] == 36.0
    c1.refresh()
    c1.set_params(span=35.0)
    assert ana.context.params["span"] == 35.0


def test_every_commit_has_an_author_and_time_travel_reads_the_past(ana):
    ctx = ana.context
    ctx.set_params(span=30.0)
    first = ctx.log()[0].id
    ctx.set_params(span=31.0)
    assert ctx.at(first).params["span"] == 30.0
    assert all(c.author for c in ctx.log())
    with pytest.raises(pluma.InvalidInputError, match="not in the history"):
        ctx.at("NOTACOMMIT")


def test_declared_params_and_access(open_ws, ana):
    raj = open_ws("raj").program("AMPEL360")
    raj.declare_params({"battery_energy": {"type": "float", "unit": "kWh", "min": 0, "description": "pack"}})
    ctx = ana.context
    ctx.set_params(battery_energy="3.6 GJ")
    assert ctx.params["battery_energy"] == pytest.approx(1000.0)
    with pytest.raises(pluma.UnitError, match="unknown unit"):
        raj.declare_params({"x1": {"unit": "furlongz"}})
    with pytest.raises(pluma.InvalidInputError, match="in the shared vocabulary already"):
        raj.declare_params({"span": {"unit": "m"}})
    with pytest.raises(pluma.AccessDenied, match="declare program parameters"):
        ana.declare_params({"x2": {"unit": "m"}})


def test_viewers_read_but_do_not_write(open_ws, ana):
    ana.context.set_params(**CAD_PARAMS)
    open_ws("pam").program("AMPEL360").set_member("vic", "viewer")
    vic = open_ws("vic").program("AMPEL360")
    assert vic.context.params["span"] == CAD_PARAMS["span"]
    with pytest.raises(pluma.AccessDenied, match="vic may not change the working context on AMPEL360: needs chief_engineer or engineer"):
        vic.context.set_params(span=1.0)
    admin = open_ws("admin").program("AMPEL360")  # admins read every (non-ITAR) program
    assert admin.context.params["span"] == CAD_PARAMS["span"]
    with pytest.raises(pluma.AccessDenied):
        admin.context.set_params(span=1.0)
    with pytest.raises(pluma.AccessDenied):
        open_ws("stranger").program("AMPEL360")


def test_fill_cad_helper_makes_a_complete_cad_context(ana):
    fill_cad(ana.context)
    ctx = ana.context
    assert set(CAD_PARAMS) <= set(ctx.params) and ctx.datasets == ["mass_breakdown"]


def test_put_dataset_writes_only_what_changed(ana):
    ctx = ana.context
    y = np.arange(400.0)
    ds = xr.Dataset({"shear": ("y", np.sin(y)), "moment": ("y", np.cos(y))}, coords={"y": y}).chunk({"y": 100})
    ctx.put_dataset("loads", ds)
    first = ana.context
    changed = ds.load().copy(deep=True)
    changed["shear"][250] = 9.0
    ctx.put_dataset("loads", changed)
    d = pluma.diff(first, ana.context)
    assert d.datasets["changed"]["loads"]["arrays"] == {"shear": {"chunks": [[2]]}}
    # a region (located by its index coordinate) updates only the chunks it changes
    second = ana.context
    region = changed.isel(y=slice(120, 180)).load().copy(deep=True)
    region["moment"][:] = 0.0
    ctx.put_dataset("loads", region, message="moment region")
    assert ana.context.dataset_info("loads")["write"] == "region"
    d = pluma.diff(second, ana.context)
    assert d.datasets["changed"]["loads"]["arrays"] == {"moment": {"chunks": [[1]]}}
    back = ana.context.dataset("loads").load()
    assert back.sizes["y"] == 400 and float(back["moment"][150]) == 0.0 and float(back["shear"][250]) == 9.0
    # a region that does not sit on the stored coordinates replaces nothing silently: it is a new layout
    shifted = region.assign_coords(y=region["y"] + 0.5)
    ctx.put_dataset("loads", shifted)
    assert ana.context.dataset("loads").sizes["y"] == 60
