"""Warm kernels: a fresh Jupyter kernel for every run, started ahead of time.

Starting a kernel and importing numpy, xarray, matplotlib, pint and PLUMA in it
takes seconds; the notebook's own work is often less. A :class:`KernelPool`
keeps ``size`` spare kernels booting in the background, each already running
:data:`WARMUP` (imports only, in a ``silent`` request: nothing in the user
namespace, no history, no execution count). A run takes a spare kernel, the
pool starts the next one, and the kernel is shut down after that one run —
kernels are never reused across notebooks, so no run sees another's state.

Everything happens in the calling thread: ``start_kernel`` returns as soon as
the process is launched and the warm-up request is sent without waiting.

Set ``PLUMA_TEMPLATE_WARM=0`` to start every kernel cold.

Examples
--------
>>> pool = KernelPool("python3")          # doctest: +SKIP
>>> km = pool.take()                       # doctest: +SKIP
>>> shutdown(km)                           # doctest: +SKIP
>>> pool.close()                           # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import logging
import os
import tempfile
import time
import uuid
from typing import Mapping

from ..errors import StorageError

log = logging.getLogger(__name__)

__all__ = ["KernelPool", "WARMUP", "default_pool", "prewarm", "shutdown", "shutdown_pools", "warm_enabled"]

WARMUP = """\
import numpy as _w0, pandas as _w1, xarray as _w2, pint as _w3, matplotlib as _w4
import matplotlib.pyplot as _w5
import pluma as _w6, pluma.templates.notebook as _w7, pluma.templates.recording as _w8
import pluma.engineering as _w9, pluma.analysis as _w10, icechunk as _w11, zarr as _w12
from pluma.units import registry as _w13
_w13()
del _w0, _w1, _w2, _w3, _w4, _w5, _w6, _w7, _w8, _w9, _w10, _w11, _w12, _w13
"""

WARM_ENV = "PLUMA_TEMPLATE_WARM"


def warm_enabled() -> bool:
    return os.environ.get(WARM_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


class _Spare:
    def __init__(self, km, kc, msg_id: str) -> None:
        self.km, self.kc, self.msg_id = km, kc, msg_id


class KernelPool:
    """Spare kernels of one kernel name and environment (see the module docstring)."""

    def __init__(self, kernel_name: str = "python3", *, size: int = 1, env: Mapping[str, str] | None = None,
                 startup_timeout: float = 120.0) -> None:
        self.kernel_name = kernel_name
        self.size = max(0, int(size))
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self._spares: list[_Spare] = []
        self.started = 0

    def _launch(self) -> _Spare:
        # an *async* kernel manager, as nbclient makes for itself: its clients never block the
        # event loop, so nbclient's liveness check can notice a kernel that died mid-cell
        from jupyter_client import AsyncKernelManager
        from jupyter_core.utils import run_sync

        # IPC sockets (unique files): no TCP port races between kernels started at once
        km = AsyncKernelManager(kernel_name=self.kernel_name, transport="ipc",
                                ip=os.path.join(tempfile.gettempdir(), f"pluma-kernel-{uuid.uuid4().hex}"))
        env = {**os.environ, **self.env}
        run_sync(km.start_kernel)(env=env)
        self.started += 1
        kc = km.client()
        kc.start_channels()
        msg_id = kc.execute(WARMUP, silent=True, store_history=False)
        return _Spare(km, kc, msg_id)

    def _ready(self, spare: _Spare) -> None:
        """Wait until the spare answered its warm-up (or fail with the reason)."""
        from jupyter_core.utils import run_sync

        deadline = time.monotonic() + self.startup_timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise StorageError(f"kernel {self.kernel_name} did not warm up within {self.startup_timeout:.0f} s")
            if not run_sync(spare.km.is_alive)():
                raise StorageError(f"kernel {self.kernel_name} died while starting")
            try:
                msg = run_sync(spare.kc.get_shell_msg)(timeout=min(left, 1.0))
            except Exception:  # noqa: BLE001 - queue.Empty: keep waiting
                continue
            if msg.get("parent_header", {}).get("msg_id") == spare.msg_id:
                if msg["content"].get("status") != "ok":
                    log.warning("kernel warm-up failed (%s: %s); the run imports what it needs itself",
                                msg["content"].get("ename"), msg["content"].get("evalue"))
                return

    def fill(self) -> None:
        while len(self._spares) < self.size:
            self._spares.append(self._launch())

    def take(self, *, refill: bool = True):
        """A started, warmed KernelManager for one run; starts the next spare first (unless
        ``refill`` is False: the caller knows no run follows)."""
        spare = self._spares.pop(0) if self._spares else self._launch()
        if refill:
            self.fill()
        try:
            self._ready(spare)
        finally:
            spare.kc.stop_channels()
        return spare.km

    def close(self) -> None:
        while self._spares:
            spare = self._spares.pop()
            try:
                spare.kc.stop_channels()
                shutdown(spare.km)
            except Exception as exc:  # noqa: BLE001 - best effort at shutdown
                log.debug("spare kernel shutdown: %s", exc)


def shutdown(km) -> None:
    """Stop a kernel now (it ran its one notebook)."""
    from jupyter_core.utils import run_sync

    run_sync(km.shutdown_kernel)(now=True)


_POOLS: dict[tuple, KernelPool] = {}


def default_pool(kernel_name: str, env: Mapping[str, str] | None = None) -> KernelPool:
    """This process's pool for ``kernel_name`` and ``env`` (one spare kernel; none with PLUMA_TEMPLATE_WARM=0)."""
    key = (kernel_name, tuple(sorted((env or {}).items())))
    pool = _POOLS.get(key)
    if pool is None:
        pool = _POOLS[key] = KernelPool(kernel_name, size=1 if warm_enabled() else 0, env=env)
    return pool


def prewarm(kernel_name: str = "python3", env: Mapping[str, str] | None = None) -> None:
    """Start this process's spare kernel now (a notebook session or a service can call it at start)."""
    default_pool(kernel_name, env).fill()


def shutdown_pools() -> None:
    """Shut down every spare kernel of this process (also done at exit)."""
    for pool in list(_POOLS.values()):
        pool.close()
    _POOLS.clear()


atexit.register(shutdown_pools)

