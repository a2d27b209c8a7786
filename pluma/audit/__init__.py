"""The audit trail: who did what, to which program, in which phase, when, and
with what outcome — append-only and hash-chained, stored with the data.

Design
------
* **State changes** are recorded in the *same Icechunk commit* as the change:
  ``Program._append_event`` and ``Workspace._append_event`` append a chained
  entry to the branch's trail (see :mod:`pluma.audit.chain` for the layout). A
  change never exists without its entry, and a crash never leaves one without
  the other. ``Program.events()`` / ``Workspace.events()`` read the same trail
  (without the chain fields).
* **Refusals** (AccessDenied, GateNotPassed, StateError for illegal moves,
  ConflictError) and exchanges without a transaction go to an ``audit`` branch
  of the enclave they concern — the default one, or an ITAR program's own
  enclave — via :func:`record`. Recording a refusal never replaces the refusal
  by another error: a failure to record is logged and the refusal raised.
* **Chains.** One chain per branch: the registry (``default/main``), each
  program (``<enclave>/programs/<key>``) and each audit branch
  (``<enclave>/audit``). Entry ``seq`` is its position in the list; ``prev`` the
  hash of the entry before it; ``hash`` = sha256 of the canonical JSON of the
  entry and its chain id. Entries written before the trail existed are
  *unchained* (legacy): kept, shown, reported as such, never as damage.
* **Truncation.** Each commit that appends records the new head
  ``{"chain", "seq", "hash"}`` in its Icechunk commit metadata. :func:`verify`
  checks every head in each branch's commit log against the stored chain, so
  removing the last entries (or rewriting the chain and re-hashing it all) is
  found.

What a storage-level attacker could still do
--------------------------------------------
Someone who can rewrite Icechunk's own files (snapshots, the ref/repo objects)
could rewrite a branch's history *and* the heads in its commit metadata
consistently. Only something kept outside the store detects that: an
**anchor**. ``pluma audit verify --anchor FILE`` compares the chains with the
heads saved in FILE by the previous run (entries may be added since, never
changed or removed) and then saves the new heads; keep FILE somewhere the
storage's writers cannot reach (another machine, a WORM bucket, a signed
e-mail). Deleting a whole branch or program is seen by the anchor too.

Examples
--------
>>> import pluma, pluma.audit
>>> ws = pluma.open(tmp_path / "ws", user="admin")                 # doctest: +SKIP
>>> pluma.audit.trail(ws, program="AMPEL360", since="2026-11-01")   # doctest: +SKIP
>>> pluma.audit.verify(ws).ok                                       # doctest: +SKIP
True
"""

from __future__ import annotations

from .record import AUDIT_BRANCH, record, record_refusal, refusals
from .trail import trail
from .verify import AuditProblem, AuditReport, verify

__all__ = [
    "AUDIT_BRANCH",
    "AuditProblem",
    "AuditReport",
    "record",
    "record_refusal",
    "refusals",
    "trail",
    "verify",
]
