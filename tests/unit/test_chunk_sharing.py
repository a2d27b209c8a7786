"""Writing a dataset over a stored one writes only the chunks whose values change
(pluma.memory.chunks): regions located through their index coordinate (with or
without the evenly-spaced hint kept in the manifest), partial chunks, attributes,
0-d variables, and the layouts that must replace the dataset instead."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pluma
from pluma.memory.chunks import index_ranges
from tests.conftest import make_program


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return pluma.open(tmp_path_factory.mktemp("chunks") / "ws", user="admin")


@pytest.fixture(scope="module")
def program(workspace):
    return make_program(workspace, members={"admin": ["engineer"]})


_programs = itertools.count()


def _index(kind: str, n: int, start: int, step: int):
    if kind == "int":
        return start + step * np.arange(n)
    if kind == "date":
        return np.datetime64("2026-01-01") + (start + step * np.arange(n)).astype("timedelta64[D]")
    # uneven floats: no hint, the stored coordinate is searched
    return np.cumsum(np.linspace(0.5, 1.5, n)) + start


def _changed_chunks(old: np.ndarray, new: np.ndarray, rows: int) -> list[list[int]]:
    out = []
    for c in range(-(-old.shape[0] // rows)):
        if not np.array_equal(old[c * rows:(c + 1) * rows], new[c * rows:(c + 1) * rows]):
            out.append([c, 0])
    return out


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(2, 40),
    cols=st.integers(1, 3),
    rows=st.integers(1, 12),
    kind=st.sampled_from(["int", "date", "float"]),
    start=st.integers(-50, 50),
    step=st.sampled_from([1, 3, -2]),
    region=st.tuples(st.integers(0, 39), st.integers(1, 40)),
    seed=st.integers(0, 2**16),
)
def test_a_region_writes_exactly_the_chunks_whose_values_change(workspace, n, cols, rows, kind, start, step,
                                                                 region, seed):
    rng = np.random.default_rng(seed)
    # a program per example: an earlier, larger dataset would make this one a region of it
    program = make_program(workspace, f"P{next(_programs)}", members={"admin": ["engineer"]})
    name = "loads"
    x = _index(kind, n, start, step)
    base = xr.Dataset({"v": (("x", "y"), rng.random((n, cols)))}, coords={"x": x, "y": np.arange(cols)})
    base["v"].encoding["chunks"] = (min(rows, n), cols)
    ctx = program.context
    ctx.put_dataset(name, base, message="base")
    info = program.context.dataset_info(name)
    assert ("index" in info and "x" in info["index"]) == (kind == "int")
    before = program.context

    a = min(region[0], n - 1)
    b = min(n, a + region[1])
    part = base.isel(x=slice(a, b)).copy(deep=True)
    if rng.random() < 0.7:  # change some values, or none at all
        part["v"].values[rng.random(part["v"].shape) < 0.5] = -1.0
    program.context.put_dataset(name, part, message="region")
    after = program.context
    expected = base["v"].values.copy()
    expected[a:b] = part["v"].values
    back = after.dataset(name).load()
    if kind == "date":
        expected, x = part["v"].values, part["x"].values
    np.testing.assert_array_equal(back["v"].values, expected)
    np.testing.assert_array_equal(back["x"].values, x)
    if kind == "date":  # dates are stored encoded (CF): such a dataset is replaced, whole or region
        assert after.dataset_info(name)["write"] == "replace"
        return
    assert after.dataset_info(name)["write"] == ("region" if b - a < n else "chunks")
    changed = _changed_chunks(base["v"].values, expected, min(rows, n))
    d = pluma.diff(before, after).datasets["changed"].get(name, {}).get("arrays", {})
    assert d.get("v", {}).get("chunks", []) == changed
    assert set(d) <= {"v"}  # the coordinates are never rewritten


def test_a_wrong_index_hint_is_checked_and_the_region_still_found(program):
    """The hint only says where to look: the stored values it points at must match."""
    x = np.arange(100)
    ds = xr.Dataset({"v": ("x", np.arange(100.0))}, coords={"x": x})
    ds["v"].encoding["chunks"] = (10,)
    enclave = program._enclave
    branch = f"programs/{program.name.lower()}"

    def write(txn):
        txn.put_dataset("data/hinted", ds)

    enclave.update(branch, write, message="t", metadata={})
    part = ds.isel(x=slice(30, 40)).copy(deep=True)
    part["v"][:] = -5.0
    wrong = {"x": {"start": 10, "step": 1, "size": 100}}  # would put the region at 20:30

    def region(txn):
        return txn.put_dataset("data/hinted", part, None, wrong)

    _, (mode, _) = enclave.update(branch, region, message="t", metadata={})
    assert mode == "region"
    back = enclave.snapshot(branch=branch).dataset("data/hinted").load()
    assert (back["v"].values[30:40] == -5.0).all() and back["v"].values[20] == 20.0


def test_same_layout_updates_attributes_and_0d_variables(program):
    ds = xr.Dataset({"v": ("x", np.arange(6.0), {"units": "N"}), "scale": ((), 2.0)}, coords={"x": np.arange(6)},
                    attrs={"case": "A"})
    ctx = program.context
    ctx.put_dataset("attrs", ds)
    new = ds.copy(deep=True)
    new["v"].attrs["units"] = "kN"
    new.attrs["case"] = "B"
    new["scale"] = 3.0
    program.context.put_dataset("attrs", new)
    info = program.context.dataset_info("attrs")
    back = program.context.dataset("attrs").load()
    assert info["write"] == "chunks"
    assert back.attrs["case"] == "B" and back["v"].attrs["units"] == "kN" and float(back["scale"]) == 3.0
    np.testing.assert_array_equal(back["v"].values, np.arange(6.0))


@pytest.mark.parametrize("change", ["extra stored variable", "new dtype", "longer", "shifted index"])
def test_layouts_that_differ_replace_the_dataset(program, change):
    ds = xr.Dataset({"a": ("x", np.arange(8.0)), "b": ("x", np.ones(8))}, coords={"x": np.arange(8)})
    name = "layout_" + change.replace(" ", "_")
    program.context.put_dataset(name, ds)
    new = {
        "extra stored variable": ds.drop_vars("b"),
        "new dtype": ds.astype("float32"),
        "longer": xr.Dataset({"a": ("x", np.arange(9.0)), "b": ("x", np.ones(9))}, coords={"x": np.arange(9)}),
        "shifted index": ds.isel(x=slice(2, 5)).assign_coords(x=[20, 21, 22]),
    }[change]
    program.context.put_dataset(name, new)
    assert program.context.dataset_info(name)["write"] == "replace"
    back = program.context.dataset(name).load()
    assert set(back.data_vars) == set(new.data_vars) and back.sizes == new.sizes


def test_index_ranges_records_only_evenly_spaced_integer_indexes():
    ds = xr.Dataset(
        {"v": (("t", "k", "f"), np.zeros((3, 2, 2)))},
        coords={"t": np.array(["2026-01-01", "2026-01-03", "2026-01-05"], dtype="datetime64[ns]"),
                "k": [5, 9], "f": [0.1, 0.2]},
    )
    ranges = index_ranges(ds)
    assert ranges == {"k": {"start": 5, "step": 4, "size": 2}}  # dates and floats: searched, not computed
    assert index_ranges(ds.assign_coords(k=[5, 5])) == {}
    assert index_ranges(ds.assign_coords(k=[5, 7]).isel(t=[0, 2, 1]))["k"]["step"] == 2


def test_sharded_arrays_are_written_shard_by_shard(program):
    """A sharded array stores one object per shard: a region writes the shards it changes."""
    ds = xr.Dataset({"v": ("x", np.arange(64.0))}, coords={"x": np.arange(64)})
    ds["v"].encoding.update(chunks=(4,), shards=(16,))
    program.context.put_dataset("sharded", ds)
    before = program.context
    for start, stop in [(16, 32), (20, 25)]:  # a whole shard, then part of one
        part = ds.isel(x=slice(start, stop)).copy(deep=True)
        part["v"][:] = -float(stop)
        program.context.put_dataset("sharded", part)
        assert program.context.dataset_info("sharded")["write"] == "region"
    back = program.context.dataset("sharded").load()["v"].values
    expected = np.arange(64.0)
    expected[16:32] = -32.0
    expected[20:25] = -25.0
    np.testing.assert_array_equal(back, expected)
    changed = pluma.diff(before, program.context).datasets["changed"]["sharded"]["arrays"]
    assert changed == {"v": {"chunks": [[1]]}}  # the one shard that changed
