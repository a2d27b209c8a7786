"""Quantile models of a program's resources: p10 / p50 / p90 per resource.

:class:`CapacityModel` fits one scikit-learn ``HistGradientBoostingRegressor(loss="quantile")``
per (resource, quantile) on the encoded features of :mod:`pluma.capacity.features`.

* **Inputs.** What is known about a program before a phase runs: priority,
  classification, domains, phase, the context's volumes — and, since schema 2
  (:data:`FEATURE_SET`), its **prior usage**: what the program itself used in
  its earlier phases (:func:`pluma.capacity.features.add_prior_usage`).
  :meth:`CapacityModel.fit` computes the prior usage of every history row from
  the same program's earlier rows, so a model learns one step ahead, as it is
  used. Rows to predict carry it when known (history rows through
  ``add_prior_usage``, a live program through ``features_for_program(...,
  past_usage=)``); rows without it (CAD, an unmetered program, an older caller)
  have NaN. Training also sees every row that has prior usage a second time
  with the prior usage removed (NaN), so that in every phase the trees know
  where a program without metered history belongs — otherwise a tree would
  send such rows wherever most training rows went. A feature column with no
  value at all in a model's training rows (no program past CAD) is left out
  of that model.

* **Target scale.** Usage is heavy-tailed, so every model learns ``log1p(usage)``;
  predictions are mapped back with ``expm1`` (quantiles commute with a monotone
  transform, so a quantile of the log is the log of the quantile). Exact zeros
  are spread by less than 0.001 below 0 before fitting (see :func:`_target`:
  without it a resource that is mostly zero is forecast 0 everywhere), and
  forecasts below 0.002 in log1p space (0.002 of the unit) are reported as 0.
* **Calibration (split-conformal quantile regression, Romano et al. 2019).**
  Gradient-boosted quantiles are too narrow on data they were not trained on.
  With ``conformal=True`` (the default) :meth:`CapacityModel.fit` splits the
  history *by program* into a training part and a calibration part
  (``calibration_fraction``). The p10 and p90 models are fitted on the training
  part; on the calibration part, per resource, it measures how far the
  observations fall below p10 and above p90 (in log1p space). p10 is then
  lowered by the finite-sample-corrected 90 % empirical quantile of the first
  score and p90 raised by that of the second, each tail on its own, so that on
  new programs like the past ones p10 and p90 each miss about 10 % of the time.
  An adjustment can be negative (the interval shrinks) when the raw models are
  too wide. Scores are taken, and adjustments applied, only on the rows whose
  raw p90 is above 0 (for a count: at least 1 once rounded) — a calibration
  per group (Vovk's Mondrian form), the group decided by the forecast alone;
  a forecast of 0 stays 0. The score level is the ``ceil((n + 1) * 0.9)``-th
  smallest of ``n`` scores. The p50 models are not calibrated and learn from
  every row. The rows a model is evaluated on must be in neither part
  (:func:`pluma.capacity.evaluate.evaluate` holds programs out first).
* **Resources that are often exactly zero** (GPU-hours, qubits: zero in at
  least :data:`~pluma.capacity.hurdle.MIN_ZERO_SHARE` of the rows) are
  modelled as a *hurdle* instead (:class:`~pluma.capacity.hurdle.HurdleQuantiles`):
  a calibrated classifier gives the chance of use, a median model plus
  out-of-fold residuals (by program) the usage if used, and the mixture gives
  the quantiles — 0 where the quantile level is below the chance of no use.
  A single quantile model had to bridge the mass of zeros and the usage far
  away from it with one curve, and a conformal shift computed over rows that
  are nearly all exact zeros is about 0: on the default history's held-out
  programs the qubit interval of the programs with quantum work covered 67 %
  instead of about 90 %; the hurdle covers 92 % and 93 % (seeds 0, 1). Its
  quantiles are calibrated by construction, so the conformal step skips it.
* **Crossing quantiles.** Separately fitted quantile models can cross, and the
  adjustment can make them cross. After mapping back, each row's three values
  are sorted (``p10 <= p50 <= p90``) and clipped at 0 — sorting is the
  rearrangement of Chernozhukov, Fernández-Val and Galichon (2010), which does
  not make the estimates worse when the true quantiles are ordered.
* **Counts.** A quantile of a count is a whole number, so the forecasts of
  :data:`~pluma.capacity.history.COUNT_RESOURCES` (cores, qubits, template
  runs) are rounded to the nearest one: a program without quantum work is
  forecast 0 qubits, not 0.006. Rounding keeps the order of the three values
  and never takes an integer out of ``[p10, p90]``.
* **Hyperparameters.** ``learning_rate=0.1, max_iter=100, max_leaf_nodes=15,
  min_samples_leaf=20, l2_regularization=1.0``, no early stopping. They were
  chosen on an inner split of the training programs of the default history
  (never its evaluation holdout): deeper / shallower trees and a slower rate
  with more iterations gave the same accuracy within noise; this setting is
  the fastest of them. The prior-usage design was checked the same way (inner
  split of the training programs): prior usage on its raw log1p scale did as
  well as centring it on each phase's typical level (kept: simpler), and the
  copies without prior usage cost nothing measurable on programs with metered
  history while keeping the forecasts of unmetered ones as accurate and as
  well covered as those of a model without prior usage.
* **Dependence.** :meth:`CapacityModel.dependence` measures how the residuals
  of different resources, and of different phases of one program, move
  together; :func:`pluma.capacity.cost.cost_interval` uses it to simulate a
  total cost.
* **Versioning.** :attr:`CapacityModel.version` is a 12-hex-digit hash of the
  training data's bytes (the history's columns the model uses, as CSV), the
  hyperparameters, the scikit-learn version and the version of this training
  procedure (``schema``, which names the feature set); :meth:`CapacityModel.card`
  says what the model was trained on and with which features.

Examples
--------
>>> from pluma.capacity.history import generate_history
>>> from pluma.capacity.features import features_for_program
>>> model = CapacityModel(max_iter=50).fit(generate_history(n_programs=60, seed=3))
>>> info = {"priority": "standard", "classification": "EAR", "domains": ["AAA", "EEE"], "phase": "CAE"}
>>> pred = model.predict(features_for_program(info, {"dataset_gb": 20, "artifact_mb": 50, "sweep_points": 40}))
>>> list(pred.columns)
['row', 'phase', 'resource', 'p10', 'p50', 'p90']
>>> bool(((pred.p10 <= pred.p50) & (pred.p50 <= pred.p90)).all())
True
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from .._time import now
from ..errors import InvalidInputError, MissingDependencyError, NotFoundError, StateError
from .features import CATEGORICAL, ENCODED_COLUMNS, PRIOR_COLUMNS, RAW_COLUMNS, add_prior_usage, encode
from .history import COUNT_RESOURCES, RESOURCES, _validate_history
from .hurdle import HurdleQuantiles, is_zero_inflated

__all__ = ["FEATURE_SET", "QUANTILES", "CapacityModel", "default_model", "split_programs"]

log = logging.getLogger(__name__)

#: The quantiles every resource is forecast at.
QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)
_COLUMNS = {0.1: "p10", 0.5: "p50", 0.9: "p90"}
_SCHEMA = 3  # bump when the encoding or the training procedure changes meaning (2: prior-usage features,
#             3: hurdle models for resources that are often zero, count forecasts rounded)
#: Name of the feature set, recorded in the model card.
FEATURE_SET = "program-context+prior-usage/2"
_ZERO_SPREAD = 1e-3  # zeros are spread over (-_ZERO_SPREAD, 0] in log1p space before fitting
_ZERO_SNAP = 2e-3  # forecasts below this in log1p space (0.002 of the unit) are reported as 0
_COUNT_OPEN = math.log1p(0.5)  # a count forecast below this (log1p of 0.5) rounds to 0


def split_programs(df: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split history rows by program: (rest, part) with about ``fraction`` of the programs in ``part``.

    Deterministic for a seed; every row of a program lands on the same side.
    """
    if not 0.0 < fraction < 1.0:
        raise InvalidInputError(f"fraction must be between 0 and 1, got {fraction!r}")
    programs = np.array(sorted(df["program"].astype(str).unique()))
    if len(programs) < 2:
        raise InvalidInputError("splitting by program needs at least 2 programs")
    rng = np.random.default_rng(seed)
    n_part = min(len(programs) - 1, max(1, int(round(fraction * len(programs)))))
    part = set(rng.choice(programs, size=n_part, replace=False).tolist())
    mask = df["program"].astype(str).isin(part).to_numpy()
    return df.loc[~mask], df.loc[mask]


def _data_hash(df: pd.DataFrame) -> str:
    cols = ["program", *RAW_COLUMNS, *RESOURCES]
    raw = df[cols].to_csv(index=False, lineterminator="\n", float_format="%.10g").encode()
    return hashlib.sha256(raw).hexdigest()


class CapacityModel:
    """p10 / p50 / p90 of every resource from program features (see the module docstring).

    Parameters
    ----------
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization
        Passed to every ``HistGradientBoostingRegressor`` (no early stopping, so fitting is deterministic).
    conformal
        Calibrate p10 / p90 on a held-out part of the programs (split-conformal); ``False`` fits on all rows
        and uses the raw quantile models.
    calibration_fraction
        Share of programs kept for calibration when ``conformal`` is true.
    seed
        Seed of the calibration split and of the regressors.
    """

    def __init__(self, *, max_iter: int = 100, learning_rate: float = 0.1, max_leaf_nodes: int = 15,
                 min_samples_leaf: int = 20, l2_regularization: float = 1.0, conformal: bool = True,
                 calibration_fraction: float = 0.25, seed: int = 0) -> None:
        self.params: dict[str, Any] = {
            "max_iter": int(max_iter), "learning_rate": float(learning_rate), "max_leaf_nodes": int(max_leaf_nodes),
            "min_samples_leaf": int(min_samples_leaf), "l2_regularization": float(l2_regularization),
            "conformal": bool(conformal), "calibration_fraction": float(calibration_fraction), "seed": int(seed),
        }
        if self.params["max_iter"] < 1 or self.params["learning_rate"] <= 0 or self.params["max_leaf_nodes"] < 2 \
                or self.params["min_samples_leaf"] < 1 or self.params["l2_regularization"] < 0:
            raise InvalidInputError(f"invalid hyperparameters {self.params}")
        if conformal and not 0.0 < calibration_fraction < 1.0:
            raise InvalidInputError(f"calibration_fraction must be between 0 and 1, got {calibration_fraction!r}")
        self._models: dict[tuple[str, float], Any] = {}
        self._adjust: dict[str, tuple[float, float]] = {}
        self._hurdles: dict[str, HurdleQuantiles] = {}
        self._card: dict[str, Any] | None = None

    # -- fitting -----------------------------------------------------------
    def fit(self, history: pd.DataFrame) -> "CapacityModel":
        """Fit on a history frame (rows like :func:`pluma.capacity.history.generate_history`'s); returns self."""
        try:
            import sklearn
            from sklearn.ensemble import HistGradientBoostingRegressor
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise MissingDependencyError("capacity forecasts need scikit-learn: pip install 'pluma[capacity]'") \
                from exc
        _validate_history(history)
        history = add_prior_usage(history.reset_index(drop=True))  # from each program's own earlier rows
        p = self.params
        if p["conformal"]:
            train, calib = split_programs(history, p["calibration_fraction"], p["seed"])
        else:
            train, calib = history, history.iloc[:0]
        x_all = encode(history).to_numpy()
        rng = np.random.default_rng(p["seed"])
        y_all = {r: _target(history[r], rng) for r in RESOURCES}
        train_idx = train.index.to_numpy()
        x_train, y_train = x_all[train_idx], {r: y_all[r][train_idx] for r in RESOURCES}
        programs = pd.factorize(history["program"].astype(str))[0]
        hurdles = [r for r in RESOURCES if is_zero_inflated(y_all[r], programs)]
        x_all, y_all, rows = _with_unknown_priors(x_all, y_all)
        x_train, y_train, _ = _with_unknown_priors(x_train, y_train)
        cat_mask = [c in CATEGORICAL for c in ENCODED_COLUMNS]
        self._models = {}
        # a resource that is often exactly zero: chance of use x usage if used, self-calibrated
        self._hurdles = {r: HurdleQuantiles(p, cat_mask).fit(x_all, y_all[r], programs[rows]) for r in hurdles}
        for resource in RESOURCES:
            if resource in self._hurdles:
                continue
            for q in QUANTILES:
                reg = HistGradientBoostingRegressor(
                    loss="quantile", quantile=q, max_iter=p["max_iter"], learning_rate=p["learning_rate"],
                    max_leaf_nodes=p["max_leaf_nodes"], min_samples_leaf=p["min_samples_leaf"],
                    l2_regularization=p["l2_regularization"], categorical_features=cat_mask,
                    early_stopping=False, random_state=p["seed"])
                # a resource not metered in a row (NaN: a workspace's own history) is learnt from the others;
                # the median is not calibrated: it learns from every row
                x, y = (x_all, y_all[resource]) if q == 0.5 else (x_train, y_train[resource])
                known = np.isfinite(y)
                # a column with no value at all (no program got past CAD) carries nothing, and sklearn refuses it
                cols = np.flatnonzero(~np.isnan(x[known]).all(axis=0)) if known.any() else np.arange(x.shape[1])
                reg.set_params(categorical_features=[cat_mask[c] for c in cols])
                self._models[(resource, q)] = (cols, reg.fit(x[known][:, cols], y[known]))
        self._adjust = {r: (0.0, 0.0) for r in RESOURCES}
        dep_rows = calib if p["conformal"] else history
        raw = self._raw_log_predictions(encode(dep_rows).to_numpy())
        self._dependence = _dependence(dep_rows, raw)
        if p["conformal"]:
            for resource in (r for r in RESOURCES if r not in self._hurdles):  # a hurdle calibrates itself
                y = np.log1p(calib[resource].to_numpy(dtype=float))  # actual zeros stay 0 here
                known = np.isfinite(y)
                y, lo, hi = y[known], raw[resource][known, 0], raw[resource][known, 2]
                # calibrated on the rows forecast with an interval, the only rows it is applied to (see predict)
                has = _has_interval(resource, hi)
                y, lo, hi = y[has], lo[has], hi[has]
                self._adjust[resource] = (_conformal_quantile(lo - y, 0.1), _conformal_quantile(y - hi, 0.1))
        data_hash = _data_hash(history)
        self._card = {
            "version": hashlib.sha256(json.dumps({"data": data_hash, "params": p, "sklearn": sklearn.__version__,
                                                  "schema": _SCHEMA}, sort_keys=True).encode()).hexdigest()[:12],
            "n_rows": int(len(history)),
            "n_programs": int(history["program"].nunique()),
            "n_train_rows": int(len(train)),  # rows behind p10 / p90 (p50 uses all n_rows)
            "n_calibration_rows": int(len(calib)),
            "data_hash": data_hash,
            "seed": p["seed"],
            "created": now(),
            "sklearn_version": sklearn.__version__,
            "hyperparameters": dict(p),
            "schema": _SCHEMA,
            "feature_set": FEATURE_SET,
            "features": list(ENCODED_COLUMNS),
            "resources": list(RESOURCES),
            "quantiles": list(QUANTILES),
            "conformal_adjustment_log1p": {r: {"p10": -a[0], "p90": a[1]} for r, a in self._adjust.items()
                                           if r not in self._hurdles},
            "methods": {r: "hurdle" if r in self._hurdles else "quantile" for r in RESOURCES},
            "hurdles": {r: h.card() for r, h in self._hurdles.items()},
            "dependence": self._dependence,
        }
        log.info("fitted capacity model %s on %d rows", self._card["version"], len(history))
        return self

    # -- predicting --------------------------------------------------------
    def _require(self) -> dict[str, Any]:
        if self._card is None:
            raise StateError("the capacity model is not fitted yet: call fit(history) first")
        return self._card

    def _raw_log_predictions(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {r: self._hurdles[r].log_quantiles(x, QUANTILES) if r in self._hurdles else
                np.column_stack([self._models[(r, q)][1].predict(x[:, self._models[(r, q)][0]]) for q in QUANTILES])
                for r in RESOURCES}

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """p10 / p50 / p90 of every resource for each feature row.

        Parameters
        ----------
        features
            Rows with the columns of :data:`pluma.capacity.features.RAW_COLUMNS` (history rows, or
            :func:`pluma.capacity.features.features_for_program`), and optionally
            :data:`pluma.capacity.features.PRIOR_COLUMNS` (missing: unknown). History rows do not get their
            prior usage here: pass them through :func:`pluma.capacity.features.add_prior_usage` first.

        Returns
        -------
        pandas.DataFrame
            Long format, one row per (input row, resource): ``row`` (the input's index label), ``phase``,
            ``resource``, ``p10``, ``p50``, ``p90`` in the resource's own unit (see
            :data:`pluma.capacity.history.RESOURCES`), ordered and >= 0.
        """
        self._require()
        raw = self._raw_log_predictions(encode(features).to_numpy())
        n = len(features)
        parts = []
        for resource in RESOURCES:
            lo_adj, hi_adj = self._adjust[resource]
            logq = raw[resource].copy()
            has = _has_interval(resource, logq[:, 2])  # a forecast of 0 (use not expected) stays 0
            logq[has, 0] -= lo_adj
            logq[has, 2] += hi_adj
            logq[logq < _ZERO_SNAP] = 0.0  # below the scale of the zero-spreading: a forecast of 0
            values = np.expm1(logq)
            values.sort(axis=1)  # fix crossing quantiles: rearrangement
            if resource in COUNT_RESOURCES:  # a quantile of a count is a count (rounding keeps the order)
                values = np.rint(values)
            parts.append(pd.DataFrame({"row": features.index.to_numpy(), "phase": features["phase"].astype(str)
                                       .str.upper().to_numpy(), "resource": [resource] * n,
                                       "p10": values[:, 0], "p50": values[:, 1], "p90": values[:, 2]}))
        out = pd.concat(parts, ignore_index=True)
        order = {r: i for i, r in enumerate(RESOURCES)}
        out["_r"] = out["resource"].map(order)
        out["_i"] = np.tile(np.arange(n), len(RESOURCES))
        return out.sort_values(["_i", "_r"], kind="stable").drop(columns=["_i", "_r"]).reset_index(drop=True)

    def dependence(self) -> dict[str, Any]:
        """How forecast errors move together, for :func:`pluma.capacity.cost.cost_interval`.

        ``{"resources": [...names], "correlation": matrix (list of lists), "phases": float}``: the correlation of
        the log1p residuals (actual minus the centre of the uncalibrated p10 / p90 models, which did not see the
        calibration rows) between resources of the same program-phase (Spearman, mapped to a
        Gaussian-copula correlation by ``2 sin(pi rho / 6)``, made positive semi-definite), and the average
        correlation of one resource's residuals between two phases of the same program; measured on the
        calibration rows (on the training rows when ``conformal=False``).
        """
        self._require()
        return json.loads(json.dumps(self._dependence))

    # -- identity ------------------------------------------------------------
    @property
    def version(self) -> str:
        """Short hash of training data + hyperparameters + scikit-learn version (12 hex digits)."""
        return self._require()["version"]

    def card(self) -> dict[str, Any]:
        """What the model is: version, rows and programs, data hash, seed, created, hyperparameters, adjustments."""
        return json.loads(json.dumps(self._require()))

    def __repr__(self) -> str:
        if self._card is None:
            return "CapacityModel(unfitted)"
        c = self._card
        return f"CapacityModel(version={c['version']!r}, n_rows={c['n_rows']}, n_programs={c['n_programs']})"


_PRIOR_POS = [ENCODED_COLUMNS.index(c) for c in PRIOR_COLUMNS]


def _with_unknown_priors(x: np.ndarray, y: dict[str, np.ndarray]
                         ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """The rows plus a copy of every row with prior usage in which the prior usage is unknown (NaN), and the
    position in the input of every output row.

    In a history only CAD rows lack prior usage; a live program whose earlier phases were not metered lacks it in
    any phase. The copies teach every phase's trees where such rows belong (without them a tree routes them
    wherever most training rows went), so such a program gets the forecast of a model without prior usage.
    """
    rows = np.r_[np.arange(len(x)), np.flatnonzero(~np.isnan(x[:, _PRIOR_POS]).all(axis=1))]
    out = x[rows]
    out[len(x):, _PRIOR_POS] = np.nan
    return out, {r: v[rows] for r, v in y.items()}, rows


def _target(values: pd.Series, rng: np.random.Generator) -> np.ndarray:
    """``log1p(usage)``, with exact zeros spread uniformly over (-0.001, 0] (seeded).

    scikit-learn's pinball-loss gradient treats ``y == prediction`` as "above". When most rows of a resource are
    zero (GPU-hours, qubits), the initial prediction is 0, every gradient is equal, no split has any gain, and
    the model stays at 0 for ever — even for phases where use is nearly certain. Spreading the zeros by less
    than a thousandth (in log1p space; below 0, so they still map back to 0) breaks those ties.
    """
    y = np.log1p(values.to_numpy(dtype=float))
    zero = y == 0.0
    y[zero] = -rng.uniform(0.0, _ZERO_SPREAD, int(zero.sum()))
    return y


def _dependence(rows: pd.DataFrame, raw: dict[str, np.ndarray]) -> dict[str, Any]:
    # residuals around the centre of the p10 / p90 models, which never saw the calibration rows
    resid = pd.DataFrame({r: np.log1p(rows[r].to_numpy(dtype=float)) - 0.5 * (raw[r][:, 0] + raw[r][:, 2])
                          for r in RESOURCES})
    rho = resid.rank().corr().fillna(0.0).to_numpy()  # Spearman (a constant column correlates 0)
    corr = 2.0 * np.sin(np.pi * rho / 6.0)
    np.fill_diagonal(corr, 1.0)
    vals, vecs = np.linalg.eigh(corr)
    corr = vecs @ np.diag(np.clip(vals, 1e-6, None)) @ vecs.T
    d = np.sqrt(np.diag(corr))
    corr = corr / np.outer(d, d)
    # between phases of a program: pooled correlation of residual pairs (both orders) within programs
    programs = rows["program"].astype(str).to_numpy()
    pairs_a, pairs_b = [], []
    for prog in np.unique(programs):
        idx = np.flatnonzero(programs == prog)
        for i in idx:
            for j in idx:
                if i != j:
                    pairs_a.append(i)
                    pairs_b.append(j)
    phase_corr = []
    if pairs_a:
        for r in RESOURCES:
            a, b = resid[r].to_numpy()[pairs_a], resid[r].to_numpy()[pairs_b]
            known = np.isfinite(a) & np.isfinite(b)
            a, b = a[known], b[known]
            if len(a) > 1 and a.std() > 0 and b.std() > 0:
                phase_corr.append(float(np.corrcoef(a, b)[0, 1]))
    phases = float(np.clip(np.mean(phase_corr), 0.0, 1.0)) if phase_corr else 0.0
    return {"resources": list(RESOURCES), "correlation": np.round(corr, 6).tolist(), "phases": round(phases, 6)}


def _has_interval(resource: str, log_p90: np.ndarray) -> np.ndarray:
    """Rows whose raw p90 (log1p) is reported as more than 0 — for a count, at least 1 once rounded."""
    return log_p90 >= (_COUNT_OPEN if resource in COUNT_RESOURCES else _ZERO_SNAP)


def _conformal_quantile(scores: np.ndarray, alpha: float) -> float:
    """The ceil((n + 1)(1 - alpha))-th smallest score (the split-conformal level); the largest when n is too small."""
    n = len(scores)
    if n == 0:
        return 0.0
    k = min(n, math.ceil((n + 1) * (1.0 - alpha)))  # the k-th smallest score (too few scores: the largest)
    return float(np.sort(scores)[k - 1])


_DEFAULT: dict[str, CapacityModel] = {}


def default_model(history: pd.DataFrame | None = None) -> CapacityModel:
    """A model fitted with default hyperparameters on ``history`` (default: the shipped catalog), cached per
    process by the data's hash — a forecast does not refit every time."""
    from .history import generate_history, load_history

    if history is None:
        try:
            history = load_history()
        except (NotFoundError, MissingDependencyError) as exc:  # no catalog (installed wheel) or no intake
            log.info("capacity catalog not readable (%s); regenerating the default history", exc)
            history = generate_history()
    key = _data_hash(history)
    model = _DEFAULT.get(key)
    if model is None:
        model = _DEFAULT[key] = CapacityModel().fit(history)
    return model
