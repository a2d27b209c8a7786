"""Where a sweep runs: the one place that resolves the Dask cluster.

The order, first match wins:

1. an explicit ``distributed.Client`` given by the caller — used as it is and
   never closed by PLUMA;
2. Dask Gateway, when an address is configured: PLUMA's ``PLUMA_DASK_GATEWAY``
   environment variable, else Dask's own configuration ``gateway.address``
   (YAML, or the ``DASK_GATEWAY__ADDRESS`` environment variable, as
   dask-gateway documents). The rest of the gateway client configuration
   (proxy address, auth) is read by dask-gateway from ``dask.config``. PLUMA
   starts a cluster with ``PLUMA_DASK_GATEWAY_WORKERS`` workers (default 2) and
   shuts it down when the sweep is done;
3. an embedded ``LocalCluster`` with 2 worker processes of 1 thread each,
   bound to 127.0.0.1 with the dashboard on a free port (``127.0.0.1:0``, so
   two sweeps never collide), the workers' profiler off
   (:data:`LOCAL_DASK_CONFIG`), closed when done.

:func:`resolve_target` only decides (it connects to nothing, imports no Dask
Gateway); :func:`get_client` acts on the decision.

Examples
--------
>>> from pluma.sweeps.cluster import resolve_target
>>> import dask
>>> with dask.config.set({"gateway.address": None}):
...     resolve_target()[0]                       # doctest: +SKIP
'local'
>>> with get_client() as client:                  # doctest: +SKIP
...     client.submit(sum, [1, 2]).result()
3
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import InvalidInputError, MissingDependencyError

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

log = logging.getLogger(__name__)

__all__ = ["LOCAL_CLUSTER", "LOCAL_DASK_CONFIG", "get_client", "resolve_target"]

#: How the embedded cluster is started (one thread per worker process: a sweep
#: point is CPU-bound Python/numpy, and processes sidestep the GIL).
LOCAL_CLUSTER: dict[str, Any] = {
    "n_workers": 2,
    "threads_per_worker": 1,
    "processes": True,
    "host": "127.0.0.1",
    "dashboard_address": "127.0.0.1:0",
}

#: Dask settings of the embedded cluster's workers. The statistical profiler
#: samples every 10 ms; on a busy machine each sample is a GIL hand-off that
#: measurably slows CPU-bound points (benchmarks/sweep_efficiency.py), and
#: without bokeh there is no dashboard to show the profile. Pass your own
#: client to keep it.
LOCAL_DASK_CONFIG: dict[str, Any] = {"distributed.worker.profile.enabled": False}

_GATEWAY_PIP = 'pip install "dask-gateway==2026.3.0"'
_GATEWAY_ENV = "PLUMA_DASK_GATEWAY"
_GATEWAY_WORKERS_ENV = "PLUMA_DASK_GATEWAY_WORKERS"


def _gateway_address() -> str | None:
    """The configured Dask Gateway address: PLUMA's setting first, then Dask's."""
    address = os.environ.get(_GATEWAY_ENV, "").strip()
    if address:
        return address
    import dask.config

    value = dask.config.get("gateway.address", None)
    if not value:
        return None
    return str(value).strip() or None


def resolve_target(client: "Client | None" = None) -> tuple[str, Any]:
    """Decide where a sweep runs, without connecting anywhere.

    Returns ``("client", client)``, ``("gateway", address)`` or
    ``("local", LOCAL_CLUSTER options)``.
    """
    if client is not None:
        from distributed import Client

        if not isinstance(client, Client):
            raise InvalidInputError(f"client must be a distributed.Client, got {type(client).__name__}")
        if client.status in ("closing", "closed"):
            raise InvalidInputError("the Dask client given is closed; pass an open client or none")
        return "client", client
    address = _gateway_address()
    if address:
        return "gateway", address
    return "local", dict(LOCAL_CLUSTER)


def _gateway_workers() -> int:
    raw = os.environ.get(_GATEWAY_WORKERS_ENV, "2").strip()
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise InvalidInputError(f"{_GATEWAY_WORKERS_ENV} must be a positive integer, got {raw!r}")
    return n


def _watch_scale_up(client: "Client", n: int, start: float, timeout: float = 120.0) -> dict[str, Any]:
    """Time the cluster's scale-up from 0 to ``n`` workers (the MSE KPI) without holding up
    the work: a thread waits for the ``n`` workers; the dict it fills says what it saw
    (``seconds`` stays None while they are not all there, e.g. when a quota stops them)."""
    import threading

    done = threading.Event()
    record: dict[str, Any] = {"requested_workers": n, "seconds": None, "done": done}

    def watch() -> None:
        try:
            client.wait_for_workers(n, timeout=timeout)
            record["seconds"] = round(time.perf_counter() - start, 3)
        except Exception:  # noqa: BLE001 - not all workers came (quota, timeout, closing): no record
            pass
        finally:
            done.set()

    threading.Thread(target=watch, name="pluma-scale-up", daemon=True).start()
    return record


@contextmanager
def get_client(client: "Client | None" = None, *, program: str | None = None) -> Iterator["Client"]:
    """A Dask client for a sweep, resolved as the module docstring says.

    A client given here is yielded as it is and left open; a cluster started
    here (Gateway or local) is closed on exit, also after an error. On a Dask
    Gateway, ``program`` is passed as the cluster option ``program`` (PLUMA's
    gateway configuration checks membership and charges the program's quota).
    """
    kind, detail = resolve_target(client)
    if kind == "client":
        yield detail
        return
    if kind == "gateway":
        try:
            from dask_gateway import Gateway
        except ImportError:
            raise MissingDependencyError(
                f"Dask Gateway is configured ({detail}) but dask-gateway is not installed: {_GATEWAY_PIP}"
            ) from None
        n = _gateway_workers()
        t0 = time.perf_counter()
        gateway = Gateway(address=detail)
        try:
            options = gateway.cluster_options()
            if program is not None and "program" in options:
                options.program = program
            cluster = gateway.new_cluster(options)
        except BaseException:
            gateway.close()
            raise
        try:
            t_scale = time.perf_counter()
            cluster.scale(n)
            gw_client = cluster.get_client(set_as_default=False)
            try:
                gw_client.wait_for_workers(1, timeout=300)
                log.info("Dask Gateway cluster %s ready in %.1f s", cluster.name, time.perf_counter() - t0)
                gw_client.pluma_scale_up = _watch_scale_up(gw_client, n, t_scale)
                yield gw_client
            finally:
                gw_client.close()
        finally:
            cluster.shutdown()
            gateway.close()
        return
    import dask.config
    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    with dask.config.set(LOCAL_DASK_CONFIG):  # the nannies hand this configuration to their workers
        cluster = LocalCluster(**detail)
    with cluster, Client(cluster, set_as_default=False) as local_client:
        log.info("local Dask cluster (%d workers) ready in %.1f s", detail["n_workers"], time.perf_counter() - t0)
        yield local_client
