"""Verifying the audit trail: every chain, its links, and the heads its commits recorded."""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import InvalidInputError
from . import chain
from .trail import chains

if TYPE_CHECKING:  # pragma: no cover
    from ..memory import Enclave
    from ..workspace import Workspace

__all__ = ["AuditProblem", "AuditReport", "verify", "load_anchor", "save_anchor"]

_SEGMENT_NAME = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class AuditProblem:
    """One finding: ``kind`` is edited, removed, reordered, truncated, unchained,
    relinked, unattested, rewritten (against the anchor) or missing (a chain)."""

    chain: str
    seq: int | None
    kind: str
    message: str


@dataclass
class AuditReport:
    """What :func:`verify` found. ``ok`` is True when no problem was found;
    ``heads`` are the chain heads to keep as an anchor for the next run."""

    chains: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[AuditProblem] = field(default_factory=list)
    heads: dict[str, dict[str, Any]] = field(default_factory=dict)
    anchored: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def entries_checked(self) -> int:
        return sum(c["chained"] for c in self.chains.values())

    @property
    def unchained(self) -> int:
        return sum(c["legacy"] for c in self.chains.values())

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries_checked": self.entries_checked, "unchained": self.unchained,
                "chains": self.chains, "anchored": self.anchored,
                "problems": [asdict(p) for p in self.problems], "heads": self.heads}

    def __repr__(self) -> str:
        state = "ok" if self.ok else f"{len(self.problems)} problem(s)"
        return (f"<AuditReport {state}: {self.entries_checked} chained entries in {len(self.chains)} chains, "
                f"{self.unchained} unchained>")

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.ok else "#cf222e"
        head = (f"<b style='color:{colour}'>Audit trail {'intact' if self.ok else 'DAMAGED'}</b>: "
                f"{self.entries_checked} chained entries in {len(self.chains)} chains, {self.unchained} unchained"
                + (f", {self.anchored} chains checked against the anchor" if self.anchored else ""))
        if self.ok:
            return f"<div>{head}</div>"
        rows = "".join(
            f"<tr><td>{html.escape(p.chain)}</td><td>{'' if p.seq is None else p.seq}</td>"
            f"<td>{html.escape(p.kind)}</td><td>{html.escape(p.message)}</td></tr>" for p in self.problems)
        return (f"<div>{head}<table><thead><tr><th>chain</th><th>seq</th><th>problem</th><th>detail</th></tr>"
                f"</thead><tbody>{rows}</tbody></table></div>")


def _describe(entry: Any) -> str:
    if not isinstance(entry, dict):
        return "(not an entry)"
    return f"{entry.get('kind')} by {entry.get('user')} at {entry.get('time')}"


def _check_chain(enclave: "Enclave", branch: str) -> tuple[dict[str, Any], list[AuditProblem], dict | None, dict]:
    """Check one chain; returns (stats, problems, head, seq -> hash)."""
    cid = chain.chain_id(enclave.name, branch)
    snap = enclave.snapshot(branch=branch)
    legacy, segments = chain.read_segments(snap)
    problems: list[AuditProblem] = []

    def problem(seq: int | None, kind: str, message: str) -> None:
        problems.append(AuditProblem(cid, seq, kind, message))

    names = sorted(segments)
    for name in names:
        if not _SEGMENT_NAME.match(name):
            problem(None, "unchained", f"unexpected object trail/{name} in the trail")
    numbered = [n for n in names if _SEGMENT_NAME.match(n)]
    entries: list[Any] = list(legacy)
    for name in numbered:
        seg = segments[name]
        entries.extend(seg if isinstance(seg, list) else [seg])

    n_legacy = 0
    chained: list[tuple[int, dict[str, Any]]] = []  # (position, entry)
    for pos, entry in enumerate(entries):
        if isinstance(entry, dict) and "hash" in entry:
            chained.append((pos, entry))
        elif not chained:
            n_legacy += 1
        else:
            problem(None, "unchained", f"entry at position {pos} ({_describe(entry)}) has no chain fields: "
                    "it was inserted, or its seq/prev/hash were stripped")
    all_seqs = {e.get("seq") for _, e in chained}
    by_seq: dict[int, str] = {}
    previous: dict[str, Any] | None = None
    seen: set[int] = set()
    for pos, entry in chained:
        seq = entry.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            problem(None, "edited", f"entry at position {pos} ({_describe(entry)}) has no valid seq")
            previous = entry
            continue
        if entry_hash_ok(cid, entry) is False:
            problem(seq, "edited", f"entry seq {seq} ({_describe(entry)}) was changed after it was written: "
                    "its content no longer matches its hash")
        if seq in seen:
            problem(seq, "edited", f"entry seq {seq} ({_describe(entry)}) appears twice")
        seen.add(seq)
        by_seq.setdefault(seq, entry.get("hash"))
        if previous is None:
            if seq > n_legacy and not any(s in all_seqs for s in range(n_legacy, seq)):
                problem(n_legacy, "removed", f"entries seq {n_legacy}..{seq - 1} before {_describe(entry)} are "
                        "missing (removed)")
            elif seq != n_legacy:
                problem(seq, "reordered", f"entry seq {seq} ({_describe(entry)}) is out of place: the chain "
                        f"should begin with seq {n_legacy}")
            elif entry.get("prev") != chain.GENESIS:
                problem(seq, "relinked", f"the first chained entry (seq {seq}) does not start the chain: "
                        "entries before it were removed or it was changed and re-hashed")
        else:
            last = previous.get("seq") if isinstance(previous.get("seq"), int) else None
            if last is not None and seq < last:
                problem(seq, "reordered", f"entry seq {seq} ({_describe(entry)}) is stored after seq {last}: "
                        "entries were reordered")
            elif last is not None and seq > last + 1:
                missing = [s for s in range(last + 1, seq) if s not in all_seqs]
                if missing:
                    span = f"{missing[0]}" if len(missing) == 1 else f"{missing[0]}..{missing[-1]}"
                    problem(missing[0], "removed", f"entry seq {span} (between seq {last} and {seq}) was removed")
            elif last is not None and seq == last + 1 and entry.get("prev") != previous.get("hash"):
                problem(last, "edited", f"entry seq {last} ({_describe(previous)}) was changed and re-hashed: "
                        f"entry seq {seq} links to a different hash")
        previous = entry
    stats = {"entries": len(entries), "chained": len(chained), "legacy": n_legacy}
    head = None
    if chained:
        last_entry = max((e for _, e in chained if isinstance(e.get("seq"), int)), key=lambda e: e["seq"], default=None)
        if last_entry is not None:
            head = {"seq": last_entry["seq"], "hash": last_entry.get("hash")}
    stored_head = snap.doc(chain.TRAIL_DOC) or None
    # the heads that commits recorded: the stored chain must still contain every one of them
    recorded = []
    for commit in enclave.log(branch):
        meta = commit.metadata.get("audit")
        if isinstance(meta, dict) and meta.get("chain") == cid:
            recorded.append((commit, meta))
    top = head["seq"] if head else n_legacy - 1
    for candidate in ([stored_head] if isinstance(stored_head, dict) else []):
        if isinstance(candidate.get("seq"), int) and candidate["seq"] > top:
            problem(top + 1, "truncated", f"the trail's head says seq {candidate['seq']} but the last entry is "
                    f"seq {top}: entries after seq {top} were removed")
    if recorded:
        newest_commit, newest = recorded[0]
        if isinstance(newest.get("seq"), int) and newest["seq"] > top:
            problem(top + 1, "truncated", f"commit {newest_commit.id} recorded head seq {newest['seq']} but the "
                    f"last entry is seq {top}: entries seq {top + 1}..{newest['seq']} were removed")
        for commit, meta in recorded:
            seq = meta.get("seq")
            if seq in by_seq and by_seq[seq] != meta.get("hash"):
                problem(seq, "rewritten", f"entry seq {seq} is not the one commit {commit.id} wrote: the chain "
                        "was changed and re-hashed")
        if head and isinstance(newest.get("seq"), int) and head["seq"] > newest["seq"]:
            problem(newest["seq"] + 1, "unattested", f"entries seq {newest['seq'] + 1}..{head['seq']} were not "
                    "written by PLUMA (no commit records them)")
    elif chained:
        problem(head["seq"] if head else None, "unattested",
                "no commit of this branch records a head of this chain: it was not written by PLUMA")
    unique: list[AuditProblem] = []
    for p in problems:  # one finding per entry and kind (the stored head and a commit may both see a truncation)
        if all((q.seq, q.kind) != (p.seq, p.kind) for q in unique):
            unique.append(p)
    return stats, unique, head, by_seq


def entry_hash_ok(cid: str, entry: dict[str, Any]) -> bool:
    try:
        return chain.entry_hash(cid, entry) == entry.get("hash")
    except (TypeError, ValueError):
        return False


def load_anchor(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Heads saved by a previous verify (``{}`` if the file does not exist yet)."""
    p = Path(path)
    if not p.exists():
        return {}
    try:
        data = json.loads(p.read_text())
        heads = data["heads"]
        if not isinstance(heads, dict):
            raise TypeError
        return heads
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"{path} is not an audit anchor written by `pluma audit verify --anchor`: {exc}") from None


def save_anchor(path: str | os.PathLike, report: AuditReport, location: str) -> None:
    """Save the heads of ``report`` (written to a temporary file, then renamed)."""
    from .._time import now

    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps({"workspace": location, "time": now(), "heads": report.heads}, indent=1))
    tmp.replace(p)


def verify(ws: "Workspace", *, anchor: Mapping[str, Mapping[str, Any]] | str | os.PathLike | None = None,
           progress=None) -> AuditReport:
    """Check every chain of the audit trail (workspace admin only).

    Finds entries that were edited, removed, reordered or appended outside
    PLUMA, and a removed tail (against the heads recorded in commit metadata
    and, if given, ``anchor``: the ``heads`` of an earlier report, or a file
    saved by :func:`save_anchor`). ``progress(done, total, chain)`` is called
    after each chain.

    Examples
    --------
    >>> report = pluma.audit.verify(ws)      # doctest: +SKIP
    >>> report.ok, report.entries_checked     # doctest: +SKIP
    (True, 42)
    """
    ws._require_admin("verify the audit trail")
    if anchor is not None and not isinstance(anchor, Mapping):
        anchor = load_anchor(anchor)
    report = AuditReport()
    all_hashes: dict[str, dict] = {}
    found = list(chains(ws))
    for done, (enclave, branch, _owner) in enumerate(found, 1):
        cid = chain.chain_id(enclave.name, branch)
        stats, problems, head, by_seq = _check_chain(enclave, branch)
        report.chains[cid] = stats
        report.problems.extend(problems)
        if head:
            report.heads[cid] = head
        all_hashes[cid] = by_seq
        if progress is not None:
            progress(done, len(found), cid)
    for cid, old in (anchor or {}).items():
        report.anchored += 1
        seq, digest = old.get("seq"), old.get("hash")
        if cid not in all_hashes:
            report.problems.append(AuditProblem(cid, None, "missing", f"chain {cid} (head seq {seq} at the anchor) "
                                                "no longer exists"))
            continue
        by_seq = all_hashes[cid]
        top = max(by_seq) if by_seq else -1
        if isinstance(seq, int) and seq > top:
            report.problems.append(AuditProblem(cid, top + 1, "truncated", f"the anchor holds head seq {seq} but the "
                                                f"last entry is seq {top}: entries were removed"))
        elif seq in by_seq and by_seq[seq] != digest:
            report.problems.append(AuditProblem(cid, seq, "rewritten", f"entry seq {seq} differs from the one in the "
                                                "anchor: the chain was rewritten"))
    return report
