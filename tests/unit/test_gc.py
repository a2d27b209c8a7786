"""Retention: ``gc --older-than`` expires working-context history, never a frozen
context, and garbage collection never removes what a tag or a branch tip needs.
A dry run reports exactly what ``--apply`` then does, and changes nothing."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

import pluma
from pluma.cli import cli
from pluma.integrity import fsck, gc, parse_duration
from pluma.integrity.objects import ObjectStore
from tests.conftest import fill_cad, make_program


def field(seed: int) -> xr.Dataset:
    values = np.random.default_rng(seed).normal(size=(32, 32))
    return xr.Dataset({"cp": (("x", "y"), values)}).chunk({"x": 16, "y": 16})


@pytest.fixture
def busy_ws(local_ws):
    """AMPEL360: many working commits overwriting chunks, a CAD freeze, more commits after it."""
    ws = local_ws()
    make_program(ws)
    ana, raj = ws.as_user("ana").program("AMPEL360"), ws.as_user("raj").program("AMPEL360")
    fill_cad(ana.context)
    for seed in range(4):
        ana.context.put_dataset("pressure", field(seed))
        ana.context.set_params(mtow=78000.0 + seed)
    raj.gate().approve(role="chief_engineer")
    raj.advance(message="CAD")
    for seed in range(4, 7):
        ana.context.put_dataset("pressure", field(seed))
        ana.context.set_params(oew=42600.0 + seed)
    time.sleep(0.05)
    return ws


def state(ws: pluma.Workspace) -> dict:
    enclave = ws._enclave("default")
    return {"tags": {t: enclave.lookup_tag(t) for t in enclave.tags()},
            "branches": {b: enclave.tip(b) for b in enclave.branches()},
            "objects": sorted(ObjectStore.for_root(ws.root).enclave_objects("default"))}


def test_dry_run_changes_nothing_and_apply_does_what_it_said(busy_ws):
    ws = busy_ws
    ana = ws.as_user("ana").program("AMPEL360")
    before = state(ws)
    history = len(ana.context.log())
    working = ana.context.dataset("pressure")["cp"].values.copy()
    diff_before = pluma.diff(ws.frozen("AMPEL360@CAD#1"), ana.context, deep=True).to_dict()
    assert diff_before["params"]["changed"]["oew"]["new"] == 42606.0 and diff_before["datasets"]
    plan = gc(ws, "0s", grace="0s")
    assert not plan.applied and plan.snapshots_expired > 0 and plan.bytes_deleted > 0
    assert plan.enclaves[0].chunks_deleted > 0  # overwritten working chunks would go
    assert state(ws) == before and len(ana.context.log()) == history
    done = gc(ws, "0s", grace="0s", apply=True)
    assert done.applied
    assert [e.expired for e in done.enclaves] == [e.expired for e in plan.enclaves]
    assert done.bytes_deleted == plan.bytes_deleted and done.objects_deleted == plan.objects_deleted
    after = state(ws)
    assert after["tags"] == before["tags"] and after["branches"] == before["branches"]
    assert len(after["objects"]) < len(before["objects"])
    # frozen contexts still open and verify; working contexts still read
    report = fsck(ws)
    assert report.ok and report.frozen_checked == 1, report.summary()
    frozen = ws.frozen("AMPEL360@CAD#1")
    assert frozen.params["mtow"] == 78003.0
    np.testing.assert_array_equal(frozen.dataset("pressure")["cp"].values, field(3)["cp"].values)
    np.testing.assert_array_equal(ana.context.dataset("pressure")["cp"].values, working)
    assert ana.context.params["oew"] == 42606.0
    assert len(ana.context.log()) < history
    assert ws.query(phase="CAD", params=["mtow"])["mtow"].tolist() == [78003.0]
    assert pluma.diff(frozen, ana.context, deep=True).to_dict() == diff_before  # across expired history
    # the workspace keeps working, and a second run has nothing left to do
    ana.context.set_params(oew=43000.0)
    assert ana.context.params["oew"] == 43000.0
    gc(ws, "0s", grace="0s", apply=True)
    assert fsck(ws).ok and ana.context.params["oew"] == 43000.0 and ws.frozen("AMPEL360@CAD#1").params["oew"] == 42600.0


def test_nothing_recent_is_expired_and_grace_protects_young_objects(busy_ws):
    before = state(busy_ws)
    assert gc(busy_ws, "30d", apply=True).snapshots_expired == 0
    young = gc(busy_ws, "0s", apply=True)  # default grace: 1 hour
    assert young.snapshots_expired > 0 and young.bytes_deleted == 0
    assert set(state(busy_ws)["objects"]) >= set(before["objects"])  # nothing deleted
    assert fsck(busy_ws).ok


def test_admin_only_and_bad_durations(busy_ws):
    with pytest.raises(pluma.AccessDenied, match="admin"):
        gc(busy_ws.as_user("ana"), "30d")
    for bad in ("30", "thirty days", "-3d", "", "5y"):
        with pytest.raises(pluma.InvalidInputError, match="duration"):
            gc(busy_ws, bad)
    assert parse_duration("2w").days == 14 and parse_duration("90m").total_seconds() == 5400


def test_cli_gc_dry_run_then_apply(busy_ws):
    home = str(busy_ws.root.location)
    run = CliRunner().invoke
    out = run(cli, ["--home", home, "--user", "admin", "gc", "--older-than", "0s", "--grace", "0s"])
    assert out.exit_code == 0, out.output
    assert "dry run" in out.output and "--apply" in out.output
    objects = state(busy_ws)["objects"]
    out = run(cli, ["--home", home, "--user", "admin", "gc", "--older-than", "0s", "--grace", "0s", "--apply",
                    "--json"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.output)
    assert body["applied"] and body["snapshots_expired"] > 0 and body["objects_deleted"] > 0
    assert len(state(busy_ws)["objects"]) < len(objects)
    out = run(cli, ["--home", home, "--user", "ana", "gc", "--older-than", "30d"])
    assert out.exit_code == 3
    out = run(cli, ["--home", home, "--user", "admin", "gc", "--older-than", "soon"])
    assert out.exit_code == 2 and "duration" in out.output
