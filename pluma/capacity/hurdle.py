"""Quantiles of a resource that is often exactly zero: the chance of use times the usage if used.

Most programs never run quantum jobs, and GPU-hours are zero in about two rows
of three. A quantile regression of such a resource on ``log1p`` usage sees a
mass of exact zeros next to a lognormal bump far away, and its p90 lands
anywhere between them (a "p90" of 0.8 qubits); a conformal shift in log space
then has to stretch the zeros and the bump alike. :class:`HurdleQuantiles`
models the two parts separately — a *hurdle* model:

* ``P(use | x)``: a ``HistGradientBoostingClassifier`` on ``usage > 0``;
* the usage if used: a median ``HistGradientBoostingRegressor`` on the rows
  with use (``log1p`` scale), and the spread around it taken from
  **out-of-fold residuals**: every row with use is predicted by a model that
  did not see its program (``GroupKFold`` by program), so the spread is the one
  new programs will meet, not the training fit's.

The quantile ``tau`` of the mixture is then 0 where ``tau <= 1 - P(use)``, and
otherwise the usage-if-used quantile at level ``(tau - (1 - P(use))) / P(use)``:
the median plus the empirical quantile of the residuals at that level.
:class:`~pluma.capacity.model.CapacityModel` uses it for the resources whose
history is zero in at least :data:`MIN_ZERO_SHARE` of the rows (and which has
enough rows with and without use to learn both parts).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MIN_ZERO_SHARE", "MIN_ROWS", "HurdleQuantiles", "is_zero_inflated"]

#: Share of exact zeros from which a resource is modelled as a hurdle.
MIN_ZERO_SHARE = 0.2
#: Rows with use, and rows without, that a hurdle needs (fewer: the plain quantile models are used).
MIN_ROWS = 20
_FOLDS = 5


def is_zero_inflated(y_log1p: np.ndarray, groups: np.ndarray) -> bool:
    """Whether a resource's known values (``log1p``; NaN unknown) call for a hurdle model."""
    known = np.isfinite(y_log1p)
    used = y_log1p[known] > 0
    n_used, n_zero = int(used.sum()), int((~used).sum())
    n_used_groups = len(np.unique(groups[known][used])) if n_used else 0
    return (n_zero >= MIN_ZERO_SHARE * known.sum() and n_used >= MIN_ROWS and n_zero >= MIN_ROWS
            and n_used_groups >= _FOLDS)


class HurdleQuantiles:
    """P(use) × usage-if-used quantiles on the ``log1p`` scale (see the module docstring).

    ``params``: the gradient-boosting hyperparameters of :class:`~pluma.capacity.model.CapacityModel`
    (``max_iter``, ``learning_rate``, ``max_leaf_nodes``, ``min_samples_leaf``, ``l2_regularization``, ``seed``).
    """

    def __init__(self, params: dict[str, Any], categorical: list[bool]) -> None:
        self.params = params
        self.categorical = categorical
        self.cols: np.ndarray | None = None
        self.use_model: Any = None
        self.level_model: Any = None
        self.residuals: np.ndarray = np.zeros(0)
        self.use_rate = float("nan")
        self.n_used = 0

    def _kwargs(self) -> dict[str, Any]:
        p = self.params
        return dict(max_iter=p["max_iter"], learning_rate=p["learning_rate"], max_leaf_nodes=p["max_leaf_nodes"],
                    min_samples_leaf=p["min_samples_leaf"], l2_regularization=p["l2_regularization"],
                    categorical_features=[self.categorical[c] for c in self.cols], early_stopping=False,
                    random_state=p["seed"])

    def _level_model(self):
        from sklearn.ensemble import HistGradientBoostingRegressor

        kwargs = self._kwargs()
        kwargs["min_samples_leaf"] = min(kwargs["min_samples_leaf"], 5)  # few rows with use: small leaves
        return HistGradientBoostingRegressor(loss="quantile", quantile=0.5, **kwargs)

    def fit(self, x: np.ndarray, y_log1p: np.ndarray, groups: np.ndarray) -> "HurdleQuantiles":
        """Fit on rows ``x`` with ``log1p`` usage (NaN: unknown, skipped) and the program of each row."""
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.model_selection import GroupKFold

        known = np.isfinite(y_log1p)
        x, y, groups = x[known], y_log1p[known], groups[known]
        used = y > 0
        # a feature with no value at all in these rows carries nothing (and sklearn refuses it)
        self.cols = np.flatnonzero(~np.isnan(x).all(axis=0))
        x = x[:, self.cols]
        self.use_rate, self.n_used = float(used.mean()), int(used.sum())
        # boosted trees on a rare outcome are over-confident: calibrate the chance of use on held-out programs
        splits = list(GroupKFold(n_splits=min(_FOLDS, len(np.unique(groups)))).split(x, used, groups))
        self.use_model = CalibratedClassifierCV(HistGradientBoostingClassifier(**self._kwargs()),
                                                method="isotonic", cv=splits).fit(x, used)
        xu, yu, gu = x[used], y[used], groups[used]
        oof = np.full(len(yu), np.nan)
        folds = min(_FOLDS, len(np.unique(gu)))
        for train, test in GroupKFold(n_splits=folds).split(xu, yu, gu):
            oof[test] = self._level_model().fit(xu[train], yu[train]).predict(xu[test])
        self.residuals = np.sort(yu - oof)
        self.level_model = self._level_model().fit(xu, yu)
        return self

    def log_quantiles(self, x: np.ndarray, quantiles: tuple[float, ...]) -> np.ndarray:
        """``(n, len(quantiles))`` quantiles of ``log1p`` usage (0 where the quantile is "no use")."""
        x = x[:, self.cols]
        p_use = self.use_model.predict_proba(x)[:, list(self.use_model.classes_).index(True)]
        centre = self.level_model.predict(x)
        out = np.zeros((len(x), len(quantiles)))
        for j, tau in enumerate(quantiles):
            used = tau > 1.0 - p_use
            level = (tau - (1.0 - p_use[used])) / p_use[used]
            out[used, j] = np.maximum(centre[used] + np.quantile(self.residuals, np.clip(level, 0.0, 1.0)), 0.0)
        return out

    def card(self) -> dict[str, Any]:
        """What the hurdle learnt: share of rows with use, how many, and the spread of usage if used."""
        q = np.quantile(self.residuals, [0.1, 0.5, 0.9]) if len(self.residuals) else [np.nan] * 3
        return {"method": "hurdle", "use_rate": round(self.use_rate, 6), "n_used": self.n_used,
                "n_residuals": int(len(self.residuals)),
                "residual_log1p_p10_p50_p90": [round(float(v), 6) for v in q]}
