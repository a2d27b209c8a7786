"""Parameter sweeps on Dask: a function and a grid become an xarray Dataset in a
program's context, with usage metering.

>>> from pluma import sweeps
>>> ds = sweeps.run(analysis.wing_lifting_line,                       # doctest: +SKIP
...                 grid={"aspect_ratio": np.linspace(6, 14, 9), "taper_ratio": [0.3, 0.45, 0.6]},
...                 program=prog, name="wing_polars")

* :func:`run` — the sweep (batching, failures as NaN, progress, storing);
* :func:`get_client` / :func:`resolve_target` — where it runs (explicit
  client, else Dask Gateway when configured, else an embedded LocalCluster);
* :func:`register` / :func:`available` / :func:`get_analysis` — the analyses
  runnable by name (``pluma sweep run NAME``);
* :func:`usage_events` — a program's recorded usage.

Nothing here imports Dask until a sweep runs.
"""

from __future__ import annotations

from .cluster import get_client, resolve_target
from .metering import usage_events
from .registry import available, get as get_analysis, register
from .runner import run


def qaoa_trade_study(program, **kwargs):
    """A CAO trade study solved with QAOA; see :func:`pluma.quantum.qaoa_trade_study`."""
    from ..quantum import qaoa_trade_study as study

    return study(program, **kwargs)


__all__ = sorted([
    "qaoa_trade_study",
    "available",
    "get_analysis",
    "get_client",
    "register",
    "resolve_target",
    "run",
    "usage_events",
])
