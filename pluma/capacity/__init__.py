"""Capacity planning: forecasts with honest intervals, cost, requests and approvals.

``history``   the seeded historical usage generator and its intake catalog
``features``  program features in the shape the model was trained on
``model``     quantile models (p10 / p50 / p90) per resource
``evaluate``  holdout accuracy and interval coverage against a naive baseline
``cost``      the price table and cost intervals
``forecast``  ``forecast(prog)`` and the request that turns it into quotas
``requests``  thresholds and finance approval
"""

from .forecast import Forecast, forecast

__all__ = ["Forecast", "forecast"]
