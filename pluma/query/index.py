"""The frozen-context index.

One entry per frozen context: program, phase, reference, id, who and when, and
the parameter values with their units. By default (:class:`EmbeddedIndex`) entries
live in each enclave (so an ITAR program's values never leave its enclave) on a
branch ``index``, one document per program (``index/<program>``), written right
after the freeze's tag; a workspace may keep the default enclave's part in
PostgreSQL instead (:mod:`pluma.query.backend`, :mod:`pluma.query.postgres`). The
index is derived data: ``reconcile()`` adds entries for tags it lacks (a crash
between tag and index, a freeze by an older version), ``rebuild()`` recreates it
from the tags. Concurrent writers go through the same commit loop as every other
change (or, in PostgreSQL, its transactions).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Hashable

from ..memory import Enclave

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..workspace import Workspace
    from .backend import IndexBackend

log = logging.getLogger(__name__)

__all__ = ["FrozenIndex", "EmbeddedIndex", "entry_for", "INDEX_BRANCH"]

INDEX_BRANCH = "index"
INDEX_PREFIX = "index"
BASE_COLUMNS = ["program", "phase", "ref", "id", "frozen_at", "frozen_by", "n", "seq", "message",
                "classification", "tag", "key", "enclave"]


def entry_for(enclave: Enclave, tag: str, snapshot_id: str | None = None) -> dict[str, Any]:
    """Build the index entry of the frozen context behind ``tag`` from the store."""
    from ..context.frozen import parse_tag

    snap = enclave.snapshot(tag=tag) if snapshot_id is None else enclave.snapshot(snapshot_id=snapshot_id)
    state = snap.doc("program", {})
    manifest = snap.doc("context", {})
    record = state.get("last_freeze") or {}
    key, seq, phase, n = parse_tag(tag)
    params = {k: r.get("value") for k, r in manifest.get("params", {}).items()}
    units = {k: r.get("unit") for k, r in manifest.get("params", {}).items() if r.get("unit")}
    return {
        "program": state.get("name", key), "key": key, "phase": phase, "n": n, "seq": seq,
        "ref": f"{state.get('name', key)}@{phase}#{n}", "id": snap.id, "tag": tag,
        "frozen_at": record.get("time", ""), "frozen_by": record.get("user", ""),
        "message": record.get("message", ""), "classification": state.get("classification", ""),
        "enclave": enclave.name, "params": params, "units": units,
    }


def _in_units(params: dict[str, Any], units: dict[str, str], column_units: dict[str, str]) -> dict[str, Any]:
    """Express each number in its column's unit (programs may declare a parameter differently)."""
    out = dict(params)
    for name, unit in units.items():
        target = column_units.get(name)
        value = out.get(name)
        if target and unit != target and isinstance(value, (int, float)) and not isinstance(value, bool):
            from ..units import to_unit

            try:
                out[name] = to_unit(f"{value} {unit}", target, name=name)
            except Exception:
                out[name] = None  # incompatible declarations: not comparable in one column
    return out


class EmbeddedIndex:
    """The default backend: the index of an enclave on its branch ``index``, one
    document per program (``index/<program>``)."""

    name = "embedded"
    _cache: dict[tuple[str, str], tuple[str, list[dict]]] = {}
    _cache_lock = threading.Lock()

    def __init__(self, ws: "Workspace") -> None:
        self._ws = ws

    @staticmethod
    def _ensure_branch(enclave: Enclave) -> None:
        import icechunk

        if INDEX_BRANCH in enclave.repo.list_branches():
            return
        try:
            enclave.create_branch(INDEX_BRANCH, enclave.initial_snapshot())
        except icechunk.IcechunkError:
            if INDEX_BRANCH not in enclave.repo.list_branches():
                raise

    def record(self, enclave: Enclave, entries: list[dict[str, Any]], *, author: str) -> None:
        if not entries:
            return
        self._ensure_branch(enclave)
        by_program: dict[str, list[dict]] = {}
        for e in entries:
            by_program.setdefault(e["key"], []).append(e)

        def change(txn):
            for key, new in by_program.items():
                path = f"{INDEX_PREFIX}/{key}"
                current = {e["tag"]: e for e in txn.doc(path, [])}
                for e in new:
                    current[e["tag"]] = e
                txn.put_doc(path, sorted(current.values(), key=lambda e: e["seq"]))

        enclave.update(INDEX_BRANCH, change, message=f"index {len(entries)} frozen context(s)",
                       metadata={"author": author, "kind": "index"})

    def load(self, enclave: Enclave) -> list[dict[str, Any]]:
        if INDEX_BRANCH not in enclave.repo.list_branches():
            return []
        tip = enclave.tip(INDEX_BRANCH)
        cache_key = (self._ws.root.uri, enclave.name)
        with self._cache_lock:
            cached = self._cache.get(cache_key)
        if cached and cached[0] == tip:
            return cached[1]
        docs = enclave.snapshot(snapshot_id=tip).docs_under(INDEX_PREFIX)
        entries = [e for doc in docs.values() if doc for e in doc]
        with self._cache_lock:
            self._cache[cache_key] = (tip, entries)
        return entries

    def state(self, enclave: Enclave) -> Hashable:
        has = INDEX_BRANCH in enclave.repo.list_branches()
        return (self.name, enclave.name, enclave.tip(INDEX_BRANCH) if has else None)

    def reconcile(self, enclave: Enclave, *, author: str) -> int:
        known = {e["tag"] for e in self.load(enclave)}
        missing = [t for t in enclave.tags("frozen/") if t not in known]
        if missing:
            self.record(enclave, [entry_for(enclave, t) for t in missing], author=author)
        return len(missing)

    def rebuild(self, enclave: Enclave, entries: list[dict[str, Any]], *, author: str) -> None:
        self._ensure_branch(enclave)
        keys = {e["key"] for e in entries}

        def change(txn):
            for name in txn.members(INDEX_PREFIX):
                if name not in keys:
                    txn.delete(f"{INDEX_PREFIX}/{name}")
            grouped: dict[str, list] = {}
            for e in entries:
                grouped.setdefault(e["key"], []).append(e)
            for key, group in grouped.items():
                txn.put_doc(f"{INDEX_PREFIX}/{key}", sorted(group, key=lambda e: e["seq"]))

        enclave.update(INDEX_BRANCH, change, message="rebuild index", metadata={"author": author, "kind": "index"})


class FrozenIndex:
    """The index over every enclave of a workspace, whichever backend holds each
    enclave's part (see :mod:`pluma.query.backend`).

    Examples
    --------
    >>> index = FrozenIndex(ws)            # doctest: +SKIP
    >>> index.reconcile()                  # index tags the index lacks  # doctest: +SKIP
    0
    >>> index.frame()[["ref", "param:span"]]   # doctest: +SKIP
    """

    _frames: dict[tuple[str, str], tuple[tuple, Any]] = {}
    _cache = EmbeddedIndex._cache  # the same dict: clearing either clears the embedded entries cache
    _cache_lock = threading.Lock()

    def __init__(self, ws: "Workspace") -> None:
        from .backend import index_url

        self._ws = ws
        self.url = index_url(ws)
        self._backends: dict[str, "IndexBackend"] = {}

    def backend(self, enclave: Enclave) -> "IndexBackend":
        """The backend holding ``enclave``'s part of the index (one per enclave and FrozenIndex)."""
        from .backend import backend_for

        if enclave.name not in self._backends:
            self._backends[enclave.name] = backend_for(self._ws, enclave, self.url)
        return self._backends[enclave.name]

    # -- writing --------------------------------------------------------------
    def record(self, enclave: Enclave, entries: list[dict[str, Any]], *, author: str) -> None:
        """Add (or replace, by tag) entries in the index of ``enclave``."""
        if entries:
            self.backend(enclave).record(enclave, entries, author=author)

    # -- reading --------------------------------------------------------------
    def _enclaves(self) -> list[Enclave]:
        names = {e["enclave"] for e in self._ws._registry_doc("programs", {}).values()}
        names.add("default")
        return [self._ws._enclave(n) for n in sorted(names)]

    def _load_enclave(self, enclave: Enclave) -> list[dict[str, Any]]:
        return self.backend(enclave).load(enclave)

    def entries(self) -> list[dict[str, Any]]:
        """Every entry this user's backends return (the PostgreSQL backend returns
        only rows of programs the user may read)."""
        out: list[dict[str, Any]] = []
        for enclave in self._enclaves():
            out.extend(self._load_enclave(enclave))
        return out

    def _tips(self) -> tuple:
        return tuple(self.backend(enclave).state(enclave) for enclave in self._enclaves())

    def frame(self) -> "pd.DataFrame":
        """All entries as a DataFrame: the base columns, then one ``param:<name>`` column
        per parameter (values in each parameter's unit, listed in ``frame.attrs["units"]``).
        Built once per state of the index and cached."""
        import pandas as pd

        slot = (self._ws.root.uri, self._ws.user.lower() if self.url else "")
        state = self._tips()
        with self._cache_lock:
            cached = self._frames.get(slot)
        if cached is not None and cached[0] == state:
            return cached[1]
        entries = self.entries()
        base = pd.DataFrame([{k: e[k] for k in BASE_COLUMNS} for e in entries], columns=BASE_COLUMNS)
        units: dict[str, str] = {}
        for e in entries:
            for k, u in e.get("units", {}).items():
                units.setdefault(k, u)
        rows = [_in_units(e["params"], e.get("units", {}), units) for e in entries]
        params = pd.DataFrame(rows, index=base.index)
        frame = pd.concat([base, params.add_prefix("param:")], axis=1)
        frame.attrs["units"] = units
        with self._cache_lock:
            self._frames[slot] = (state, frame)
        return frame

    # -- repair ---------------------------------------------------------------
    def reconcile(self) -> int:
        """Index every frozen tag the index lacks; returns how many were added."""
        return sum(self.backend(e).reconcile(e, author=self._ws.user) for e in self._enclaves())

    def rebuild(self) -> int:
        """Recreate the index of every enclave from its tags; returns the number of entries."""
        total = 0
        for enclave in self._enclaves():
            entries = [entry_for(enclave, t) for t in enclave.tags("frozen/")]
            self.backend(enclave).rebuild(enclave, entries, author=self._ws.user)
            total += len(entries)
        return total
