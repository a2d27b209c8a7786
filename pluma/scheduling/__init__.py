"""Sharing one Dask cluster between programs.

* :class:`FairScheduler` — weighted fair queuing of several programs' (or
  named tenants') tasks, with per-program core quotas; see
  :mod:`pluma.scheduling.fair` for the algorithm.

Nothing here imports Dask until a scheduler is created.
"""

from __future__ import annotations

from .fair import FairFuture, FairScheduler, TenantStats

__all__ = ["FairScheduler", "FairFuture", "TenantStats"]
