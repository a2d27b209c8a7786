"""Reading the audit trail: every chain a user may read, merged and filtered."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Iterator

from ..errors import AccessDenied, InvalidInputError
from . import chain
from .record import AUDIT_BRANCH, record_refusal

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..memory import Enclave
    from ..workspace import Workspace

__all__ = ["COLUMNS", "trail", "chains"]

COLUMNS = ["time", "user", "action", "program", "phase", "outcome", "detail", "chain", "seq"]
_OWN = {"time", "user", "kind", "program", "phase", "outcome", *chain.CHAIN_FIELDS}


def chains(ws: "Workspace") -> Iterator[tuple["Enclave", str, str | None]]:
    """Every chain of the workspace: (enclave, branch, program name or None)."""
    from ..workspace import DEFAULT_ENCLAVE, REGISTRY_BRANCH

    default = ws._enclave(DEFAULT_ENCLAVE)
    yield default, REGISTRY_BRANCH, None
    enclaves = {DEFAULT_ENCLAVE: default}
    for _, entry in sorted(ws._registry_doc("programs", {}).items()):
        enclave = ws._enclave(entry["enclave"])
        enclaves[entry["enclave"]] = enclave
        yield enclave, entry["branch"], entry["name"]
    for name, enclave in sorted(enclaves.items()):
        if AUDIT_BRANCH in enclave.repo.list_branches():
            yield enclave, AUDIT_BRANCH, None


def _row(entry: dict[str, Any], cid: str, program: str | None) -> dict[str, Any]:
    if program is None:
        program = entry.get("program")
        if program is None and entry.get("kind") == "program_created":
            program = entry.get("name")
    return {
        "time": entry.get("time"), "user": entry.get("user"), "action": entry.get("kind"),
        "program": program, "phase": entry.get("phase"), "outcome": entry.get("outcome", "ok"),
        "detail": {k: v for k, v in entry.items() if k not in _OWN}, "chain": cid, "seq": entry.get("seq"),
    }


def _unchained_changes(enclave: "Enclave", branch: str) -> list[dict[str, Any]]:
    """Working-context changes whose commit carries no audit entry of its own: read
    from the branch's commit log (who, when, which items), ``seq`` None. The walk
    stops at the program's creation (older commits are a clone source's)."""
    out = []
    for commit in enclave.log(branch):
        meta = commit.metadata
        if meta.get("kind") == "create":
            break
        if meta.get("kind") != "change" or "audit" in meta:
            continue
        out.append({"time": commit.time.isoformat(timespec="milliseconds"), "user": meta.get("author"),
                    "kind": "change", "items": meta.get("items"), "source": meta.get("source"),
                    "message": commit.message, "commit": commit.id})
    return out


def _names(value: Any, what: str) -> set[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable) or not all(isinstance(v, str) and v for v in value):
        raise InvalidInputError(f"{what} must be a name or a list of names")
    out = {v.lower() for v in value}
    if not out:
        raise InvalidInputError(f"{what} must not be an empty list")
    return out


def trail(ws: "Workspace", program: Any = None, since: Any = None, until: Any = None, user: Any = None,
          action: Any = None) -> "pd.DataFrame":
    """The audit trail as a pandas DataFrame, oldest first.

    Columns: time, user, action, program, phase, outcome, detail (a dict of the
    rest), chain, seq. Admins read every chain (ITAR programs only if they are
    members); other users read the entries of the programs they are members of.
    Working-context changes that carry no chained entry of their own come from
    the program's commit log (action ``change``, ``seq`` None, no phase).

    Parameters
    ----------
    program : str or Program, optional
        Only entries about this program (reading it needs membership or admin).
    since, until : datetime or ISO text, optional
        Inclusive time bounds (UTC unless the time says otherwise).
    user, action : str or list of str, optional
        Only entries by these users / of these actions (``"advance"``, ``"freeze"``, ...).

    Examples
    --------
    >>> import pluma.audit
    >>> pluma.audit.trail(ws, program="AMPEL360", since="2026-11-01")   # doctest: +SKIP
    """
    import pandas as pd

    from ..query.query import _as_time

    start, end = _as_time(since, "since"), _as_time(until, "until")
    users, actions = _names(user, "user"), _names(action, "action")
    registry = ws._registry_doc("programs", {})
    readable = ws._readable_program_keys()
    admin = ws.is_admin
    wanted: str | None = None
    if program is not None:
        name = getattr(program, "name", program)
        if not isinstance(name, str) or not name:
            raise InvalidInputError("program must be a program name")
        wanted = name.lower()
        if wanted in registry and wanted not in readable:
            exc = AccessDenied(f"{ws.user} may not read the audit trail of {registry[wanted]['name']}: "
                               "it needs a role in the program (or workspace admin)")
            record_refusal(ws, exc, "read_audit", program=registry[wanted]["name"])
            raise exc
    rows: list[dict[str, Any]] = []
    for enclave, branch, owner in chains(ws):
        if owner is not None and (owner.lower() not in readable or (wanted and owner.lower() != wanted)):
            continue
        if owner is None and branch != AUDIT_BRANCH and not admin:
            continue  # the registry chain: users, settings, program creation
        cid = chain.chain_id(enclave.name, branch)
        candidates = chain.read_entries(enclave.snapshot(branch=branch))
        if owner is not None:
            candidates += _unchained_changes(enclave, branch)
        for entry in candidates:
            if not isinstance(entry, dict):
                continue
            row = _row(entry, cid, owner)
            about = (row["program"] or "").lower() or None
            if owner is None:
                if about is not None and about in registry and about not in readable:
                    continue
                if about is None and not admin and (row["user"] or "").lower() != ws.user.lower():
                    continue
                if wanted and about != wanted:
                    continue
            t = row["time"] or ""
            if (start and t < start) or (end and t > end):
                continue
            if users and (row["user"] or "").lower() not in users:
                continue
            if actions and (row["action"] or "").lower() not in actions:
                continue
            rows.append(row)
    rows.sort(key=lambda r: (r["time"] or "", r["chain"], r["seq"] if r["seq"] is not None else -1))
    return pd.DataFrame(rows, columns=COLUMNS, dtype=object)  # object: a missing program stays None
