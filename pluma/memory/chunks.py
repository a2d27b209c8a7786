"""Write a dataset over a stored one, sharing every chunk that does not change.

Used by :meth:`pluma.memory.enclave.WriteTxn.put_dataset`. A new dataset that has
the stored layout, or is a region of it (smaller along dimensions whose index
coordinates locate it), is written chunk by chunk: a chunk whose values do not
change is not written at all, so it stays shared with every snapshot that holds
it. Anything else is replaced whole by the caller.

Everything here is one coroutine, so a region override costs one round trip to
the store's event loop: the stored metadata are read together, a region is
located by reading only the index values a hint points at, and the changed
whole chunks are encoded (while their stored sizes are looked up) and written
together.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import numpy as np

__all__ = ["index_ranges", "put_changed_chunks", "stored_sizes"]

_SIMPLE_KINDS = "biufU"  # numbers, booleans, fixed-width text: stored as they are


def index_ranges(ds) -> dict[str, dict[str, int]]:
    """The index coordinates of ``ds`` that are evenly spaced integers, as ``{dim: {"start",
    "step", "size"}}``: where a region of such a coordinate starts can be computed instead of
    searched for (kept in the context manifest). Dates are left out: they are stored encoded,
    so a dataset indexed by them is always replaced, never written by region."""
    out: dict[str, dict[str, int]] = {}
    for dim in ds.dims:
        if dim not in ds.indexes or ds[dim].ndim != 1:
            continue
        values = np.asarray(ds[dim].values)
        if values.dtype.kind not in "iu" or values.size < 2:
            continue
        values = values.astype(np.int64, copy=False)
        step = int(values[1] - values[0])
        if step != 0 and np.array_equal(values, values[0] + step * np.arange(values.size, dtype=np.int64)):
            out[str(dim)] = {"start": int(values[0]), "step": step, "size": int(values.size)}
    return out


async def _sizes(store, keys: list[str]) -> list[int]:
    async def one(key: str) -> int:
        try:
            return int(await store.getsize(key))
        except (FileNotFoundError, KeyError):
            return 0

    return list(await asyncio.gather(*(one(k) for k in keys)))


def stored_sizes(store, keys: list[str]) -> list[int]:
    """Stored sizes of ``keys`` (0 for an absent object), in one round trip."""
    from zarr.core.sync import sync

    return sync(_sizes(store, keys)) if keys else []


_METADATA: dict[bytes, Any] = {}  # zarr.json bytes -> parsed array metadata (parsing is slow; never changed)


def _array_metadata(raw: bytes):
    """The Zarr v3 array metadata in ``raw`` (a zarr.json), or None for anything else."""
    meta = _METADATA.get(raw)
    if meta is None:
        doc = json.loads(raw)
        if doc.get("zarr_format") != 3 or doc.get("node_type") != "array":
            return None
        from zarr.core.metadata.v3 import ArrayV3Metadata

        meta = ArrayV3Metadata.from_dict(doc)
        if len(_METADATA) >= 256:
            _METADATA.pop(next(iter(_METADATA)))
        _METADATA[raw] = meta
    return meta


async def _open_stored(store, path: str, names: list[str]):
    """The stored group's attributes and its arrays (``{name: AsyncArray}``), read together;
    None when there is no Zarr v3 group at ``path``."""
    from zarr.core.array import AsyncArray
    from zarr.core.buffer import default_buffer_prototype
    from zarr.storage import StorePath

    proto = default_buffer_prototype()

    async def members() -> set[str]:
        found = {n.rstrip("/") async for n in store.list_dir(path + "/")}
        return {n for n in found if n and n != "zarr.json"}

    group, listed, *metas = await asyncio.gather(
        store.get(f"{path}/zarr.json", prototype=proto), members(),
        *(store.get(f"{path}/{n}/zarr.json", prototype=proto) for n in names))
    if group is None:
        return None
    doc = json.loads(group.to_bytes())
    if doc.get("zarr_format") != 3 or doc.get("node_type") != "group":
        return None
    arrays: dict[str, Any] = {}
    for name, raw in zip(names, metas):
        meta = _array_metadata(raw.to_bytes()) if raw is not None else None
        if meta is not None:
            arrays[name] = AsyncArray(meta, StorePath(store, f"{path}/{name}"))
    extra = listed - set(names)
    if extra:  # members the new dataset does not have: only groups (not arrays) may be among them
        kinds = await asyncio.gather(*(store.get(f"{path}/{n}/zarr.json", prototype=proto) for n in sorted(extra)))
        for name, raw in zip(sorted(extra), kinds):
            if raw is not None and json.loads(raw.to_bytes()).get("node_type") == "array":
                arrays[name] = None  # an array the new dataset lacks: the layouts differ
    return doc.get("attributes", {}), arrays


def _grid(arr) -> tuple[int, ...]:
    """The shape of the stored objects of ``arr``: its shards when it is sharded (each stored
    object holds a shard of inner chunks), else its chunks."""
    return tuple(arr.shards or arr.chunks)


async def _read_run(arr, start: int, stop: int) -> np.ndarray:
    """Values ``start:stop`` of a 1-D array: its chunks read and decoded together with the
    array's own codecs (Zarr's selection machinery costs more than the read for one chunk)."""
    from zarr.core.array import _get_chunk_spec
    from zarr.core.buffer import default_buffer_prototype

    (size,) = _grid(arr)
    first, last = start // size, (stop - 1) // size
    proto = default_buffer_prototype()
    keys = [arr.store_path.path + "/" + arr.metadata.encode_chunk_key((c,)) for c in range(first, last + 1)]
    raws = await asyncio.gather(*(arr.store_path.store.get(k, prototype=proto) for k in keys))
    specs = [_get_chunk_spec(arr.metadata, arr._chunk_grid, (c,), arr.config, proto) for c in range(first, last + 1)]
    if any(r is None for r in raws):  # a chunk never written holds the fill value: the general path
        return np.asarray(await arr.getitem(slice(start, stop)))
    decoded = await arr.codec_pipeline.decode(list(zip(raws, specs)))
    values = np.concatenate([np.asarray(d.as_numpy_array()).reshape(-1) for d in decoded])
    return values[start - first * size: stop - first * size]


def _hinted_start(part: np.ndarray, n: int, m: int, hint: dict[str, int] | None) -> int | None:
    """Where ``part`` (``n`` values of an index coordinate) should start in the stored one (``m``
    values) if the hint (an evenly spaced stored coordinate, see :func:`index_ranges`) is right;
    None when the hint does not apply. Not checked: see :func:`_check_starts`."""
    if isinstance(hint, dict) and hint.get("size") == m and hint.get("step") and part.dtype.kind in "iu":
        off, rest = divmod(int(part[0]) - int(hint["start"]), int(hint["step"]))
        if rest == 0 and 0 <= off and off + n <= m:
            return off
    return None


async def _check_starts(guesses: list[tuple[Any, int, np.ndarray]]) -> bool:
    """True when each stored index coordinate holds ``part`` at the guessed start (only the
    stored values there are read)."""
    runs = await asyncio.gather(*(_read_run(arr, off, off + len(part)) for arr, off, part in guesses))
    return all(np.array_equal(run, part) for run, (_, _, part) in zip(runs, guesses))


async def _search_start(stored, part: np.ndarray, n: int, m: int) -> int | None:
    """Where ``part`` lies in the whole stored index coordinate (read whole), or None."""
    full = np.asarray(await stored.getitem(slice(None)))
    hits = np.flatnonzero(full == part[0])
    if len(hits) != 1 or hits[0] + n > m or not np.array_equal(full[hits[0]:hits[0] + n], part):
        return None
    return int(hits[0])


async def _layout_match(store, path: str, ds, index: dict[str, Any] | None):
    """``(offsets, group_attrs, arrays, guesses)`` when ``ds`` has the stored layout or is a region
    of it (``offsets``: where it starts along the dimensions it is smaller in), else None.

    ``guesses`` lists the region starts taken from the recorded index (``(stored index array,
    start, values)``) that are **not checked yet**: the caller checks them with
    :func:`_check_starts` before writing anything (and may prepare the chunks meanwhile)."""
    names = sorted(str(v) for v in ds.variables)
    opened = await _open_stored(store, path, names)
    if opened is None:
        return None
    group_attrs, stored = opened
    if set(stored) != set(names) or any(a is None for a in stored.values()):
        return None
    stored_sizes_: dict[str, int] = {}
    for name in names:
        var, arr = ds[name], stored[name]
        if var.dtype.kind not in _SIMPLE_KINDS or arr.dtype != var.dtype:
            return None
        dims = tuple(arr.metadata.dimension_names or ())
        if dims != tuple(str(d) for d in var.dims):
            return None
        stored_sizes_.update(zip(dims, arr.shape))
    offsets: dict[str, int] = {}
    guesses: list[tuple[Any, int, np.ndarray]] = []
    for dim in ds.dims:
        n, m = ds.sizes[dim], stored_sizes_[str(dim)]
        if n == m:
            continue
        if n > m or dim not in ds.indexes or str(dim) not in stored:
            return None
        # locate the region through the index coordinate: it must be a contiguous run
        part = np.asarray(ds[dim].values)
        start = _hinted_start(part, n, m, (index or {}).get(str(dim)))
        if start is not None:
            guesses.append((stored[str(dim)], start, part))
        else:
            start = await _search_start(stored[str(dim)], part, n, m)
            if start is None:
                return None
        offsets[str(dim)] = start
    return offsets, group_attrs, stored, guesses


def _all_fill(values: np.ndarray, fill) -> bool:
    try:
        fill = np.asarray(fill, dtype=values.dtype)
    except (TypeError, ValueError):
        return False
    if values.dtype.kind in "fc" and np.isnan(fill).any():
        return bool(np.isnan(values).all())
    return bool((values == fill).all())


async def _encode_whole_chunk(store, arr, coords: tuple[int, ...], new: np.ndarray, key: str):
    """A whole chunk encoded with its array's codecs, and the stored chunk's size (looked up
    meanwhile; 0 when none is stored). Nothing is written."""
    from zarr.core.array import _get_chunk_spec
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.buffer.cpu import NDBuffer

    spec = _get_chunk_spec(arr.metadata, arr._chunk_grid, coords, arr.config, default_buffer_prototype())
    data = np.ascontiguousarray(new, dtype=arr.dtype)
    (encoded,), (size,) = await asyncio.gather(
        arr.codec_pipeline.encode([(NDBuffer.from_numpy_array(data), spec)]), _sizes(store, [key]))
    return data, encoded, size


async def _write_whole_chunk(store, arr, key: str, prepared, written: dict[str, int] | None) -> int:
    """Write an encoded whole chunk unless the stored chunk has the same bytes (the codecs are
    deterministic: equal bytes are equal values); chunks of different encoded lengths differ
    without reading the stored one. Returns the change in stored bytes."""
    from zarr.core.buffer import default_buffer_prototype

    data, encoded, size = prepared
    if not size and not arr.config.write_empty_chunks and _all_fill(data, arr.metadata.fill_value):
        return 0  # no chunk stored = the fill value, and Zarr stores none for a chunk that is all fill
    if size and size == len(encoded):  # same length: compare the bytes themselves
        stored = await store.get(key, prototype=default_buffer_prototype())
        if stored is not None and stored.to_bytes() == encoded.to_bytes():
            return 0
    await store.set(key, encoded)
    if written is not None:
        written[key] = len(encoded)
    return len(encoded) - size


async def _put_part(store, arr, target: tuple[slice, ...] | Any, new: np.ndarray, key: str,
                    written: dict[str, int] | None) -> int:
    """Write part of a chunk (or a 0-d array) through Zarr when its values change."""
    old = np.asarray(await arr.getitem(target))
    if np.array_equal(old, new, equal_nan=new.dtype.kind == "f"):
        return 0
    (before,) = await _sizes(store, [key])
    await arr.setitem(target, new)
    (after,) = await _sizes(store, [key])
    if written is not None:
        written[key] = after
    return after - before


async def _replace_attributes(store, path: str, attrs: dict[str, Any], *, array: bool):
    """Overwrite the attributes of the group or array at ``path`` (opened afresh: the metadata
    objects of :func:`_open_stored` are shared and never changed)."""
    from zarr.core.array import AsyncArray
    from zarr.core.group import AsyncGroup

    from zarr.storage import StorePath

    node = await (AsyncArray.open if array else AsyncGroup.open)(StorePath(store, path), zarr_format=3)
    node.metadata.attributes.clear()
    return await node.update_attributes(attrs)


def _plan(path: str, ds, offsets: dict[str, int], arrays: dict[str, Any]) -> list[tuple]:
    """The chunk writes that place ``ds`` at ``offsets``: ``("whole", arr, coords, values, key)``
    for chunks it covers whole, ``("part", arr, selection, values, key)`` for the rest."""
    plan: list[tuple] = []
    for name, var in ds.variables.items():
        if offsets and var.dims == (name,) and str(name) in offsets:
            continue  # the index coordinate that located the region: found equal
        arr = arrays[str(name)]
        values = np.asarray(var.values)
        if values.ndim == 0:
            plan.append(("part", arr, Ellipsis, values, f"{path}/{name}/" + arr.metadata.encode_chunk_key(())))
            continue
        chunks = _grid(arr)
        starts = [offsets.get(str(d), 0) for d in var.dims]
        stops = [s + n for s, n in zip(starts, values.shape)]
        # the stored chunks that overlap the new values
        ranges = [range((s // c) * c, e, c) for s, e, c in zip(starts, stops, chunks)]
        for corner in itertools.product(*ranges):
            target = tuple(slice(max(c, s), min(c + k, e, n))
                           for c, k, s, e, n in zip(corner, chunks, starts, stops, arr.shape))
            new = values[tuple(slice(t.start - s, t.stop - s) for t, s in zip(target, starts))]
            coords = tuple(c // k for c, k in zip(corner, chunks))
            key = f"{path}/{name}/" + arr.metadata.encode_chunk_key(coords)
            if all(t.start == c and t.stop == c + k for t, c, k in zip(target, corner, chunks)):
                plan.append(("whole", arr, coords, new, key))
            else:
                plan.append(("part", arr, target, new, key))
    return plan


async def _put_changed(store, path: str, ds, index, written) -> tuple[dict[str, int], int] | None:
    match = await _layout_match(store, path, ds, index)
    if match is None:
        return None
    offsets, group_attrs, arrays, guesses = match
    if not offsets:  # the whole dataset: its attributes too
        if group_attrs != dict(ds.attrs):
            await _replace_attributes(store, path, dict(ds.attrs), array=False)
        for name, var in ds.variables.items():
            arr = arrays[str(name)]
            attrs = {k: v for k, v in arr.metadata.attributes.items() if k != "_FillValue"}
            if attrs != dict(var.attrs):
                fill = arr.metadata.attributes
                keep = {"_FillValue": fill["_FillValue"]} if "_FillValue" in fill else {}
                arrays[str(name)] = await _replace_attributes(store, f"{path}/{name}", {**dict(var.attrs), **keep},
                                                              array=True)
    def encode(plan):  # the whole chunks of a plan, encoded (nothing written)
        return asyncio.gather(*(_encode_whole_chunk(store, arr, coords, new, key)
                                for kind, arr, coords, new, key in plan if kind == "whole"))

    plan = _plan(path, ds, offsets, arrays)
    if guesses:
        # the region's place comes from the recorded index: checked against the stored index values
        # while the chunks are encoded; nothing is written before the check
        prepared, right = await asyncio.gather(encode(plan), _check_starts(guesses))
        if not right:
            for arr, _, part in guesses:
                start = await _search_start(arr, part, len(part), arr.shape[0])
                if start is None:
                    return None
                offsets[str(arr.metadata.dimension_names[0])] = start
            plan = _plan(path, ds, offsets, arrays)
            prepared = await encode(plan)
    else:
        prepared = await encode(plan)
    wholes = [step for step in plan if step[0] == "whole"]
    parts = [step for step in plan if step[0] == "part"]
    deltas = await asyncio.gather(
        *(_write_whole_chunk(store, arr, key, ready, written) for (_, arr, _, _, key), ready in zip(wholes, prepared)),
        *(_put_part(store, arr, target, new, key, written) for _, arr, target, new, key in parts))
    return offsets, int(sum(deltas))


def put_changed_chunks(store, path: str, ds, index: dict[str, Any] | None = None,
                       written: dict[str, int] | None = None) -> tuple[dict[str, int], int] | None:
    """Write into the dataset stored at ``path`` only the chunks of ``ds`` whose values change.

    Returns ``(offsets, delta)`` — where ``ds`` starts along the dimensions it is a region of
    (empty: the whole dataset) and the change in stored bytes — or None when ``ds`` has neither
    the stored layout nor is a region of it (the caller replaces the dataset; nothing was
    written). ``index`` is the stored dataset's :func:`index_ranges` (a hint, checked);
    ``written`` receives the stored size of every chunk written."""
    from zarr.core.sync import sync

    return sync(_put_changed(store, path, ds, index, written))
