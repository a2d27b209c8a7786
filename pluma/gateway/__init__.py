"""Dask Gateway for PLUMA: program-wide quotas and the scale-up KPI.

* :mod:`pluma.gateway.quotas` - the program quota ledger and the
  dask-gateway-server backend that enforces it
  (``hub-config/dask_gateway_config.py`` uses it).
* :func:`time_to_scale` - seconds for a Gateway cluster to go from its current
  size to ``n`` connected workers (the MSE KPI "time to scale 0 -> N").
"""

from __future__ import annotations

import time
from typing import Any

from .quotas import GIB, ProgramDirectory, ProgramQuotaLedger, Quota, QuotaExceeded, Usage

__all__ = ["GIB", "ProgramDirectory", "ProgramQuotaLedger", "Quota", "QuotaExceeded", "Usage",
           "time_to_scale"]


def time_to_scale(cluster: Any, n: int, *, timeout: float = 60.0, client: Any = None) -> float:
    """Scale a ``dask_gateway.GatewayCluster`` to ``n`` workers; seconds until all ``n`` are connected.

    The clock starts just before the scale request and stops when the
    scheduler reports ``n`` workers (``Client.wait_for_workers``). Raises
    ``TimeoutError`` if they are not there within ``timeout`` seconds (for
    instance because the program's quota does not allow ``n`` workers).
    """
    own = client is None
    if own:
        client = cluster.get_client(set_as_default=False)
    try:
        start = time.perf_counter()
        cluster.scale(n)
        client.wait_for_workers(n, timeout=timeout)
        return time.perf_counter() - start
    finally:
        if own:
            client.close()
