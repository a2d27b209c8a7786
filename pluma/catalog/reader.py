"""``PlumaFrozenDataset``: an intake (v2) reader for one dataset of one frozen context.

A catalog entry names the reader and its arguments (all data; nothing in a
catalog is executed)::

    version: 2
    entries:
      ampel360_cae_1_wing_loads:
        reader: pluma.catalog.reader:PlumaFrozenDataset
        kwargs:
          workspace: /data/pluma-home      # a folder or s3://bucket/prefix; null: $PLUMA_HOME, else ./pluma-home
          ref: AMPEL360@CAE#1              # PROGRAM@PHASE#N (fixed: recommended)
          dataset: wing_loads
        output_instance: xarray:Dataset
        user_parameters: {}
        metadata: {}
    ...

Arguments:

``workspace``
    Where the workspace is: a folder or ``s3://bucket/prefix`` (required;
    ``null`` means PLUMA's default, ``$PLUMA_HOME`` else ``./pluma-home``). The
    reader never creates a workspace.
``ref``
    A frozen reference ``PROGRAM@PHASE#N``: immutable, the same data forever.
    ``PROGRAM@PHASE`` (the latest freeze of that phase, which moves when the
    program freezes the phase again) is accepted only with ``latest: true``.
``dataset``
    The dataset's name in that frozen context.
``latest``
    ``true`` to accept a moving ``PROGRAM@PHASE`` reference (default ``false``).
``user``
    Read as this user (default: ``$PLUMA_USER``, else the OS user; under
    JupyterHub the hub's identity). Access control applies as for ``pluma.open``.
``storage_options``
    Object-store options for an ``s3://`` workspace (Icechunk's names, e.g.
    ``endpoint_url``, ``region``).

``read()`` returns ``pluma.open(workspace, ...).frozen(ref).dataset(dataset)``:
the lazily loaded ``xarray.Dataset``.

intake imports this module when it starts (the ``intake.imports`` entry point
of the pluma distribution), so ``intake.from_yaml_file(...)`` finds the reader
without ``import pluma`` first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError, MissingDependencyError
from ..names import validate_item_name, validate_name
from ..programs.phases import Phase

try:
    from intake.readers.readers import BaseReader
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise MissingDependencyError(
        f"intake catalogs need intake 2: pip install 'pluma[catalog]' ({exc})"
    ) from exc

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

__all__ = ["PlumaFrozenDataset", "READER", "KWARGS", "parse_ref", "validate_kwargs"]

#: how catalogs name this reader (``module:Class``)
READER = "pluma.catalog.reader:PlumaFrozenDataset"
#: the reader's arguments
KWARGS = ("workspace", "ref", "dataset", "latest", "user", "storage_options")
_REQUIRED = ("workspace", "ref", "dataset")

_REF = re.compile(r"^(?P<program>[^@#]*)@(?P<phase>[^@#]*)(?:#(?P<n>[^@#]*))?$")


def parse_ref(ref: object, *, latest: bool = False) -> tuple[str, Phase, int | None]:
    """Validate a catalog's ``ref``: ``PROGRAM@PHASE#N``, or ``PROGRAM@PHASE`` with
    ``latest=True``. Returns (program, phase, n or None for the latest)."""
    example = "e.g. 'AMPEL360@CAD#1'"
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidInputError(f"catalog entry: ref must be a frozen reference PROGRAM@PHASE#N ({example}), got {ref!r}")
    m = _REF.match(ref.strip())
    if m is None:
        raise InvalidInputError(f"catalog entry: ref {ref!r} is not a frozen reference PROGRAM@PHASE#N ({example})")
    program = validate_name(m["program"], "program name in ref")
    if m["phase"].strip().upper() not in Phase.__members__:
        raise InvalidInputError(
            f"catalog entry: ref {ref!r} names an unknown phase {m['phase']!r}; use one of "
            + ", ".join(p.value for p in Phase)
        )
    phase = Phase.parse(m["phase"])
    n_text = m["n"]
    if n_text is None:
        if not latest:
            raise InvalidInputError(
                f"catalog entry: ref {ref!r} has no freeze number, so it would follow the latest {phase.value} "
                f"freeze and change under its readers; write {program}@{phase.value}#N (recommended), or set "
                "latest: true to accept the moving reference"
            )
        return program, phase, None
    if not re.fullmatch(r"[1-9][0-9]*", n_text):
        raise InvalidInputError(f"catalog entry: ref {ref!r}: the number after '#' must be a positive integer")
    if latest:
        raise InvalidInputError(
            f"catalog entry: ref {ref!r} names a fixed freeze, but latest: true asks for the latest one; "
            f"drop latest (recommended) or write {program}@{phase.value}"
        )
    return program, phase, int(n_text)


def validate_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Check a catalog entry's arguments strictly; return them normalised
    (``ref`` written ``PROGRAM@PHASE#N`` or ``PROGRAM@PHASE``)."""
    unknown = sorted(set(kwargs) - set(KWARGS))
    if unknown:
        raise InvalidInputError(
            f"catalog entry: unknown argument(s) {', '.join(map(str, unknown))} for the PLUMA reader; "
            f"it takes {', '.join(KWARGS)}"
        )
    missing = [k for k in _REQUIRED if k not in kwargs]
    if missing:
        raise InvalidInputError(
            f"catalog entry: missing argument(s) {', '.join(missing)} for the PLUMA reader "
            "(workspace: a folder or s3://bucket/prefix, or null for $PLUMA_HOME; ref: e.g. 'AMPEL360@CAD#1'; "
            "dataset: e.g. 'mass_breakdown')"
        )
    out: dict[str, Any] = {}
    workspace = kwargs["workspace"]
    if isinstance(workspace, os.PathLike):
        workspace = os.fspath(workspace)
    if workspace is not None and (not isinstance(workspace, str) or not workspace.strip()):
        raise InvalidInputError(
            f"catalog entry: workspace must be a folder path or an 's3://bucket/prefix' URI (or null for "
            f"$PLUMA_HOME, else ./pluma-home), got {workspace!r}"
        )
    out["workspace"] = workspace
    latest = kwargs.get("latest", False)
    if not isinstance(latest, bool):
        raise InvalidInputError(f"catalog entry: latest must be true or false, got {latest!r}")
    program, phase, n = parse_ref(kwargs["ref"], latest=latest)
    out["ref"] = f"{program}@{phase.value}" + ("" if n is None else f"#{n}")
    out["latest"] = latest
    dataset = kwargs["dataset"]
    if not isinstance(dataset, str):
        raise InvalidInputError(f"catalog entry: dataset must be a dataset name such as 'wing_loads', got {dataset!r}")
    out["dataset"] = validate_item_name(dataset, "dataset")
    user = kwargs.get("user")
    if user is not None:
        validate_name(user, "user name")
    out["user"] = user
    options = kwargs.get("storage_options")
    if options is not None:
        if not isinstance(options, Mapping):
            raise InvalidInputError(
                f"catalog entry: storage_options must be a mapping such as {{endpoint_url: ...}}, got {options!r}"
            )
        for key, value in options.items():
            if not isinstance(key, str):
                raise InvalidInputError(f"catalog entry: storage option names must be text, got {key!r}")
            if not isinstance(value, (str, bool, int, float)):
                raise InvalidInputError(
                    f"catalog entry: storage option {key} must be text, a number or true/false, got {value!r}"
                )
        options = dict(options)
    out["storage_options"] = options or None
    return out


class PlumaFrozenDataset(BaseReader):
    """One dataset of one PLUMA frozen context, as an ``xarray.Dataset``.

    Arguments (all keyword): ``workspace``, ``ref``, ``dataset``, optional
    ``latest``, ``user``, ``storage_options``; see :mod:`pluma.catalog.reader`.
    They are validated when the reader is made (``cat[name]``) and again on
    ``read(**overrides)``.

    Examples
    --------
    >>> reader = PlumaFrozenDataset(workspace="pluma-home", ref="AMPEL360@CAE#1", dataset="wing_loads")
    >>> reader.read()                               # doctest: +SKIP
    <xarray.Dataset> ...
    """

    imports = {"pluma", "xarray"}
    implements: set = set()  # reads from a frozen reference, not from an intake data type
    output_instance = "xarray:Dataset"
    func = "pluma.workspace:open_workspace"
    func_doc = "pluma.context.view:ContextView.dataset"

    def __init__(self, *args: Any, metadata: dict | None = None, output_instance: str | None = None,
                 **kwargs: Any) -> None:
        if args:
            raise InvalidInputError(
                "PlumaFrozenDataset takes keyword arguments only: workspace=..., ref=..., dataset=..."
            )
        if output_instance not in (None, self.output_instance):
            raise InvalidInputError(
                f"catalog entry: the PLUMA reader produces {self.output_instance}, not {output_instance}"
            )
        validate_kwargs(kwargs)
        super().__init__(metadata=metadata, **kwargs)

    def _read(self, *args: Any, **kwargs: Any) -> "xr.Dataset":
        if args:
            raise InvalidInputError("PlumaFrozenDataset.read takes keyword arguments only")
        kw = validate_kwargs(kwargs)
        from ..workspace import open_workspace

        ws = open_workspace(kw["workspace"], user=kw["user"], storage_options=kw["storage_options"], create=False)
        return ws.frozen(kw["ref"]).dataset(kw["dataset"])

    def __repr__(self) -> str:
        ref = self.kwargs.get("ref")
        return f"PlumaFrozenDataset {ref} {self.kwargs.get('dataset')} producing {self.output_instance}"
