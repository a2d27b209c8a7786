"""Resources that are often exactly zero (qubits, GPU-hours): chance of use x usage if used, and count forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluma.capacity.evaluate import evaluate
from pluma.capacity.features import features_for_program
from pluma.capacity.history import COUNT_RESOURCES, RESOURCES, generate_history
from pluma.capacity.hurdle import HurdleQuantiles, is_zero_inflated

PARAMS = {"max_iter": 60, "learning_rate": 0.1, "max_leaf_nodes": 15, "min_samples_leaf": 20,
          "l2_regularization": 1.0, "seed": 0}


def _zero_inflated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group g in {0, 1, 2} uses the resource with chance 0.02 / 0.5 / 0.97; if used, log1p ~ N(3 + x, 0.3)."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 3, n)
    x = rng.uniform(0.0, 1.0, n)
    use = rng.random(n) < np.array([0.02, 0.5, 0.97])[g]
    y = np.where(use, 3.0 + x + rng.normal(0.0, 0.3, n), 0.0)
    programs = np.arange(n) // 3  # three rows per "program"
    return np.column_stack([g, x]).astype(float), y, programs.astype(float), use


def test_hurdle_quantiles_follow_the_chance_of_use_and_the_spread_if_used():
    x, y, programs, _ = _zero_inflated(3000, 0)
    assert is_zero_inflated(y, programs)
    hurdle = HurdleQuantiles(PARAMS, [False, False]).fit(x, y, programs)
    xt = np.array([[0, 0.5], [1, 0.5], [2, 0.5], [2, 0.0]], dtype=float)
    q = hurdle.log_quantiles(xt, (0.1, 0.5, 0.9))
    # almost never used: nothing but 0
    assert (q[0] == 0).all()
    # used half of the time: p10 = 0, p50 at the edge, p90 = the 80 % quantile if used (3.5 + 0.84 * 0.3)
    assert q[1, 0] == 0 and abs(q[1, 2] - (3.5 + 0.842 * 0.3)) < 0.25
    # nearly always used: every quantile is the usage-if-used quantile; the median tracks x
    assert q[2, 0] > 2.5 and abs(q[2, 1] - 3.5) < 0.2 and abs(q[3, 1] - 3.0) < 0.25
    assert (np.diff(q, axis=1) >= 0).all()
    # on new data from the same process the [p10, p90] interval covers as it should
    xn, yn, _, _ = _zero_inflated(3000, 1)
    qn = hurdle.log_quantiles(xn, (0.1, 0.9))
    covered = (qn[:, 0] <= yn + 1e-9) & (yn <= qn[:, 1] + 1e-9)
    for group, nominal in ((1, 0.9), (2, 0.8)):  # p10 = 0 where use is not near certain: 90 % nominal
        assert abs(covered[xn[:, 0] == group].mean() - nominal) < 0.06, group
    card = hurdle.card()
    assert card["method"] == "hurdle" and 0.45 < card["use_rate"] < 0.55 and card["n_residuals"] == card["n_used"]


def test_is_zero_inflated_needs_zeros_and_enough_use():
    programs = np.arange(200, dtype=float)
    assert not is_zero_inflated(np.full(200, 2.0), programs)  # never zero
    assert not is_zero_inflated(np.r_[np.full(195, 0.0), np.full(5, 2.0)], programs)  # too few rows with use
    assert is_zero_inflated(np.r_[np.full(100, 0.0), np.full(100, 2.0)], programs)
    assert not is_zero_inflated(np.r_[np.full(100, 0.0), np.full(100, 2.0)], np.zeros(200))  # one program


@pytest.fixture(scope="module")
def report():
    return evaluate(generate_history(n_programs=200, seed=11), seed=0, model_params={"max_iter": 60})


def test_capacity_model_uses_hurdles_for_the_resources_that_are_mostly_zero(report):
    card = report.model_card
    assert {r for r, m in card["methods"].items() if m == "hurdle"} == {"gpu_hours", "qubits"}
    assert set(card["hurdles"]) == {"gpu_hours", "qubits"} and "qubits" not in card["conformal_adjustment_log1p"]
    info = {"priority": "standard", "classification": "EAR", "domains": ["AAA", "EEE"]}  # no quantum domain
    quantum = dict(info, domains=["AAA", "CQH"])
    stats = {"dataset_gb": 50, "artifact_mb": 200, "sweep_points": 300}
    rows = pd.concat([features_for_program(info, stats, phases=["CAO"]),
                      features_for_program(quantum, stats, phases=["CAO"])], ignore_index=True)
    pred = report.model.predict(rows)
    qubits = pred[pred.resource == "qubits"].reset_index(drop=True)
    assert (qubits.loc[0, ["p10", "p50", "p90"]] == 0).all()  # no quantum work: 0 qubits, not 0.006
    assert qubits.loc[1, "p50"] >= 2 and qubits.loc[1, "p90"] > qubits.loc[1, "p50"]
    for r in COUNT_RESOURCES:  # a quantile of a count is a count
        values = pred.loc[pred.resource == r, ["p10", "p50", "p90"]].to_numpy()
        assert np.array_equal(values, np.rint(values)), r


def test_coverage_of_mostly_zero_resources_is_judged_on_real_intervals(report):
    rows = {r["resource"]: r for r in report.resources}
    for r in ("gpu_hours", "qubits"):
        # rows forecast 0 are not judged; the others cover within the goal's tolerance of nominal
        assert 0 < rows[r]["n_coverage"] < rows[r]["n"]
        assert abs(rows[r]["coverage"] - rows[r]["nominal_coverage"]) <= 0.12, (r, rows[r])
    assert set(RESOURCES) == set(rows)
