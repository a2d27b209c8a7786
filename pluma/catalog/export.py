"""Write an intake (v2) catalog of the frozen contexts a user may read.

One entry per (frozen context, dataset), named by :func:`pluma.catalog.entry_name`
(``ampel360_cae_1_wing_loads``), each a :class:`~pluma.catalog.reader.PlumaFrozenDataset`
with a fixed reference ``PROGRAM@PHASE#N``; with ``latest=True`` also one entry
per (program, phase, dataset of its latest freeze) with the moving reference
``PROGRAM@PHASE`` and ``latest: true`` (``ampel360_cae_latest_wing_loads``).

Where the workspace is: templating
----------------------------------
intake v2 fills in *user parameters* when an entry is accessed: a kwarg
``"{pluma_workspace}"`` takes the value of the catalog's user parameter
``pluma_workspace``, and a parameter whose default is ``env(NAME)`` takes the
environment variable ``NAME`` at that moment (``None`` when it is unset). The
catalog therefore carries two catalog-level parameters that every entry uses
(named apart from the reader's kwargs: intake takes a kwarg named like a user
parameter as that parameter's value):

``pluma_workspace`` (the entries' ``workspace``)
    default: the workspace's own location, a literal path or URI given as
    ``location=``, or ``env(NAME)`` for ``location="$NAME"``. With
    ``env(PLUMA_HOME)`` and ``PLUMA_HOME`` unset the reader gets ``null`` and
    PLUMA's default applies: ``$PLUMA_HOME``, else ``./pluma-home`` (relative
    to the reader's working folder).
``pluma_user`` (the entries' ``user``)
    default ``env(PLUMA_USER)`` (unset: the OS user; under JupyterHub the hub's
    identity). A catalog never carries an identity of its own.

Both can be given at read time, as parameters or as the reader's own kwargs:
``cat(pluma_workspace="/data/ws", pluma_user="ana")[name].read()``, or
``cat(workspace="/data/ws", user="ana")[name].read()``, or
``cat[name].read(workspace="/data/ws")``.
A catalog records no credentials: for an ``s3://`` workspace exported at its own
location, the non-secret storage options (endpoint, region, ...) are written;
keys come from the reader's environment.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._time import now
from ..errors import InvalidInputError
from ..programs.phases import Phase
from .names import LATEST, entry_name

if TYPE_CHECKING:  # pragma: no cover
    from ..workspace import Workspace

__all__ = ["build_catalog", "export_catalog", "location_default", "write_catalog"]

READER = "pluma.catalog.reader:PlumaFrozenDataset"  # same as pluma.catalog.reader.READER (no intake import here)
OUTPUT = "xarray:Dataset"
_USER_PARAMETER = "intake.readers.user_parameters:BaseUserParameter"
_PUBLIC_S3_OPTIONS = ("endpoint_url", "region", "allow_http", "force_path_style")
_VAR = r"[A-Za-z_][A-Za-z0-9_]*"
_ENV = re.compile(rf"^(?:\$\{{(?P<a>{_VAR})\}}|\$(?P<b>{_VAR})|env\((?P<c>{_VAR})\))$")


def location_default(location: str | os.PathLike | None, ws: "Workspace | None" = None) -> str:
    """The default of the catalog's ``pluma_workspace`` parameter for ``location``:
    ``"$NAME"``, ``"${NAME}"`` or ``"env(NAME)"`` -> ``"env(NAME)"`` (read from the
    environment when the catalog is used); a path or URI -> itself; ``None`` ->
    the workspace's own location."""
    if location is None:
        if ws is None:
            raise InvalidInputError("give a location or a workspace")
        return ws.location
    if isinstance(location, os.PathLike):
        location = os.fspath(location)
    if not isinstance(location, str) or not location.strip():
        raise InvalidInputError(
            f"location must be a folder, an s3://bucket/prefix URI or an environment variable such as "
            f"'$PLUMA_HOME', got {location!r}"
        )
    location = location.strip()
    m = _ENV.match(location)
    if m:
        return f"env({m['a'] or m['b'] or m['c']})"
    if "$" in location or "{" in location or "}" in location:
        raise InvalidInputError(
            f"location {location!r}: give a whole environment variable ('$PLUMA_HOME') or a plain path or URI"
        )
    return location


def _n_of(ref: str) -> int:
    return int(ref.rsplit("#", 1)[1])


def build_catalog(ws: "Workspace", *, latest: bool = False, location: str | os.PathLike | None = None) -> dict[str, Any]:
    """The catalog (a dict in intake's v2 layout) of every frozen context ``ws.user`` may read."""
    if not isinstance(latest, bool):
        raise InvalidInputError("latest must be True or False")
    default = location_default(location, ws)
    storage_options: dict[str, Any] = {}
    if location is None and not ws.root.is_local:
        storage_options = {k: ws.root.options[k] for k in _PUBLIC_S3_OPTIONS if k in ws.root.options}

    frame = ws.query()
    rows = sorted(
        (dict(zip(frame.columns, values)) for values in frame.itertuples(index=False, name=None)),
        key=lambda r: (r["program"].lower(), Phase.parse(r["phase"]).index, _n_of(r["ref"])),
    )
    entries: dict[str, Any] = {}

    def add(name: str, ref: str, dataset: str, metadata: dict[str, Any], *, moving: bool) -> None:
        kwargs: dict[str, Any] = {"workspace": "{pluma_workspace}", "ref": ref, "dataset": dataset,
                                  "user": "{pluma_user}"}
        if moving:
            kwargs["latest"] = True
        if storage_options:
            kwargs["storage_options"] = dict(storage_options)
        if name in entries:  # pragma: no cover - entry names cannot collide (see pluma.catalog.names)
            raise InvalidInputError(f"two catalog entries would be named {name!r}")
        entries[name] = {"reader": READER, "kwargs": kwargs, "output_instance": OUTPUT,
                         "user_parameters": {}, "metadata": metadata}

    latest_of: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}
    for row in rows:
        frozen = ws.frozen(row["ref"])
        program, phase, n = frozen.program.name, frozen.phase.value, frozen.n
        for dataset in frozen.datasets:
            info = frozen.dataset_info(dataset)
            add(entry_name(program, phase, n, dataset), frozen.ref, dataset, {
                "description": f"{dataset} of {frozen.ref} (frozen {str(row['frozen_at'])[:19].replace('T', ' ')} "
                               f"by {row['frozen_by']})",
                "program": program, "phase": phase, "n": n, "ref": frozen.ref, "id": frozen.id,
                "dataset": dataset, "frozen_at": str(row["frozen_at"]), "frozen_by": str(row["frozen_by"]),
                "variables": list(info.get("variables", [])), "dims": dict(info.get("dims", {})),
            }, moving=False)
        latest_of[(program, phase)] = (frozen, row)  # rows are in freeze order: the last one wins
    if latest:
        for (program, phase), (frozen, _row) in sorted(latest_of.items(),
                                                        key=lambda kv: (kv[0][0].lower(), Phase.parse(kv[0][1]).index)):
            moving_ref = f"{program}@{phase}"
            for dataset in frozen.datasets:
                add(entry_name(program, phase, LATEST, dataset), moving_ref, dataset, {
                    "description": f"{dataset} of the latest {phase} freeze of {program} "
                                   f"(moves when {program} freezes {phase} again; {frozen.ref} at export)",
                    "program": program, "phase": phase, "n": LATEST, "ref": moving_ref, "dataset": dataset,
                    "latest_at_export": frozen.ref,
                }, moving=True)

    import pluma

    return {
        "version": 2,
        "metadata": {
            "description": f"PLUMA frozen contexts readable by {ws.user}",
            "pluma": {"workspace": ws.location, "exported_by": ws.user, "exported_at": now(),
                      "version": pluma.__version__, "latest_entries": latest},
        },
        "user_parameters": {
            "pluma_workspace": {
                "cls": _USER_PARAMETER,
                "default": default,
                "description": "the PLUMA workspace: a folder or s3://bucket/prefix (env(NAME): that environment "
                               "variable; unset: $PLUMA_HOME, else ./pluma-home)",
            },
            "pluma_user": {
                "cls": _USER_PARAMETER,
                "default": "env(PLUMA_USER)",
                "description": "read as this user (unset: $PLUMA_USER, else the OS user; the hub's identity "
                               "under JupyterHub)",
            },
        },
        "data": {},
        "aliases": {name: name for name in entries},
        "entries": entries,
    }


def export_catalog(ws: "Workspace", path: str | os.PathLike, *, latest: bool = False,
                   location: str | os.PathLike | None = None) -> Path:
    """Write the intake v2 catalog of every frozen context ``ws.user`` may read to ``path``.

    ``latest=True`` adds ``<program>_<phase>_latest_<dataset>`` entries that follow
    the latest freeze of each phase. ``location`` says how the catalog finds the
    workspace: ``None`` (its current location), a path or URI, or an environment
    variable ``"$PLUMA_HOME"`` read when the catalog is used (see the module doc).

    Examples
    --------
    >>> export_catalog(ws, "frozen.yaml", location="$PLUMA_HOME")     # doctest: +SKIP
    >>> import intake
    >>> intake.from_yaml_file("frozen.yaml")["ampel360_cae_1_wing_loads"].read()   # doctest: +SKIP
    """
    return write_catalog(build_catalog(ws, latest=latest, location=location), path)


def write_catalog(catalog: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write a catalog made by :func:`build_catalog` as YAML (atomically); returns the path."""
    import yaml

    target = Path(path).expanduser()
    if not target.parent.is_dir():
        raise InvalidInputError(f"cannot write {target}: the folder {target.parent} does not exist")
    header = ("# intake (v2) catalog of PLUMA frozen contexts, written by `pluma catalog export`.\n"
              "# Read it with: intake.from_yaml_file(path)[entry].read()  (entries: see `aliases`)\n")
    text = header + yaml.safe_dump(catalog, sort_keys=False, default_flow_style=False, allow_unicode=True)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
