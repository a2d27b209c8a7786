"""Historical resource usage of past programs, per phase.

PLUMA forecasts a program's resources from what earlier programs used. Until a
workspace has metered enough of its own usage, the history is a **synthetic
data set made by a documented, seeded generator** (:func:`generate_history`),
shipped as ``catalogs/capacity_history.csv`` and read through the intake
catalog ``catalogs/capacity.yaml`` (entry ``capacity_history``, see
:func:`load_history`). The numbers are invented; their *structure* is meant to
be realistic, and every assumption is written down here so that nobody
mistakes the data for measurements.

One row per (program, phase reached). Columns:

=================  ==========================================================
``program``        id of the past program (``P0000`` ...)
``priority``       standard / research / defense
``classification`` PUBLIC / EAR99 / EAR / ITAR
``domains``        domain codes joined with ``+`` (e.g. ``AAA+CQH+EEE``)
``n_domains``      number of domains
``phase``          CAD ... CAS
``complexity``     latent design complexity in [0, 1] — **not observable** for
                   a live program, so not a model feature; kept for analysis
``dataset_gb``     volume of the phase's datasets (observable)
``artifact_mb``    volume of the phase's artifacts (observable)
``sweep_points``   points in the phase's parameter sweeps (observable)
``cores``          peak cores used at once
``core_hours``     core-hours used in the phase
``memory_gb``      peak memory
``gpu_hours``      GPU-hours (0 for programs/phases without GPU work)
``storage_tb``     storage held at the end of the phase
``qubits``         widest quantum job (0 without quantum work)
``template_runs``  template (papermill) runs in the phase
=================  ==========================================================

How the generator works (all on a log scale, so effects multiply):

* **Programs.** Priority standard/research/defense with probabilities
  0.6/0.25/0.15; classification depends on priority (defense programs are
  mostly ITAR/EAR). ``n_domains`` is 1 + Binomial(14, p), p ~ Beta(2, 4); the
  domains are drawn without replacement with fixed popularity weights. The
  latent complexity is Beta(2, 2) nudged up by the number of domains. A
  program-level random effect (sd 0.3) makes a program's phases alike.
* **Phases.** Every program starts in CAD and passes each gate with
  probability 0.85, so the history holds fewer late phases than early ones.
  Each phase has a profile (:data:`PHASE_PROFILE`): CAE and CAO are heavy in
  compute and GPU, CAO is where quantum jobs run, CAV and CMP hold the most
  storage and run the most templates.
* **Domains.** Each domain has an intensity for compute, GPU, storage and
  templates (:data:`DOMAIN_WEIGHTS`); a program's intensity is the sum over its
  domains, so usage grows with the number of domains and depends on which
  ones. ``CQH`` is the domain that uses quantum hardware (an assumption of the
  generator, not a statement about the code's meaning elsewhere).
* **Classification and priority.** ITAR adds storage (a separate enclave keeps
  its own copies) and on-premises overhead; defense programs use more compute,
  research programs more GPU.
* **Correlation.** Every (program, phase) row draws one shared factor (sd
  0.3) that moves all of its resources together, on top of the program
  effect; the observable volumes (datasets, artifacts, sweeps) are driven by
  the same latents plus their own noise, so they carry information about usage
  without revealing it.
* **Heavy tails.** Idiosyncratic lognormal noise (sd 0.35 per resource), and
  with probability 0.05 a row is a "runaway" phase whose compute and storage
  are multiplied by exp(N(1.0, 0.4)) — rework, a bad mesh, a sweep rerun.
* **Zeros.** GPU-hours are zero unless the program has a GPU toolchain (one of
  the domains with GPU intensity >= 1.5: AAA, CCC, MMM), and then the phase uses
  GPUs with the chance ``gpu_use`` of its profile (0.9 in CAE and CAO, 0 in
  CAP, CMP, CAS); qubits are zero unless ``CQH`` is a domain, and then the
  phase runs quantum jobs with the chance ``quantum`` (0.9 in CAO, 0.3 in CAE,
  0.15 in CAV). About 2/3 of rows have no GPU-hours and 19 in 20 no qubits.

The same seed always gives the same frame (``numpy.random.default_rng(seed)``
drives every draw, in a fixed order). :func:`write_history_catalog` rewrites
the shipped CSV with the default arguments.

``generate_history(..., latents=True)`` also returns what no forecaster can
see — the program effect, each row's shared factor and runaway — and two
oracle forecasts per resource made from them (``oracle_<r>``,
``program_oracle_<r>``; same draws, so the other columns do not change).
``benchmarks/capacity_ceiling.py`` uses them to measure how close *any* model
could get to the accuracy goal of ``pluma capacity evaluate`` on this data.

Examples
--------
>>> from pluma.capacity.history import generate_history
>>> df = generate_history(n_programs=20, seed=1)
>>> list(df.columns[:6])
['program', 'priority', 'classification', 'domains', 'n_domains', 'phase']
>>> generate_history(n_programs=20, seed=1).equals(df)
True
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError, NotFoundError
from ..programs.phases import CLASSIFICATIONS, DOMAINS, PRIORITIES, Phase

__all__ = [
    "COUNT_RESOURCES",
    "DEFAULT_CATALOG",
    "DOMAIN_WEIGHTS",
    "FEATURE_COLUMNS_RAW",
    "LATENT_COLUMNS",
    "PHASE_PROFILE",
    "RESOURCES",
    "generate_history",
    "load_history",
    "write_history_catalog",
]

log = logging.getLogger(__name__)

#: Resources forecast by PLUMA, in the order they appear everywhere.
RESOURCES: tuple[str, ...] = ("cores", "core_hours", "memory_gb", "gpu_hours", "storage_tb", "qubits",
                              "template_runs")

#: Resources counted in whole units (their history values and forecasts are integers).
COUNT_RESOURCES: tuple[str, ...] = ("cores", "qubits", "template_runs")

#: Columns of the history that describe a program and phase (inputs of the model, plus the latent complexity).
FEATURE_COLUMNS_RAW: tuple[str, ...] = ("program", "priority", "classification", "domains", "n_domains", "phase",
                                        "complexity", "dataset_gb", "artifact_mb", "sweep_points")

#: What ``generate_history(latents=True)`` adds besides the ``oracle_<resource>`` columns: the draws no forecaster
#: sees (program effect, the row's shared factor, its runaway blow-up on the log scale).
LATENT_COLUMNS: tuple[str, ...] = ("program_effect", "row_factor", "runaway")

#: The catalog shipped with PLUMA (``catalogs/capacity.yaml`` at the top of the source tree).
DEFAULT_CATALOG = Path(__file__).resolve().parents[2] / "catalogs" / "capacity.yaml"

PHASES: tuple[str, ...] = tuple(p.value for p in Phase)

#: Profile of each phase. compute / gpu / storage / templates / sweeps: log-scale offsets; gpu_use: chance that a
#: program with a GPU toolchain uses GPUs in the phase; quantum: chance that a CQH program runs quantum jobs.
PHASE_PROFILE: dict[str, dict[str, float]] = {
    "CAD": dict(compute=-0.6, gpu=-1.5, storage=-0.8, templates=0.0, sweeps=-1.5, gpu_use=0.15, quantum=0.0),
    "CAE": dict(compute=1.3, gpu=0.8, storage=0.0, templates=0.3, sweeps=1.0, gpu_use=0.9, quantum=0.3),
    "CAI": dict(compute=0.3, gpu=-0.5, storage=-0.2, templates=0.4, sweeps=-0.5, gpu_use=0.5, quantum=0.0),
    "CAO": dict(compute=1.5, gpu=1.0, storage=-0.1, templates=0.2, sweeps=1.5, gpu_use=0.9, quantum=0.9),
    "CAM": dict(compute=0.0, gpu=-1.0, storage=0.1, templates=0.3, sweeps=-0.8, gpu_use=0.15, quantum=0.0),
    "CAP": dict(compute=-0.5, gpu=-2.0, storage=0.0, templates=0.5, sweeps=-1.5, gpu_use=0.0, quantum=0.0),
    "CAV": dict(compute=0.2, gpu=-0.8, storage=1.2, templates=1.4, sweeps=0.0, gpu_use=0.5, quantum=0.15),
    "CMP": dict(compute=-0.4, gpu=-2.0, storage=1.4, templates=1.5, sweeps=-1.0, gpu_use=0.0, quantum=0.0),
    "CAS": dict(compute=-0.8, gpu=-2.0, storage=0.8, templates=0.6, sweeps=-1.5, gpu_use=0.0, quantum=0.0),
}

#: Intensity of each domain for compute, GPU, storage and templates, and how often programs use it.
DOMAIN_WEIGHTS: dict[str, dict[str, float]] = {
    "AAA": dict(compute=3.0, gpu=2.0, storage=1.5, templates=1.0, popularity=3.0),
    "AAP": dict(compute=1.5, gpu=0.5, storage=1.0, templates=1.0, popularity=2.0),
    "CCC": dict(compute=2.5, gpu=1.5, storage=1.0, templates=0.8, popularity=1.5),
    "CQH": dict(compute=1.0, gpu=0.5, storage=0.3, templates=0.6, popularity=0.8),
    "DDD": dict(compute=0.3, gpu=0.0, storage=2.5, templates=1.5, popularity=2.0),
    "EDI": dict(compute=0.2, gpu=0.0, storage=0.8, templates=2.0, popularity=1.5),
    "EEE": dict(compute=1.0, gpu=0.2, storage=0.6, templates=1.0, popularity=2.0),
    "EER": dict(compute=0.8, gpu=0.0, storage=0.5, templates=1.2, popularity=1.0),
    "IIF": dict(compute=0.4, gpu=0.0, storage=1.2, templates=0.8, popularity=1.0),
    "IIS": dict(compute=0.6, gpu=0.3, storage=1.0, templates=1.0, popularity=1.0),
    "LCC": dict(compute=0.3, gpu=0.0, storage=0.5, templates=1.5, popularity=1.0),
    "LIB": dict(compute=0.1, gpu=0.0, storage=2.0, templates=0.5, popularity=0.8),
    "MMM": dict(compute=2.0, gpu=2.5, storage=1.2, templates=0.8, popularity=1.2),
    "OOO": dict(compute=1.2, gpu=0.8, storage=0.4, templates=0.6, popularity=1.0),
    "PPP": dict(compute=0.5, gpu=0.0, storage=0.6, templates=1.8, popularity=1.5),
}

_PRIORITY_P = {"standard": 0.60, "research": 0.25, "defense": 0.15}
_CLASSIFICATION_P = {  # per priority, over PUBLIC, EAR99, EAR, ITAR
    "standard": (0.45, 0.30, 0.20, 0.05),
    "research": (0.60, 0.25, 0.12, 0.03),
    "defense": (0.00, 0.05, 0.35, 0.60),
}
_GATE_PASS = 0.85
_RUNAWAY_P = 0.05


def _check_args(n_programs: Any, seed: Any) -> None:
    if isinstance(n_programs, bool) or not isinstance(n_programs, (int, np.integer)) or n_programs < 1:
        raise InvalidInputError(f"n_programs must be an integer >= 1, got {n_programs!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"seed must be an integer >= 0, got {seed!r}")


def generate_history(n_programs: int = 400, seed: int = 0, *, latents: bool = False) -> pd.DataFrame:
    """Synthetic resource usage of ``n_programs`` past programs, one row per (program, phase reached).

    Deterministic for a seed; the module docstring describes the structure.

    Parameters
    ----------
    n_programs
        Number of past programs (each contributes 1-9 phase rows, about 5 on average).
    seed
        Seed of the ``numpy.random.default_rng`` that drives every draw.
    latents
        Also return what the generator knows and no forecaster can (for analysing the data, never as model
        inputs): :data:`LATENT_COLUMNS` — ``program_effect``, ``row_factor`` (the row's shared factor) and
        ``runaway`` (its log blow-up, 0 for an ordinary row) — and two forecasts per resource that no real
        forecaster can make. ``oracle_<resource>`` is the usage the row would have without that resource's own
        noise (its idiosyncratic lognormal term, and the Poisson draw of the template runs): it knows the latent
        complexity, the program effect, the row factor and the runaway. ``program_oracle_<resource>`` knows
        only what is fixed for the program (complexity, program effect) and the row's observable volumes, and
        takes the row factor and the runaway as 0. Where a resource is used only by chance (GPU-hours, qubits)
        both give the usage *if* used. ``benchmarks/capacity_ceiling.py`` measures them against the naive
        baseline. The other columns are identical with or without ``latents`` (no extra draw is made).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FEATURE_COLUMNS_RAW` followed by :data:`RESOURCES` (then the latent and oracle columns).

    Examples
    --------
    >>> df = generate_history(n_programs=50, seed=0)
    >>> bool((df.groupby("program").phase.first() == "CAD").all())
    True
    """
    _check_args(n_programs, seed)
    rng = np.random.default_rng(int(seed))
    domains_arr = np.array(DOMAINS)
    popularity = np.array([DOMAIN_WEIGHTS[d]["popularity"] for d in DOMAINS], dtype=float)
    popularity /= popularity.sum()
    rows: list[dict[str, Any]] = []
    for i in range(int(n_programs)):
        priority = str(rng.choice(list(_PRIORITY_P), p=list(_PRIORITY_P.values())))
        classification = str(rng.choice(CLASSIFICATIONS, p=_CLASSIFICATION_P[priority]))
        n_dom = 1 + int(rng.binomial(len(DOMAINS) - 1, rng.beta(2.0, 4.0)))
        chosen = sorted(rng.choice(domains_arr, size=n_dom, replace=False, p=popularity).tolist())
        complexity = float(np.clip(rng.beta(2.0, 2.0) + 0.03 * (n_dom - 5), 0.0, 1.0))
        prog_effect = rng.normal(0.0, 0.3)
        n_phases = 1
        while n_phases < len(PHASES) and rng.random() < _GATE_PASS:
            n_phases += 1
        w = {k: sum(DOMAIN_WEIGHTS[d][k] for d in chosen) for k in ("compute", "gpu", "storage", "templates")}
        gpu_domains = any(DOMAIN_WEIGHTS[d]["gpu"] >= 1.5 for d in chosen)  # a GPU toolchain
        quantum_domain = "CQH" in chosen
        for phase in PHASES[:n_phases]:
            rows.append(_phase_row(rng, f"P{i:04d}", priority, classification, chosen, complexity, prog_effect,
                                   phase, w, gpu_domains, quantum_domain, latents))
    columns = list(FEATURE_COLUMNS_RAW) + list(RESOURCES)
    if latents:
        columns += list(LATENT_COLUMNS) + [f"{prefix}{r}" for prefix in ("oracle_", "program_oracle_")
                                           for r in RESOURCES]
    df = pd.DataFrame(rows, columns=columns)
    return df


def _phase_row(rng: np.random.Generator, program: str, priority: str, classification: str, chosen: list[str],
               complexity: float, prog_effect: float, phase: str, w: dict[str, float], gpu_domains: bool,
               quantum_domain: bool, latents: bool = False) -> dict[str, Any]:
    prof = PHASE_PROFILE[phase]
    n_dom = len(chosen)
    shared = rng.normal(0.0, 0.3)  # moves every resource of this row together
    runaway = rng.random() < _RUNAWAY_P
    blowup = rng.normal(1.0, 0.4) if runaway else 0.0
    c = complexity
    itar = classification == "ITAR"
    defense = priority == "defense"
    research = priority == "research"
    phase_index = PHASES.index(phase)
    latent = prog_effect + shared

    # observable volumes: driven by the same latents, with their own noise
    dataset_gb = np.exp(1.5 + 0.8 * np.log1p(w["storage"]) + 1.6 * c + 0.7 * prof["storage"]
                        + 0.12 * phase_index + 0.8 * latent + rng.normal(0.0, 0.45))
    artifact_mb = np.exp(3.0 + 0.7 * np.log1p(w["templates"]) + 1.0 * c + 0.5 * prof["templates"]
                         + 0.6 * latent + rng.normal(0.0, 0.5))
    sweep_mean = np.exp(3.0 + prof["sweeps"] + 1.2 * c + 0.4 * np.log1p(w["compute"]) + 0.5 * latent
                        + rng.normal(0.0, 0.5))
    sweep_points = int(rng.poisson(sweep_mean)) if prof["sweeps"] > -1.0 or rng.random() < 0.4 else 0

    # resources: each formula takes the row's own noise ``e`` as an argument, so that ``latents=True`` can
    # evaluate it a second time without that noise (the ``oracle_*`` columns)
    def log_core_hours(e: float, lat: float = latent, b: float = blowup) -> float:
        return (4.0 + prof["compute"] + 1.0 * np.log1p(w["compute"]) + 2.0 * c + lat
                + 0.25 * defense + 0.15 * itar + 0.15 * np.log1p(sweep_points) + e + b)

    def cores_of(log_ch: float, e: float) -> int:
        return int(max(1, round(np.exp(0.45 * log_ch + 0.5 + 0.3 * (prof["sweeps"] > 0) + e))))

    def memory_per_core(e: float) -> float:
        return np.exp(np.log(4.0) + 0.3 * np.log1p(w["gpu"]) + 0.5 * c + e)

    def gpu_hours_of(e: float, lat: float = latent, b: float = blowup) -> float:
        return float(np.exp(1.5 + prof["gpu"] + 1.1 * np.log1p(w["gpu"]) + 1.5 * c + lat
                            + 0.3 * research + e + b))

    def storage_tb_of(e: float, lat: float = latent, b: float = blowup) -> float:
        return float(np.exp(-2.5 + prof["storage"] + 0.9 * np.log1p(w["storage"]) + 1.2 * c + 0.1 * phase_index
                            + 0.3 * itar + 0.4 * lat + 0.35 * np.log(dataset_gb / 10.0) + e + 0.6 * b))

    def qubits_of(e: float, lat: float = latent) -> int:
        return int(max(2, round(np.exp(np.log(12.0) + 1.0 * c + 0.3 * (phase == "CAO") + 0.3 * lat + e))))

    def template_rate(e: float, lat: float = latent) -> float:
        return np.exp(1.5 + prof["templates"] + 0.8 * np.log1p(w["templates"]) + 0.8 * c + 0.7 * lat + e)

    log_ch = log_core_hours(rng.normal(0.0, 0.35))
    core_hours = float(np.exp(log_ch))
    cores = cores_of(log_ch, rng.normal(0.0, 0.35))
    memory_gb = float(cores * memory_per_core(rng.normal(0.0, 0.35)))

    gpu_hours = 0.0
    if gpu_domains and rng.random() < prof["gpu_use"]:
        gpu_hours = gpu_hours_of(rng.normal(0.0, 0.4))

    storage_tb = storage_tb_of(rng.normal(0.0, 0.35))

    qubits = 0
    if quantum_domain and rng.random() < prof["quantum"]:
        qubits = qubits_of(rng.normal(0.0, 0.3))

    template_runs = int(rng.poisson(template_rate(rng.normal(0.0, 0.35))))
    row: dict[str, Any] = {
        "program": program,
        "priority": priority,
        "classification": classification,
        "domains": "+".join(chosen),
        "n_domains": n_dom,
        "phase": phase,
        "complexity": round(c, 4),
        "dataset_gb": round(float(dataset_gb), 3),
        "artifact_mb": round(float(artifact_mb), 3),
        "sweep_points": sweep_points,
        "cores": cores,
        "core_hours": round(core_hours, 2),
        "memory_gb": round(memory_gb, 2),
        "gpu_hours": round(gpu_hours, 2),
        "storage_tb": round(storage_tb, 4),
        "qubits": qubits,
        "template_runs": template_runs,
    }
    if latents:  # no draw happens here: the frame's other columns are the same with or without latents
        row.update({"program_effect": round(float(prog_effect), 4), "row_factor": round(float(shared), 4),
                    "runaway": round(float(blowup), 4)})
        gpu_possible = gpu_domains and prof["gpu_use"] > 0
        quantum_possible = quantum_domain and prof["quantum"] > 0
        # "oracle_": knows every latent of the row; "program_oracle_": only what is fixed for the program
        for prefix, lat, b in (("oracle_", latent, blowup), ("program_oracle_", prog_effect, 0.0)):
            log_ch0 = log_core_hours(0.0, lat, b)
            cores0 = cores_of(log_ch0, 0.0)
            row.update({
                f"{prefix}cores": cores0,
                f"{prefix}core_hours": round(float(np.exp(log_ch0)), 2),
                f"{prefix}memory_gb": round(float(cores0 * memory_per_core(0.0)), 2),
                # a resource used by chance: the usage *if* used (MdAPE judges the rows with use)
                f"{prefix}gpu_hours": round(gpu_hours_of(0.0, lat, b), 2) if gpu_possible else 0.0,
                f"{prefix}storage_tb": round(storage_tb_of(0.0, lat, b), 4),
                f"{prefix}qubits": qubits_of(0.0, lat) if quantum_possible else 0,
                f"{prefix}template_runs": round(float(template_rate(0.0, lat)), 2),
            })
    return row


def write_history_catalog(path_csv: str | Path | None = None, n_programs: int = 400, seed: int = 0) -> Path:
    """Regenerate the history CSV the capacity catalog points at (default: ``catalogs/capacity_history.csv``).

    Returns the path written. The catalog YAML itself is static and not rewritten.
    """
    path = Path(path_csv) if path_csv is not None else DEFAULT_CATALOG.with_name("capacity_history.csv")
    df = generate_history(n_programs=n_programs, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, lineterminator="\n")
    log.info("wrote %d rows of capacity history to %s", len(df), path)
    return path


_DTYPES = {"program": str, "priority": str, "classification": str, "domains": str, "phase": str}


def load_history(catalog: str | Path | None = None, entry: str = "capacity_history") -> pd.DataFrame:
    """Read the capacity history through its intake catalog.

    Parameters
    ----------
    catalog
        Path of an intake v2 catalog (default :data:`DEFAULT_CATALOG`, ``catalogs/capacity.yaml``).
    entry
        Name of the entry to read.

    Raises
    ------
    MissingDependencyError
        intake is not installed (``pip install 'pluma[catalog]'``).
    NotFoundError
        The catalog file or the entry does not exist. (An installed wheel does not carry ``catalogs/``:
        pass a catalog path, or use :func:`generate_history` — the shipped CSV is its default output.)
    """
    try:
        import intake
    except ImportError as exc:  # pragma: no cover - depends on the environment
        from ..errors import MissingDependencyError

        raise MissingDependencyError("reading the capacity history needs intake: pip install 'pluma[catalog]'") \
            from exc
    path = Path(catalog) if catalog is not None else DEFAULT_CATALOG
    if not path.is_file():
        raise NotFoundError(f"capacity catalog {str(path)!r} not found; pass catalog=PATH, or use "
                            "pluma.capacity.history.generate_history() (the shipped CSV is its default output)")
    cat = intake.from_yaml_file(str(path.resolve()))
    if entry not in cat.entries:
        raise NotFoundError(f"catalog {str(path)!r} has no entry {entry!r}; it has {', '.join(sorted(cat.entries))}")
    df = cat[entry].read()
    missing = [c for c in list(FEATURE_COLUMNS_RAW) + list(RESOURCES) if c not in df.columns]
    if missing:
        raise InvalidInputError(f"capacity history from {str(path)!r} lacks columns {', '.join(missing)}")
    for col, typ in _DTYPES.items():
        df[col] = df[col].astype(typ)
    return df


def _validate_history(df: pd.DataFrame) -> None:
    """Raise InvalidInputError when a frame is not a usable capacity history."""
    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(f"history must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in FEATURE_COLUMNS_RAW if c not in df.columns and c != "complexity"]
    missing += [c for c in RESOURCES if c not in df.columns]
    if missing:
        raise InvalidInputError(f"history lacks columns {', '.join(missing)}")
    if df.empty:
        raise InvalidInputError("history is empty")
    bad = set(df["phase"]) - set(PHASES)
    if bad:
        raise InvalidInputError(f"unknown phases in history: {', '.join(sorted(map(str, bad)))}")
    bad = set(df["priority"]) - set(PRIORITIES)
    if bad:
        raise InvalidInputError(f"unknown priorities in history: {', '.join(sorted(map(str, bad)))}")
    bad = set(df["classification"]) - set(CLASSIFICATIONS)
    if bad:
        raise InvalidInputError(f"unknown classifications in history: {', '.join(sorted(map(str, bad)))}")
    values = df[list(RESOURCES)].to_numpy(dtype=float)
    known = ~np.isnan(values)  # missing: a resource not metered in that row (a workspace's own history)
    if not np.isfinite(values[known]).all() or (values[known] < 0).any():
        raise InvalidInputError("history resources must be finite numbers >= 0 (or missing where not metered)")
    if not known.any(axis=0).all():
        empty = [r for r, k in zip(RESOURCES, known.any(axis=0)) if not k]
        raise InvalidInputError(f"history has no value at all for {', '.join(empty)}")
