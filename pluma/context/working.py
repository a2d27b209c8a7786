"""The working context: a handle on a program's branch that remembers the snapshot
it last read, and writes with optimistic concurrency."""

from __future__ import annotations

import copy
import hashlib
import mimetypes
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from .._time import now
from ..errors import ConflictError, InvalidInputError, StaleContextError
from ..names import validate_item_name
from ..programs.phases import Status, classification_rank, validate_classification
from .params import RESERVED, unknown_param_error
from .view import ARTIFACT_PREFIX, DATA_PREFIX, ContextView, empty_manifest, param_specs

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from ..memory import WriteTxn

__all__ = ["Context", "Transaction"]

_KINDS = {"param": "params", "dataset": "datasets", "artifact": "artifacts"}


@dataclass
class _Op:
    kind: str  # param | dataset | artifact
    name: str
    value: Any
    label: str | None
    extra: dict


def _dataset_shape(ds, mode: str, previous: dict[str, Any]) -> dict[str, Any]:
    """What the manifest records of a dataset's shape after a write (with its evenly spaced
    index coordinates: where a later region override lies is then computed, not searched)."""
    from ..memory.chunks import index_ranges

    if mode == "region":  # a region of the stored dataset: its shape and index are unchanged
        return {k: previous[k] for k in ("dims", "variables", "nbytes", "index") if k in previous}
    shape = {"dims": {str(k): int(v) for k, v in ds.sizes.items()},
             "variables": sorted(str(v) for v in ds.data_vars), "nbytes": int(ds.nbytes)}
    index = index_ranges(ds)
    if index:
        shape["index"] = index
    return shape


_STORABLE_KINDS = "biufcmMUSO"  # xarray/zarr encode these; "V" (raw void) and the rest they cannot


def validated_dataset(name: str, ds: Any) -> "xr.Dataset":
    """``ds`` (a Dataset, or a DataArray made one) checked for what storage needs:
    data variables; variable, coordinate and dimension names that are non-empty
    text without '/' (they become store paths); JSON-like attributes."""
    import json

    import xarray as xr

    validate_item_name(name, "dataset")
    if isinstance(ds, xr.DataArray):
        if ds.name is not None and not isinstance(ds.name, str):
            raise InvalidInputError(f"dataset {name!r}: a DataArray's name must be text, not {ds.name!r}")
        ds = ds.to_dataset(name=ds.name or name)
    if not isinstance(ds, xr.Dataset):
        raise InvalidInputError(f"dataset {name!r} must be an xarray.Dataset, got {type(ds).__name__}")
    if not ds.data_vars:
        raise InvalidInputError(f"dataset {name!r} has no data variables")
    for key in list(ds.variables) + list(ds.dims):
        if not isinstance(key, str) or not key.strip() or "/" in key or "\x00" in key or key in (".", ".."):
            raise InvalidInputError(
                f"dataset {name!r}: variable or dimension name {key!r} cannot be stored; use text without "
                "'/' or NUL, e.g. 'lift_per_span'"
            )
    for key, var in ds.variables.items():
        if var.dtype.kind not in _STORABLE_KINDS:
            raise InvalidInputError(f"dataset {name!r}: variable {key!r} has dtype {var.dtype}, which cannot be stored")
    try:
        json.dumps([dict(ds.attrs)] + [dict(v.attrs) for v in ds.variables.values()], allow_nan=True, default=_plain)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"dataset {name!r}: attributes must be JSON-like (numbers, text, lists): {exc}") from None
    return ds


def _plain(value: Any) -> Any:
    import numpy as np

    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-like")


class Transaction:
    """Changes collected by :meth:`Context.transaction`, committed once on exit."""

    def __init__(self, context: "Context", message: str, source: str) -> None:
        self._context = context
        self.message = message
        self.source = source
        self._ops: list[_Op] = []

    def set_params(self, *, label: str | None = None, **values: Any) -> "Transaction":
        if "message" in values:
            raise InvalidInputError("give the message to transaction(message=...), not to set_params inside it")
        self._ops.extend(self._context._param_ops(values, label))
        return self

    def put_dataset(self, name: str, ds: "xr.Dataset", *, label: str | None = None) -> "Transaction":
        self._ops.append(self._context._dataset_op(name, ds, label))
        return self

    def attach(self, name: str, data: "bytes | str | os.PathLike", *, label: str | None = None,
               filename: str | None = None, media_type: str | None = None) -> "Transaction":
        self._ops.append(self._context._artifact_op(name, data, label, filename, media_type))
        return self


class Context(ContextView):
    """The program's working context.

    Each ``set_params`` / ``put_dataset`` / ``attach`` is one atomic commit with
    author and message; ``transaction()`` groups several. A write of an item that
    someone else changed since this handle last read it raises ``ConflictError``;
    ``refresh()`` moves the handle to the latest state.
    """

    def __init__(self, program) -> None:
        snapshot = program._enclave.snapshot(branch=program._branch)
        super().__init__(program, snapshot)
        self._epoch = int(self._state.get("epoch", 0))
        self._phase = self._state.get("phase")

    @property
    def label(self) -> str:
        return f"{self._program.name} working context ({self._phase}, rev {self.rev})"

    @property
    def phase(self):
        from ..programs.phases import Phase

        return Phase(self._phase)

    def refresh(self) -> "Context":
        """Move this handle to the branch tip (seeing everyone's changes)."""
        snapshot = self._program._enclave.snapshot(branch=self._program._branch)
        self._snapshot = snapshot
        self._state = snapshot.doc("program", {})
        self._manifest = snapshot.doc("context", empty_manifest())
        self._epoch = int(self._state.get("epoch", 0))
        self._phase = self._state.get("phase")
        return self

    # -- writing --------------------------------------------------------
    def set_params(self, *, message: str | None = None, label: str | None = None, **values: Any) -> "Context":
        """Set parameters in one commit; numbers convert to the declared unit.

        Examples
        --------
        >>> ctx.set_params(span=36.0, cruise_mach=0.78, message="initial sizing")  # doctest: +SKIP
        >>> ctx.set_params(span="118 ft")  # stored as 35.97 m                     # doctest: +SKIP
        """
        if not values:
            raise InvalidInputError("set_params needs at least one parameter, e.g. set_params(span=36.0)")
        ops = self._param_ops(values, label)
        self._commit(ops, message or "set " + ", ".join(sorted(values)), source="user")
        return self

    def put_dataset(self, name: str, ds: "xr.Dataset", *, message: str | None = None, label: str | None = None) -> "Context":
        """Store an xarray Dataset (as Zarr v3 in Icechunk) in one commit.

        Only what changed is written: a dataset with the same layout as the stored
        one rewrites just the chunks whose values differ; a dataset that is a
        region of the stored one (smaller along dimensions with index coordinates)
        updates that region; anything else replaces the dataset.
        """
        op = self._dataset_op(name, ds, label)
        self._commit([op], message or f"put dataset {name}", source="user")
        return self

    def attach(self, name: str, data: "bytes | str | os.PathLike", *, message: str | None = None,
               label: str | None = None, filename: str | None = None, media_type: str | None = None) -> "Context":
        """Attach a file (a path) or bytes as an artifact (executed notebook, report, ...)."""
        op = self._artifact_op(name, data, label, filename, media_type)
        self._commit([op], message or f"attach {name}", source="user")
        return self

    @contextmanager
    def transaction(self, message: str, *, source: str = "user") -> Iterator[Transaction]:
        """Group several changes into one commit, made when the block exits without error.

        Examples
        --------
        >>> with ctx.transaction(message="sizing loop 3") as tx:   # doctest: +SKIP
        ...     tx.set_params(mtow=74_000.0)
        ...     tx.put_dataset("mass_breakdown", mb)
        """
        if not isinstance(message, str) or not message.strip():
            raise InvalidInputError("a transaction needs a message saying what it changes")
        self._program._require("write")
        tx = Transaction(self, message, source)
        yield tx
        if not tx._ops:
            raise InvalidInputError(f"transaction {message!r} changed nothing")
        self._commit(tx._ops, message, source=source)

    # -- internals ------------------------------------------------------
    def _check_label(self, label: str | None) -> str | None:
        if label is None:
            return None
        label = validate_classification(label, "label")
        ceiling = self._state.get("classification", "PUBLIC")
        if classification_rank(label) > classification_rank(ceiling):
            raise InvalidInputError(
                f"label {label} is above program {self._program.name}'s classification ceiling {ceiling}"
            )
        return label

    def _param_ops(self, values: dict[str, Any], label: str | None) -> list[_Op]:
        label = self._check_label(label)
        specs = param_specs(self._state)
        ops = []
        for name, value in values.items():
            if name in RESERVED:
                raise InvalidInputError(f"{name!r} is reserved and cannot be a parameter name")
            spec = specs.get(name)
            if spec is None:
                raise unknown_param_error(name, specs)
            ops.append(_Op("param", name, spec.coerce(value), label, {"unit": spec.unit}))
        return ops

    def _dataset_op(self, name: str, ds, label: str | None) -> _Op:
        return _Op("dataset", name, validated_dataset(name, ds), self._check_label(label), {})

    def _artifact_op(self, name, data, label, filename, media_type) -> _Op:
        validate_item_name(name, "artifact")
        if isinstance(data, (str, os.PathLike)):
            path = Path(data)
            if not path.is_file():
                raise InvalidInputError(f"artifact {name!r}: {path} is not a readable file")
            raw = path.read_bytes()
            filename = filename or path.name
        elif isinstance(data, (bytes, bytearray, memoryview)):
            raw = bytes(data)
        else:
            raise InvalidInputError(f"artifact {name!r} must be a file path or bytes, got {type(data).__name__}")
        filename = filename or name
        media_type = media_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        extra = {"filename": filename, "media_type": media_type, "size": len(raw),
                 "sha256": hashlib.sha256(raw).hexdigest()}
        return _Op("artifact", name, raw, self._check_label(label), extra)

    def _commit(self, ops: list[_Op], message: str, *, source: str) -> None:
        program = self._program
        program._require("write")
        user = program._user
        base_manifest = self._manifest
        epoch = self._epoch

        def change(txn: "WriteTxn"):
            state = txn.doc("program", {})
            manifest = txn.doc("context", empty_manifest())
            program._check_writable(state)
            if int(state.get("epoch", 0)) != epoch:
                last = (state.get("transitions") or [{}])[-1]
                raise StaleContextError(
                    f"this context handle was opened in {self._phase}; since then the program "
                    f"{last.get('kind', 'changed')} ({last.get('from', '?')} -> {last.get('to', state.get('phase'))}) "
                    f"by {last.get('user', '?')} at {last.get('time', '?')}. Use prog.context (or ctx.refresh()) "
                    "for the current working context"
                )
            new_rev = int(manifest.get("rev", 0)) + 1
            ceiling = state.get("classification", "PUBLIC")
            for op in ops:
                section = _KINDS[op.kind]
                before = base_manifest.get(section, {}).get(op.name)
                current = manifest.get(section, {}).get(op.name)
                if (before or {}).get("rev") != (current or {}).get("rev"):
                    to = ""
                    if current and op.kind == "param":  # say what it is now, in its unit
                        unit = current.get("unit")
                        to = f" to {current.get('value')!r}" + (f" {unit}" if unit not in (None, "", "1") else "")
                    raise ConflictError(
                        f"{op.kind} {op.name!r} was changed by {current.get('author')}{to} at {current.get('time')} "
                        f"({current.get('message')!r}) after this handle last read it (nothing of your change "
                        "was saved); ctx.refresh() to see the change, then decide"
                        if current
                        else f"{op.kind} {op.name!r} was removed after this handle last read it; ctx.refresh() first"
                    )
            for op in ops:
                section = _KINDS[op.kind]
                record = {
                    "label": op.label or ceiling,
                    "author": user,
                    "time": now(),
                    "message": message,
                    "source": source,
                    "rev": new_rev,
                }
                if op.kind == "param":
                    record = {"value": op.value, **op.extra, **record}
                elif op.kind == "dataset":
                    ds = op.value
                    previous = manifest.get("datasets", {}).get(op.name) or {}
                    mode, stored = txn.put_dataset(f"{DATA_PREFIX}/{op.name}", ds, previous.get("stored_bytes"),
                                                   previous.get("index"))
                    record.update(_dataset_shape(ds, mode, previous), stored_bytes=stored)
                    record["write"] = mode
                else:
                    path = f"{ARTIFACT_PREFIX}/{op.name}"
                    txn.put_artifact(path, op.value, {"pluma": op.extra})
                    record.update(op.extra, stored_bytes=int(sum(txn.sizes(path + "/").values())))
                manifest.setdefault(section, {})[op.name] = record
            manifest["rev"] = new_rev
            contributors = state.setdefault("contributors", [])
            if user.lower() not in contributors:
                contributors.append(user.lower())
            txn.put_doc("context", manifest)
            txn.put_doc("program", state)
            # the change is an entry of the program's hash-chained audit trail, in this same commit
            program._append_event(txn, "change", items=[f"{op.kind}:{op.name}" for op in ops][:100],
                                  rev=new_rev, source=source, message=message[:500])
            return state, manifest

        names = ", ".join(f"{op.kind}:{op.name}" for op in ops)
        sid, (state, manifest) = program._update(
            "change",
            change,
            message=message,
            metadata={"author": user, "kind": "change", "items": names[:500], "source": source},
        )
        # the handle has now read the tip it committed on
        self._snapshot = program._enclave.snapshot(snapshot_id=sid)
        self._state = copy.deepcopy(state)
        self._manifest = copy.deepcopy(manifest)

    # -- history ----------------------------------------------------------
    def log(self, limit: int | None = None):
        """Commits of this program's branch, newest first (id, time, author, message)."""
        return self._program._enclave.log(self._program._branch, limit=limit)

    def at(self, commit_id: str) -> ContextView:
        """A read-only view of this context as it was at ``commit_id`` (time travel)."""
        known = {c.id for c in self.log()}
        if commit_id not in known:
            raise InvalidInputError(f"commit {commit_id!r} is not in the history of {self._program.name}; see ctx.log()")
        return ContextView(self._program, self._program._enclave.snapshot(snapshot_id=commit_id))

    def _repr_html_(self) -> str:
        from ..display import context_html

        return context_html(self)
