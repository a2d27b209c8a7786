"""Capacity planning: history generator, intake catalog, quantile model, holdout evaluation, cost."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

import sklearn  # noqa: E402,F401  (CI installs every optional part: a missing one fails)

from pluma.capacity.cost import cost_interval, load_prices, validate_prices  # noqa: E402
from pluma.capacity.evaluate import baseline_predict, evaluate, mdape  # noqa: E402
from pluma.capacity.features import (  # noqa: E402
    ENCODED_COLUMNS,
    PRIOR_COLUMNS,
    add_prior_usage,
    encode,
    features_for_program,
)
from pluma.capacity.history import RESOURCES, generate_history, load_history  # noqa: E402
from pluma.capacity.model import FEATURE_SET, CapacityModel, split_programs  # noqa: E402
from pluma.errors import InvalidInputError, NotFoundError, StateError  # noqa: E402

FAST = {"max_iter": 30}


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return generate_history()


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return generate_history(n_programs=80, seed=5)


@pytest.fixture(scope="module")
def small_model(small) -> CapacityModel:
    return CapacityModel(**FAST).fit(small)


@pytest.fixture(scope="module")
def report(history):
    return evaluate(history)


def _prices(**over):
    base = {"currency": "EUR", "on_prem_core_hour": 0.04, "cloud_core_hour": 0.09, "cloud_fraction": 0.25,
            "gpu_hour": 2.0, "storage_tb_month": 20.0, "quantum_shot": 0.0003, "shots_per_qubit": 50000}
    base.update(over)
    return base


# -- history -----------------------------------------------------------------

def test_generator_is_deterministic_per_seed_and_differs_across_seeds():
    a = generate_history(n_programs=40, seed=1)
    assert a.equals(generate_history(n_programs=40, seed=1))
    b = generate_history(n_programs=40, seed=2)
    assert not a[list(RESOURCES)].equals(b[list(RESOURCES)].iloc[: len(a)].reset_index(drop=True))
    assert a["program"].nunique() == 40
    assert (a.groupby("program")["phase"].first() == "CAD").all()


def test_generator_refuses_bad_arguments():
    with pytest.raises(InvalidInputError):
        generate_history(n_programs=0)
    with pytest.raises(InvalidInputError):
        generate_history(seed=-1)


def test_history_structure(history):
    med = history.groupby("phase")[list(RESOURCES)].median()
    assert med.loc["CAE", "core_hours"] > 5 * med.loc["CAD", "core_hours"]
    assert med.loc["CAO", "core_hours"] > med.loc["CAP", "core_hours"]
    assert med.loc["CMP", "storage_tb"] > med.loc["CAE", "storage_tb"]
    assert med.loc["CAV", "template_runs"] > med.loc["CAE", "template_runs"]
    # quantum work happens mostly in CAO
    use = history.assign(q=history["qubits"] > 0).groupby("phase")["q"].mean()
    assert use.idxmax() == "CAO"
    # more domains, more usage
    few, many = history[history["n_domains"] <= 3], history[history["n_domains"] >= 8]
    for r in ("core_hours", "storage_tb", "template_runs", "memory_gb"):
        assert many[r].median() > 1.5 * few[r].median(), r
    # heavy tails
    for r in ("core_hours", "storage_tb"):
        assert history[r].quantile(0.99) / history[r].median() > 10, r
    # correlated resources
    logs = np.log1p(history[["cores", "core_hours", "memory_gb"]])
    assert logs.corr().min().min() > 0.6
    assert (history[list(RESOURCES)] >= 0).all().all()


def test_catalog_loads_through_intake_and_equals_generator(history):
    import intake
    from pluma.capacity.history import DEFAULT_CATALOG

    cat = intake.from_yaml_file(str(DEFAULT_CATALOG))
    assert "capacity_history" in cat.entries
    loaded = load_history()
    pd.testing.assert_frame_equal(loaded, history, check_dtype=False)
    with pytest.raises(NotFoundError):
        load_history(DEFAULT_CATALOG, entry="nope")
    with pytest.raises(NotFoundError):
        load_history(DEFAULT_CATALOG.with_name("missing.yaml"))


# -- features ----------------------------------------------------------------

def test_features_for_program():
    info = {"priority": "Defense", "classification": "itar", "domains": ["CQH", "AAA"], "phase": "CAO",
            "quotas": {}, "name": "X"}
    row = features_for_program(info, {"dataset_gb": 5, "artifact_mb": 1.5, "sweep_points": 10})
    assert len(row) == 1
    assert row.iloc[0][["priority", "classification", "domains", "n_domains", "phase"]].tolist() == \
        ["defense", "ITAR", "AAA+CQH", 2, "CAO"]
    enc = encode(row)
    assert list(enc.columns) == list(ENCODED_COLUMNS)
    assert enc.iloc[0]["dom_CQH"] == 1 and enc.iloc[0]["dom_EEE"] == 0
    several = features_for_program(info, {}, phases=["CAE", "CAO", "CAV"])
    assert several["phase"].tolist() == ["CAE", "CAO", "CAV"]
    with pytest.raises(InvalidInputError):
        features_for_program(dict(info, domains=["ZZZ"]), {})
    with pytest.raises(InvalidInputError):
        features_for_program(info, {"dataset_gb": -1})
    with pytest.raises(InvalidInputError):
        features_for_program(info, {}, phases=["XYZ"])
    with pytest.raises(InvalidInputError):
        encode(row.assign(phase="XYZ"))


def test_prior_usage_comes_from_earlier_phases_only(small):
    prog = small.groupby("program").filter(lambda g: len(g) >= 4)["program"].iloc[0]
    rows = small[small["program"] == prog].reset_index(drop=True)
    with_prior = add_prior_usage(small).set_index(["program", "phase"])
    mine = with_prior.loc[prog]
    assert mine.loc["CAD", list(PRIOR_COLUMNS)].isna().all()          # nothing is known before CAD
    cad, cae, cai = (np.log1p(rows.loc[rows["phase"] == p, "core_hours"].iloc[0]) for p in ("CAD", "CAE", "CAI"))
    assert mine.loc["CAE", "prior_core_hours"] == pytest.approx(cad)
    assert mine.loc["CAI", "prior_core_hours"] == pytest.approx(cae)
    assert mine.loc["CAI", "prior_mean_core_hours"] == pytest.approx((cad + cae) / 2)
    # a row's own usage and later phases never enter it, whatever the order of the rows
    changed = small.copy()
    later = (changed["program"] == prog) & changed["phase"].isin(["CAI", "CAO", "CAM", "CAP", "CAV", "CMP", "CAS"])
    changed.loc[later, list(RESOURCES)] *= 50.0
    changed.loc[(changed["program"] == prog) & (changed["phase"] == "CAE"), "cores"] += 99
    shuffled = add_prior_usage(changed.sample(frac=1.0, random_state=1)).set_index(["program", "phase"])
    for phase in ("CAD", "CAE"):  # (CAI's prior usage includes CAE's, which changed)
        pd.testing.assert_series_equal(shuffled.loc[(prog, phase), list(PRIOR_COLUMNS)],
                                       with_prior.loc[(prog, phase), list(PRIOR_COLUMNS)], check_names=False)
    # one step ahead only: a program whose previous phase is missing has no prior usage; unmetered stays NaN
    gap = add_prior_usage(rows[rows["phase"] != "CAE"].assign(gpu_hours=np.nan)).set_index("phase")
    assert gap.loc["CAI", list(PRIOR_COLUMNS)].isna().all()
    assert np.isnan(add_prior_usage(rows.assign(gpu_hours=np.nan)).loc[1, "prior_gpu_hours"])


def test_live_program_prior_usage_and_older_callers():
    info = {"priority": "standard", "classification": "EAR", "domains": ["AAA"], "phase": "CAE"}
    past = pd.DataFrame([{"phase": "CAD", "core_hours": 99.0, "cores": 4.0, "gpu_hours": np.nan}])
    rows = features_for_program(info, {"dataset_gb": 3}, phases=["CAD", "CAE", "CAO"], past_usage=past)
    assert rows.loc[1, "prior_core_hours"] == pytest.approx(np.log1p(99.0))
    assert rows.loc[1, "prior_mean_cores"] == pytest.approx(np.log1p(4.0))
    assert np.isnan(rows.loc[1, "prior_gpu_hours"]) and np.isnan(rows.loc[1, "prior_qubits"])  # not metered
    assert rows.loc[0, list(PRIOR_COLUMNS)].isna().all()   # CAD: nothing before it
    assert rows.loc[2, list(PRIOR_COLUMNS)].isna().all()   # CAO is two steps ahead: not one-step information
    assert features_for_program(info, {})[list(PRIOR_COLUMNS)].isna().all().all()
    # a frame without the columns (an older caller) encodes them as unknown, in the fixed column order
    enc = encode(rows[[c for c in rows.columns if c not in PRIOR_COLUMNS]])
    assert list(enc.columns) == list(ENCODED_COLUMNS) and enc[list(PRIOR_COLUMNS)].isna().all().all()
    with pytest.raises(InvalidInputError):
        encode(rows.assign(prior_cores=-1.0))
    with pytest.raises(InvalidInputError):
        features_for_program(info, {}, past_usage=past.assign(cores=-3.0))
    with pytest.raises(InvalidInputError):
        features_for_program(info, {}, past_usage=past.drop(columns=["phase"]))


# -- model -------------------------------------------------------------------

def test_model_predicts_ordered_quantiles(small, small_model):
    pred = small_model.predict(small.head(30))
    assert list(pred.columns) == ["row", "phase", "resource", "p10", "p50", "p90"]
    assert len(pred) == 30 * len(RESOURCES)
    assert pred["resource"].tolist()[: len(RESOURCES)] == list(RESOURCES)
    assert ((pred["p10"] <= pred["p50"]) & (pred["p50"] <= pred["p90"])).all()
    assert (pred["p10"] >= 0).all()


def test_a_program_that_used_more_before_is_forecast_to_use_more(report):
    info = {"priority": "standard", "classification": "EAR", "domains": ["AAA", "EEE", "DDD"]}
    stats = {"dataset_gb": 40, "artifact_mb": 80, "sweep_points": 150}
    heavy, light, unknown = (features_for_program(info, stats, phases=["CAE"], past_usage=pd.DataFrame(
        [{"phase": "CAD", **{r: v for r in RESOURCES}}])) for v in (5000.0, 5.0, np.nan))
    pred = report.model.predict(pd.concat([heavy, light, unknown], ignore_index=True))
    ch = pred[pred["resource"] == "core_hours"].set_index("row")
    assert ch.loc[0, "p50"] > 1.2 * ch.loc[1, "p50"]  # shrunk: one phase says little about a program
    assert ch.loc[1, "p50"] < ch.loc[2, "p50"] < ch.loc[0, "p50"]  # unknown history: in between
    assert ((pred["p10"] <= pred["p50"]) & (pred["p50"] <= pred["p90"])).all()


def test_model_fits_a_history_with_no_prior_usage_at_all():
    only_cad = generate_history(n_programs=40, seed=6).query("phase == 'CAD'")
    model = CapacityModel(max_iter=10).fit(only_cad)
    pred = model.predict(add_prior_usage(only_cad.head(5)))
    assert len(pred) == 5 * len(RESOURCES) and (pred["p10"] <= pred["p90"]).all()


def test_crossing_quantiles_are_fixed(small, small_model):
    model = copy.deepcopy(small_model)
    # force crossing: lower p10 by a negative amount (raises it) and p90 likewise
    model._adjust = {r: (-3.0, -3.0) for r in RESOURCES}
    pred = model.predict(small.head(20))
    assert ((pred["p10"] <= pred["p50"]) & (pred["p50"] <= pred["p90"])).all()


def test_zero_heavy_resources_are_not_stuck_at_zero(report):
    model = report.model
    info = {"priority": "standard", "classification": "EAR", "domains": ["AAA", "CQH", "MMM"]}
    cao = features_for_program(info, {"dataset_gb": 50, "artifact_mb": 200, "sweep_points": 300}, phases=["CAO"])
    cmp_ = features_for_program(info, {"dataset_gb": 400, "artifact_mb": 300, "sweep_points": 0}, phases=["CMP"])
    pred = model.predict(pd.concat([cao, cmp_], ignore_index=True)).set_index(["phase", "resource"])
    assert pred.loc[("CAO", "gpu_hours"), "p50"] > 1
    assert pred.loc[("CAO", "qubits"), "p50"] >= 2
    assert pred.loc[("CMP", "qubits"), "p90"] < 1


def test_model_version_follows_data_and_hyperparameters(small, small_model):
    tiny = generate_history(n_programs=12, seed=4)
    tiny_model = CapacityModel(max_iter=5).fit(tiny)
    assert CapacityModel(max_iter=5).fit(tiny.copy()).version == tiny_model.version
    assert len(tiny_model.version) == 12
    changed = tiny.copy()
    changed.loc[changed.index[0], "core_hours"] += 1.0
    assert CapacityModel(max_iter=5).fit(changed).version != tiny_model.version
    assert CapacityModel(max_iter=6).fit(tiny).version != tiny_model.version
    card = small_model.card()
    assert card["n_rows"] == len(small) and card["seed"] == 0 and card["version"] == small_model.version
    assert card["feature_set"] == FEATURE_SET and card["schema"] >= 2 and card["features"] == list(ENCODED_COLUMNS)
    assert len(card["data_hash"]) == 64 and card["created"]
    json.dumps(card)
    dep = small_model.dependence()
    assert dep["resources"] == list(RESOURCES) and 0 <= dep["phases"] <= 1
    with pytest.raises(StateError):
        CapacityModel().version


def test_split_is_by_program(history):
    rest, part = split_programs(history, 0.25, 0)
    assert not set(rest["program"]) & set(part["program"])
    assert len(rest) + len(part) == len(history)
    assert part["program"].nunique() == 100


# -- evaluation --------------------------------------------------------------

def test_model_beats_baseline_on_holdout_with_calibrated_coverage(report):
    frame = report.to_frame()
    dense = ["cores", "core_hours", "memory_gb", "storage_tb", "template_runs"]
    # loose bounds: the goals (ratio <= 0.7, coverage 80 % +- 7 %) are reported, not asserted
    assert frame.loc[dense, "ratio"].median() < 0.95
    assert frame.loc["core_hours", "ratio"] < 0.95
    assert frame.loc[dense, "coverage"].between(0.6, 0.95).all()
    assert 0.7 < frame.loc[dense, "coverage"].mean() < 0.9
    assert report.n_holdout_programs == 100
    groups = report.to_dict()["by_phase_group"]
    assert groups["CAD"]["n"] + groups["later"]["n"] == report.n_holdout_rows and groups["CAD"]["n"] == 100
    text = str(report)
    assert "by phase group" in text
    for r in RESOURCES:
        assert r in text
    json.dumps(report.to_dict())


def test_baseline_and_mdape():
    assert mdape(np.array([110.0, 50.0, 1.0]), np.array([100.0, 100.0, 0.0])) == (30.0, 2)
    train = generate_history(n_programs=30, seed=9)
    base = baseline_predict(train, train.head(5), k=1)
    # with k=1 a training row is its own nearest neighbour
    np.testing.assert_allclose(base.to_numpy(), train.head(5)[list(RESOURCES)].to_numpy(dtype=float))


# -- cost --------------------------------------------------------------------

def test_price_table_validation(tmp_path):
    shipped = load_prices()
    assert shipped["currency"] == "EUR"
    assert validate_prices(_prices())["gpu_hour"] == 2.0
    for bad in (_prices(gpu_hours=1.0), _prices(gpu_hour=-1), _prices(gpu_hour=True), _prices(gpu_hour="2"),
                _prices(currency="euro"), _prices(cloud_fraction=1.5), {"currency": "EUR"}, ["EUR"]):
        with pytest.raises(InvalidInputError):
            validate_prices(bad)
    path = tmp_path / "prices.yaml"
    path.write_text("currency: EUR\ngpu_hour: 2\nunknown_thing: 3\n")
    with pytest.raises(InvalidInputError, match="unknown_thing"):
        load_prices(path)
    path.write_text("currency: [EUR\n")
    with pytest.raises(InvalidInputError):
        load_prices(path)
    with pytest.raises(NotFoundError):
        load_prices(tmp_path / "none.yaml")


def test_cost_interval_is_ordered_and_scales_with_prices(small, small_model):
    info = {"priority": "research", "classification": "PUBLIC", "domains": ["AAA", "CQH", "DDD"]}
    pred = small_model.predict(features_for_program(info, {"dataset_gb": 30, "artifact_mb": 100,
                                                          "sweep_points": 200}, phases=["CAE", "CAO", "CAV"]))
    prices = _prices()
    c = cost_interval(pred, prices, months=3)
    assert c["method"] == "comonotonic" and c["currency"] == "EUR"
    assert 0 < c["p10"] <= c["p50"] <= c["p90"]
    assert {line["resource"] for line in c["lines"]} == {"core_hours", "gpu_hours", "storage_tb", "qubits"}
    assert c["p50"] == pytest.approx(sum(line["p50"] for line in c["lines"]), abs=0.05)
    doubled = _prices(**{k: 2 * v for k, v in prices.items() if k not in ("currency", "cloud_fraction",
                                                                           "shots_per_qubit")})
    c2 = cost_interval(pred, doubled, months=3)
    for k in ("p10", "p50", "p90"):
        assert c2[k] == pytest.approx(2 * c[k], rel=1e-3, abs=0.02)
    assert cost_interval(pred, prices, months=6)["p50"] > c["p50"]  # storage is held longer
    assert cost_interval(pred, prices, months=3, cloud_fraction=0.0)["p50"] < c["p50"]
    sim = cost_interval(pred, prices, months=3, dependence=small_model.dependence())
    assert sim["method"] == "simulation"
    assert 0 < sim["p10"] <= sim["p50"] <= sim["p90"]
    assert c["p10"] * 0.5 < sim["p50"] < c["p90"] * 2
    sim2 = cost_interval(pred, doubled, months=3, dependence=small_model.dependence())
    assert sim2["p50"] == pytest.approx(2 * sim["p50"], rel=1e-3)
    json.dumps(c)
    with pytest.raises(InvalidInputError):
        cost_interval(pred, prices, months=-1)
    with pytest.raises(InvalidInputError):
        cost_interval(pred.assign(p10=pred["p90"] + 1), prices)
