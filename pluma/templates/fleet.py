"""The in-service fleet event log behind the CAS fleet-reliability template.

``catalogs/fleet.yaml`` (intake v2) points at ``catalogs/fleet_events.csv``,
one row per event: ``program`` (the fleet's program), ``event``, ``aircraft``,
``time`` (UTC), ``kind`` (flight / delay / cancellation / failure) and
``hours`` (flight hours, or the delay's length).

SYNTHETIC: made by :func:`generate_fleet_events` (seeded, deterministic) from
:func:`pluma.demo.datasets.fleet_events` for three fleets — AMPEL360
(narrowbody, meets its targets), ATR-NEO (regional turboprop, meets them) and
SKYJET (business jet, built to miss them). Regenerate the CSV with
``python -c "from pluma.templates.fleet import write_fleet_catalog; write_fleet_catalog()"``.

Examples
--------
>>> from pluma.templates.fleet import load_fleet_events
>>> df = load_fleet_events("ATR-NEO")                  # read through intake
>>> sorted(set(df["kind"]))
['cancellation', 'delay', 'failure', 'flight']
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import xarray as xr

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_CATALOG", "FLEETS", "generate_fleet_events", "load_fleet_events", "to_dataset",
           "write_fleet_catalog"]

DEFAULT_CATALOG = Path(__file__).resolve().parents[2] / "catalogs" / "fleet.yaml"
ENTRY = "fleet_events"

#: program -> (generator arguments, meets its targets)
FLEETS: dict[str, tuple[dict, bool]] = {
    "AMPEL360": ({"n_aircraft": 12, "days": 60, "flights_per_day": 5, "mean_block_hours": 1.8, "prefix": "PL-N",
                  "mtbf_target_hours": 500.0, "dispatch_reliability_target": 0.99}, True),
    "ATR-NEO": ({"n_aircraft": 8, "days": 60, "flights_per_day": 7, "mean_block_hours": 0.9, "prefix": "PL-R",
                 "mtbf_target_hours": 400.0, "dispatch_reliability_target": 0.99}, True),
    "SKYJET": ({"n_aircraft": 6, "days": 90, "flights_per_day": 2, "mean_block_hours": 2.6, "prefix": "PL-B",
                "mtbf_target_hours": 600.0, "dispatch_reliability_target": 0.99}, False),
}
COLUMNS = ("program", "event", "aircraft", "time", "kind", "hours")


def generate_fleet_events(seed: int = 0) -> "pd.DataFrame":
    """Every fleet's events as one table (deterministic for a given ``seed``)."""
    import pandas as pd

    from ..demo.datasets import fleet_events

    frames = []
    for i, (program, (kwargs, passing)) in enumerate(FLEETS.items()):
        ds = fleet_events(passing=passing, seed=seed + i, **kwargs)
        df = ds.to_dataframe().reset_index()
        df.insert(0, "program", program)
        df["time"] = pd.to_datetime(df["time"]).dt.strftime("%Y-%m-%dT%H:%M:00Z")
        frames.append(df[list(COLUMNS)])
    return pd.concat(frames, ignore_index=True)


def write_fleet_catalog(path_csv: str | Path | None = None, seed: int = 0) -> Path:
    """Regenerate the CSV the fleet catalog points at (the YAML is static)."""
    path = Path(path_csv) if path_csv is not None else DEFAULT_CATALOG.with_name("fleet_events.csv")
    df = generate_fleet_events(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, lineterminator="\n")
    log.info("wrote %d fleet events to %s", len(df), path)
    return path


def load_fleet_events(fleet: str | None = None, catalog: str | Path | None = None) -> "pd.DataFrame":
    """The fleet event log read through the intake catalog (one fleet's rows if ``fleet`` is given)."""
    import intake

    path = Path(catalog) if catalog else DEFAULT_CATALOG
    if not path.is_file():
        raise NotFoundError(f"no fleet catalog at {path}")
    cat = intake.from_yaml_file(str(path))
    if ENTRY not in cat.entries:
        raise NotFoundError(f"catalog {path} has no entry {ENTRY!r}; it has {', '.join(cat.entries)}")
    df = cat[ENTRY].read()
    missing = set(COLUMNS) - set(df.columns)
    if missing:
        raise InvalidInputError(f"{ENTRY} in {path} lacks the column(s) {sorted(missing)}")
    if fleet:
        chosen = df[df["program"].str.lower() == fleet.lower()]
        if chosen.empty:
            raise NotFoundError(f"no events of fleet {fleet!r} in {path}; fleets there: "
                                f"{', '.join(sorted(set(df['program'])))}")
        df = chosen.reset_index(drop=True)
    return df


def to_dataset(df: "pd.DataFrame") -> "xr.Dataset":
    """The ``fleet_events`` dataset of the vocabulary (dimension ``event``) from the table."""
    import numpy as np
    import pandas as pd
    import xarray as xr

    times = pd.to_datetime(df["time"], utc=True).dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    return xr.Dataset(
        {"aircraft": ("event", df["aircraft"].to_numpy(dtype=str), {"units": "1"}),
         "time": ("event", times),
         "kind": ("event", df["kind"].to_numpy(dtype=str), {"units": "1"}),
         "hours": ("event", df["hours"].to_numpy(dtype=float), {"units": "h"})},
        coords={"event": ("event", np.asarray(df["event"], dtype=str))},
        attrs={"title": "fleet in-service events"},
    )
