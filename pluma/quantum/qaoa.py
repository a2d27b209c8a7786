"""QAOA for QUBOs on Qiskit 2 primitives, with batched angle sweeps.

The cost operator is the QUBO's Ising form (:func:`~pluma.quantum.qubo.to_ising`)
divided by its largest coefficient ``scale``, so angles are comparable between
problems: the circuit is ``qiskit.circuit.library.qaoa_ansatz(op/scale, reps=p)``
and the physical cost angle is ``γ/scale``. Energies are always reported in
QUBO units (``⟨op⟩ + constant``, the same numbers as :meth:`QUBO.energy`).

Angles of a depth-``p`` circuit are a vector ``(γ₀ … γₚ₋₁, β₀ … βₚ₋₁)``.
A 2-D landscape over ``(γ, β)`` for ``p > 1`` uses a *schedule*:

``"ramp"`` (default)
    linear ramp, annealing-like: ``γₖ = γ·(k+1)/p``, ``βₖ = β·(p−k)/p``
    (for ``p = 1`` simply ``γ₀ = γ``, ``β₀ = β``).
``"constant"``
    every layer uses ``(γ, β)``.

Every grid point of a landscape is evaluated in **one** Estimator call (one
PUB whose parameter values are an array of shape ``(n_γ, n_β, 2p)``);
:func:`optimize` starts from the best grid points and refines all ``2p``
angles with a local optimiser whose trial points are also evaluated in one
batched call per iteration: L-BFGS-B (SciPy, which Qiskit depends on) with a
batched finite-difference gradient, or a numpy compass search. It then
samples the optimised circuit with the Sampler.

Backends: ``"aer"`` (``qiskit_aer.primitives.EstimatorV2/SamplerV2``, exact
expectation values), ``"reference"`` (``qiskit.primitives.StatevectorEstimator/
StatevectorSampler``), ``"auto"`` = Aer when installed, else reference.

Bitstrings returned by this module list **variable 0 first** (``"1010"``
means ``x0 = 1, x1 = 0, …``), the order of :attr:`QUBO.variables`; Qiskit's
own count keys put qubit 0 last and are reversed here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidInputError, MissingDependencyError
from .qubo import QUBO, to_ising

__all__ = [
    "QAOAResult",
    "angles_from_grid",
    "default_betas",
    "default_gammas",
    "energy_landscape",
    "evaluate_energies",
    "optimize",
    "resolve_backend",
    "sample",
]

SCHEDULES = ("ramp", "constant")


def default_gammas(n: int = 10) -> np.ndarray:
    """Default cost angles of a landscape: ``n`` points ``π/n … π`` (normalised operator)."""
    return np.linspace(np.pi / n, np.pi, n)


def default_betas(n: int = 10) -> np.ndarray:
    """Default mixer angles: ``n`` points in ``[−π/2, π/2)``, one period of the ``RX(2β)`` mixer
    (with ``γ > 0`` this covers every angle pair up to the symmetry ``(γ, β) → (−γ, −β)``)."""
    return np.linspace(-np.pi / 2, np.pi / 2, n, endpoint=False)


def _qiskit():
    try:
        import qiskit  # noqa: F401
        from qiskit.circuit.library import qaoa_ansatz
    except ImportError as exc:  # pragma: no cover - qiskit is installed here
        raise MissingDependencyError("QAOA needs Qiskit 2: pip install 'pluma[quantum]'") from exc
    return qaoa_ansatz


def resolve_backend(backend: str = "auto") -> str:
    """``"aer"`` or ``"reference"``: what ``backend`` means on this machine."""
    if backend not in ("auto", "aer", "reference"):
        raise InvalidInputError(f"backend must be 'auto', 'aer' or 'reference', not {backend!r}")
    if backend == "reference":
        return backend
    try:
        import qiskit_aer  # noqa: F401
    except ImportError:
        if backend == "aer":
            raise MissingDependencyError("backend='aer' needs qiskit-aer: pip install 'pluma[quantum]'") from None
        return "reference"
    return "aer"


class _Circuit:
    """The QAOA circuit of one QUBO at one depth, compiled for one backend."""

    _cache: dict[tuple, "_Circuit"] = {}

    def __init__(self, qubo: QUBO, reps: int, backend: str) -> None:
        qaoa_ansatz = _qiskit()
        from qiskit import transpile

        self.qubo = qubo
        self.reps = reps
        self.backend = backend
        op, constant = to_ising(qubo)
        coeffs = np.abs(np.real(op.coeffs))
        self.scale = float(coeffs.max()) if coeffs.size and coeffs.max() > 0 else 1.0
        self.operator = op
        self.constant = constant
        self.normalised = (op / self.scale).simplify(atol=1e-14)
        ansatz = qaoa_ansatz(self.normalised, reps=reps)
        measured = ansatz.copy()
        measured.measure_all()
        basis = ["rz", "rx", "ry", "h", "cx", "rzz", "sx", "x"]
        self.circuit = transpile(ansatz, basis_gates=basis, optimization_level=1)
        self.measured = transpile(measured, basis_gates=basis, optimization_level=1)
        for c in (self.circuit, self.measured):
            if c.layout is not None and list(c.layout.final_index_layout()) != list(range(qubo.num_variables)):
                raise RuntimeError("transpiling the QAOA circuit permuted its qubits")  # pragma: no cover
        self.order = [self._index(p.name) for p in self.circuit.parameters]
        self.measured_order = [self._index(p.name) for p in self.measured.parameters]
        if backend == "aer":
            from qiskit_aer.primitives import EstimatorV2

            self.estimator = EstimatorV2()
        else:
            from qiskit.primitives import StatevectorEstimator

            self.estimator = StatevectorEstimator()
        self.calls = 0

    def _index(self, name: str) -> int:
        # parameter names are "β[k]" and "γ[k]" (qaoa_ansatz); our vector is (γ..., β...)
        kind, k = name[0], int(name[name.index("[") + 1 : -1])
        if kind == "γ":
            return k
        if kind == "β":
            return self.reps + k
        raise RuntimeError(f"unexpected QAOA parameter {name!r}")  # pragma: no cover

    @classmethod
    def get(cls, qubo: QUBO, reps: int, backend: str) -> "_Circuit":
        key = (id(qubo), reps, backend)
        hit = cls._cache.get(key)
        if hit is None or hit.qubo is not qubo:
            if len(cls._cache) > 32:
                cls._cache.clear()
            hit = cls._cache[key] = cls(qubo, reps, backend)
        return hit

    def energies(self, angles: np.ndarray) -> np.ndarray:
        """QUBO-unit energies for an array of angle vectors (``..., 2p``), one Estimator call."""
        values = np.asarray(angles, dtype=float)[..., self.order]
        self.calls += 1
        result = self.estimator.run([(self.circuit, self.normalised, values)]).result()
        evs = np.asarray(result[0].data.evs, dtype=float)
        return evs * self.scale + self.constant

    def sample(self, angles: np.ndarray, shots: int, seed: int | None) -> dict[str, int]:
        values = np.asarray(angles, dtype=float)[self.measured_order]
        if self.backend == "aer":
            from qiskit_aer.primitives import SamplerV2

            sampler = SamplerV2(default_shots=shots, seed=seed)
        else:
            from qiskit.primitives import StatevectorSampler

            sampler = StatevectorSampler(default_shots=shots, seed=seed)
        result = sampler.run([(self.measured, values)], shots=shots).result()
        counts = result[0].data.meas.get_counts()
        return {key[::-1]: int(v) for key, v in counts.items()}


def _check(qubo: Any, reps: Any) -> int:
    if not isinstance(qubo, QUBO):
        raise InvalidInputError(f"QAOA needs a QUBO (see pluma.quantum.to_qubo), got {type(qubo).__name__}")
    if isinstance(reps, bool) or not isinstance(reps, (int, np.integer)) or reps < 1:
        raise InvalidInputError(f"reps (QAOA depth p) must be a whole number ≥ 1, got {reps!r}")
    if qubo.num_variables > 24:
        raise InvalidInputError(f"{qubo.num_variables} qubits is beyond what this statevector QAOA simulates (24)")
    return int(reps)


def _grid(name: str, values: Any, default) -> np.ndarray:
    if values is None:
        return default()
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{name} must be a non-empty list of finite angles (radians)")
    return arr


def angles_from_grid(gammas: Any, betas: Any, reps: int, schedule: str = "ramp") -> np.ndarray:
    """Angle vectors ``(n_γ, n_β, 2p)`` for every ``(γ, β)`` of a grid under a schedule."""
    if schedule not in SCHEDULES:
        raise InvalidInputError(f"schedule must be one of {', '.join(SCHEDULES)}, not {schedule!r}")
    g = np.asarray(gammas, dtype=float)
    b = np.asarray(betas, dtype=float)
    k = np.arange(reps)
    if schedule == "ramp":
        gw, bw = (k + 1) / reps, (reps - k) / reps
    else:
        gw = bw = np.ones(reps)
    out = np.empty((g.size, b.size, 2 * reps))
    out[..., :reps] = g[:, None, None] * gw
    out[..., reps:] = b[None, :, None] * bw
    return out


def evaluate_energies(qubo: QUBO, reps: int, angles: Any, *, backend: str = "auto") -> np.ndarray:
    """Expected QUBO energy for each angle vector (array ``(..., 2p)``), in one Estimator call."""
    reps = _check(qubo, reps)
    arr = np.asarray(angles, dtype=float)
    if arr.shape[-1:] != (2 * reps,) or not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"angles must be finite with last dimension 2·reps = {2 * reps}, got shape {arr.shape}")
    return _Circuit.get(qubo, reps, resolve_backend(backend)).energies(arr)


def energy_landscape(
    qubo: QUBO,
    reps: int = 1,
    gammas: Any = None,
    betas: Any = None,
    *,
    backend: str = "auto",
    schedule: str = "ramp",
):
    """Expected energy on a ``(γ, β)`` grid, every point in **one** batched Estimator call.

    Parameters
    ----------
    qubo : QUBO
    reps : int, default 1
        QAOA depth ``p``.
    gammas, betas : array_like, optional
        Grid of cost and mixer angles (radians; ``γ`` for the normalised
        operator). Defaults: :func:`default_gammas`, :func:`default_betas`
        (10 × 10 points).
    backend : {"auto", "aer", "reference"}
    schedule : {"ramp", "constant"}
        How ``(γ, β)`` set the ``2p`` angles when ``p > 1`` (module docstring).

    Returns
    -------
    xarray.Dataset
        Dimensions ``gamma``, ``beta``; variable ``energy`` (QUBO units);
        attributes ``reps``, ``schedule``, ``backend``, ``scale``,
        ``seconds`` (wall time of the Estimator call) and the best grid point.
    """
    import xarray as xr

    reps = _check(qubo, reps)
    g = _grid("gammas", gammas, default_gammas)
    b = _grid("betas", betas, default_betas)
    angles = angles_from_grid(g, b, reps, schedule)
    name = resolve_backend(backend)
    circ = _Circuit.get(qubo, reps, name)
    t0 = time.perf_counter()
    energy = circ.energies(angles)
    seconds = time.perf_counter() - t0
    i, j = np.unravel_index(int(np.argmin(energy)), energy.shape)
    return xr.Dataset(
        {"energy": (("gamma", "beta"), energy, {"units": "1", "long_name": "expected QUBO energy ⟨E⟩ (objective units)"})},
        coords={
            "gamma": ("gamma", g, {"units": "rad", "long_name": "cost angle γ of the normalised operator (physical γ/scale)"}),
            "beta": ("beta", b, {"units": "rad", "long_name": "mixer angle β"}),
        },
        attrs={
            "title": f"QAOA energy landscape, p = {reps}",
            "reps": reps,
            "schedule": schedule,
            "backend": name,
            "scale": circ.scale,
            "num_qubits": qubo.num_variables,
            "seconds": seconds,
            "estimator_calls": 1,
            "best_gamma": float(g[i]),
            "best_beta": float(b[j]),
            "best_energy": float(energy[i, j]),
        },
    )


@dataclass
class QAOAResult:
    """Optimised QAOA at one depth: angles, expected energy, samples, landscape."""

    reps: int
    gammas: np.ndarray  # optimised γ₀…γₚ₋₁ (normalised operator)
    betas: np.ndarray  # optimised β₀…βₚ₋₁
    energy: float  # expected QUBO energy at the optimised angles
    grid_energy: float  # best energy of the landscape grid (the optimiser's start)
    counts: dict[str, int]  # bitstring (variable 0 first) -> shots
    shots: int
    seed: int | None
    backend: str
    landscape: Any = None  # xarray.Dataset of energy_landscape
    evaluations: int = 0  # angle vectors evaluated by the optimiser
    estimator_calls: int = 0  # Estimator calls made by the optimiser
    seconds: dict[str, float] = field(default_factory=dict)  # landscape, optimise, sample

    @property
    def angles(self) -> np.ndarray:
        return np.concatenate([self.gammas, self.betas])

    def probabilities(self) -> dict[str, float]:
        """Sampled probability of every bitstring seen (variable 0 first), most probable first."""
        total = float(sum(self.counts.values())) or 1.0
        return {k: v / total for k, v in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))}

    def most_probable(self) -> str:
        return next(iter(self.probabilities()))


def _grid_starts(energy: np.ndarray, k: int) -> list[tuple[int, int]]:
    """The ``k`` lowest grid points, each at least two cells from the ones already taken."""
    out: list[tuple[int, int]] = []
    for flat in np.argsort(energy, axis=None):
        i, j = (int(v) for v in np.unravel_index(int(flat), energy.shape))
        if all(max(abs(i - a), abs(j - b)) >= 2 for a, b in out):
            out.append((i, j))
            if len(out) == k:
                break
    return out


def _pattern_search(f, x0: np.ndarray, f0: np.ndarray, steps: np.ndarray, tol: float, maxiter: int):
    """Compass search from several starts at once: try ±step on each coordinate of
    every start that is still moving (all in one batched call), move each start to
    its best improvement (doubling its steps, up to the first ones) or halve its
    steps; return the best end point."""
    x, fx = np.array(x0, dtype=float), np.array(f0, dtype=float)
    m, n = x.shape
    s0 = np.asarray(steps, dtype=float)
    s = np.tile(s0, (m, 1))
    evaluations = calls = 0
    directions = np.concatenate([np.eye(n), -np.eye(n)])
    for _ in range(maxiter):
        active = np.flatnonzero(np.any(s >= tol, axis=1))
        if active.size == 0:
            break
        trial = x[active, None, :] + directions[None, :, :] * s[active, None, :]  # (starts, 2n, n)
        ft = np.asarray(f(trial)).reshape(active.size, 2 * n)
        evaluations += trial.shape[0] * trial.shape[1]
        calls += 1
        for row, a in enumerate(active):
            k = int(np.argmin(ft[row]))
            if ft[row, k] < fx[a] - 1e-12 * max(1.0, abs(fx[a])):
                x[a], fx[a] = trial[row, k], ft[row, k]
                s[a] = np.minimum(s[a] * 2.0, s0)  # expand after a success (capped at the first step)
            else:
                s[a] *= 0.5
    best = int(np.argmin(fx))
    return x[best], float(fx[best]), evaluations, calls


def _scipy_minimize():
    try:
        from scipy.optimize import minimize
    except ImportError:  # pragma: no cover - scipy comes with qiskit
        return None
    return minimize


def _bfgs(f, x0: np.ndarray, scale: float, tol: float, maxiter: int, h: float = 1e-5):
    """L-BFGS-B from one start; value and central-difference gradient come from
    one batched call (2·n + 1 angle vectors) per iteration."""
    minimize = _scipy_minimize()
    n = x0.size
    counter = {"points": 0, "calls": 0}
    offsets = np.vstack([np.zeros(n), h * np.eye(n), -h * np.eye(n)])

    def fun(x):
        e = np.asarray(f(np.asarray(x)[None, :] + offsets), dtype=float) / scale
        counter["points"] += offsets.shape[0]
        counter["calls"] += 1
        grad = (e[1 : n + 1] - e[n + 1 :]) / (2 * h)
        return float(e[0]), grad

    res = minimize(fun, x0, jac=True, method="L-BFGS-B", options={"maxiter": maxiter, "gtol": tol * 1e-1, "ftol": 1e-8})
    return np.asarray(res.x), float(res.fun) * scale, counter["points"], counter["calls"]


def _nelder_mead(f, x0: np.ndarray, steps: np.ndarray, tol: float, maxiter: int):
    minimize = _scipy_minimize()
    if minimize is None:  # pragma: no cover - scipy comes with qiskit
        raise MissingDependencyError("optimizer='nelder-mead' needs SciPy; use optimizer='pattern'")
    counter = {"n": 0}

    def one(x):
        counter["n"] += 1
        return float(f(np.asarray(x)[None, :])[0])

    simplex = np.vstack([x0, x0 + np.diag(steps)])
    res = minimize(one, x0, method="Nelder-Mead",
                   options={"initial_simplex": simplex, "xatol": tol, "fatol": 1e-9, "maxfev": maxiter * 2 * x0.size})
    return np.asarray(res.x), float(res.fun), counter["n"], counter["n"]


def optimize(
    qubo: QUBO,
    reps: int = 1,
    *,
    gammas: Any = None,
    betas: Any = None,
    backend: str = "auto",
    schedule: str = "ramp",
    optimizer: str = "bfgs",
    shots: int = 4096,
    seed: int | None = None,
    maxiter: int = 100,
    tol: float = 1e-3,
    starts: int = 3,
    initial: Any = None,
) -> QAOAResult:
    """Optimise the QAOA angles of depth ``reps`` and sample the optimised circuit.

    1. :func:`energy_landscape` on the ``(γ, β)`` grid (one batched call);
    2. local refinement of all ``2p`` angles from the ``starts`` best grid
       points (kept two cells apart; plus ``initial``, a ``2p`` vector, when
       given), the best end point winning. ``optimizer="bfgs"`` (default):
       SciPy's L-BFGS-B with the energy and its central-difference gradient
       from one batched Estimator call (``2·2p + 1`` points) per iteration;
       ``"pattern"``: compass search in numpy (used when SciPy is missing),
       every start's trial points in one batched call per iteration, a start
       stopping when its steps are below ``tol`` radians; ``"nelder-mead"``:
       SciPy, one call per point. With several starts each first gets a
       short run (``maxiter // 10`` iterations, at least 5) and only the best
       continues, for at most ``maxiter`` iterations;
    3. ``shots`` samples with the Sampler (``seed`` makes them reproducible).

    The optimiser minimises the expected QUBO energy ⟨E⟩.
    """
    reps = _check(qubo, reps)
    if optimizer not in ("bfgs", "pattern", "nelder-mead"):
        raise InvalidInputError(f"optimizer must be 'bfgs', 'pattern' or 'nelder-mead', not {optimizer!r}")
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
        raise InvalidInputError(f"shots must be a whole number ≥ 1, got {shots!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise InvalidInputError(f"seed must be a whole number ≥ 0 or None, got {seed!r}")
    if isinstance(maxiter, bool) or not isinstance(maxiter, (int, np.integer)) or maxiter < 0:
        raise InvalidInputError(f"maxiter must be a whole number ≥ 0, got {maxiter!r}")
    if isinstance(starts, bool) or not isinstance(starts, (int, np.integer)) or starts < 1:
        raise InvalidInputError(f"starts must be a whole number ≥ 1, got {starts!r}")
    name = resolve_backend(backend)
    t0 = time.perf_counter()
    land = energy_landscape(qubo, reps, gammas, betas, backend=name, schedule=schedule)
    t1 = time.perf_counter()
    g, b = land["gamma"].values, land["beta"].values
    circ = _Circuit.get(qubo, reps, name)
    e = land["energy"].values
    picks = _grid_starts(e, starts)
    x0 = np.array([angles_from_grid([g[i]], [b[j]], reps, schedule)[0, 0] for i, j in picks])
    f0 = np.array([e[i, j] for i, j in picks])
    if initial is not None:
        init = np.asarray(initial, dtype=float).ravel()
        if init.shape != (2 * reps,) or not np.all(np.isfinite(init)):
            raise InvalidInputError(f"initial angles must be 2·reps = {2 * reps} finite numbers")
        fi = float(circ.energies(init[None, :])[0])
        x0, f0 = np.vstack([x0, init]), np.append(f0, fi)
    dg = float(np.ptp(g) / max(g.size - 1, 1)) or 0.1
    db = float(np.ptp(b) / max(b.size - 1, 1)) or 0.1
    steps = np.concatenate([np.full(reps, dg / 2), np.full(reps, db / 2)])
    if maxiter == 0:
        k = int(np.argmin(f0))
        x, fx, evals, calls = x0[k], float(f0[k]), 0, 0
    elif optimizer == "pattern" or (optimizer == "bfgs" and _scipy_minimize() is None):
        x, fx, evals, calls = _pattern_search(circ.energies, x0, f0, steps, tol, maxiter)
    else:
        # screen every start with a short run, then finish the most promising one
        screen = max(5, maxiter // 10) if len(x0) > 1 else maxiter
        x, fx, evals, calls = None, np.inf, 0, 0
        for start in x0:
            if optimizer == "bfgs":
                xs, fs, ev, ca = _bfgs(circ.energies, start, circ.scale, tol, screen)
            else:
                xs, fs, ev, ca = _nelder_mead(circ.energies, start, steps, tol, screen)
            evals, calls = evals + ev, calls + ca
            if fs < fx:
                x, fx = xs, fs
        if screen < maxiter:
            if optimizer == "bfgs":
                xs, fs, ev, ca = _bfgs(circ.energies, x, circ.scale, tol, maxiter)
            else:
                xs, fs, ev, ca = _nelder_mead(circ.energies, x, steps / 4, tol, maxiter)
            evals, calls = evals + ev, calls + ca
            if fs < fx:
                x, fx = xs, fs
    t2 = time.perf_counter()
    counts = circ.sample(x, int(shots), None if seed is None else int(seed))
    t3 = time.perf_counter()
    return QAOAResult(
        reps=reps, gammas=np.asarray(x[:reps]), betas=np.asarray(x[reps:]), energy=float(fx),
        grid_energy=float(land.attrs["best_energy"]), counts=counts, shots=int(shots),
        seed=None if seed is None else int(seed), backend=name, landscape=land, evaluations=evals,
        estimator_calls=calls, seconds={"landscape": t1 - t0, "optimise": t2 - t1, "sample": t3 - t2},
    )


def sample(qubo: QUBO, reps: int, angles: Sequence[float], *, shots: int = 4096, seed: int | None = None,
           backend: str = "auto") -> dict[str, int]:
    """Counts of ``shots`` samples of the QAOA circuit at ``angles`` (bitstrings variable 0 first)."""
    reps = _check(qubo, reps)
    arr = np.asarray(angles, dtype=float).ravel()
    if arr.shape != (2 * reps,):
        raise InvalidInputError(f"angles must be 2·reps = {2 * reps} numbers")
    return _Circuit.get(qubo, reps, resolve_backend(backend)).sample(arr, int(shots), seed)
