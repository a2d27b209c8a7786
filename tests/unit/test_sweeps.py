"""Sweeps on a real Dask LocalCluster: grid shape, failures, batching, storing with
provenance and usage, permissions checked before compute, cluster resolution."""

from __future__ import annotations

import itertools
import json
import math
import time

import numpy as np
import pytest

import pluma
from pluma import sweeps
from pluma.errors import AccessDenied, InvalidInputError, MissingDependencyError, NotFoundError, StateError
from pluma.sweeps import registry
from pluma.sweeps.cluster import get_client, resolve_target

import distributed  # noqa: E402  (CI installs every optional part)
import dask  # noqa: E402


# -- analyses run on the workers (module level: they pickle by reference) ---------------
def polar(aspect_ratio: float, taper_ratio: float, alpha_deg: float) -> dict:
    """A thin-wing polar with a taper-dependent span efficiency (closed form)."""
    e = 1.0 / (1.0 + 0.1 * (taper_ratio - 0.35) ** 2 * aspect_ratio)
    cl = 2 * math.pi * math.radians(alpha_deg) * aspect_ratio / (aspect_ratio + 2)
    return {"cl": cl, "cdi": cl**2 / (math.pi * e * aspect_ratio), "e": e}


def flaky(a: int, b: float) -> dict:
    if a == 2 and b > 0.6:
        raise ZeroDivisionError(f"no solution at a={a}, b={b}")
    if a == 3 and b < 0.6:
        return {"s": np.ones(3), "p": 0.0}  # not a scalar: a failure too
    return {"s": a + b, "p": a * b}


def always_fails(x: float) -> dict:
    raise RuntimeError("diverged")


def cheap(x: float) -> dict:
    return {"y": x * x}


def norm(x: float, y: float) -> float:
    return math.hypot(x, y)


def slow_square(x: float) -> dict:
    time.sleep(0.03)
    return {"y": x * x}


def block_slots(event_name: str) -> bool:
    """Hold a worker thread until the test sets the distributed Event ``event_name``."""
    from distributed import Event

    return Event(event_name).wait(60)


GRID = {"aspect_ratio": np.linspace(6, 14, 5), "taper_ratio": [0.3, 0.45, 0.6], "alpha_deg": np.arange(-2, 6)}


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster, set_as_default=False) as c:
        yield c


@pytest.fixture
def no_gateway(monkeypatch):
    monkeypatch.delenv("PLUMA_DASK_GATEWAY", raising=False)
    with dask.config.set({"gateway.address": None}):
        yield


@pytest.fixture
def program(tmp_path):
    ws = pluma.open(tmp_path / "ws", user="admin")
    ws.create_program("AMPEL360", classification="EAR99", domains=["AAA"],
                      members={"ana": ["engineer"], "vic": ["viewer"], "pam": ["program_manager"]})
    return lambda user: pluma.open(tmp_path / "ws", user=user).program("AMPEL360")


def scheduler_transitions(client) -> int:
    return client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_counter)


# -- shape and values ------------------------------------------------------------------
def test_grid_becomes_dims_and_coords_with_the_values_of_a_direct_loop(client):
    ds = sweeps.run(polar, grid=GRID, client=client, progress=False)
    assert ds.cl.dims == ("aspect_ratio", "taper_ratio", "alpha_deg")
    assert ds.sizes == {"aspect_ratio": 5, "taper_ratio": 3, "alpha_deg": 8}
    np.testing.assert_array_equal(ds.aspect_ratio.values, GRID["aspect_ratio"])
    np.testing.assert_array_equal(ds.taper_ratio.values, GRID["taper_ratio"])
    np.testing.assert_array_equal(ds.alpha_deg.values, GRID["alpha_deg"])
    assert set(ds.data_vars) == {"cl", "cdi", "e", "ok"}
    for i, j, k in itertools.product(range(5), range(3), range(8)):
        expected = polar(GRID["aspect_ratio"][i], GRID["taper_ratio"][j], GRID["alpha_deg"][k])
        for key, value in expected.items():
            assert ds[key].values[i, j, k] == pytest.approx(value, rel=1e-12, abs=1e-15)
    assert ds.ok.all() and ds.attrs["errors"] == [] and ds.attrs["sweep"]["failures"] == 0
    # chunked along the first grid axis only
    assert ds.cl.encoding["chunks"][1:] == (3, 8)
    assert ds.attrs["usage"]["cluster"] == "client" and ds.attrs["usage"]["points"] == 120


def test_points_give_a_point_dimension_with_parameter_coordinates(client):
    pts = [{"x": 3.0, "y": 4.0}, {"x": 5.0, "y": 12.0}, {"x": 0.0, "y": 1.0}]
    ds = sweeps.run(norm, points=pts, client=client, progress=False)
    assert ds.result.dims == ("point",)
    np.testing.assert_allclose(ds.result.values, [5.0, 13.0, 1.0])
    np.testing.assert_array_equal(ds.x.values, [3.0, 5.0, 0.0])


def test_failing_points_become_nan_with_recorded_errors_and_the_rest_is_kept(client):
    grid = {"a": [1, 2, 3], "b": [0.5, 0.7]}
    ds = sweeps.run(flaky, grid=grid, client=client, progress=False)
    ok = ds.ok.values
    assert ok.tolist() == [[True, True], [True, False], [False, True]]
    assert np.isnan(ds.s.values[1, 1]) and np.isnan(ds.p.values[1, 1])
    assert np.isnan(ds.s.values[2, 0]) and np.isnan(ds.p.values[2, 0])
    assert ds.s.values[0, 0] == 1.5 and ds.p.values[2, 1] == pytest.approx(2.1)
    errors = ds.attrs["errors"]
    json.dumps(errors)  # JSON-serialisable
    by_point = {(e["point"]["a"], e["point"]["b"]): e for e in errors}
    assert set(by_point) == {(2, 0.7), (3, 0.5)}
    assert by_point[(2, 0.7)]["error"] == "ZeroDivisionError" and "no solution" in by_point[(2, 0.7)]["message"]
    assert by_point[(3, 0.5)]["error"] == "TypeError" and "not a scalar" in by_point[(3, 0.5)]["message"]
    assert ds.attrs["sweep"]["failures"] == 2 == ds.attrs["usage"]["failures"]


def test_a_sweep_where_every_point_fails_says_so_stores_nothing_and_is_metered(client, program):
    prog = program("ana")
    with pytest.raises(InvalidInputError, match="every one of the 3 points.*RuntimeError: diverged") as info:
        sweeps.run(always_fails, grid={"x": [1.0, 2.0, 3.0]}, client=client, program=prog, name="nothing",
                   progress=False)
    assert not info.value.sweep_result.ok.any() and len(info.value.sweep_result.attrs["errors"]) == 3
    assert "nothing" not in prog.context.datasets
    [usage] = sweeps.usage_events(prog)
    assert usage["failures"] == usage["points"] == 3 and usage["bytes_written"] == 0


def test_batching_makes_far_fewer_tasks_than_points(client):
    grid = {"x": np.arange(400.0)}
    ds = sweeps.run(cheap, grid=grid, client=client, progress=False)
    batching = ds.attrs["batching"]
    assert batching["probe_tasks"] == 2 and batching["batch_size"] > 1
    # cheap points: limited by load balance (4 to 8 tasks per core), not one task per point
    assert 4 * batching["cores"] <= batching["tasks"] - batching["probe_tasks"] <= 8 * batching["cores"]
    assert ds.attrs["usage"]["tasks"] == batching["tasks"]
    np.testing.assert_array_equal(ds.y.values, np.arange(400.0) ** 2)

    explicit = sweeps.run(cheap, grid={"x": np.arange(20.0)}, client=client, batch_size=1, progress=False)
    assert explicit.attrs["batching"]["tasks"] == 20 and explicit.attrs["batching"]["probe_tasks"] == 0
    batched = sweeps.run(cheap, grid={"x": np.arange(20.0)}, client=client, batch_size=8, progress=False)
    assert batched.attrs["batching"]["tasks"] == 3


# -- storing, provenance, usage, permissions ---------------------------------------------
def test_stored_in_the_context_with_sweep_provenance_and_a_usage_event(client, program):
    prog = program("ana")
    ds = sweeps.run(polar, grid=GRID, client=client, program=prog, name="wing_polars", progress=False)
    ctx = prog.context
    info = ctx.dataset_info("wing_polars")
    assert info["source"] == "sweep:polar" and info["author"] == "ana"
    stored = ctx.dataset("wing_polars")
    np.testing.assert_allclose(stored.cdi.values, ds.cdi.values)
    assert stored.attrs["sweep"]["function"] == "polar"
    assert ctx.log(limit=2)[1].metadata["source"] == "sweep:polar"

    usage = sweeps.usage_events(prog)
    assert len(usage) == 1
    event = usage[0]
    assert event["phase"] == "CAD" and event["user"] == "ana" and event["dataset"] == "wing_polars"
    assert event["core_seconds"] > 0 and event["points"] == 120 and event["failures"] == 0
    assert event["bytes_written"] > 0 and event["peak_worker_memory_bytes"] > 0
    assert 0 < event["parallel_efficiency"] <= 1.0 and event["cores"] == 2
    assert ds.attrs["usage"] == {k: v for k, v in event.items() if k not in ("time", "user", "kind", "phase")}


def test_the_workers_write_the_results_into_the_context(client, program):
    from distributed import get_task_stream

    prog = program("ana")
    workers = set(client.scheduler_info()["workers"])
    with get_task_stream(client=client) as stream:
        ds = sweeps.run(polar, grid=GRID, client=client, program=prog, name="wing_polars", progress=False)
    ran = {}
    for task in stream.data:
        key = task["key"] if isinstance(task["key"], str) else str(task["key"])
        ran.setdefault(key, task["worker"])
    blocks = {k: w for k, w in ran.items() if k.startswith("pluma-sweep-block")}
    writes = {k: w for k, w in ran.items() if "ice-changeset" in k}  # icechunk's per-chunk session writes
    assert blocks and set(blocks.values()) <= workers      # chunks are assembled on the workers ...
    assert writes and set(writes.values()) <= workers      # ... and written into the store there
    assert ds.attrs["usage"]["written_by"] == "workers"
    stored = prog.context.dataset("wing_polars")
    np.testing.assert_allclose(stored.cl.values, ds.cl.values)
    assert bool(stored.ok.all()) and stored.cl.dims == ("aspect_ratio", "taper_ratio", "alpha_deg")


def test_sweeps_of_several_programs_share_one_cluster_by_weight_and_quota(client, tmp_path):
    import threading

    from pluma.scheduling import FairScheduler

    ws = pluma.open(tmp_path / "fair", user="admin")
    ws.create_program("DEFENSE1", priority="defense", domains=["AAA"], members={"ana": ["engineer"]})
    ws.create_program("PLAIN1", priority="standard", domains=["AAA"], members={"ana": ["engineer"]})
    ws.create_program("CAPPED1", priority="defense", domains=["AAA"], quotas={"cores": 1},
                      members={"ana": ["engineer"]})
    ana = pluma.open(tmp_path / "fair", user="ana")
    grid = {"x": np.arange(30.0)}
    results, errors = {}, []
    with FairScheduler(client) as fs:
        fs.add_tenant("hold", 1.0)
        release = distributed.Event("release-fair-sweeps", client=client)
        blockers = [fs.submit("hold", block_slots, "release-fair-sweeps") for _ in range(fs.slots)]

        def sweep(name):
            try:
                results[name] = sweeps.run(slow_square, grid=grid, program=ana.program(name), name="squares",
                                           scheduler=fs, batch_size=1, progress=False)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=sweep, args=(n,)) for n in ("DEFENSE1", "PLAIN1")]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60  # both programs queue all their batches behind the blockers
        while not all(n in fs.stats() and fs.stats()[n].queued == 30 for n in ("DEFENSE1", "PLAIN1")):
            assert time.monotonic() < deadline and not errors, errors
            time.sleep(0.02)
        release.set()
        for t in threads:
            t.join(60)
        assert all(b.result() for b in blockers)
        log = [n for n in fs.dispatch_log if n != "hold"]
        stats = fs.stats()
        capped = sweeps.run(slow_square, grid={"x": np.arange(6.0)}, program=ana.program("CAPPED1"),
                            scheduler=fs, batch_size=1, progress=False)
        capped_stats = fs.stats()["CAPPED1"]
    assert not errors
    for name in ("DEFENSE1", "PLAIN1"):
        np.testing.assert_allclose(results[name].y.values, grid["x"] ** 2)
        assert ana.program(name).context.dataset("squares").y.values[-1] == 29.0 ** 2
        assert stats[name].completed == 30 and results[name].attrs["batching"]["fair_scheduler"]
    # while both were backlogged, dispatches follow the weights 1.5 : 1.0 (WFQ, equal costs)
    first = log[:25]
    assert abs(first.count("DEFENSE1") - 15) <= 1 and abs(first.count("PLAIN1") - 10) <= 1
    assert max(len(list(g)) for _, g in itertools.groupby(first)) <= 2   # interleaved: nobody starves
    assert capped_stats.in_flight_max == 1 and capped_stats.completed == 6   # the core quota holds
    np.testing.assert_allclose(capped.y.values, np.arange(6.0) ** 2)


def test_a_viewer_cannot_store_a_sweep_and_nothing_is_computed(client, program):
    viewer = program("vic")
    before = scheduler_transitions(client)
    with pytest.raises(AccessDenied, match="viewer"):
        sweeps.run(polar, grid=GRID, client=client, program=viewer, name="wing_polars", progress=False)
    with pytest.raises(AccessDenied):  # usage is recorded in the program too
        sweeps.run(polar, grid=GRID, client=client, program=viewer, progress=False)
    with pytest.raises(InvalidInputError, match="name"):
        sweeps.run(polar, grid=GRID, client=client, program=program("ana"), name="not a name", progress=False)
    with pytest.raises(InvalidInputError, match="program="):
        sweeps.run(polar, grid=GRID, client=client, name="wing_polars", progress=False)
    program("pam").hold("wind tunnel data pending")
    with pytest.raises(StateError, match="on hold"):
        sweeps.run(polar, grid=GRID, client=client, program=program("ana"), name="wing_polars", progress=False)
    assert scheduler_transitions(client) == before
    assert sweeps.usage_events(program("ana")) == []


# -- where it runs ------------------------------------------------------------------------
def test_an_explicit_client_wins_and_is_left_open(client, monkeypatch):
    monkeypatch.setenv("PLUMA_DASK_GATEWAY", "http://127.0.0.1:9")
    assert resolve_target(client) == ("client", client)
    with get_client(client) as c:
        assert c is client
    sweeps.run(cheap, grid={"x": [1.0, 2.0]}, client=client, progress=False)
    assert client.status == "running"
    assert client.submit(sum, [1, 2]).result() == 3


def test_gateway_is_resolved_from_dask_config_and_from_pluma_setting(monkeypatch):
    monkeypatch.delenv("PLUMA_DASK_GATEWAY", raising=False)
    with dask.config.set({"gateway.address": "http://127.0.0.1:8000"}):
        assert resolve_target() == ("gateway", "http://127.0.0.1:8000")
        monkeypatch.setenv("PLUMA_DASK_GATEWAY", "http://127.0.0.1:8001")
        assert resolve_target() == ("gateway", "http://127.0.0.1:8001")
    monkeypatch.delenv("PLUMA_DASK_GATEWAY")
    with dask.config.set({"gateway.address": None}):
        kind, options = resolve_target()
    assert kind == "local" and options["host"] == "127.0.0.1" and options["dashboard_address"].endswith(":0")
    assert options["n_workers"] == 2 and options["threads_per_worker"] == 1 and options["processes"] is True


def test_gateway_configured_without_dask_gateway_installed_is_a_missing_dependency(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dask_gateway", None)  # as on a machine without the package
    monkeypatch.delenv("PLUMA_DASK_GATEWAY", raising=False)
    with dask.config.set({"gateway.address": "http://127.0.0.1:9"}):
        with pytest.raises(MissingDependencyError, match="pip install.*dask-gateway"):
            with get_client():
                pass
        with pytest.raises(MissingDependencyError):
            sweeps.run(cheap, grid={"x": [1.0]}, progress=False)


def test_embedded_local_cluster_through_the_cli_is_started_and_closed(program, tmp_path, no_gateway):
    import psutil
    from click.testing import CliRunner

    from pluma.cli import cli

    program("ana")  # the workspace and program exist
    registry.register("toy_polar", polar, replace=True)
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "ws"), "--user", "ana", "sweep", "run", "toy_polar",
                                      "--program", "AMPEL360", "--grid", "aspect_ratio=6:14:3",
                                      "--grid", "taper_ratio=0.3,0.6", "--grid", "alpha_deg=4", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["dims"] == {"aspect_ratio": 3, "taper_ratio": 2, "alpha_deg": 1}
    assert out["usage"]["cluster"] == "local" and out["usage"]["cores"] == 2 and out["dataset"] == "toy_polar"
    stored = program("ana").context.dataset("toy_polar")
    np.testing.assert_allclose(stored.aspect_ratio.values, [6.0, 10.0, 14.0])
    deadline = time.monotonic() + 10
    while {p.pid for p in psutil.Process().children(recursive=True)} - children and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not {p.pid for p in psutil.Process().children(recursive=True)} - children  # the cluster is gone


# -- the registry and the command line ----------------------------------------------------
def test_registry_resolves_names_only_and_lists_what_exists():
    registry.register("toy_norm", norm, replace=True)
    assert registry.get("toy_norm") is norm and "toy_norm" in registry.available()
    with pytest.raises(NotFoundError, match="toy_norm"):
        registry.get("os.system")
    with pytest.raises(InvalidInputError):
        registry.register("toy_norm", cheap)
    with pytest.raises(InvalidInputError):
        registry.register("pkg.module:func", cheap)


def test_cli_grid_syntax_and_unknown_function(tmp_path):
    from click.testing import CliRunner

    from pluma.cli import cli
    from pluma.cli.sweeps import parse_axis

    assert parse_axis("aspect_ratio=6:14:9") == ("aspect_ratio", [6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0])
    assert parse_axis("taper_ratio=0.3,0.45,0.6") == ("taper_ratio", [0.3, 0.45, 0.6])
    assert parse_axis("planform=tapered,elliptic") == ("planform", ["tapered", "elliptic"])
    pluma.open(tmp_path / "ws", user="admin")
    runner = CliRunner()
    bad = runner.invoke(cli, ["--home", str(tmp_path / "ws"), "sweep", "run", "toy", "--grid", "a=1:2"])
    assert bad.exit_code == 2 and "START:STOP:COUNT" in bad.output
    unknown = runner.invoke(cli, ["--home", str(tmp_path / "ws"), "sweep", "run", "os.system", "--grid", "a=1"])
    assert unknown.exit_code == 4 and "available:" in unknown.stderr


def test_progress_bar_choices(capsys):
    from pluma.sweeps.runner import _Progress

    bar = _Progress(3, "toy", "rich")
    bar.advance(2)
    bar.advance(1)
    bar.close()
    assert "3/3" in capsys.readouterr().err
    assert _Progress(3, "toy", True)._rich is None  # not a terminal, not a notebook: no bar
    with pytest.raises(InvalidInputError, match="progress"):
        _Progress(3, "toy", "loud")
