"""Clone a frozen context into a new program: create once, instantiate N times.

Within an enclave the clone is an Icechunk branch from the frozen snapshot, so
every unchanged chunk is shared; overrides write only what they change (see
``WriteTxn.put_dataset``). The Context Reuse Ratio is measured from the commit
itself: bytes of the clone's context (datasets, artifacts, the context record)
that it shares with the source, over its total bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from .._time import now
from ..errors import AccessDenied, InvalidInputError, StateError
from ..names import name_key
from ..programs.phases import classification_rank
from .params import RESERVED, unknown_param_error
from .view import ARTIFACT_PREFIX, DATA_PREFIX, param_specs
from .working import _dataset_shape, validated_dataset

if TYPE_CHECKING:  # pragma: no cover
    from ..programs.program import Program
    from .frozen import FrozenContext

__all__ = ["clone_frozen", "reuse_ratio"]

_UNSET: Any = object()


def reuse_ratio(txn, manifest: dict[str, Any]) -> dict[str, Any]:
    """Shared and total bytes of the context in an open session (against its parent).

    Totals come from the stored sizes the manifest records for each dataset and
    artifact (kept current at every write), so the cost does not grow with the
    data; only the objects this session changed are measured.
    """
    records = [r for kind in ("datasets", "artifacts") for r in manifest.get(kind, {}).values()]
    known = all("stored_bytes" in r for r in records)
    if known:
        total = sum(int(r["stored_bytes"]) for r in records)
    else:  # written by an older version: measure everything
        total = sum(v for k, v in txn.sizes("").items()
                    if k.startswith((f"{DATA_PREFIX}/", f"{ARTIFACT_PREFIX}/")) or k == "context/zarr.json")
    # what this session changed under the context; sizes it wrote itself are known without asking
    keys = sorted(k for k in txn.changed_keys() if k.startswith((f"{DATA_PREFIX}/", f"{ARTIFACT_PREFIX}/", "context")))
    sizes = txn.stored_sizes(keys + (["context/zarr.json"] if known else []))
    if known:
        total += sizes.pop()
    changed = sum(sizes)
    shared = max(total - changed, 0)
    return {"total_bytes": int(total), "shared_bytes": int(shared),
            "ratio": (shared / total) if total else 1.0}


def clone_frozen(
    fc: "FrozenContext",
    name: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    dataset_overrides: Mapping[str, Any] | None = None,
    message: str = "",
    priority: str = _UNSET,
    classification: str = _UNSET,
    domains: list[str] = _UNSET,
    quotas: Mapping[str, float] = _UNSET,
    members: Mapping[str, list[str]] = _UNSET,
) -> "Program":
    source = fc.program
    ws = source._ws
    current = source._require("read")
    ws._require_admin("clone a frozen context into a new program")

    def pick(value, key):
        return current.get(key) if value is _UNSET else value

    spec = ws._program_spec(
        name,
        priority=pick(priority, "priority"),
        classification=pick(classification, "classification"),
        domains=pick(domains, "domains"),
        quotas=pick(quotas, "quotas"),
        members=pick(members, "members"),
        manager=ws.user,
    )
    itar_source = current.get("classification") == "ITAR"
    refusal: Exception | None = None
    if itar_source and spec["classification"] != "ITAR":
        refusal = AccessDenied(
            f"cannot clone {fc.ref} (ITAR) into a {spec['classification']} program: ITAR data never leaves its "
            "enclave for a non-ITAR program; clone it with classification='ITAR' (a new enclave of its own), or "
            "share it with a peer through federation's export rules"
        )
    if spec["classification"] == "ITAR" and not itar_source:
        refusal = StateError(
            f"cannot clone {fc.ref} ({current.get('classification')}) into an ITAR program: ITAR and non-ITAR "
            "programs never share history; create the ITAR program with ws.create_program(..., "
            "classification='ITAR') and set its context there"
        )
    if refusal is not None:
        from ..audit import record_refusal

        record_refusal(ws, refusal, "clone", program=source, target=name)
        raise refusal
    if not isinstance(message, str):
        raise InvalidInputError("message must be text")

    specs = param_specs(fc._state)
    coerced: dict[str, Any] = {}
    for what, given in (("overrides", overrides), ("dataset_overrides", dataset_overrides)):
        if given is not None and not isinstance(given, Mapping):
            raise InvalidInputError(f"{what} must map names to values, e.g. {{'span': 38.0}}, not {type(given).__name__}")
    for key, value in dict(overrides or {}).items():
        if not isinstance(key, str):
            raise InvalidInputError(f"parameter names are text, not {key!r}")
        if key in RESERVED:
            raise InvalidInputError(f"{key!r} is reserved and cannot be a parameter name")
        if key not in specs:
            raise unknown_param_error(key, specs)
        coerced[key] = (specs[key].coerce(value), specs[key].unit)
    datasets: dict[str, Any] = {}
    for key, ds in dict(dataset_overrides or {}).items():
        datasets[key] = validated_dataset(key, ds)

    origin = {"program": source.name, "ref": fc.ref, "id": fc.id, "workspace": ws.location,
              "cloned_by": ws.user, "time": now(), "overrides": sorted(coerced), "dataset_overrides": sorted(datasets)}
    user = ws.user
    ceiling = spec["classification"]

    def populate(txn, state):
        if itar_source:  # a new enclave: the frozen context's objects are copied, not shared
            _copy_objects(fc._snapshot, txn)
        manifest = txn.doc("context", {"rev": 0, "params": {}, "datasets": {}, "artifacts": {}})
        rev = int(manifest.get("rev", 0)) + (1 if coerced or datasets else 0)
        record = {"label": ceiling, "author": user, "time": now(), "message": message or f"clone of {fc.ref}",
                  "source": f"clone:{fc.ref}", "rev": rev}
        for key, (value, unit) in coerced.items():
            manifest.setdefault("params", {})[key] = {"value": value, "unit": unit, **record}
        for key, ds in datasets.items():
            previous = manifest.get("datasets", {}).get(key) or {}
            mode, stored = txn.put_dataset(f"{DATA_PREFIX}/{key}", ds, previous.get("stored_bytes"),
                                           previous.get("index"))
            manifest.setdefault("datasets", {})[key] = dict(record, write=mode, stored_bytes=stored,
                                                            **_dataset_shape(ds, mode, previous))
        manifest["rev"] = rev
        labelled = {item.get("label") for kind in ("params", "datasets", "artifacts")
                    for item in manifest.get(kind, {}).values()}
        too_high = sorted(l for l in labelled if l and classification_rank(l) > classification_rank(ceiling))
        if too_high:
            raise InvalidInputError(
                f"cannot clone {fc.ref} as {ceiling}: it holds items labelled {', '.join(too_high)}, above that ceiling"
            )
        if coerced or datasets:
            txn.put_doc("context", manifest)
        origin["reuse"] = reuse_ratio(txn, manifest)

    inherit = {"declared": dict(fc._state.get("declared") or {}),
               "gate_overrides": dict(current.get("gate_overrides") or {})}
    if itar_source:  # every ITAR program lives in an enclave of its own
        return ws._new_program(spec, enclave_name=f"program-{name_key(name)}", populate=populate,
                               origin=origin, phase=fc.phase, inherit=inherit)
    return ws._new_program(spec, enclave_name=source._enclave.name, start_snapshot=fc.id, populate=populate,
                           origin=origin, phase=fc.phase, inherit=inherit)


def _copy_objects(source, txn) -> int:
    """Copy every stored object (metadata and chunks, as raw encoded bytes) of the
    snapshot ``source`` into the open session ``txn`` of another enclave; returns
    the number of objects copied."""
    import asyncio

    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    src, dst = source.store, txn.store
    proto = default_buffer_prototype()

    async def run() -> int:
        keys = [k async for k in src.list()]
        limit = asyncio.Semaphore(32)

        async def one(key: str) -> None:
            async with limit:
                buf = await src.get(key, prototype=proto)
                if buf is not None:
                    await dst.set(key, buf)

        metadata = sorted((k for k in keys if k.endswith("zarr.json")), key=lambda k: k.count("/"))
        for key in metadata:  # groups and arrays first (parents before children), then their chunks
            await one(key)
        await asyncio.gather(*(one(k) for k in keys if not k.endswith("zarr.json")))
        return len(keys)

    return sync(run())
