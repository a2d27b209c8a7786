"""Holdout evaluation of the capacity model against a naive baseline.

:func:`evaluate` splits the history **by program** (every phase of a held-out
program is held out), fits a :class:`~pluma.capacity.model.CapacityModel` on the
rest (which itself keeps a share of those programs for its conformal
calibration — never the holdout), and reports per resource, on the holdout:

* **MdAPE** — median of ``|p50 - actual| / actual`` in percent, over the rows
  whose actual usage is > 0 (a percentage error of a zero is undefined; how many
  rows count is reported as ``n_error``);
* the same for the **naive baseline**: the arithmetic mean usage of the ``k``
  most similar past programs in the same phase, similarity being Euclidean
  distance on the z-scored ``log1p`` of the numeric features (number of
  domains, dataset GB, artifact MB, sweep points) — which domains, the
  classification and the priority are not used;
* **ratio** = model MdAPE / baseline MdAPE; the goal is ``ratio <= 0.7`` (error at
  least 30 % lower than the baseline);
* **coverage** — share of holdout rows with ``p10 <= actual <= p90``; the goal is
  80 % ± 7 %. Zero actuals count. For resources that are often zero (GPU-hours,
  qubits) two things differ, and the report says so rather than bend the goal:
  a forecast of exactly 0 (p90 = 0) has no interval — it covers ``P(y = 0)``,
  which is ≥ 90 % but unknown — so coverage is judged on the rows with
  ``p90 > 0`` (``coverage_all_rows`` keeps the plain share); and where p10 is 0
  *exact* quantiles cover 90 %, not 80 %, as nothing can fall below 0. The
  **nominal** coverage is therefore the mean over the judged rows of 90 % where
  p10 is 0, else 80 %, and the check is measured coverage = nominal ± 7
  points. For resources never forecast at 0 this is exactly the 80 % ± 7 %
  goal on every row.

**What each side knows.** The evaluation forecasts every held-out phase one
step ahead, as a capacity planner does for a live program: before phase ``k``
runs, the program's features and context volumes are known, and so is what it
actually used in phases ``< k`` (PLUMA meters it:
:mod:`pluma.capacity.metered`). The model gets that prior usage
(:func:`pluma.capacity.features.add_prior_usage`, computed for each held-out
row from the *same* held-out program's earlier rows only — never the row's own
usage, never a later phase); CAD rows have none, so on CAD the model knows
exactly what it knew before. The baseline is unchanged and does not use prior
usage: it is the naive forecast an organisation would make without a model —
"the mean of the most similar past programs" — and is given the same
observable features as before. Using the program's own history is the point
of a per-program forecaster rather than an unfair advantage, but it means the
ratio of later phases and that of CAD measure different things;
``by_phase_group`` reports both (``CAD`` and ``later``), so one can see where
the gain comes from.

On data as noisy as capacity usage the ratio goal is bounded by what no model
can know: the noise of a phase's usage given its features is shared by the
model and the baseline. For resources that are zero more often than not the
median forecast is 0, so MdAPE over the rows with use counts 100 % errors;
the table notes those cases instead of hiding them.

Measured on the shipped history (400 programs, holdout 25 %, ``pluma capacity
evaluate --seed 0`` / ``--seed 1``): the median ratio over resources is 0.83
and 0.84 with prior usage, against 0.81 and 0.86 without it — unchanged within
the noise of a 100-program holdout, and short of the 0.70 goal. Prior usage
helps where it exists: the median ratio of the later phases goes from 0.84 to
0.82 (seed 0) and from 0.84 to 0.79 (seed 1), while CAD (no prior usage; 0.85
and 0.97) stays where it was and pulls the overall median up.

**How far any model could get on this data** is measured by
``benchmarks/capacity_ceiling.py``, which scores, on the same held-out rows,
two oracles built from the generator's hidden draws
(``generate_history(latents=True)``), each scaled with hindsight to its best
MdAPE. The *program oracle* knows each program's latent design complexity and
program effect exactly (a model only estimates them from context volumes and
earlier phases): median ratio 0.62 (seed 0) / 0.70 (seed 1), and 0.70 is
missed on 2 and 3 of the 7 resources. The *row oracle* also knows the row's
shared factor and runaway, i.e. everything but each resource's own noise:
median 0.58 / 0.67, and template runs still miss 0.70 (0.76 / 0.73) — their
Poisson and lognormal noise alone keeps them there. So on the shipped history
no forecaster meets the goal on every resource, and the median goal is within
reach only of one that knows the latent complexity. The model's own ratios
(0.83 / 0.84) sit between the baseline and the program oracle.

Coverage, on the same runs: 7 of 7 resources within 7 points of nominal on
both seeds (cores 79.0 / 76.5 %, core-hours 73.1 / 83.6 %, memory 76.8 /
81.3 %, GPU-hours 84.7 / 87.0 % against 88 %, storage 84.2 / 83.2 %, qubits
91.5 / 93.3 % against 90 %, template runs 74.7 / 83.6 %). Resources that are
mostly zero are judged only on the rows forecast with an interval (p90 > 0):
since counts are forecast as whole numbers and GPU-hours and qubits through a
hurdle model (:mod:`pluma.capacity.hurdle`), a program that cannot use them is
forecast 0 and no longer counted as trivially covered.

Examples
--------
>>> from pluma.capacity.history import generate_history
>>> report = evaluate(generate_history(n_programs=80, seed=2), model_params={"max_iter": 40})
>>> [r["resource"] for r in report.to_dict()["resources"]][:3]
['cores', 'core_hours', 'memory_gb']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from .features import NUMERIC_COLUMNS, add_prior_usage
from .history import RESOURCES, _validate_history
from .model import CapacityModel, split_programs

__all__ = ["GOALS", "EvaluationReport", "baseline_predict", "evaluate", "mdape"]

#: The issue's goals: model MdAPE at most 70 % of the baseline's; coverage within 80 % ± 7 %.
GOALS: dict[str, float] = {"max_ratio": 0.70, "coverage": 0.80, "coverage_tolerance": 0.07}


def mdape(predicted: np.ndarray, actual: np.ndarray) -> tuple[float, int]:
    """Median absolute percentage error (percent) over the rows with ``actual > 0``, and how many rows that is."""
    predicted = np.asarray(predicted, dtype=float)
    actual = np.asarray(actual, dtype=float)
    keep = actual > 0
    if not keep.any():
        return float("nan"), 0
    return float(np.median(np.abs(predicted[keep] - actual[keep]) / actual[keep]) * 100.0), int(keep.sum())


def _numeric(df: pd.DataFrame) -> np.ndarray:
    return np.log1p(df[list(NUMERIC_COLUMNS)].to_numpy(dtype=float))


def baseline_predict(train: pd.DataFrame, query: pd.DataFrame, k: int = 5) -> pd.DataFrame:
    """The naive baseline: per query row, the mean usage of the ``k`` nearest training rows of the same phase.

    Nearest: Euclidean distance on ``log1p`` of :data:`pluma.capacity.features.NUMERIC_COLUMNS`, each z-scored
    with the training rows' mean and standard deviation. Ties are broken by training-row order (stable sort).
    Returns a frame indexed like ``query`` with one column per resource.
    """
    if k < 1:
        raise InvalidInputError(f"k must be >= 1, got {k!r}")
    xt = _numeric(train)
    mu, sd = xt.mean(axis=0), xt.std(axis=0)
    sd[sd == 0] = 1.0
    xt = (xt - mu) / sd
    xq = (_numeric(query) - mu) / sd
    yt = train[list(RESOURCES)].to_numpy(dtype=float)
    out = np.full((len(query), len(RESOURCES)), np.nan)
    train_phase = train["phase"].astype(str).to_numpy()
    for i, phase in enumerate(query["phase"].astype(str).to_numpy()):
        idx = np.flatnonzero(train_phase == phase)
        if len(idx) == 0:  # no past program reached this phase: all rows are the neighbourhood
            idx = np.arange(len(train))
        d = np.sqrt(((xt[idx] - xq[i]) ** 2).sum(axis=1))
        nearest = idx[np.argsort(d, kind="stable")[:k]]
        out[i] = yt[nearest].mean(axis=0)
    return pd.DataFrame(out, index=query.index, columns=list(RESOURCES))


@dataclass
class EvaluationReport:
    """Per-resource holdout accuracy and coverage of a capacity model against the naive baseline."""

    resources: list[dict[str, Any]]
    summary: dict[str, Any]
    n_train_programs: int
    n_holdout_programs: int
    n_holdout_rows: int
    holdout_fraction: float
    seed: int
    k: int
    model_card: dict[str, Any] = field(repr=False)
    goals: dict[str, float] = field(default_factory=lambda: dict(GOALS))
    #: ``{"CAD": {...}, "later": {...}}``: rows, per-resource ratio and median ratio of each phase group
    by_phase_group: dict[str, dict[str, Any]] = field(default_factory=dict)
    model: CapacityModel | None = field(default=None, repr=False, compare=False)  # fitted on the non-holdout

    def to_frame(self) -> pd.DataFrame:
        """One row per resource (the table :meth:`__str__` prints)."""
        return pd.DataFrame(self.resources).set_index("resource")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: per-resource rows, summary, split sizes, goals and the model card."""
        return {
            "resources": [dict(r) for r in self.resources],
            "summary": dict(self.summary),
            "n_train_programs": self.n_train_programs,
            "n_holdout_programs": self.n_holdout_programs,
            "n_holdout_rows": self.n_holdout_rows,
            "holdout_fraction": self.holdout_fraction,
            "seed": self.seed,
            "k": self.k,
            "goals": dict(self.goals),
            "by_phase_group": {g: dict(v) for g, v in self.by_phase_group.items()},
            "model_card": dict(self.model_card),
        }

    def __str__(self) -> str:
        head = (f"capacity model {self.model_card.get('version')} on {self.n_holdout_programs} held-out programs "
                f"({self.n_holdout_rows} program-phases; trained on {self.n_train_programs} programs)")
        cols = ("resource", "MdAPE model", "MdAPE baseline", "ratio", "coverage", "nominal", "rows", "goals")
        lines = []
        for r in self.resources:
            goals = ("ratio " + ("ok" if r["ratio_ok"] else "MISSED") + ", coverage "
                     + ("ok" if r["coverage_ok"] else "MISSED"))
            lines.append((r["resource"], _pct(r["mdape_model"]), _pct(r["mdape_baseline"]), _num(r["ratio"]),
                          _pct(100 * r["coverage"]), _pct(100 * r["nominal_coverage"]),
                          f"{r['n_error']}/{r['n_coverage']}/{r['n']}", goals))
        s = self.summary
        lines.append(("overall", _pct(s["mdape_model_median"]), _pct(s["mdape_baseline_median"]),
                      _num(s["ratio_median"]), _pct(100 * s["coverage"]), "", str(self.n_holdout_rows),
                      f"{s['ratio_goals_met']}/{len(self.resources)} ratio, "
                      f"{s['coverage_goals_met']}/{len(self.resources)} coverage"))
        widths = [max(len(c), *(len(line[i]) for line in lines)) for i, c in enumerate(cols)]
        fmt = "  ".join(f"{{:{'<' if i in (0, 7) else '>'}{w}}}" for i, w in enumerate(widths))
        g = self.goals
        foot = [f"MdAPE: median |p50 - actual| / actual over the rows with actual > 0; baseline: mean usage of the "
                f"{self.k} nearest past programs in the same phase. Coverage: share of actuals in [p10, p90] over "
                f"the rows forecast with an interval (p90 > 0).",
                "rows: MdAPE rows / coverage rows / all held-out rows.",
                f"Goals: ratio <= {g['max_ratio']:.2f}; coverage within {100 * g['coverage_tolerance']:.0f} points "
                f"of nominal (80 %; 90 % on rows whose p10 is 0, where nothing can fall below it)."]
        if self.by_phase_group:
            foot.append("Median ratio by phase group: " + "; ".join(
                f"{g} {_num(v['ratio_median'])} ({v['n']} rows)" for g, v in self.by_phase_group.items())
                + " — later phases are forecast with the program's usage in its earlier phases, CAD without.")
        zero = [r for r in self.resources if r["p50_zero_when_used"] == r["p50_zero_when_used"]
                and r["p50_zero_when_used"] > 0.25]
        for r in zero:
            foot.append(f"{r['resource']}: zero on {100 * r['zero_share']:.0f} % of rows; the forecast median is 0 "
                        f"on {100 * r['p50_zero_when_used']:.0f} % of the rows with use (use less likely than "
                        f"not), each a 100 % error — MdAPE says little here.")
        return "\n".join([head, fmt.format(*cols), *(fmt.format(*line) for line in lines), *foot])

    def _repr_html_(self) -> str:
        return f"<pre>{_escape(str(self))}</pre>"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _pct(v: float) -> str:
    return "n/a" if v is None or v != v else f"{v:.1f} %"


def _num(v: float) -> str:
    return "n/a" if v is None or v != v else f"{v:.2f}"


def evaluate(history: pd.DataFrame, holdout_fraction: float = 0.25, seed: int = 0, *, k: int = 5,
             model_params: dict[str, Any] | None = None) -> EvaluationReport:
    """Fit on the programs not held out, measure on the held-out ones (see the module docstring).

    Parameters
    ----------
    history
        History rows (e.g. :func:`pluma.capacity.history.load_history`).
    holdout_fraction
        Share of programs held out.
    seed
        Seed of the program split (the model's own calibration split uses ``model_params["seed"]``, default
        the same seed).
    k
        Neighbours of the baseline.
    model_params
        Keyword arguments of :class:`~pluma.capacity.model.CapacityModel` (default: its defaults).
    """
    _validate_history(history)
    rest, holdout = split_programs(history, holdout_fraction, seed)
    params = {"seed": seed, **(model_params or {})}
    model = CapacityModel(**params).fit(rest)
    # what a forecaster knows of a held-out program before each phase: its own earlier phases' usage
    pred = model.predict(add_prior_usage(holdout.reset_index(drop=True)))
    base = baseline_predict(rest, holdout.reset_index(drop=True), k=k)
    rows = []
    for resource in RESOURCES:
        p = pred[pred["resource"] == resource]
        actual = holdout[resource].to_numpy(dtype=float)
        m_err, n_err = mdape(p["p50"].to_numpy(), actual)
        b_err, _ = mdape(base[resource].to_numpy(), actual)
        ratio = m_err / b_err if b_err and b_err == b_err else float("nan")
        p10, p50, p90 = p["p10"].to_numpy(), p["p50"].to_numpy(), p["p90"].to_numpy()
        covered = (p10 <= actual) & (actual <= p90)
        # judged: rows with an interval (p90 > 0); a forecast of exactly 0 covers P(y = 0), unknown
        judged = p90 > 0.0
        coverage = float(covered[judged].mean()) if judged.any() else float("nan")
        # where p10 is 0 nothing can fall below it: exact quantiles cover P(y <= p90) = 90 % there
        nominal = float(np.where(p10[judged] <= 0.0, 0.9, 0.8).mean()) if judged.any() else float("nan")
        used = actual > 0
        rows.append({
            "resource": resource,
            "mdape_model": m_err,
            "mdape_baseline": b_err,
            "ratio": ratio,
            "coverage": coverage,
            "coverage_all_rows": float(covered.mean()),
            "n_coverage": int(judged.sum()),
            "nominal_coverage": nominal,
            "below_p10": float((actual < p10).mean()),
            "above_p90": float((actual > p90).mean()),
            "n": int(len(actual)),
            "n_error": n_err,
            "zero_share": float((~used).mean()),
            "p50_zero_when_used": float((p50[used] <= 0.0).mean()) if used.any() else float("nan"),
            "ratio_ok": bool(ratio <= GOALS["max_ratio"]),
            "coverage_ok": bool(judged.any() and abs(coverage - nominal) <= GOALS["coverage_tolerance"]),
        })
    frame = pd.DataFrame(rows)
    groups = {}
    is_cad = (holdout["phase"].astype(str).str.upper() == "CAD").to_numpy()
    for name, mask in (("CAD", is_cad), ("later", ~is_cad)):
        ratios = {}
        for resource in RESOURCES:
            actual = holdout[resource].to_numpy(dtype=float)[mask]
            p50 = pred.loc[pred["resource"] == resource, "p50"].to_numpy()[mask]
            m_err, _ = mdape(p50, actual)
            b_err, _ = mdape(base[resource].to_numpy()[mask], actual)
            ratios[resource] = m_err / b_err if b_err and b_err == b_err else float("nan")
        values = np.array(list(ratios.values()), dtype=float)
        groups[name] = {"n": int(mask.sum()), "ratio": ratios,
                        "ratio_median": float(np.nanmedian(values)) if np.isfinite(values).any() else float("nan")}
    summary = {
        "mdape_model_median": float(frame["mdape_model"].median()),
        "mdape_baseline_median": float(frame["mdape_baseline"].median()),
        "ratio_median": float(frame["ratio"].median()),
        "ratio_max": float(frame["ratio"].max()),
        "coverage": float(frame["coverage"].mean()),  # mean over resources of the judged coverage
        "coverage_min": float(frame["coverage"].min()),
        "coverage_max": float(frame["coverage"].max()),
        "ratio_goals_met": int(frame["ratio_ok"].sum()),
        "coverage_goals_met": int(frame["coverage_ok"].sum()),
        "all_goals_met": bool(frame["ratio_ok"].all() and frame["coverage_ok"].all()),
    }
    return EvaluationReport(resources=rows, summary=summary, n_train_programs=int(rest["program"].nunique()),
                            n_holdout_programs=int(holdout["program"].nunique()), n_holdout_rows=int(len(holdout)),
                            holdout_fraction=float(holdout_fraction), seed=int(seed), k=int(k),
                            model_card=model.card(), by_phase_group=groups, model=model)
