"""``pluma replicate --to URI``: keep a second copy of a workspace up to date, and
restore damaged objects from it (``pluma fsck --repair-from URI``).

Icechunk writes every object once under a unique name (snapshots, manifests,
chunks, transaction logs) and rewrites only ``repo`` (the refs). Replication is
therefore an incremental object copy: what the replica lacks is copied, then
``repo`` last, so the replica is always a consistent workspace (it opens with
``pluma.open(replica)``). The replica keeps an index of what it holds
(``replica-index/<enclave>.json``: sha256 and size of every object) so that

* a source object whose bytes no longer match the replica's copy of the same
  immutable name is never copied over it (it is reported: run ``pluma fsck``);
* a new object whose bytes differ from the checksum recorded at freeze time is
  not replicated;
* ``repo`` is replicated only when the source repository opens;
* a restore reads from the replica only copies that still match the index.

Examples
--------
>>> from pluma.integrity import replicate
>>> replicate(ws, "/backup/ws")                     # doctest: +SKIP
<ReplicationReport /backup/ws: 412 copied (3,145,728 bytes), 0 skipped>
>>> replicate(ws, "/backup/ws").copied              # doctest: +SKIP
0
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ..errors import StorageError
from ..memory.locking import CommitLock, NullLock
from ..memory.storage import WorkspaceRoot
from .objects import MUTABLE_OBJECTS, ObjectStore, check_distinct, sha256, workspace_enclaves

if TYPE_CHECKING:  # pragma: no cover
    from ..workspace import Workspace
    from .fsck import Damage, Progress

log = logging.getLogger(__name__)

__all__ = ["ReplicationReport", "replicate", "restore", "INDEX_PREFIX"]

INDEX_PREFIX = "replica-index"


@dataclass
class ReplicationReport:
    """What one replication copied and what it refused to copy."""

    source: str
    target: str
    enclaves: list[str] = field(default_factory=list)
    copied: int = 0
    bytes_copied: int = 0
    unchanged: int = 0
    refs_updated: list[str] = field(default_factory=list)  # enclaves whose repo (refs) was copied
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"object", "reason"}
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.skipped

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def __repr__(self) -> str:
        return (f"<ReplicationReport {self.target}: {self.copied} copied ({self.bytes_copied:,} bytes), "
                f"{len(self.skipped)} skipped>")

    def _repr_html_(self) -> str:
        from ..display import _STYLE, _badge, _e, _table

        rows = [(s["object"], s["reason"]) for s in self.skipped]
        skipped = _table(["object not replicated", "reason"], rows) if rows else ""
        return (f"{_STYLE}<div class='pluma'><h4>Replication {_e(self.source)} → {_e(self.target)}: "
                f"{_badge(self.ok, 'complete', 'OBJECTS SKIPPED')}</h4><p>{self.copied} object(s) copied "
                f"({self.bytes_copied:,} bytes), {self.unchanged} already there, refs updated in "
                f"{_e(', '.join(self.refs_updated) or 'no enclave')} · {self.seconds:.2f} s</p>{skipped}</div>")


def _load_index(target: ObjectStore, enclave: str) -> dict[str, list]:
    raw = target.try_get(f"{INDEX_PREFIX}/{enclave}.json")
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
        return {k: list(v) for k, v in data.get("objects", {}).items()}
    except (ValueError, AttributeError):
        log.warning("the replica index of %s is unreadable; it will be rebuilt", enclave)
        return {}


def _save_index(target: ObjectStore, enclave: str, index: Mapping[str, list]) -> None:
    body = json.dumps({"version": 1, "enclave": enclave, "objects": dict(sorted(index.items()))},
                      separators=(",", ":"))
    target.put(f"{INDEX_PREFIX}/{enclave}.json", body.encode())


def _expected_hashes(source_root: WorkspaceRoot, enclave: str) -> dict[str, str]:
    """sha256 of the metadata objects recorded at freeze time (object name -> digest)."""
    from ..memory import Enclave
    from .checksums import load_manifests

    try:
        manifests = load_manifests(Enclave(source_root, enclave))
    except Exception as exc:  # noqa: BLE001 - no manifests: nothing to compare against
        log.debug("no checksum manifests in %s: %s", enclave, exc)
        return {}
    out: dict[str, str] = {}
    for m in manifests.values():
        for name, (digest, _size) in m.get("objects", {}).items():
            out[name] = digest
    return out


def _repo_opens(root: WorkspaceRoot, enclave: str) -> str | None:
    """None if the enclave's repository opens and lists its refs, else why not."""
    from ..memory import Enclave

    try:
        e = Enclave(root, enclave)
        e.repo.list_tags()
        e.repo.list_branches()
        return None
    except Exception as exc:  # noqa: BLE001
        return str(exc).splitlines()[0][:200]


def replicate(ws: "Workspace", to: str, *, storage_options: Mapping[str, Any] | None = None,
              enclaves: Iterable[str] | None = None, verify: bool = False,
              progress: "Progress | None" = None) -> ReplicationReport:
    """Bring the replica at ``to`` (a folder or ``s3://bucket/prefix``; its options in
    ``storage_options``) up to date with the workspace (admin only).

    Copies only what the replica lacks. ``verify=True`` also re-reads every source
    object the replica already holds and compares it with the replica's index (a
    full read); by default only sizes are compared.
    """
    from ..memory import parse_root

    ws._require_admin("replicate the workspace")
    target_root = parse_root(to, storage_options)
    check_distinct(ws.root, target_root)
    start = time.perf_counter()
    target = ObjectStore.for_root(target_root)
    report = ReplicationReport(ws.root.uri, target_root.uri)
    roots = workspace_enclaves(ws)
    wanted = set(enclaves) if enclaves else None
    for name, root in sorted(roots.items()):
        if wanted is not None and name not in wanted:
            continue
        if wanted is None and root != ws.root:
            report.skipped.append({"object": f"enclaves/{name}/", "reason": f"enclave {name} has a storage location "
                                   f"of its own ({root.uri}): replicate it to a replica of its own with --enclave "
                                   f"{name}"})
            continue
        source = ObjectStore.for_root(root)
        if name not in source.enclaves():
            report.skipped.append({"object": f"enclaves/{name}/", "reason": "the enclave has no objects at all"})
            continue
        report.enclaves.append(name)
        _replicate_enclave(root, name, source, target, report, verify, progress)
    report.seconds = time.perf_counter() - start
    return report


def _replicate_enclave(root: WorkspaceRoot, name: str, source: ObjectStore, target: ObjectStore,
                       report: ReplicationReport, verify: bool, progress) -> None:
    prefix = f"enclaves/{name}/"
    why = _repo_opens(root, name)
    if why is not None:
        report.skipped.append({"object": f"{prefix}repo", "reason": f"the source repository does not open ({why}); "
                               "nothing of this enclave was replicated: run `pluma fsck --repair-from`"})
        return
    repo_bytes = source.get(prefix + "repo")  # the refs as of now: every object they name exists already
    src = source.list(prefix)
    dst = target.list(prefix)
    index = _load_index(target, name)
    expected = _expected_hashes(root, name)
    todo = sorted(n for n in src if n not in MUTABLE_OBJECTS)
    done = [0]

    def one(obj: str) -> tuple[str, str, Any]:
        """-> (object, outcome, detail): outcome is copied / unchanged / learned / skipped."""
        info = src[obj]
        if progress is not None:
            done[0] += 1
            progress(done[0], len(todo), f"{name}: {obj}")
        if obj in dst:
            known = index.get(obj)
            learned = None
            if known is None:  # an object from before the index: learn its hash from the replica
                data = target.get(prefix + obj)
                known = learned = [sha256(data), len(data)]
            if info.size != known[1]:
                return obj, "skipped", (f"the source has {info.size} bytes, the replica's copy {known[1]}: the "
                                        "source may be damaged (pluma fsck)", learned)
            if verify and sha256(source.get(prefix + obj)) != known[0]:
                return obj, "skipped", ("the source's bytes differ from the replica's copy: the source may be "
                                        "damaged (pluma fsck)", learned)
            return obj, "unchanged", learned
        data = source.get(prefix + obj)
        digest = sha256(data)
        if obj in expected and expected[obj] != digest:
            return obj, "skipped", ("its bytes differ from the checksum recorded at freeze time: damaged at the "
                                    "source (pluma fsck)", None)
        target.put(prefix + obj, data)
        return obj, "copied", [digest, len(data)]

    for obj, outcome, detail in source.map(one, todo):
        if outcome == "copied":
            index[obj] = detail
            report.copied += 1
            report.bytes_copied += detail[1]
        elif outcome == "unchanged":
            report.unchanged += 1
            if detail is not None:
                index[obj] = detail
        else:
            reason, learned = detail
            if learned is not None:
                index[obj] = learned
            report.skipped.append({"object": prefix + obj, "reason": reason})
    digest = sha256(repo_bytes)
    if index.get("repo", [None])[0] != digest or "repo" not in dst:
        target.put(prefix + "repo", repo_bytes)
        index["repo"] = [digest, len(repo_bytes)]
        report.refs_updated.append(name)
        report.copied += 1
        report.bytes_copied += len(repo_bytes)
    _save_index(target, name, index)


def restore(source_root: WorkspaceRoot, replica_root: WorkspaceRoot, *, damaged: "list[Damage]",
            enclaves: Iterable[str], already: set[str] = frozenset(),
            thorough: bool = True, roots: Mapping[str, WorkspaceRoot] | None = None) -> tuple[list[str], list[str]]:
    """Restore objects of the workspace from the replica: the objects ``damaged``
    names, and (``thorough``: a full read of the workspace) every immutable object
    whose bytes differ from the replica's copy.
    ``repo`` (the refs) is restored only when damage names it — the refs then go
    back to the state of the last replication.

    ``roots``: the root of each enclave that lives elsewhere than ``source_root``.
    Returns (restored object names, names that could not be restored).
    """
    roots = dict(roots or {})
    replica = ObjectStore.for_root(replica_root)
    named = {d.object for d in damaged if d.object}
    wanted_bytes: dict[str, set[str]] = {}  # enclave -> sha256 of damaged keys no object name is known for
    for d in damaged:
        if d.expected and not d.object:
            wanted_bytes.setdefault(d.enclave, set()).add(d.expected)
    have = set(replica.enclaves())
    restored: list[str] = []
    failed: list[str] = []
    for name in sorted(set(enclaves) | {o.split("/")[1] for o in named if o.startswith("enclaves/")}):
        if name not in have:
            failed += sorted(o for o in named if o.startswith(f"enclaves/{name}/"))
            continue
        prefix = f"enclaves/{name}/"
        root = roots.get(name, source_root)
        source = ObjectStore.for_root(root)
        lock_path = root.lock_path(name)
        lock = CommitLock(lock_path) if lock_path is not None else NullLock()
        with lock.hold():
            src = source.list(prefix)
            rep = replica.list(prefix)
            index = _load_index(replica, name)
            def needed(item: tuple[str, Any]) -> bool:
                obj, info = item
                key = prefix + obj
                if obj in MUTABLE_OBJECTS:
                    return key in named or obj not in src
                if key in named and key not in already:
                    return True
                digest = index.get(obj, [None])[0]
                if obj not in src:  # gone at the source: only what a damaged key needs comes back
                    return obj.startswith("chunks/") and digest in wanted_bytes.get(name, ())
                if src[obj].size != info.size:
                    return True
                if not thorough:
                    return False
                if digest is None:
                    digest = sha256(replica.get(key))
                return sha256(source.get(key)) != digest

            items = sorted(rep.items())
            wanted = [obj for (obj, _), want in zip(items, source.map(needed, items)) if want]
            failed += sorted(o for o in named if o.startswith(prefix) and o[len(prefix):] not in rep)

            def put_back(obj: str) -> tuple[str, bool]:
                key = prefix + obj
                data = replica.get(key)
                if obj in index and sha256(data) != index[obj][0]:
                    log.warning("the replica's copy of %s is damaged too; not restored", key)
                    return key, False
                try:
                    source.put(key, data)
                except StorageError:
                    return key, False
                return key, True

            for key, ok in source.map(put_back, wanted):
                (restored if ok else failed).append(key)
    return restored, sorted(set(failed))
