"""Compare any two contexts: parameters, datasets down to the chunk, artifacts.

Icechunk's own diff works only from an ancestor to a descendant. Here, within one
enclave, both sides are compared through their nearest common ancestor: a chunk
neither side rewrote since then is the same stored object ("same by reference").
Chunks that either side rewrote are reported as differing by reference; with
``deep=True`` their bytes are compared and only real differences remain. Across
enclaves there is no shared history, so every chunk differs by reference and
``deep=True`` compares bytes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from ..errors import AccessDenied, InvalidInputError
from .view import ARTIFACT_PREFIX, DATA_PREFIX, ContextView

__all__ = ["ContextDiff", "diff"]


@dataclass
class ContextDiff:
    """What differs between two contexts ``a`` (old) and ``b`` (new)."""

    a: str
    b: str
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasets: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    deep: bool = False
    method: str = ""

    @property
    def is_empty(self) -> bool:
        return not any(self.params.values()) and not any(self.datasets.values()) and not any(self.artifacts.values())

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "params": self.params, "datasets": self.datasets,
                "artifacts": self.artifacts, "deep": self.deep, "method": self.method}

    def summary(self) -> str:
        lines = [f"diff {self.a} -> {self.b} ({self.method}{', deep' if self.deep else ''})"]
        for name, ch in self.params["changed"].items():
            if ch["old"] == ch["new"] and ch.get("old_unit") == ch.get("unit"):
                lines.append(f"  param {name}: label {ch.get('old_label')} -> {ch.get('label')} (value unchanged)")
                continue
            lines.append(f"  param {name}: {ch['old']} -> {ch['new']}" + (f" {ch['unit']}" if ch.get("unit") not in (None, "1") else ""))
        for name, rec in self.params["added"].items():
            lines.append(f"  param {name} added: {rec['value']}")
        for name in self.params["removed"]:
            lines.append(f"  param {name} removed")
        for name in self.datasets["added"]:
            lines.append(f"  dataset {name} added")
        for name in self.datasets["removed"]:
            lines.append(f"  dataset {name} removed")
        for name, ch in self.datasets["changed"].items():
            for var, arr in ch["arrays"].items():
                parts = [f"{k} {v['old']} -> {v['new']}" for k, v in arr.items() if k in ("shape", "dtype")]
                if arr.get("attrs"):
                    parts.append("attrs " + ", ".join(arr["attrs"]))
                if arr.get("chunks"):
                    parts.append(f"{len(arr['chunks'])} chunk(s) differ")
                lines.append(f"  dataset {name}.{var}: " + "; ".join(parts))
            for var in ch["arrays_added"]:
                lines.append(f"  dataset {name}.{var} added")
            for var in ch["arrays_removed"]:
                lines.append(f"  dataset {name}.{var} removed")
        for kind in ("added", "removed", "changed"):
            for name in self.artifacts[kind]:
                lines.append(f"  artifact {name} {kind}")
        if self.is_empty:
            lines.append("  (no differences)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        n = sum(len(v) for v in self.params.values())
        m = sum(len(v) for v in self.datasets.values())
        return f"<ContextDiff {self.a} -> {self.b}: {n} parameter and {m} dataset differences>"

    def _repr_html_(self) -> str:
        from ..display import diff_html

        return diff_html(self)


def _params_diff(a: ContextView, b: ContextView) -> dict[str, dict[str, Any]]:
    pa, pb = a._manifest.get("params", {}), b._manifest.get("params", {})
    changed = {}
    for name in sorted(set(pa) & set(pb)):
        ra, rb = pa[name], pb[name]
        if ra.get("value") != rb.get("value") or ra.get("unit") != rb.get("unit") or ra.get("label") != rb.get("label"):
            changed[name] = {"old": ra.get("value"), "new": rb.get("value"), "unit": rb.get("unit"),
                             "old_unit": ra.get("unit"), "old_label": ra.get("label"), "label": rb.get("label"),
                             "by": rb.get("author"), "at": rb.get("time")}
    added = {n: {"value": pb[n].get("value"), "unit": pb[n].get("unit")} for n in sorted(set(pb) - set(pa))}
    removed = {n: {"value": pa[n].get("value"), "unit": pa[n].get("unit")} for n in sorted(set(pa) - set(pb))}
    return {"changed": changed, "added": added, "removed": removed}


def _artifacts_diff(a: ContextView, b: ContextView) -> dict[str, list[str]]:
    aa, ab = a._manifest.get("artifacts", {}), b._manifest.get("artifacts", {})
    return {"added": sorted(set(ab) - set(aa)), "removed": sorted(set(aa) - set(ab)),
            "changed": sorted(n for n in set(aa) & set(ab) if aa[n].get("sha256") != ab[n].get("sha256"))}


def _common_ancestor(enclave, sid_a: str, sid_b: str) -> str | None:
    seen = {info.id for info in enclave.repo.ancestry(snapshot_id=sid_a)}
    for info in enclave.repo.ancestry(snapshot_id=sid_b):
        if info.id in seen:
            return info.id
    return None


def _touched_chunks(enclave, ancestor: str, sid: str) -> tuple[dict[str, set], set[str]]:
    """Chunks and array metadata a snapshot rewrote since ``ancestor``."""
    if ancestor == sid:
        return {}, set()
    d = enclave.repo.diff(from_snapshot_id=ancestor, to_snapshot_id=sid)
    chunks = {path.strip("/"): {tuple(c) for c in coords} for path, coords in d.updated_chunks.items()}
    arrays = {p.strip("/") for p in list(d.new_arrays) + list(d.updated_arrays)}
    return chunks, arrays


def _array_meta(snapshot, path: str):
    import zarr

    try:
        arr = zarr.open_array(snapshot.store, path=path, mode="r")
    except Exception:
        return None
    return arr


def _chunk_grid(arr) -> list[tuple[int, ...]]:
    if arr.ndim == 0:
        return [()]
    return list(itertools.product(*(range(-(-n // c)) for n, c in zip(arr.shape, arr.chunks))))


def _chunk_key(path: str, coords: tuple[int, ...]) -> str:
    return f"{path}/c/" + "/".join(str(i) for i in coords) if coords else f"{path}/c"


def _same_bytes(sa, sb, key: str) -> bool:
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    proto = default_buffer_prototype()

    async def fetch():
        import asyncio

        x, y = await asyncio.gather(sa.store.get(key, prototype=proto), sb.store.get(key, prototype=proto))
        return (x.to_bytes() if x is not None else None), (y.to_bytes() if y is not None else None)

    x, y = sync(fetch())
    return x == y


def diff(a: ContextView, b: ContextView, *, deep: bool = False) -> ContextDiff:
    """Differences from context ``a`` to context ``b`` (working or frozen, any programs you may read).

    Examples
    --------
    >>> d = pluma.diff(frozen, child.context)     # doctest: +SKIP
    >>> d.params["changed"]["span"]               # doctest: +SKIP
    {'old': 35.8, 'new': 38.0, 'unit': 'm', ...}
    """
    for side in (a, b):
        if not isinstance(side, ContextView):
            raise InvalidInputError(f"diff compares contexts (prog.context, a FrozenContext), not {type(side).__name__}")
    principal = a.program._user  # the one who asks must be able to read both sides
    for side in (a, b):
        side.program._require("read", user=principal)
    if not isinstance(deep, bool):
        raise InvalidInputError("deep must be True or False")
    ca = a._state.get("classification") if a._state else None
    cb = b._state.get("classification") if b._state else None
    ea, eb = a.program._enclave, b.program._enclave
    if "ITAR" in (ca, cb) and ca != cb:
        from ..audit import record_refusal

        refusal = AccessDenied(
            f"cannot show {a.label} ({ca}) beside {b.label} ({cb}): ITAR data stays in its enclave and is "
            "never shown beside a non-ITAR program; compare ITAR contexts with each other (both inside ITAR "
            "enclaves), or share data through federation's export rules"
        )
        record_refusal(a.program._ws, refusal, "diff", program=a.program, other=b.program.name)
        raise refusal

    same_repo = ea.name == eb.name and ea.root == eb.root
    ancestor = _common_ancestor(ea, a.snapshot_id, b.snapshot_id) if same_repo else None
    touched_a: dict[str, set] = {}
    touched_b: dict[str, set] = {}
    meta_a: set[str] = set()
    meta_b: set[str] = set()
    if ancestor is not None:
        touched_a, meta_a = _touched_chunks(ea, ancestor, a.snapshot_id)
        touched_b, meta_b = _touched_chunks(ea, ancestor, b.snapshot_id)
    method = "common ancestor" if ancestor is not None else "no shared history"

    da, db = set(a._manifest.get("datasets", {})), set(b._manifest.get("datasets", {}))
    changed: dict[str, Any] = {}
    for name in sorted(da & db):
        ga = f"{DATA_PREFIX}/{name}"
        names_a = set(a._snapshot.members(ga))
        names_b = set(b._snapshot.members(ga))
        entry: dict[str, Any] = {"arrays_added": sorted(names_b - names_a), "arrays_removed": sorted(names_a - names_b),
                                 "arrays": {}}
        for var in sorted(names_a & names_b):
            path = f"{ga}/{var}"
            xa, xb = _array_meta(a._snapshot, path), _array_meta(b._snapshot, path)
            if xa is None or xb is None:
                continue
            info: dict[str, Any] = {}
            if xa.shape != xb.shape:
                info["shape"] = {"old": list(xa.shape), "new": list(xb.shape)}
            if xa.dtype != xb.dtype:
                info["dtype"] = {"old": str(xa.dtype), "new": str(xb.dtype)}
            attrs_a, attrs_b = dict(xa.attrs), dict(xb.attrs)
            attr_changes = {k: {"old": attrs_a.get(k), "new": attrs_b.get(k)}
                            for k in sorted(set(attrs_a) | set(attrs_b)) if attrs_a.get(k) != attrs_b.get(k)}
            if attr_changes:
                info["attrs"] = attr_changes
            if "shape" in info or xa.chunks != xb.chunks:
                candidates = set(_chunk_grid(xb)) | set(_chunk_grid(xa))
                info["chunks_note"] = "layout changed: every chunk differs"
            elif ancestor is not None:
                candidates = touched_a.get(path, set()) | touched_b.get(path, set())
            else:
                candidates = set(_chunk_grid(xb))
            if deep and "shape" not in info and xa.chunks == xb.chunks:
                candidates = {c for c in candidates if not _same_bytes(a._snapshot, b._snapshot, _chunk_key(path, c))}
            if candidates:
                info["chunks"] = sorted(list(c) for c in candidates)
            if info:
                entry["arrays"][var] = info
        if entry["arrays"] or entry["arrays_added"] or entry["arrays_removed"]:
            changed[name] = entry
    datasets = {"added": sorted(db - da), "removed": sorted(da - db), "changed": changed}
    return ContextDiff(a.label, b.label, _params_diff(a, b), datasets, _artifacts_diff(a, b), deep, method)
