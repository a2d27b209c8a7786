"""From a resource forecast to a cost with an interval.

The price table (``pluma/capacity/prices.yaml`` by default) is YAML read with
``yaml.safe_load`` and validated by :func:`validate_prices`: every key is
known, every price a number >= 0, ``cloud_fraction`` within [0, 1], the
currency a three-letter code. Unknown keys are refused (a typo such as
``gpu_hours`` would otherwise silently price GPUs at 0).

What is priced, per forecast row (program-phase):

=================  ===========================================================
``core_hours``     ``(1 - f) * on_prem_core_hour + f * cloud_core_hour`` each,
                   ``f`` = ``cloud_fraction`` (memory is in the core-hour price)
``gpu_hours``      ``gpu_hour`` each
``storage_tb``     ``storage_tb_month * months`` per TB — the TB held at the end
                   of the phase, charged for the whole phase (an upper bound
                   when storage grows during the phase)
``qubits``         ``quantum_shot * shots_per_qubit`` per qubit of the widest
                   job — the history records widths, not shots, so the shot
                   count is an assumption of the table
=================  ===========================================================

Peak cores, peak memory and template runs are capacity, not consumption: they
size quotas and are not priced separately.

**How the interval is formed.** Each line's p10 / p50 / p90 cost is exact (the
cost of a line is increasing in its usage). The total is not the sum of the
lines' quantiles unless all usages move together. Two methods:

* ``dependence=None`` — **comonotonic**: the total's quantiles are the sums of
  the lines' quantiles. That is exact if the usages move perfectly together
  and otherwise typically the *widest* interval; it is what you get when you
  add up the forecast table by hand. Say so when you show it.
* ``dependence=model.dependence()`` — **simulation**: each line's usage is given
  a two-piece normal distribution in ``log1p`` space through its p10, p50 and
  p90 (tails beyond p10 / p90 are extrapolated), the lines are joined by a
  Gaussian copula whose correlation is the model's measured residual
  correlation between resources times the measured correlation between phases
  of a program, ``n_samples`` totals are drawn (seeded), and their 10 / 50 / 90 %
  quantiles are reported.

Examples
--------
>>> import pandas as pd
>>> pred = pd.DataFrame({"row": [0, 0], "phase": ["CAE", "CAE"], "resource": ["core_hours", "gpu_hours"],
...                      "p10": [100.0, 0.0], "p50": [200.0, 10.0], "p90": [400.0, 30.0]})
>>> prices = validate_prices({"currency": "EUR", "on_prem_core_hour": 0.1, "cloud_core_hour": 0.1,
...     "cloud_fraction": 0.0, "gpu_hour": 1.0, "storage_tb_month": 0.0, "quantum_shot": 0.0,
...     "shots_per_qubit": 0})
>>> c = cost_interval(pred, prices)
>>> (c["p10"], c["p50"], c["p90"], c["method"])
(10.0, 30.0, 70.0, 'comonotonic')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..errors import InvalidInputError, NotFoundError

__all__ = ["DEFAULT_PRICES", "PRICE_KEYS", "PRICED_RESOURCES", "cost_interval", "load_prices", "validate_prices"]

#: The price table shipped with PLUMA.
DEFAULT_PRICES = Path(__file__).with_name("prices.yaml")

#: Numeric keys of a price table (all required) and what each means.
PRICE_KEYS: dict[str, str] = {
    "on_prem_core_hour": "price of an on-premises core-hour",
    "cloud_core_hour": "price of a cloud core-hour",
    "cloud_fraction": "share of core-hours run in the cloud, 0-1",
    "gpu_hour": "price of a GPU-hour",
    "storage_tb_month": "price of a TB held for a month",
    "quantum_shot": "price of one quantum shot",
    "shots_per_qubit": "shots a phase runs per qubit of its widest quantum job",
}
_TEXT_KEYS = {"currency": True, "as_of": False, "note": False}  # key: required

#: Resources that carry a cost, in the order of the lines.
PRICED_RESOURCES: tuple[str, ...] = ("core_hours", "gpu_hours", "storage_tb", "qubits")
_Z90 = 1.2815515655446004  # standard normal quantile at 0.9


def validate_prices(prices: Any) -> dict[str, Any]:
    """A checked copy of a price table; :class:`~pluma.errors.InvalidInputError` says what is wrong."""
    if not isinstance(prices, Mapping):
        raise InvalidInputError(f"a price table must be a mapping of keys to prices, got {type(prices).__name__}")
    known = set(PRICE_KEYS) | set(_TEXT_KEYS)
    unknown = sorted(str(k) for k in prices if k not in known)
    if unknown:
        raise InvalidInputError(f"unknown price key(s) {', '.join(map(repr, unknown))}; "
                                f"known keys: {', '.join(sorted(known))}")
    missing = [k for k in PRICE_KEYS if k not in prices] + [k for k, req in _TEXT_KEYS.items()
                                                             if req and k not in prices]
    if missing:
        raise InvalidInputError(f"price table lacks {', '.join(missing)}")
    out: dict[str, Any] = {}
    currency = prices["currency"]
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise InvalidInputError(f"currency must be a three-letter ISO 4217 code such as 'EUR', got {currency!r}")
    out["currency"] = currency
    for key in ("as_of", "note"):
        if key in prices:
            out[key] = str(prices[key])
    for key in PRICE_KEYS:
        value = prices[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise InvalidInputError(f"price {key} ({PRICE_KEYS[key]}) must be a number >= 0, got {value!r}")
        out[key] = float(value)
    if out["cloud_fraction"] > 1:
        raise InvalidInputError(f"cloud_fraction must be between 0 and 1, got {out['cloud_fraction']!r}")
    return out


def load_prices(path: str | Path | None = None) -> dict[str, Any]:
    """Read and validate a price table (default: :data:`DEFAULT_PRICES`)."""
    p = Path(path) if path is not None else DEFAULT_PRICES
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"price table {str(p)!r} not found") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"price table {str(p)!r} is not valid YAML: {exc}") from None
    try:
        return validate_prices(data)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{p}: {exc.message}") from None


def _unit_prices(prices: Mapping[str, Any], months: float, cloud_fraction: float) -> dict[str, float]:
    core = (1.0 - cloud_fraction) * prices["on_prem_core_hour"] + cloud_fraction * prices["cloud_core_hour"]
    return {"core_hours": core, "gpu_hours": prices["gpu_hour"], "storage_tb": prices["storage_tb_month"] * months,
            "qubits": prices["quantum_shot"] * prices["shots_per_qubit"]}


def cost_interval(predictions: pd.DataFrame, prices: Mapping[str, Any] | None = None, months: float = 1.0, *,
                  dependence: Mapping[str, Any] | None = None, cloud_fraction: float | None = None,
                  n_samples: int = 20000, seed: int = 0) -> dict[str, Any]:
    """Cost of a forecast with p10 / p50 / p90 (see the module docstring for how the interval is formed).

    Parameters
    ----------
    predictions
        Output of :meth:`pluma.capacity.model.CapacityModel.predict` (columns ``resource``, ``p10``, ``p50``,
        ``p90``; ``row`` and ``phase`` when present). Rows of resources that carry no cost are ignored.
    prices
        A price table (validated here); default: :func:`load_prices` of the shipped table.
    months
        How long the forecast phase(s) hold their storage.
    dependence
        ``CapacityModel.dependence()`` to simulate the total; ``None`` for the comonotonic sum.
    cloud_fraction
        Overrides the table's share of core-hours run in the cloud (0 for programs that must stay on premises,
        such as ITAR ones).
    n_samples, seed
        Size and seed of the simulation.

    Returns
    -------
    dict
        ``p10``, ``p50``, ``p90`` (rounded to cents), ``currency``, ``months``, ``method``, ``cloud_fraction``,
        ``lines`` (one per priced (row, resource): usage and cost quantiles and the unit price) and ``prices``.
    """
    table = validate_prices(prices) if prices is not None else load_prices()
    if isinstance(months, bool) or not isinstance(months, (int, float)) or not math.isfinite(months) or months < 0:
        raise InvalidInputError(f"months must be a number >= 0, got {months!r}")
    f = table["cloud_fraction"] if cloud_fraction is None else cloud_fraction
    if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 <= f <= 1.0:
        raise InvalidInputError(f"cloud_fraction must be between 0 and 1, got {cloud_fraction!r}")
    if not isinstance(predictions, pd.DataFrame):
        raise InvalidInputError(f"predictions must be a pandas DataFrame, got {type(predictions).__name__}")
    missing = [c for c in ("resource", "p10", "p50", "p90") if c not in predictions.columns]
    if missing:
        raise InvalidInputError(f"predictions lack columns {', '.join(missing)}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 100:
        raise InvalidInputError(f"n_samples must be an integer >= 100, got {n_samples!r}")
    unit = _unit_prices(table, float(months), float(f))
    priced = predictions[predictions["resource"].isin(PRICED_RESOURCES)].reset_index(drop=True)
    q = priced[["p10", "p50", "p90"]].to_numpy(dtype=float)
    if len(q) and (not np.isfinite(q).all() or (q < 0).any() or (np.diff(q, axis=1) < 0).any()):
        raise InvalidInputError("predictions must have finite p10 <= p50 <= p90, all >= 0")
    rows = priced["row"].tolist() if "row" in priced.columns else [0] * len(priced)
    phases = priced["phase"].astype(str).tolist() if "phase" in priced.columns else [None] * len(priced)
    lines = []
    for i, resource in enumerate(priced["resource"].tolist()):
        price = unit[resource]
        lines.append({"row": rows[i], "phase": phases[i], "resource": resource, "unit_price": price,
                      "usage_p10": float(q[i, 0]), "usage_p50": float(q[i, 1]), "usage_p90": float(q[i, 2]),
                      "p10": round(float(q[i, 0] * price), 2), "p50": round(float(q[i, 1] * price), 2),
                      "p90": round(float(q[i, 2] * price), 2)})
    if dependence is None or not lines:
        method = "comonotonic"
        total = [float(sum(q[i, k] * unit[r] for i, r in enumerate(priced["resource"]))) for k in range(3)]
    else:
        method = "simulation"
        total = _simulate(priced, q, unit, rows, dependence, n_samples, seed)
    total = sorted(total)
    return {
        "p10": round(total[0], 2), "p50": round(total[1], 2), "p90": round(total[2], 2),
        "currency": table["currency"], "months": float(months), "method": method, "cloud_fraction": float(f),
        "lines": lines, "prices": table,
    }


def _correlation(priced: pd.DataFrame, rows: list[Any], dependence: Mapping[str, Any]) -> np.ndarray:
    try:
        names = list(dependence["resources"])
        corr = np.asarray(dependence["correlation"], dtype=float)
        phase_corr = float(dependence.get("phases", 0.0))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError("dependence must be CapacityModel.dependence(): resources, correlation, phases") \
            from exc
    if corr.shape != (len(names), len(names)) or not np.isfinite(corr).all() or not 0.0 <= phase_corr <= 1.0:
        raise InvalidInputError("dependence has a malformed correlation matrix or phase correlation")
    resources = priced["resource"].tolist()
    unknown = sorted(set(resources) - set(names))
    if unknown:
        raise InvalidInputError(f"dependence does not cover {', '.join(unknown)}")
    pos = [names.index(r) for r in resources]
    n = len(resources)
    full = np.empty((n, n))
    for a in range(n):
        for b in range(n):
            same_row = rows[a] == rows[b]
            full[a, b] = corr[pos[a], pos[b]] * (1.0 if same_row else phase_corr)
    np.fill_diagonal(full, 1.0)
    vals, vecs = np.linalg.eigh(full)
    return vecs @ np.diag(np.clip(vals, 1e-9, None)) @ vecs.T


def _simulate(priced: pd.DataFrame, q: np.ndarray, unit: Mapping[str, float], rows: list[Any],
              dependence: Mapping[str, Any], n_samples: int, seed: int) -> list[float]:
    corr = _correlation(priced, rows, dependence)
    rng = np.random.default_rng(seed)
    z = rng.multivariate_normal(np.zeros(len(corr)), corr, size=n_samples, method="eigh")
    lq = np.log1p(q)
    mid = lq[:, 1]
    s_lo = (lq[:, 1] - lq[:, 0]) / _Z90
    s_hi = (lq[:, 2] - lq[:, 1]) / _Z90
    logs = mid + np.where(z < 0, z * s_lo, z * s_hi)  # two-piece normal through p10, p50, p90
    usage = np.clip(np.expm1(logs), 0.0, None)
    price = np.array([unit[r] for r in priced["resource"]])
    totals = usage @ price
    return [float(v) for v in np.quantile(totals, [0.1, 0.5, 0.9])]
