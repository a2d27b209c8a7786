"""Recording what has no transaction of its own: refusals and exchanges.

They go to the ``audit`` branch of the enclave they concern — the default
enclave, or an ITAR program's own enclave, so nothing about an ITAR program is
written into the default enclave.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

from .._time import now
from ..errors import AccessDenied, ConflictError, GateNotPassed, PlumaError, StateError
from . import chain

if TYPE_CHECKING:  # pragma: no cover
    from ..memory import Enclave
    from ..workspace import Workspace

log = logging.getLogger(__name__)

__all__ = ["AUDIT_BRANCH", "record", "record_refusal", "refusals"]

AUDIT_BRANCH = "audit"
_MARK = "_pluma_audited"


def _enclave_for(ws: "Workspace", program: Any) -> tuple["Enclave", str | None]:
    """The enclave whose audit branch keeps entries about ``program`` (and its name)."""
    from ..workspace import DEFAULT_ENCLAVE

    if program is None:
        return ws._enclave(DEFAULT_ENCLAVE), None
    if hasattr(program, "_enclave") and hasattr(program, "name"):  # a Program handle
        return program._enclave, program.name
    name = str(program)
    entry = ws._registry_doc("programs", {}).get(name.lower())
    if entry is None:
        return ws._enclave(DEFAULT_ENCLAVE), name
    return ws._enclave(entry["enclave"]), entry["name"]


def _ensure_branch(enclave: "Enclave") -> None:
    if AUDIT_BRANCH in enclave.repo.list_branches():
        return
    with enclave.lock.hold():
        if AUDIT_BRANCH in enclave.repo.list_branches():
            return
        try:
            enclave.create_branch(AUDIT_BRANCH, enclave.initial_snapshot())
        except Exception:
            if AUDIT_BRANCH not in enclave.repo.list_branches():  # not a lost creation race
                raise


def record(ws: "Workspace", action: str, *, program: Any = None, phase: Any = None, outcome: str = "ok",
           **detail: Any) -> dict[str, Any]:
    """Append an entry to the audit trail, in a commit of its own.

    For what has no transaction of its own: refusals, federation exchanges.
    State changes are recorded by the change's own commit instead.

    Parameters
    ----------
    ws : Workspace
        Who acts is ``ws.user``.
    action : str
        What was done or attempted (``"advance"``, ``"export"``, ...).
    program : Program or str, optional
        The program it concerns; an ITAR program's entries stay in its enclave.
    phase : Phase or str, optional
    outcome : str
        ``"ok"``, ``"denied"`` (access), ``"refused"`` (an illegal move),
        ``"conflict"``, or any other short word.
    **detail
        JSON-able facts worth keeping (no secrets). A ``user``, ``time`` or
        ``kind`` among them is kept as ``given_user`` (etc.): the acting user and
        the time are always the recorder's.

    Returns the stored entry (with ``seq``, ``prev`` and ``hash``).

    Examples
    --------
    >>> import pluma, pluma.audit
    >>> ws = pluma.open(tmp_path / "ws", user="admin")                     # doctest: +SKIP
    >>> pluma.audit.record(ws, "export", program="AMPEL360", to="partner")  # doctest: +SKIP
    {'time': '...', 'user': 'admin', 'kind': 'export', 'program': 'AMPEL360', ...}
    """
    if not isinstance(action, str) or not action.strip():
        raise ValueError("action must be non-empty text")
    enclave, program_name = _enclave_for(ws, program)
    for key in ("time", "user", "kind", *chain.CHAIN_FIELDS):  # who acts and when is not the caller's to say
        if key in detail:
            detail[f"given_{key}"] = detail.pop(key)
    entry: dict[str, Any] = {**detail, "time": now(), "user": ws.user, "kind": action.strip(),
                             "program": program_name, "phase": getattr(phase, "value", phase), "outcome": outcome}
    _ensure_branch(enclave)
    cid = chain.chain_id(enclave.name, AUDIT_BRANCH)
    _, stored = enclave.update(AUDIT_BRANCH, lambda txn: chain.append(txn, cid, entry),
                               message=f"audit: {action} {outcome}",
                               metadata={"author": ws.user, "kind": "audit"})
    return stored


def _outcome(exc: BaseException) -> str:
    if isinstance(exc, AccessDenied):
        return "denied"
    if isinstance(exc, ConflictError):
        return "conflict"
    return "refused"


def record_refusal(ws: "Workspace", exc: BaseException, action: str, *, program: Any = None,
                   phase: Any = None, **detail: Any) -> None:
    """Record that ``action`` was refused with ``exc``. Never raises, and records an
    exception once only (it is marked), however many layers see it go by."""
    if getattr(exc, _MARK, False):
        return
    try:
        setattr(exc, _MARK, True)
    except Exception:  # pragma: no cover - exceptions without a __dict__
        pass
    try:
        if phase is None and hasattr(program, "_state"):  # a Program handle: the phase it is in
            phase = program._state().get("phase")
        record(ws, action, program=program, phase=phase, outcome=_outcome(exc),
               error=type(exc).__name__, reason=str(exc)[:500], **detail)
    except Exception as failure:  # the refusal wins over a failure to record it
        log.warning("could not record the refusal of %s by %s in the audit trail: %s", action,
                    getattr(ws, "user", "?"), failure)


@contextmanager
def refusals(ws: "Workspace", action: str, *, program: Any = None, phase: Any = None,
             **detail: Any) -> Iterator[None]:
    """Record a refusal (AccessDenied, GateNotPassed, StateError, ConflictError)
    that escapes the block, then let it go on.

    Examples
    --------
    >>> with pluma.audit.refusals(ws, "advance", program=prog):   # doctest: +SKIP
    ...     prog.advance()
    """
    try:
        yield
    except (AccessDenied, GateNotPassed, StateError, ConflictError) as exc:
        if isinstance(exc, PlumaError):
            record_refusal(ws, exc, action, program=program, phase=phase, **detail)
        raise
