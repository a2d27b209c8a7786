"""CAO trade studies solved with QAOA and checked against brute force.

:func:`qaoa_trade_study` builds the trade space's QUBO, finds the exact
optimum by enumeration, then for each QAOA depth ``p`` sweeps the ``(γ, β)``
landscape (one batched Estimator call), optimises the angles, samples the
circuit and judges every sample exactly against the trade space.

Per depth it reports (all over the *sampled* distribution, slack bits
marginalised out, so a selection's probability is the sum over its slack
patterns):

``selection``
    the most probable **feasible** selection (one option per subsystem, every
    limit met); ``None`` when no sample was feasible.
``objective``, ``optimality_gap``
    its objective and ``(J_sel − J_opt)/|J_opt|`` (absolute difference when
    ``J_opt = 0``), ≥ 0.
``probability_optimum``
    probability of the optimal selection(s).
``expected_feasible_objective``
    ``⟨J⟩_feasible``: mean objective over the feasible samples.
``approximation_ratio``
    ``(J_worst − ⟨J⟩_feasible)/(J_worst − J_opt)`` with ``J_opt``/``J_worst``
    the best/worst objective over all feasible selections (brute force): the
    standard normalised ratio for minimisation, 1 when every feasible sample
    is optimal, 0 when every one is the worst; ~0.5 for uniform guessing among
    feasible selections. Read it with ``feasible_probability``.
``energy_approximation_ratio``
    ``(E_max − ⟨E⟩)/(E_max − E_min)`` over *all* bit patterns of the QUBO
    (penalties included), ``⟨E⟩`` the optimised expectation value: the form
    used for MaxCut in the literature. The penalties make ``E_max`` large, so
    this ratio looks better than the feasible one; it is given for
    comparison, not as the headline.

Nothing here claims a quantum advantage: brute force solves these sizes
instantly, and the numbers are the measured quality of a simulated QAOA.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidInputError, warn
from .qaoa import QAOAResult, default_betas, default_gammas, optimize, resolve_backend
from .qubo import MAX_BRUTE_FORCE_VARIABLES, QUBO, BruteForceResult, TradeSpace, brute_force, to_qubo

__all__ = ["DepthResult", "TradeStudyResult", "qaoa_trade_study"]

RATIO_DEFINITION = (
    "approximation_ratio = (J_worst - <J>_feasible) / (J_worst - J_opt) over feasible samples "
    "(J_opt, J_worst: best and worst feasible objective by brute force; minimisation)"
)
ENERGY_RATIO_DEFINITION = "energy_approximation_ratio = (E_max - <E>) / (E_max - E_min) over all QUBO bit patterns"
GAP_DEFINITION = "optimality_gap = (J_selected - J_opt) / |J_opt| (absolute difference when J_opt = 0)"


@dataclass
class DepthResult:
    """What QAOA at one depth gave (see the module docstring for the definitions)."""

    reps: int
    qaoa: QAOAResult
    selection: dict[str, str] | None
    selection_label: str | None
    objective: float
    feasible: bool
    probability_selected: float
    probability_optimum: float
    expected_feasible_objective: float
    feasible_probability: float
    approximation_ratio: float
    energy_approximation_ratio: float
    optimality_gap: float
    most_probable_bitstring: str
    most_probable_is_optimum: bool
    selection_probabilities: np.ndarray = field(repr=False, default=None)  # per enumerated selection


@dataclass
class TradeStudyResult:
    """A QAOA trade study: the exact optimum, one :class:`DepthResult` per depth, the choice."""

    trade_space: TradeSpace
    qubo: QUBO
    optimum: BruteForceResult
    depths: list[DepthResult]
    backend: str
    shots: int
    seed: int | None
    schedule: str
    table: dict[str, Any] = field(repr=False, default_factory=dict)  # TradeSpace.enumerate()
    stored: str | None = None  # "<program>: <dataset>" when stored in a program's context

    # -- the choice ------------------------------------------------------
    @property
    def best(self) -> DepthResult | None:
        """The depth whose selection is feasible with the lowest objective (ties: higher probability)."""
        ok = [d for d in self.depths if d.selection is not None]
        if not ok:
            return None
        return min(ok, key=lambda d: (d.objective, -d.probability_selected, d.reps))

    @property
    def selection(self) -> dict[str, str] | None:
        best = self.best
        return None if best is None else dict(best.selection)

    @property
    def selected_feasible(self) -> bool:
        return self.best is not None

    @property
    def optimality_gap(self) -> float:
        best = self.best
        return math.nan if best is None else best.optimality_gap

    def depth(self, reps: int) -> DepthResult:
        for d in self.depths:
            if d.reps == reps:
                return d
        raise InvalidInputError(f"no QAOA depth {reps} in this study (depths: {[d.reps for d in self.depths]})")

    def landscape(self, reps: int):
        """The ``(γ, β)`` energy landscape (xarray Dataset) at depth ``reps``."""
        return self.depth(reps).qaoa.landscape

    def summary(self) -> list[dict[str, Any]]:
        """One row per depth with the headline numbers."""
        return [
            {
                "reps": d.reps,
                "selection": d.selection_label,
                "objective": d.objective,
                "optimality_gap": d.optimality_gap,
                "probability_optimum": d.probability_optimum,
                "expected_feasible_objective": d.expected_feasible_objective,
                "feasible_probability": d.feasible_probability,
                "approximation_ratio": d.approximation_ratio,
                "energy_approximation_ratio": d.energy_approximation_ratio,
                "expected_energy": d.qaoa.energy,
            }
            for d in self.depths
        ]

    def __repr__(self) -> str:
        lines = [
            f"QAOA trade study: {self.qubo.num_variables} qubits, {self.trade_space.num_selections} selections, "
            f"backend {self.backend}, {self.shots} shots",
            f"  optimum (brute force): {TradeSpace.label(self.optimum.selection) if self.optimum.selection else 'none feasible'}"
            f" objective {self.optimum.objective}",
        ]
        for row in self.summary():
            lines.append(
                f"  p={row['reps']}: selection {row['selection']} objective {row['objective']:.6g} gap {row['optimality_gap']:.3g}"
                f" P(opt) {row['probability_optimum']:.3f} <J>feas {row['expected_feasible_objective']:.6g}"
                f" ratio {row['approximation_ratio']:.3f} P(feasible) {row['feasible_probability']:.3f}"
            )
        return "\n".join(lines)

    # -- the dataset -----------------------------------------------------
    def to_dataset(self):
        """The study as the ``trade_study`` dataset of the vocabulary.

        Dimensions: ``option`` (every selection, named ``"wing=CFRP,engine=B"``),
        ``subsystem``, ``reps`` (QAOA depth), ``gamma``/``beta`` (landscape
        grid) and ``layer`` (QAOA layer of the optimised angles).
        Per option: ``objective``, ``feasible``, one variable per limited
        attribute (its total; the limit in the attributes), ``choice``,
        ``selected`` and the sampled ``probability`` per depth. Per depth: the
        selection and its numbers, the ratios, ``energy`` over the grid and the
        optimised ``gamma_opt``/``beta_opt``.
        """
        import xarray as xr

        ts, tab = self.trade_space, self.table
        labels = list(tab["labels"])
        subsystems = list(ts.subsystems)
        choice = np.array(
            [[ts.subsystems[s][int(k)].name for s, k in zip(subsystems, row)] for row in tab["choices"].tolist()],
            dtype=f"<U{max(1, *(len(o.name) for opts in ts.subsystems.values() for o in opts))}",
        )
        reps = [d.reps for d in self.depths]
        layers = max(reps) if reps else 0
        best = self.best
        selected = np.array([best is not None and lab == best.selection_label for lab in labels], dtype=bool)
        obj_units = "kg" if ts.objective == {"mass": 1.0} else "1"

        def text(values: Sequence[str]) -> np.ndarray:
            values = [str(v) for v in values]
            return np.array(values, dtype=f"<U{max([1, *(len(v) for v in values)])}")

        data: dict[str, Any] = {
            "objective": ("option", np.asarray(tab["objective"], dtype=float),
                          {"units": obj_units, "long_name": f"objective: {ts.describe_objective()}"}),
            "feasible": ("option", np.asarray(tab["feasible"], dtype=bool),
                         {"units": "1", "long_name": "one option per subsystem and every limit met"}),
            "choice": (("option", "subsystem"), choice, {"long_name": "option chosen for each subsystem"}),
            "selected": ("option", selected, {"units": "1", "long_name": "selection chosen by the QAOA trade study"}),
        }
        for attr, total in tab["totals"].items():
            name = attr if attr not in data else f"total_{attr}"
            lo, hi = ts.limits[attr]
            attrs = {"units": "kg" if attr == "mass" else "1", "long_name": f"total {attr} of the selection (constraint)"}
            if hi is not None:
                attrs["limit_max"] = float(hi)
            if lo is not None:
                attrs["limit_min"] = float(lo)
            data[name] = ("option", np.asarray(total, dtype=float), attrs)
        if self.depths:
            data["probability"] = (("reps", "option"), np.vstack([d.selection_probabilities for d in self.depths]),
                                   {"units": "1", "long_name": "sampled probability of the selection (slack bits summed)"})
            per_depth = {
                "selected_option": (text([d.selection_label or "" for d in self.depths]), "most probable feasible selection", None),
                "selected_objective": ([d.objective for d in self.depths], "objective of the selection", obj_units),
                "selected_feasible": ([d.selection is not None for d in self.depths], "a feasible selection was sampled", "1"),
                "selected_probability": ([d.probability_selected for d in self.depths], "sampled probability of the selection", "1"),
                "optimality_gap": ([d.optimality_gap for d in self.depths], GAP_DEFINITION, "1"),
                "probability_optimum": ([d.probability_optimum for d in self.depths], "sampled probability of the optimal selection", "1"),
                "expected_feasible_objective": ([d.expected_feasible_objective for d in self.depths],
                                                "mean objective over feasible samples", obj_units),
                "feasible_probability": ([d.feasible_probability for d in self.depths], "share of feasible samples", "1"),
                "approximation_ratio": ([d.approximation_ratio for d in self.depths], RATIO_DEFINITION, "1"),
                "energy_approximation_ratio": ([d.energy_approximation_ratio for d in self.depths], ENERGY_RATIO_DEFINITION, "1"),
                "expected_energy": ([d.qaoa.energy for d in self.depths], "optimised expectation of the QUBO energy", "1"),
                "grid_energy": ([d.qaoa.grid_energy for d in self.depths], "lowest energy on the (gamma, beta) grid", "1"),
            }
            for name, (values, long_name, units) in per_depth.items():
                attrs = {"long_name": long_name}
                if units:
                    attrs["units"] = units
                data[name] = ("reps", np.asarray(values), attrs)
            gam = np.full((len(reps), layers), np.nan)
            bet = np.full((len(reps), layers), np.nan)
            for k, d in enumerate(self.depths):
                gam[k, : d.reps] = d.qaoa.gammas
                bet[k, : d.reps] = d.qaoa.betas
            data["gamma_opt"] = (("reps", "layer"), gam, {"units": "rad", "long_name": "optimised cost angles (normalised operator)"})
            data["beta_opt"] = (("reps", "layer"), bet, {"units": "rad", "long_name": "optimised mixer angles"})
            lands = [d.qaoa.landscape for d in self.depths]
            data["energy"] = (("reps", "gamma", "beta"), np.stack([land["energy"].values for land in lands]),
                              {"units": "1", "long_name": "expected QUBO energy on the (gamma, beta) grid"})
            coords_grid = {"gamma": ("gamma", lands[0]["gamma"].values, dict(lands[0]["gamma"].attrs)),
                           "beta": ("beta", lands[0]["beta"].values, dict(lands[0]["beta"].attrs))}
        else:
            coords_grid = {}
        opt = self.optimum
        attrs = {
            "title": "trade study (QAOA against brute force)",
            "objective": ts.describe_objective(),
            "selected_option": "" if best is None else best.selection_label,
            "best_feasible_option": TradeSpace.label(opt.selection) if opt.selection else "",
            "optimal_objective": float("nan") if opt.objective is None else float(opt.objective),
            "worst_feasible_objective": float("nan") if opt.worst_feasible_objective is None else float(opt.worst_feasible_objective),
            "optimality_gap": float(self.optimality_gap),
            "selected_feasible": int(self.selected_feasible),
            "approximation_ratio_definition": RATIO_DEFINITION,
            "energy_approximation_ratio_definition": ENERGY_RATIO_DEFINITION,
            "optimality_gap_definition": GAP_DEFINITION,
            "num_qubits": int(self.qubo.num_variables),
            "qubo_variables": ",".join(self.qubo.variables),
            "penalty": float(self.qubo.penalty) if self.qubo.penalty is not None else float("nan"),
            "objective_swing": float(self.qubo.objective_swing) if self.qubo.objective_swing is not None else float("nan"),
            "limit_encoding": "slack bits" if self.qubo.slack else "none",
            "backend": self.backend,
            "shots": int(self.shots),
            "seed": -1 if self.seed is None else int(self.seed),
            "schedule": self.schedule,
        }
        coords = {
            "option": ("option", text(labels), {"long_name": "selection (one option per subsystem)"}),
            "subsystem": ("subsystem", text(subsystems), {"long_name": "subsystem"}),
            **({"reps": ("reps", np.asarray(reps, dtype=np.int64), {"long_name": "QAOA depth p"}),
                "layer": ("layer", np.arange(layers, dtype=np.int64), {"long_name": "QAOA layer"})} if self.depths else {}),
            **coords_grid,
        }
        return xr.Dataset(data, coords=coords, attrs=attrs)


def _bits_matrix(keys: Sequence[str]) -> np.ndarray:
    return (np.frombuffer("".join(keys).encode(), dtype=np.uint8).reshape(len(keys), -1) - ord("0")).astype(np.int8)


def _judge_depth(qaoa: QAOAResult, ts: TradeSpace, qubo: QUBO, table: dict[str, Any], optimum: BruteForceResult) -> DepthResult:
    """Judge every sampled bitstring exactly against the trade space."""
    probs = qaoa.probabilities()
    keys = list(probs)
    p = np.array([probs[k] for k in keys])
    bits = _bits_matrix(keys)[:, : ts.num_variables]
    groups = ts._groups()
    one_hot = np.all(np.stack([bits[:, g].sum(axis=1) == 1 for g in groups], axis=1), axis=1)
    sizes = [len(g) for g in groups]
    strides = np.array([math.prod(sizes[i + 1 :]) for i in range(len(sizes))], dtype=np.int64)
    choice = np.stack([np.argmax(bits[:, g], axis=1) for g in groups], axis=1)
    index = (choice * strides).sum(axis=1)
    sel_prob = np.zeros(len(table["labels"]))
    np.add.at(sel_prob, index[one_hot], p[one_hot])

    feasible_tab = np.asarray(table["feasible"], dtype=bool)
    objective_tab = np.asarray(table["objective"], dtype=float)
    feas_prob = float(sel_prob[feasible_tab].sum())
    opt_labels = set(optimum.optimal_selections)
    opt_mask = np.array([lab in opt_labels for lab in table["labels"]], dtype=bool)
    p_opt = float(sel_prob[opt_mask].sum())
    j_opt, j_worst = optimum.objective, optimum.worst_feasible_objective
    if feas_prob > 0:
        expected = float((sel_prob[feasible_tab] * objective_tab[feasible_tab]).sum() / feas_prob)
        ratio = 1.0 if j_worst == j_opt else (j_worst - expected) / (j_worst - j_opt)
        candidates = np.flatnonzero(feasible_tab & (sel_prob > 0))
        # most probable feasible selection; ties go to the better objective
        k = int(candidates[np.lexsort((objective_tab[candidates], -sel_prob[candidates]))[0]])
        label = table["labels"][k]
        selection = dict(zip(ts.subsystems, (ts.subsystems[s][int(i)].name for s, i in zip(ts.subsystems, table["choices"][k]))))
        objective = float(objective_tab[k])
        gap = (objective - j_opt) / abs(j_opt) if j_opt != 0 else objective - j_opt
        gap = max(0.0, float(gap))
        p_sel = float(sel_prob[k])
    else:
        expected = ratio = math.nan
        label, selection, objective, gap, p_sel = None, None, math.nan, math.nan, 0.0
    if optimum.energy is not None and optimum.max_energy is not None and optimum.max_energy > optimum.energy:
        e_ratio = (optimum.max_energy - qaoa.energy) / (optimum.max_energy - optimum.energy)
    else:
        e_ratio = math.nan
    top = keys[0]
    top_decoded = qubo.decode(top)
    top_is_opt = top_decoded["selection"] is not None and TradeSpace.label(top_decoded["selection"]) in opt_labels
    if top_is_opt and qubo.slack:  # with slack bits, the optimum also needs the slack pattern of zero penalty
        top_is_opt = bool(abs(float(qubo.energy(top)) - optimum.energy) < 1e-6 * max(1.0, abs(optimum.energy)))
    return DepthResult(
        reps=qaoa.reps, qaoa=qaoa, selection=selection, selection_label=label, objective=objective,
        feasible=selection is not None, probability_selected=p_sel, probability_optimum=p_opt,
        expected_feasible_objective=expected, feasible_probability=feas_prob, approximation_ratio=float(ratio),
        energy_approximation_ratio=float(e_ratio), optimality_gap=gap, most_probable_bitstring=top,
        most_probable_is_optimum=bool(top_is_opt), selection_probabilities=sel_prob,
    )


def _reps_list(reps: Any) -> list[int]:
    values = [reps] if isinstance(reps, (int, np.integer)) and not isinstance(reps, bool) else list(reps)
    if not values:
        raise InvalidInputError("reps needs at least one QAOA depth, e.g. reps=[1, 2, 3]")
    out = []
    for r in values:
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 1:
            raise InvalidInputError(f"every QAOA depth in reps must be a whole number ≥ 1, got {r!r}")
        if int(r) in out:
            raise InvalidInputError(f"QAOA depth {r} is listed twice in reps")
        out.append(int(r))
    return out


def qaoa_trade_study(
    program: Any = None,
    options: TradeSpace | Mapping[str, Any] | None = None,
    constraints: Mapping[str, Any] | None = None,
    *,
    objective: str | Mapping[str, float] = "mass",
    interactions: Mapping[tuple[str, str], float] | None = None,
    reps: int | Sequence[int] = (1, 2, 3),
    shots: int = 4096,
    seed: int | None = None,
    penalty: float | None = None,
    gammas: Any = None,
    betas: Any = None,
    backend: str = "auto",
    schedule: str = "ramp",
    optimizer: str = "bfgs",
    name: str = "trade_study",
    message: str | None = None,
) -> TradeStudyResult:
    """Solve a trade study (one option per subsystem under limits) with QAOA at several depths.

    Parameters
    ----------
    program : pluma.Program or None
        When given, the study's dataset is stored in the program's working
        context as ``name`` (default ``trade_study``) and the parameters
        ``selected_feasible`` and ``optimality_gap`` are set, in one commit
        (needs a role that writes the context, e.g. engineer or chief_engineer).
    options : TradeSpace or mapping
        The trade space, or its subsystems ``{"wing": [Option(...), ...], ...}``.
    constraints : mapping, optional
        Limits on attribute totals (``{"cost": 12.0}`` or ``{"mass": {"max": ...}}``);
        only with subsystems, not with a TradeSpace.
    objective, interactions
        As for :class:`~pluma.quantum.qubo.TradeSpace` (only with subsystems).
    reps : int or sequence of int, default (1, 2, 3)
        QAOA depths to run.
    shots, seed
        Samples per depth and the sampler's seed (reproducible runs).
    penalty : float, optional
        Penalty weight; default 1.25 × the largest objective swing (see :func:`to_qubo`).
    gammas, betas, backend, schedule, optimizer
        Passed to :func:`~pluma.quantum.qaoa.optimize` (defaults: 10 × 10 grid,
        Aer when installed, ramp schedule, L-BFGS-B).
    name, message
        Dataset name and commit message when storing.

    Returns
    -------
    TradeStudyResult
        ``.best`` / ``.selection`` / ``.optimality_gap``, one ``DepthResult``
        per depth, ``.to_dataset()``.

    Examples
    --------
    >>> from pluma.quantum import Option, qaoa_trade_study
    >>> study = qaoa_trade_study(None, options={"wing": [Option("Al", mass=520, cost=2), Option("CFRP", mass=430, cost=3)],
    ...                                         "engine": [Option("A", mass=1900, cost=5), Option("B", mass=1840, cost=7)]},
    ...                          constraints={"cost": 9}, reps=[1, 2], seed=1)   # doctest: +SKIP
    """
    from ..programs.program import Program

    if program is not None:
        if not isinstance(program, Program):
            raise InvalidInputError(f"program must be a pluma Program (ws.program(name)) or None, got {type(program).__name__}")
        program._require("write")  # fail before computing, not at the commit
    if isinstance(options, TradeSpace):
        if constraints is not None or interactions is not None or objective != "mass":
            raise InvalidInputError("give constraints, objective and interactions to the TradeSpace, not alongside it")
        ts = options
    elif isinstance(options, Mapping):
        ts = TradeSpace(options, limits=constraints, objective=objective, interactions=interactions)
    else:
        raise InvalidInputError("options must be a TradeSpace or a mapping {subsystem: [Option, ...]}")
    depths = _reps_list(reps)
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
        raise InvalidInputError(f"shots must be a whole number ≥ 1, got {shots!r}")
    backend_name = resolve_backend(backend)

    qubo = to_qubo(ts, penalty)
    table = ts.enumerate()
    optimum = brute_force(qubo) if qubo.num_variables <= MAX_BRUTE_FORCE_VARIABLES else brute_force(ts)
    if optimum.selection is None:
        raise InvalidInputError("no selection of the trade space meets every limit: relax the constraints")

    g = default_gammas() if gammas is None else gammas
    b = default_betas() if betas is None else betas
    results = []
    for k, p in enumerate(depths):
        run = optimize(qubo, p, gammas=g, betas=b, backend=backend_name, schedule=schedule, optimizer=optimizer,
                       shots=int(shots), seed=None if seed is None else int(seed) + k)
        results.append(_judge_depth(run, ts, qubo, table, optimum))
    study = TradeStudyResult(ts, qubo, optimum, results, backend_name, int(shots), seed, schedule, table)

    if program is not None:
        ds = study.to_dataset()
        gap = study.optimality_gap
        if not math.isfinite(gap):
            warn("no feasible selection was sampled: selected_feasible is False and optimality_gap is not set")
        text = message or (
            f"QAOA trade study (p = {', '.join(map(str, depths))}): "
            + (f"selected {study.best.selection_label}, gap {gap:.3g}" if study.best else "no feasible selection sampled")
        )
        ctx = program.context
        with ctx.transaction(message=text, source="qaoa_trade_study") as tx:
            tx.put_dataset(name, ds)
            tx.set_params(selected_feasible=bool(study.selected_feasible))
            if math.isfinite(gap):
                try:
                    tx.set_params(optimality_gap=float(gap))
                except InvalidInputError as exc:  # e.g. above the vocabulary's range
                    warn(f"optimality_gap {gap:.4g} not stored: {exc}; it is in the dataset's attributes")
        study.stored = f"{program.name}: {name}"
    return study
