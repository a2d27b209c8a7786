"""``pluma fsck``: verify every frozen context against the checksums recorded when
it was frozen, check that every ref opens, name what is damaged — and, given a
replica, restore the damaged objects from it and check again.

For every enclave (Icechunk repository) under the workspace root:

* the ``repo`` object must open (it holds every branch and tag);
* every frozen tag must still name the snapshot recorded at freeze time; its
  metadata objects (snapshot, transaction log, manifests) must hash as recorded;
  every Zarr key (group/array metadata and chunk) must read and hash as recorded;
* every branch tip must open and every key of it must read.

A frozen context frozen before checksums existed is verified for readability and
its manifest recorded then (listed as ``recorded_late``).

Examples
--------
>>> from pluma.integrity import fsck
>>> report = fsck(ws)                              # doctest: +SKIP
>>> report.ok, report.keys_verified                # doctest: +SKIP
(True, 112)
>>> fsck(ws, repair_from="/backup/ws").repaired    # doctest: +SKIP
[]
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .checksums import CHECKSUM_BRANCH, compute_manifest, load_manifests, store_manifests
from .objects import ObjectStore, check_distinct, sha256, workspace_enclaves

if TYPE_CHECKING:  # pragma: no cover
    from ..workspace import Workspace

log = logging.getLogger(__name__)

__all__ = ["Damage", "FsckReport", "fsck", "Progress"]

Progress = Callable[[int, int, str], None]
_OBJECT_RE = re.compile(r"\b((?:chunks|manifests|snapshots|transactions)/[0-9A-Z]{16,32})\b")
_CONCURRENCY = 32
_MAX_REPAIR_ROUNDS = 5


@dataclass(frozen=True)
class Damage:
    """One damaged thing: where (enclave, program, ref), what (Zarr key and/or storage
    object) and the problem."""

    enclave: str
    kind: str  # "chunk", "metadata", "refs", "checksums"
    problem: str
    program: str | None = None
    ref: str | None = None  # a frozen tag or "branch <name>"
    key: str | None = None  # Zarr key inside the snapshot
    object: str | None = None  # storage object, relative to the workspace root
    expected: str | None = None  # sha256 recorded at freeze time for ``key``

    def describe(self) -> str:
        where = " ".join(p for p in (self.program and f"program {self.program}", self.ref, self.key and f"key {self.key}") if p)
        obj = f" [object {self.object}]" if self.object else ""
        return f"{self.enclave}: {where or self.kind}: {self.problem}{obj}"


@dataclass
class FsckReport:
    """What fsck checked and found (and, with a replica, what it restored)."""

    location: str
    enclaves: list[str] = field(default_factory=list)
    frozen_checked: int = 0
    branches_checked: int = 0
    keys_verified: int = 0
    objects_verified: int = 0
    bytes_read: int = 0
    damage: list[Damage] = field(default_factory=list)
    recorded_late: list[str] = field(default_factory=list)
    repair_from: str | None = None
    found: list[Damage] = field(default_factory=list)  # damage seen during a repair, every round
    repaired: list[str] = field(default_factory=list)  # objects restored from the replica
    unrepairable: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.damage

    @property
    def damaged_objects(self) -> list[str]:
        return sorted({d.object for d in self.damage if d.object})

    @property
    def found_objects(self) -> list[str]:
        """Objects found damaged during a repair (a chunk behind a damaged manifest or
        snapshot is found once that metadata is restored)."""
        return sorted({d.object for d in self.found if d.object})

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        out["damaged_objects"] = self.damaged_objects
        out["found_objects"] = self.found_objects
        return out

    def summary(self) -> str:
        head = (f"fsck {self.location}: {len(self.enclaves)} enclave(s), {self.frozen_checked} frozen context(s), "
                f"{self.branches_checked} branch(es), {self.keys_verified} keys and {self.objects_verified} "
                f"objects verified")
        lines = [head]
        if self.repair_from:
            lines.append(f"repair from {self.repair_from}: {len(self.found)} problem(s) found, "
                         f"{len(self.repaired)} object(s) restored")
        lines.append("clean" if self.ok else f"{len(self.damage)} problem(s):")
        lines += [f"  {d.describe()}" for d in self.damage]
        if self.recorded_late:
            lines.append(f"checksums recorded now for {len(self.recorded_late)} frozen context(s) frozen before "
                         "checksums existed")
        return "\n".join(lines)

    def __repr__(self) -> str:
        state = "clean" if self.ok else f"{len(self.damage)} problem(s)"
        return f"<FsckReport {self.location}: {state}, {self.frozen_checked} frozen, {self.keys_verified} keys>"

    def _repr_html_(self) -> str:
        from ..display import _STYLE, _badge, _e, _table

        rows = [(d.enclave, d.program or "", d.ref or "", d.key or "", d.object or "", d.problem) for d in self.damage]
        body = (_table(["enclave", "program", "ref", "key", "object", "problem"], rows) if rows
                else "<p class='ok'>no damage found</p>")
        stats = (f"<p class='muted'>{len(self.enclaves)} enclave(s) · {self.frozen_checked} frozen contexts · "
                 f"{self.branches_checked} branches · {self.keys_verified} keys · {self.objects_verified} objects · "
                 f"{self.bytes_read:,} bytes read · {self.seconds:.2f} s</p>")
        extra = ""
        if self.repair_from:
            extra = (f"<p>repair from <code>{_e(self.repair_from)}</code>: {len(self.found)} problem(s) found, "
                     f"{len(self.repaired)} object(s) restored</p>")
        if self.recorded_late:
            extra += f"<p class='muted'>checksums recorded now for: {_e(', '.join(self.recorded_late))}</p>"
        return (f"{_STYLE}<div class='pluma'><h4>fsck {_e(self.location)}: {_badge(self.ok, 'clean', 'DAMAGED')}</h4>"
                f"{stats}{extra}{body}</div>")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return f"{type(exc).__name__}: {first}"[:300]


def _objects_in(exc: BaseException) -> list[str]:
    return sorted(set(_OBJECT_RE.findall(str(exc))))


async def _read_keys(store, keys: list[str]) -> dict[str, Any]:
    """{key: (sha256, size)} or {key: exception} for each key."""
    from zarr.core.buffer import default_buffer_prototype

    proto = default_buffer_prototype()
    sem = asyncio.Semaphore(_CONCURRENCY)

    async def one(key: str):
        async with sem:
            try:
                buf = await store.get(key, prototype=proto)
            except Exception as exc:  # noqa: BLE001 - a damaged object: reported, not raised
                return key, exc
        if buf is None:
            return key, KeyError(f"{key} is listed but has no bytes")
        raw = buf.to_bytes()
        return key, (sha256(raw), len(raw))

    return dict(await asyncio.gather(*(one(k) for k in keys)))


class _Checker:
    def __init__(self, ws: "Workspace", enclaves: list[str] | None, progress: Progress | None,
                 record_missing: bool = True) -> None:
        self.ws = ws
        self.root = ws.root
        self.progress = progress
        self.record_missing = record_missing
        programs = ws._registry_doc("programs", {}) or {}
        self.names = {k: e.get("name", k) for k, e in programs.items()}
        self.roots = workspace_enclaves(ws)
        if enclaves:
            self.roots = {n: r for n, r in self.roots.items() if n in set(enclaves)}
        self.stores = {n: ObjectStore.for_root(r) for n, r in self.roots.items()}
        self.enclave_names = sorted(self.roots)
        self.present = {n for n in self.enclave_names if n in self.stores[n].enclaves()}
        self.objects = self.stores.get("default") or ObjectStore.for_root(ws.root)

    def run(self) -> FsckReport:
        start = time.perf_counter()
        report = FsckReport(self.root.uri, enclaves=list(self.enclave_names))
        opened = {}
        for name in self.enclave_names:
            opened[name] = self._open(name, report)
        total = sum(len(e.repo.list_tags()) + len(e.repo.list_branches()) for e in opened.values() if e)
        self._done, self._total = 0, total
        for name, enclave in opened.items():
            if enclave is not None:
                self._check_enclave(enclave, report)
        report.seconds = time.perf_counter() - start
        return report

    def _tick(self, what: str) -> None:
        self._done += 1
        if self.progress is not None:
            self.progress(self._done, self._total, what)

    def _open(self, name: str, report: FsckReport):
        from ..memory import Enclave

        if name not in self.present:
            report.damage.append(Damage(name, "refs", "the enclave has no objects at all (registered but missing)",
                                        object=f"enclaves/{name}/repo"))
            return None
        try:
            return Enclave(self.roots[name], name)
        except Exception as exc:  # noqa: BLE001
            report.damage.append(Damage(name, "refs", f"the repository does not open: {_short(exc)}",
                                        object=f"enclaves/{name}/repo"))
            return None

    def _program(self, ref: str) -> str | None:
        parts = ref.split("/")
        if len(parts) >= 2 and parts[0] in ("frozen", "programs"):
            return self.names.get(parts[1], parts[1])
        return None

    def _check_enclave(self, enclave, report: FsckReport) -> None:
        name = enclave.name
        self.objects = self.stores[name]  # object names below are relative to the enclave's own root
        manifests_ok = True
        try:
            manifests = load_manifests(enclave)
        except Exception as exc:  # noqa: BLE001
            manifests, manifests_ok = {}, False
            report.damage.append(Damage(name, "checksums", f"the checksum manifests do not read: {_short(exc)}",
                                        ref=f"branch {CHECKSUM_BRANCH}", object=self._first_object(exc, name)))
        late: list[dict[str, Any]] = []
        mismatched: list[tuple[Damage, str, int]] = []  # chunk damage to locate by the bytes read
        self._unverified: list[tuple[str, str, str, int]] = []  # (tag, key, sha256, size) hidden by metadata damage
        verified_snapshots: set[str] = set()
        for tag in sorted(enclave.repo.list_tags()):
            self._check_tag(enclave, tag, manifests.get(tag), report, late, mismatched, manifests_ok)
            verified_snapshots.add(manifests.get(tag, {}).get("snapshot") or "")
            self._tick(tag)
        for branch in sorted(enclave.repo.list_branches()):
            self._check_branch(enclave, branch, report, verified_snapshots)
            self._tick(f"branch {branch}")
        if mismatched:
            self._locate(name, mismatched, report)
        if self._unverified:
            self._search(name, manifests, report)
        if late and self.record_missing:
            try:
                store_manifests(enclave, late, author=self.ws.user)
                report.recorded_late += [m["tag"] for m in late]
            except Exception as exc:  # noqa: BLE001
                report.damage.append(Damage(name, "checksums", f"cannot record checksums: {_short(exc)}",
                                            ref=f"branch {CHECKSUM_BRANCH}"))

    def _first_object(self, exc: BaseException, enclave: str) -> str | None:
        found = _objects_in(exc)
        return f"enclaves/{enclave}/{found[0]}" if found else None

    def _check_objects(self, enclave, tag: str, recorded: Mapping[str, list], report: FsckReport) -> None:
        for obj, (digest, size) in sorted(recorded.items()):
            key = f"enclaves/{enclave.name}/{obj}"
            try:
                data = self.objects.get(key)
            except Exception as exc:  # noqa: BLE001
                report.damage.append(Damage(enclave.name, "metadata", "missing" if "no object" in str(exc) else _short(exc),
                                            program=self._program(tag), ref=tag, object=key))
                continue
            report.objects_verified += 1
            report.bytes_read += len(data)
            if sha256(data) != digest or len(data) != size:
                report.damage.append(Damage(enclave.name, "metadata",
                                            f"checksum mismatch ({len(data)} bytes, recorded {size})",
                                            program=self._program(tag), ref=tag, object=key))

    def _check_tag(self, enclave, tag: str, manifest: dict | None, report: FsckReport, late: list,
                   mismatched: list, manifests_ok: bool) -> None:
        from zarr.core.sync import sync

        name, program = enclave.name, self._program(tag)
        report.frozen_checked += 1
        try:
            sid = enclave.repo.lookup_tag(tag)
        except Exception as exc:  # noqa: BLE001
            report.damage.append(Damage(name, "refs", f"the tag does not resolve: {_short(exc)}", program, tag,
                                        object=f"enclaves/{name}/repo"))
            return
        if manifest is not None:
            if manifest["snapshot"] != sid:
                report.damage.append(Damage(name, "refs", f"the tag names snapshot {sid}, frozen as "
                                            f"{manifest['snapshot']}", program, tag, object=f"enclaves/{name}/repo"))
                sid = manifest["snapshot"]
            self._check_objects(enclave, tag, manifest.get("objects", {}), report)
        try:
            session = enclave.repo.readonly_session(snapshot_id=sid)
            keys = sync(_list(session.store))
        except Exception as exc:  # noqa: BLE001
            report.damage.append(Damage(name, "metadata", f"the frozen context does not open: {_short(exc)}",
                                        program, tag, object=self._first_object(exc, name)
                                        or f"enclaves/{name}/snapshots/{sid}"))
            if manifest is not None:
                self._unverified += [(tag, k, v[0], v[1]) for k, v in manifest.get("keys", {}).items()
                                     if not k.endswith("zarr.json")]
            return
        results = sync(_read_keys(session.store, keys))
        expected = manifest.get("keys", {}) if manifest else {}
        clean = True
        for key in sorted(results):
            got = results[key]
            kind = "metadata" if key.endswith("zarr.json") else "chunk"
            if isinstance(got, BaseException):
                clean = False
                obj = self._first_object(got, name)
                report.damage.append(Damage(name, kind, f"does not read: {_short(got)}", program, tag, key, obj,
                                            expected[key][0] if key in expected else None))
                if kind == "chunk" and "/chunks/" not in (obj or "") and key in expected:
                    self._unverified.append((tag, key, *expected[key]))  # hidden behind damaged metadata
                continue
            report.keys_verified += 1
            report.bytes_read += got[1]
            want = expected.get(key)
            if manifest is not None and want is None:
                clean = False
                report.damage.append(Damage(name, kind, "key not present when frozen", program, tag, key))
            elif want is not None and (got[0] != want[0] or got[1] != want[1]):
                clean = False
                damage = Damage(name, kind, f"checksum mismatch ({got[1]} bytes, recorded {want[1]})",
                                program, tag, key, expected=want[0])
                report.damage.append(damage)
                if kind == "chunk":
                    mismatched.append((damage, got[0], got[1]))
        for key in sorted(set(expected) - set(results)):
            clean = False
            report.damage.append(Damage(name, "metadata", "key recorded at freeze time is gone", program, tag, key,
                                        f"enclaves/{name}/snapshots/{sid}", expected[key][0]))
            if not key.endswith("zarr.json"):
                # a damaged snapshot can still open, under garbled node names: the chunk behind the recorded key
                # was not read, so look for its bytes as for any chunk hidden behind damaged metadata
                self._unverified.append((tag, key, *expected[key]))
        if manifest is None and clean and manifests_ok and tag.startswith("frozen/"):
            done = {k: list(v) for k, v in results.items() if not isinstance(v, BaseException)}
            m = compute_manifest(enclave, tag, sid, objects=self.objects, hashes=done)
            m["late"] = True
            late.append(m)

    def _check_branch(self, enclave, branch: str, report: FsckReport, verified: set[str]) -> None:
        from zarr.core.sync import sync

        name, ref = enclave.name, f"branch {branch}"
        report.branches_checked += 1
        try:
            tip = enclave.repo.lookup_branch(branch)
            if tip in verified:
                return  # the tip is a frozen context verified above
            session = enclave.repo.readonly_session(snapshot_id=tip)
            keys = sync(_list(session.store))
        except Exception as exc:  # noqa: BLE001
            report.damage.append(Damage(name, "refs", f"the branch does not open: {_short(exc)}",
                                        self._program(branch), ref, object=self._first_object(exc, name)))
            return
        for key, got in sorted(sync(_read_keys(session.store, keys)).items()):
            if isinstance(got, BaseException):
                report.damage.append(Damage(name, "metadata" if key.endswith("zarr.json") else "chunk",
                                            f"does not read: {_short(got)}", self._program(branch), ref, key,
                                            self._first_object(got, name)))
            else:
                report.bytes_read += got[1]

    def _search(self, enclave: str, manifests: Mapping[str, dict], report: FsckReport) -> None:
        """Chunks hidden behind damaged metadata: is there still a chunk object with the
        recorded bytes? If not, the chunk is missing or damaged too; a damaged one is
        named when exactly one chunk object of its size matches no recorded key."""
        sizes = {size for *_, size in self._unverified}
        catalog: dict[str, str] = {}
        by_size: dict[int, list[tuple[str, str]]] = {}
        for obj, info in self.objects.enclave_objects(enclave).items():
            if obj.startswith("chunks/") and info.size in sizes:
                data = self.objects.try_get(f"enclaves/{enclave}/{obj}")
                if data is not None:
                    digest = sha256(data)
                    catalog[digest] = f"enclaves/{enclave}/{obj}"
                    by_size.setdefault(info.size, []).append((digest, f"enclaves/{enclave}/{obj}"))
        recorded = {h for m in manifests.values() for h, _ in m.get("keys", {}).values()}
        for tag, key, digest, size in sorted(set(self._unverified)):
            if digest in catalog:
                continue  # the chunk itself is intact; the metadata damage is reported already
            strangers = [obj for d, obj in by_size.get(size, []) if d not in recorded]
            report.damage.append(Damage(
                enclave, "chunk", "no chunk object holds the recorded bytes (missing or damaged; its metadata "
                "is damaged too)", self._program(tag), tag, key, strangers[0] if len(strangers) == 1 else None, digest))

    def _locate(self, enclave: str, mismatched: list[tuple[Damage, str, int]], report: FsckReport) -> None:
        """Name the chunk object behind each mismatching chunk key: the object whose
        bytes hash like the (damaged) bytes that were read."""
        sizes = {size for _, _, size in mismatched}
        listing = self.objects.enclave_objects(enclave)
        by_hash: dict[str, str] = {}
        for obj, info in listing.items():
            if obj.startswith("chunks/") and info.size in sizes:
                data = self.objects.try_get(f"enclaves/{enclave}/{obj}")
                if data is not None:
                    by_hash[sha256(data)] = f"enclaves/{enclave}/{obj}"
        for damage, digest, _size in mismatched:
            obj = by_hash.get(digest)
            if obj:
                i = report.damage.index(damage)
                report.damage[i] = Damage(**{**asdict(damage), "object": obj})


async def _list(store) -> list[str]:
    return [k async for k in store.list()]


def fsck(ws: "Workspace", *, repair_from: str | None = None, storage_options: Mapping[str, Any] | None = None,
         enclaves: list[str] | None = None, progress: Progress | None = None) -> FsckReport:
    """Verify the workspace (admin only); with ``repair_from`` (a replica made by
    :func:`~pluma.integrity.replicate`), restore damaged objects from it and verify again.

    Returns an :class:`FsckReport`; ``report.ok`` is False while damage remains.
    """
    from ..memory import parse_root

    ws._require_admin("check the Enterprise Memory (fsck)")
    if repair_from is None:
        return _Checker(ws, enclaves, progress).run()
    replica = parse_root(repair_from, storage_options)
    check_distinct(ws.root, replica)
    from .replicate import restore

    start = time.perf_counter()
    first = _Checker(ws, enclaves, progress, record_missing=False).run()
    found, restored, unrepairable = list(first.damage), [], []
    report = first
    for round_ in range(_MAX_REPAIR_ROUNDS):
        done, failed = restore(ws.root, replica, damaged=report.damage, enclaves=report.enclaves,
                               already=set(restored), thorough=round_ == 0, roots=workspace_enclaves(ws))
        restored += done
        unrepairable = sorted(set(unrepairable) | set(failed))
        report = _Checker(ws, enclaves, progress).run()
        found += [d for d in report.damage if d not in found]  # damage a repaired object had hidden
        if report.ok or not done:
            break
    report.repair_from = replica.uri
    report.found = found
    report.repaired = sorted(set(restored))
    report.unrepairable = unrepairable
    report.seconds = time.perf_counter() - start
    return report
