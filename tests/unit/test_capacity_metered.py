"""The workspace's own metered usage becomes capacity history (issue 8, point 1)."""

from __future__ import annotations

import numpy as np
import pytest

import pluma
from pluma.capacity.history import RESOURCES, generate_history
from pluma.capacity.metered import history_for, workspace_history
from pluma.capacity.model import CapacityModel
from pluma.sweeps.metering import record_usage
from tests.conftest import fill_cad, make_program


@pytest.fixture(scope="module")
def metered(tmp_path_factory):
    root = tmp_path_factory.mktemp("metered") / "ws"
    admin = pluma.open(root, user="admin")
    make_program(admin, "M1")
    ana = pluma.open(root, user="ana").program("M1")
    fill_cad(ana.context)
    record_usage(ana, {"points": 100, "core_seconds": 7200.0, "wall_seconds": 3700.0, "cores": 2,
                       "peak_worker_memory_bytes": 2_000_000_000})
    record_usage(ana, {"points": 50, "core_seconds": 3600.0, "wall_seconds": 1900.0, "cores": 4,
                       "peak_worker_memory_bytes": 1_000_000_000, "qubits": 8})
    raj = pluma.open(root, user="raj").program("M1")
    raj.gate().approve()
    raj.advance()  # CAD is now behind M1: its usage is history
    record_usage(ana, {"points": 10, "core_seconds": 36.0, "wall_seconds": 20.0, "cores": 2})  # CAE, still open
    make_program(admin, "M2")  # never frozen: no rows
    return root


def test_a_frozen_phase_with_metered_sweeps_becomes_a_history_row(metered):
    rows = workspace_history(pluma.open(metered, user="admin"))
    assert list(rows["program"]) == ["ws:M1"] and list(rows["phase"]) == ["CAD"]
    row = rows.iloc[0]
    assert row["core_hours"] == pytest.approx(3.0) and row["cores"] == 4 and row["sweep_points"] == 150
    assert row["memory_gb"] == pytest.approx(4.0) and row["qubits"] == 8   # 2 GB x 2 cores; widest quantum job
    assert np.isnan(row["gpu_hours"])                                    # not metered: missing, never 0
    assert row["storage_tb"] > 0 and row["dataset_gb"] > 0
    assert row["template_runs"] == 0


def test_the_model_learns_from_shipped_and_metered_rows_together(metered):
    ws = pluma.open(metered, user="admin")
    base = generate_history(n_programs=60, seed=2)
    both = history_for(ws, base)
    assert len(both) == len(base) + 1 and both["gpu_hours"].isna().sum() == 1
    model = CapacityModel(max_iter=20).fit(both)
    assert model.card()["n_rows"] == len(base) + 1
    assert model.version != CapacityModel(max_iter=20).fit(base).version  # versioned with what it learnt from
    pred = model.predict(both.tail(1))
    assert set(pred["resource"]) == set(RESOURCES)
    assert (pred["p10"] <= pred["p50"]).all() and (pred["p50"] <= pred["p90"]).all()


def test_readers_see_only_their_programs_usage(metered):
    assert workspace_history(pluma.open(metered, user="stranger")).empty


def test_a_program_is_forecast_with_its_own_metered_earlier_phases(metered):
    from pluma.capacity import forecast
    from pluma.capacity.features import context_stats, features_for_program
    from pluma.capacity.metered import program_usage

    prog = pluma.open(metered, user="ana").program("M1")  # now in CAE; CAD was metered and frozen
    past = program_usage(prog)
    assert list(past["phase"]) == ["CAD"] and past.iloc[0]["core_hours"] == pytest.approx(3.0)
    rows = features_for_program(prog.info, {}, past_usage=past)
    assert rows.loc[0, "phase"] == "CAE"
    assert rows.loc[0, "prior_core_hours"] == pytest.approx(np.log1p(3.0))
    assert rows.loc[0, "prior_qubits"] == pytest.approx(np.log1p(8.0))
    assert np.isnan(rows.loc[0, "prior_gpu_hours"])   # not metered: unknown, not 0
    model = CapacityModel(max_iter=20).fit(generate_history(n_programs=60, seed=2))
    fc = forecast(prog, model=model)
    assert fc.phases == ["CAE"] and set(fc.table["resource"]) == set(RESOURCES)
    # forecast() used what M1 really used in CAD: its table is the prediction with that prior usage ...
    stats = context_stats(prog.context)
    with_past = model.predict(features_for_program(prog.info, stats, past_usage=past))
    np.testing.assert_allclose(fc.table["p50"].to_numpy(), with_past["p50"].to_numpy())
    # ... which is not the prediction of a program without metered history
    blind = model.predict(features_for_program(prog.info, stats))
    assert not np.allclose(fc.table["p50"].to_numpy(), blind["p50"].to_numpy())
    assert program_usage(pluma.open(metered, user="admin").program("M2")).empty
