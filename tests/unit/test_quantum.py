"""Quantum trade studies: QUBO encoding against brute force, the Ising form, batched
QAOA landscapes, QAOA quality on an 8-variable trade study, storage in a program."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import pluma
from pluma.errors import AccessDenied, InvalidInputError, PlumaWarning
from pluma.quantum import (
    QUBO,
    Option,
    TradeSpace,
    brute_force,
    energy_landscape,
    evaluate_energies,
    evaluate_selection,
    optimize,
    qaoa_trade_study,
    to_ising,
    to_qubo,
)

import qiskit  # noqa: E402,F401  (CI installs every optional part)


def all_bits(n: int) -> np.ndarray:
    """Every bit pattern; row k has variable i = bit i of k (qubit order of Qiskit's statevector)."""
    k = np.arange(1 << n)
    return ((k[:, None] >> np.arange(n)) & 1).astype(np.int8)


def tiny() -> TradeSpace:
    """2 subsystems x 2 options; the lightest pair (CFRP + A, 13 kg) breaks the cost limit."""
    return TradeSpace(
        {"wing": [Option("Al", mass=5, cost=1), Option("CFRP", mass=3, cost=4)],
         "engine": [Option("A", mass=10, cost=2), Option("B", mass=11, cost=1)]},
        limits={"cost": 5},
        objective="mass",
    )


def limited8() -> TradeSpace:
    """3 subsystems x 2 options + 2 slack bits of the cost limit = 8 variables."""
    return TradeSpace(
        {"wing": [Option("Al", mass=480, cost=2), Option("CFRP", mass=410, cost=3)],
         "engine": [Option("A", mass=900, cost=5), Option("B", mass=850, cost=7)],
         "avionics": [Option("federated", mass=60, cost=1), Option("IMA", mass=45, cost=2)]},
        limits={"cost": 11},
        objective="mass",
    )


def aircraft8(**kw) -> TradeSpace:
    """4 subsystems x 2 options (8 variables) with two integration interactions (kg)."""
    return TradeSpace(
        {"wing": [Option("Al", mass=520, cost=2.0), Option("CFRP", mass=430, cost=3.2)],
         "engine": [Option("A", mass=1900, cost=5.0), Option("B", mass=1840, cost=6.5)],
         "landing_gear": [Option("steel", mass=260, cost=0.8), Option("titanium", mass=220, cost=1.3)],
         "avionics": [Option("federated", mass=95, cost=1.1), Option("IMA", mass=70, cost=1.4)]},
        objective="mass",
        interactions={("wing=CFRP", "engine=A"): 40.0, ("engine=B", "landing_gear=titanium"): 25.0},
        **kw,
    )


# ------------------------------------------------------------------------------------------
# QUBO construction
# ------------------------------------------------------------------------------------------


def test_qubo_of_a_tiny_case_by_hand():
    ts = TradeSpace({"wing": [Option("Al", mass=5), Option("CFRP", mass=3)],
                     "engine": [Option("A", mass=10), Option("B", mass=12)]})
    q = to_qubo(ts)
    assert q.variables == ("wing=Al", "wing=CFRP", "engine=A", "engine=B")
    # shifted objective c' = [2, 0, 0, 2]; swing W = 2 + 2 = 4; P = 1.25 W = 5
    assert ts.objective_swing() == 4.0 and q.penalty == 5.0
    expected = np.array([[2 - 5, 10, 0, 0], [0, -5, 0, 0], [0, 0, -5, 10], [0, 0, 0, 2 - 5]], dtype=float)
    np.testing.assert_allclose(q.matrix, expected)
    assert q.offset == pytest.approx(3 + 10 + 2 * 5)
    assert q.energy([0, 1, 1, 0]) == pytest.approx(13.0)  # CFRP + A = 3 + 10 kg
    assert q.energy("1001") == pytest.approx(17.0)
    assert q.energy("0000") == pytest.approx(23.0)  # nothing chosen: offset (13) + 2 P


def test_brute_force_by_hand_with_a_binding_limit():
    ts = tiny()
    # selections: Al+A 15 kg cost 3, Al+B 16 kg cost 2, CFRP+A 13 kg cost 6 (breaks cost <= 5), CFRP+B 14 kg cost 5
    bf = brute_force(ts)
    assert bf.selection == {"wing": "CFRP", "engine": "B"}
    assert bf.objective == 14.0 and bf.feasible
    assert bf.worst_feasible_objective == 16.0 and bf.num_feasible == 3 and bf.num_evaluated == 4
    q = to_qubo(ts)
    # cost range 3 (min total 2) -> slack 0..3 in steps of 1: two bits (1, 2)
    assert q.variables[4:] == ("slack:cost:max:0", "slack:cost:max:1")
    assert q.slack[0].coefficients == (1, 2) and q.slack[0].exact
    qbf = brute_force(q)
    assert qbf.ground_state_is_optimum and qbf.energy == pytest.approx(14.0)
    assert list(qbf.bits[:4]) == [0, 1, 0, 1]


@pytest.mark.parametrize("make", [tiny, limited8, aircraft8], ids=["tiny", "limited8", "aircraft8"])
def test_every_infeasible_bit_pattern_costs_more_than_the_optimum(make):
    ts = make()
    q = to_qubo(ts)
    bf = brute_force(ts)
    energies = q.energy(all_bits(q.num_variables))
    feasible_min = {}  # selection label -> lowest energy over slack patterns
    for bits, e in zip(all_bits(q.num_variables), energies):
        ev = evaluate_selection(q, bits)
        if not ev.feasible:
            assert e > bf.objective + 1e-9, (bits, e)
        else:
            label = TradeSpace.label(ev.selection)
            feasible_min[label] = min(feasible_min.get(label, np.inf), e)
            assert e >= ev.objective - 1e-9
    # every feasible selection reaches exactly its objective with the right slack
    table = ts.enumerate()
    for label, objective, ok in zip(table["labels"], table["objective"], table["feasible"]):
        if ok:
            assert feasible_min[label] == pytest.approx(objective)
    assert energies.min() == pytest.approx(bf.objective)


@pytest.mark.parametrize("seed", range(6))
def test_random_trade_spaces_ground_state_is_the_feasible_optimum(seed):
    rng = np.random.default_rng(seed)
    sizes = rng.choice([2, 3], size=3)
    subs = {f"s{k}": [Option(f"o{j}", mass=int(rng.integers(10, 200)), cost=int(rng.integers(1, 6)),
                             performance=float(rng.integers(0, 10)))
                      for j in range(n)] for k, n in enumerate(sizes)}
    names = [f"s{k}=o{j}" for k, n in enumerate(sizes) for j in range(n)]
    a, b = rng.choice(len(names), 2, replace=False)
    interactions = {}
    if names[a].split("=")[0] != names[b].split("=")[0]:
        interactions[(names[a], names[b])] = float(rng.integers(-30, 30))
    costs_min = sum(min(o["cost"] for o in opts) for opts in subs.values())
    ts = TradeSpace(subs, limits={"cost": costs_min + int(rng.integers(1, 5))},
                    objective={"mass": 1.0, "performance": -5.0}, interactions=interactions)
    q = to_qubo(ts)
    assert q.num_variables <= 20  # brute force stays exact and fast
    bf = brute_force(q)
    assert bf.ground_state_is_optimum
    assert bf.energy == pytest.approx(bf.objective)


def test_validation_errors():
    with pytest.raises(InvalidInputError, match="no options"):
        TradeSpace({"wing": []})
    with pytest.raises(InvalidInputError, match="more than once"):
        TradeSpace({"wing": [Option("Al", mass=1), Option("Al", mass=2)]})
    with pytest.raises(InvalidInputError, match="lacks attribute"):
        TradeSpace({"wing": [Option("Al", mass=1), Option("CFRP", cost=2)]})
    with pytest.raises(InvalidInputError, match="may not contain"):
        Option("Al=7075", mass=1)
    with pytest.raises(InvalidInputError, match="finite"):
        Option("Al", mass=float("nan"))
    with pytest.raises(InvalidInputError, match="cannot be met"):
        to_qubo(TradeSpace({"wing": [Option("Al", mass=5, cost=3)]}, limits={"cost": 2}))
    with pytest.raises(InvalidInputError, match="must exceed the largest objective swing"):
        to_qubo(tiny(), penalty=2.0)  # W = 2 + 1 = 3
    with pytest.raises(InvalidInputError, match="min 5 is above max 1"):
        TradeSpace({"wing": [Option("Al", mass=5)]}, limits={"mass": {"min": 5, "max": 1}})
    with pytest.raises(InvalidInputError, match="one subsystem"):
        TradeSpace({"wing": [Option("Al", mass=5), Option("CFRP", mass=3)]}, interactions={("wing=Al", "wing=CFRP"): 1.0})
    with pytest.raises(InvalidInputError, match="20 variables"):
        brute_force(QUBO.from_matrix(np.eye(21)))
    with pytest.raises(InvalidInputError, match="exactly one is needed"):
        tiny().selection([1, 1, 0, 1])


def test_evaluate_selection_reports_constraint_values():
    ts = tiny()
    ev = evaluate_selection(ts, {"wing": "CFRP", "engine": "A"})
    assert ev.objective == 13.0 and not ev.feasible and ev.one_hot
    assert ev.constraints == {"cost": 6.0} and ev.violations == {"cost": 1.0}
    ev = evaluate_selection(ts, ["Al", "B"])
    assert ev.feasible and ev.objective == 16.0 and ev.constraints == {"cost": 2.0}
    ev = evaluate_selection(ts, "1100")  # two wings, no engine
    assert not ev.one_hot and not ev.feasible and ev.selection is None
    lower = TradeSpace(ts.subsystems, limits={"cost": {"min": 4}}, objective="mass")
    assert lower.enumerate()["feasible"].tolist() == [False, False, True, True]  # Al+A, Al+B, CFRP+A, CFRP+B
    assert brute_force(to_qubo(lower)).ground_state_is_optimum


def test_non_integral_limits_use_the_finest_exact_step():
    ts = TradeSpace({"wing": [Option("Al", cost=2.0), Option("CFRP", cost=3.2)],
                     "engine": [Option("A", cost=5.0), Option("B", cost=6.5)]},
                    limits={"cost": 9.5}, objective="cost")
    q = to_qubo(ts)
    enc = q.slack[0]
    assert enc.exact and enc.step == pytest.approx(0.1)
    assert sum(enc.coefficients) == 25  # 9.5 - 7.0 = 2.5 = 25 steps
    assert brute_force(q).ground_state_is_optimum


def test_data_finer_than_the_slack_bits_allow_warn_and_stay_judged_exactly():
    ts = TradeSpace({"wing": [Option("Al", cost=2.0001), Option("CFRP", cost=3.2)],
                     "engine": [Option("A", cost=5.0), Option("B", cost=6.5)]},
                    limits={"cost": 9.5}, objective="cost")
    with pytest.warns(PlumaWarning, match="finer step"):
        q = to_qubo(ts, max_slack_bits=4)
    assert not q.slack[0].exact and q.slack[0].num_bits == 4
    assert brute_force(ts).selection == {"wing": "Al", "engine": "A"}  # exact, not through the QUBO


# ------------------------------------------------------------------------------------------
# Ising form and QAOA
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [tiny, limited8, aircraft8], ids=["tiny", "limited8", "aircraft8"])
def test_ising_matches_qubo_energies_on_every_bitstring(make):
    q = to_qubo(make())
    op, constant = to_ising(q)
    assert op.num_qubits == q.num_variables
    diagonal = np.real(op.to_matrix(sparse=True).diagonal()) + constant  # index k: qubit i = bit i of k
    np.testing.assert_allclose(diagonal, q.energy(all_bits(q.num_variables)), rtol=0, atol=1e-7)


def test_batched_landscape_equals_per_point_evaluation_and_an_independent_statevector():
    from qiskit.circuit.library import qaoa_ansatz
    from qiskit.quantum_info import Statevector

    q = to_qubo(tiny())
    gammas, betas = np.linspace(0.2, 1.6, 4), np.linspace(-0.9, 0.6, 3)
    for reps in (1, 2):
        land = energy_landscape(q, reps, gammas, betas)
        assert land["energy"].dims == ("gamma", "beta") and land["energy"].shape == (4, 3)
        assert land.attrs["estimator_calls"] == 1
        op, constant = to_ising(q)
        scale = land.attrs["scale"]
        circuit = qaoa_ansatz(op / scale, reps=reps)
        for i, j in [(0, 0), (1, 2), (3, 1)]:
            g, b = gammas[i], betas[j]
            k = np.arange(reps)
            angles = np.concatenate([g * (k + 1) / reps, b * (reps - k) / reps])  # ramp schedule
            single = evaluate_energies(q, reps, angles[None, :])[0]
            assert land["energy"].values[i, j] == pytest.approx(single, rel=1e-9)
            values = {p: (angles[int(p.name[2:-1])] if p.name[0] == "γ" else angles[reps + int(p.name[2:-1])])
                      for p in circuit.parameters}
            exact = Statevector(circuit.assign_parameters(values)).expectation_value(op).real + constant
            assert single == pytest.approx(exact, rel=1e-9)
    ref = energy_landscape(q, 1, gammas, betas, backend="reference")
    np.testing.assert_allclose(ref["energy"].values, energy_landscape(q, 1, gammas, betas)["energy"].values, rtol=1e-9)


def test_issue_8_variable_trade_study_at_reps_2(capsys):
    """Issue 6: at reps = 2 with optimised angles, the optimal feasible selection is the most
    probable sampled bitstring and its probability is >= 10 x 1/256."""
    ts = aircraft8()
    q = to_qubo(ts)
    assert q.num_variables == 8
    bf = brute_force(q)
    assert bf.ground_state_is_optimum
    study = qaoa_trade_study(None, options=ts, reps=[2], shots=8192, seed=11)
    d = study.depth(2)
    result = d.qaoa
    assert result.reps == 2 and result.shots == 8192
    probs = result.probabilities()
    top = result.most_probable()
    assert top == "".join(map(str, bf.bits))
    assert q.decode(top)["selection"] == bf.selection
    assert probs[top] >= 10 / 256
    assert result.energy < result.grid_energy + 1e-9  # the optimiser did not lose the grid's best

    assert d.selection == bf.selection and d.optimality_gap == 0.0 and d.most_probable_is_optimum
    assert d.probability_optimum >= 10 / 256
    assert bf.objective <= d.expected_feasible_objective <= bf.worst_feasible_objective
    assert 0.0 < d.approximation_ratio <= 1.0
    with capsys.disabled():
        print(f"\n[issue 6] 8-variable trade study, p = 2: P(optimum) = {d.probability_optimum:.3f} "
              f"(uniform 1/256 = {1 / 256:.4f}); expected feasible objective {d.expected_feasible_objective:.1f} kg "
              f"vs optimum {bf.objective:.1f} kg (worst feasible {bf.worst_feasible_objective:.1f}); "
              f"approximation ratio {d.approximation_ratio:.3f}, feasible share {d.feasible_probability:.3f}")


def test_trade_study_dataset_follows_the_vocabulary():
    study = qaoa_trade_study(None, options=limited8().subsystems, constraints={"cost": 11}, reps=[1, 2],
                             shots=2048, seed=5, gammas=np.linspace(0.3, 1.5, 5), betas=np.linspace(-1.2, 0.8, 5))
    ds = study.to_dataset()
    assert set(ds.dims) == {"option", "subsystem", "reps", "layer", "gamma", "beta"}
    assert ds.sizes["option"] == 8 and ds["reps"].values.tolist() == [1, 2]
    for var in ("objective", "feasible", "cost", "selected", "choice", "probability", "approximation_ratio",
                "probability_optimum", "expected_feasible_objective", "energy", "gamma_opt", "beta_opt"):
        assert var in ds, var
    assert bool(ds["feasible"].any())
    assert ds["cost"].attrs["limit_max"] == 11.0
    assert (ds["feasible"].values == (ds["cost"].values <= 11)).all()
    assert ds.attrs["best_feasible_option"] == "wing=CFRP,engine=B,avionics=federated"
    assert ds["energy"].dims == ("reps", "gamma", "beta") and ds["energy"].shape == (2, 5, 5)
    assert (ds["probability"].sum("option") <= 1 + 1e-12).all()
    assert np.isnan(ds["gamma_opt"].sel(reps=1, layer=1))
    if study.selected_feasible:
        assert int(ds["selected"].sum()) == 1
        assert bool(ds["feasible"].sel(option=ds.attrs["selected_option"]))
    for d in study.depths:
        assert d.optimality_gap >= 0 or np.isnan(d.optimality_gap)
    assert "p=1" in repr(study) and "p=2" in repr(study)


def test_trade_study_is_stored_in_the_program_context(tmp_path):
    pluma.open(tmp_path, user="admin").create_program("P", members={"ana": ["engineer"], "vic": ["viewer"]})
    prog = pluma.open(tmp_path, user="ana").program("P")
    study = qaoa_trade_study(prog, options=aircraft8(), reps=[2], shots=2048, seed=11,
                             gammas=np.linspace(0.3, 1.5, 5), betas=np.linspace(-1.2, 0.8, 5))
    assert study.stored == "P: trade_study"
    ctx = pluma.open(tmp_path, user="ana").program("P").context
    assert ctx.params["selected_feasible"] is True
    assert ctx.params["optimality_gap"] == pytest.approx(study.optimality_gap)
    ds = ctx.dataset("trade_study").load()
    assert ds.sizes["option"] == 16 and bool(ds["feasible"].all())
    assert ds.attrs["selected_option"] == study.best.selection_label
    assert "QAOA trade study" in ctx.log(limit=1)[0].message

    viewer = pluma.open(tmp_path, user="vic").program("P")
    with pytest.raises(AccessDenied):
        qaoa_trade_study(viewer, options=aircraft8(), reps=[1])
    with pytest.raises(InvalidInputError, match="pluma Program"):
        qaoa_trade_study("P", options=aircraft8(), reps=[1])


def test_sampling_is_reproducible_on_both_backends():
    q = to_qubo(tiny())
    for backend in ("aer", "reference"):
        a = optimize(q, 1, backend=backend, shots=512, seed=3, maxiter=5)
        b = optimize(q, 1, backend=backend, shots=512, seed=3, maxiter=5)
        assert a.backend == backend and a.counts == b.counts
        assert sum(a.counts.values()) == 512 and {len(k) for k in a.counts} == {q.num_variables}
        assert abs(sum(a.probabilities().values()) - 1.0) < 1e-12


def test_qaoa_argument_checks():
    q = to_qubo(tiny())
    with pytest.raises(InvalidInputError, match="reps"):
        energy_landscape(q, 0)
    with pytest.raises(InvalidInputError, match="backend"):
        energy_landscape(q, 1, backend="ibm")
    with pytest.raises(InvalidInputError, match="last dimension"):
        evaluate_energies(q, 2, np.zeros((3, 3)))
    with pytest.raises(InvalidInputError, match="twice"):
        qaoa_trade_study(None, options=tiny(), reps=[1, 1])
    with pytest.raises(InvalidInputError, match="TradeSpace"):
        qaoa_trade_study(None, options=tiny(), constraints={"cost": 3})


def test_all_bits_order_matches_qiskit_bitstrings():
    # sanity of the helper used above: row k has variable i = bit i of k
    rows = all_bits(3)
    assert [tuple(r) for r in rows[:4]] == [(0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)]
    assert list(itertools.islice((int("".join(map(str, r[::-1])), 2) for r in rows), 8)) == list(range(8))
