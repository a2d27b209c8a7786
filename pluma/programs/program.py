"""The Program handle: phase, members, context, gates, and the gate decisions
go (advance), hold, recycle (rework) and kill."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._time import now
from ..errors import AccessDenied, GateNotPassed, InvalidInputError, NotFoundError, StateError
from ..names import name_key, validate_name
from .phases import Phase, Status
from .roles import PERMISSIONS, describe, validate_roles

if TYPE_CHECKING:  # pragma: no cover
    from ..context.frozen import FrozenContext
    from ..context.working import Context
    from ..gates.gate import Gate
    from ..workspace import Workspace

__all__ = ["Program"]


def _reason(reason: object, what: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInputError(f"{what} needs a reason (text saying why)")
    return reason.strip()


class Program:
    """A program (tenant) seen by one user."""

    def __init__(self, workspace: "Workspace", name: str, entry: dict[str, Any]) -> None:
        self._ws = workspace
        self.name = entry["name"]
        self.key = name_key(self.name)
        self._enclave = workspace._enclave(entry["enclave"])
        self._branch = entry["branch"]
        self._user = workspace.user

    # -- state ----------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return self._enclave.snapshot(branch=self._branch).doc("program", {})

    def _roles(self, state: dict[str, Any], user: str | None = None) -> list[str]:
        """``user``'s roles here. On an ITAR program a role counts only with membership
        and ITAR clearance (admins included): otherwise this raises AccessDenied, so
        every permission check (``_require``, approvals) refuses."""
        user = user or self._user
        roles = list((state.get("members") or {}).get(user.lower(), []))
        if state.get("classification") == "ITAR":
            self._ws._require_itar_access(self.name, user, member=bool(roles))
        return roles

    def _may_read(self, state: dict[str, Any]) -> bool:
        """Whether this handle's user may read the program (no refusal recorded: for listings)."""
        roles = (state.get("members") or {}).get(self._user.lower())
        if state.get("classification") == "ITAR":
            return bool(roles) and self._ws._itar_cleared(self._user)
        return bool(roles) or self._ws.is_admin

    def _require(self, operation: str, state: dict[str, Any] | None = None, *, user: str | None = None) -> dict[str, Any]:
        """Check that ``user`` (default: this handle's user) may do ``operation``; return the state read."""
        user = user or self._user
        state = state if state is not None else self._state()
        try:
            roles = set(self._roles(state, user))
            if roles & PERMISSIONS[operation]:
                return state
            if operation == "read" and self._ws._user_is_admin(user):
                return state
            needed = " or ".join(sorted(PERMISSIONS[operation]))
            has = ", ".join(sorted(roles)) or "no role"
            raise AccessDenied(f"{user} may not {describe(operation)} on {self.name}: needs {needed} (has: {has})")
        except AccessDenied as exc:  # every refusal goes to the audit trail (never replaced by a recording error)
            from ..audit import record_refusal

            extra = {"principal": user} if user.lower() != self._user.lower() else {}
            record_refusal(self._ws, exc, operation, program=self, phase=state.get("phase"), **extra)
            raise

    def _check_writable(self, state: dict[str, Any], what: str = "change the working context") -> None:
        if state.get("read_only"):  # received from a federation peer
            raise StateError(
                f"{self.name} is received from peer {state.get('received_from')!r} and read-only; cannot {what}. "
                "Clone one of its frozen contexts (FrozenContext.clone) to work on it"
            )
        status = state.get("status", "active")
        if status == Status.KILLED.value:
            raise StateError(f"{self.name} was killed ({state.get('status_reason')}); nothing can {what.split()[0]} it any more")
        if status == Status.HOLD.value:
            raise StateError(
                f"{self.name} is on hold ({state.get('status_reason')}); cannot {what} until a "
                "chief engineer or program manager calls resume(reason)"
            )

    def _append_event(self, txn, kind: str, **detail: Any) -> dict[str, Any]:
        """Record a change as a hash-chained audit entry in ``txn``'s commit (see
        :mod:`pluma.audit`); ``phase`` defaults to the phase the program is in."""
        from ..audit import chain

        if "phase" not in detail:
            detail["phase"] = (txn.doc("program") or {}).get("phase")
        event = {"time": now(), "user": self._user, "kind": kind, **detail}
        stored = chain.append(txn, chain.chain_id(self._enclave.name, self._branch), event)
        return {k: v for k, v in stored.items() if k not in chain.CHAIN_FIELDS}

    def _update(self, action: str, change, *, message: str, metadata: dict[str, Any]):
        """Commit ``change`` on this program's branch; a refusal it raises (an illegal
        state, a conflict, a denied role) is recorded in the audit trail, then raised."""
        from ..audit import refusals

        with refusals(self._ws, action, program=self):
            return self._enclave.update(self._branch, change, message=message, metadata=metadata)

    @property
    def phase(self) -> Phase:
        return Phase(self._require("read")["phase"])

    @property
    def status(self) -> Status:
        return Status(self._require("read").get("status", "active"))

    @property
    def info(self) -> dict[str, Any]:
        """Name, priority, classification, domains, quotas, members, phase, status."""
        s = self._require("read")
        keys = ("name", "priority", "classification", "domains", "quotas", "members", "phase", "status",
                "status_reason", "created", "created_by", "origin")
        return {k: s.get(k) for k in keys}

    @property
    def classification(self) -> str:
        return self.info["classification"]

    @property
    def priority(self) -> str:
        return self.info["priority"]

    @property
    def domains(self) -> list[str]:
        return self.info["domains"]

    @property
    def quotas(self) -> dict[str, float]:
        return self.info["quotas"]

    @property
    def members(self) -> dict[str, list[str]]:
        return self.info["members"]

    @property
    def origin(self) -> dict[str, Any] | None:
        """For a clone: the source (program, ref, id), who cloned it, and the reuse measured then."""
        return self.info["origin"]

    @property
    def reuse(self) -> float | None:
        """Context Reuse Ratio at clone time: bytes shared with the source / total bytes (None if not a clone)."""
        origin = self.origin
        return None if not origin else origin["reuse"]["ratio"]

    @property
    def my_roles(self) -> list[str]:
        return self._roles(self._state())

    # -- context and gates ------------------------------------------------
    @property
    def context(self) -> "Context":
        """A handle on the working context (remembers the snapshot it read)."""
        from ..context.working import Context

        self._require("read")
        return Context(self)

    def gate(self, phase: Phase | str | None = None) -> "Gate":
        from ..gates.gate import Gate

        state = self._require("read")
        return Gate(self, Phase.parse(phase) if phase is not None else Phase(state["phase"]))

    def param_specs(self):
        from ..context.view import param_specs

        return param_specs(self._require("read"))

    def declare_params(self, declarations: dict[str, dict[str, Any]]) -> None:
        """Declare program parameters: ``{"name": {"type", "unit", "min", "max", "choices", "description"}}``."""
        from ..context.params import spec_from_dict
        from ..context.vocabulary import VOCABULARY

        if not isinstance(declarations, dict) or not declarations:
            raise InvalidInputError("declare_params takes a non-empty mapping of name -> {type, unit, ...}")
        specs = {name: spec_from_dict(name, raw) for name, raw in declarations.items()}
        for name in specs:
            if name in VOCABULARY:
                raise InvalidInputError(f"{name!r} is in the shared vocabulary already ({VOCABULARY[name].unit}); pick another name")

        def change(txn):
            state = self._require("declare_params", txn.doc("program", {}))
            self._check_writable(state, "declare parameters")
            declared = state.setdefault("declared", {})
            for name, spec in specs.items():
                declared[name] = {k: v for k, v in spec.to_dict().items() if k != "name"}
            self._append_event(txn, "declare_params", names=sorted(specs))
            txn.put_doc("program", state)

        self._update("declare_params", change, message=f"declare {', '.join(sorted(specs))}",
                             metadata={"author": self._user, "kind": "declare"})

    def set_gate(self, phase: Phase | str, definition: Any, *, reason: str = "") -> None:
        """Override this program's gate definition for ``phase`` (dict, YAML text or GateDefinition)."""
        from ..gates.definition import GateDefinition

        phase = Phase.parse(phase)
        gate_def = GateDefinition.coerce(definition, phase)

        def change(txn):
            state = self._require("set_gate", txn.doc("program", {}))
            self._check_writable(state, "override a gate")
            state.setdefault("gate_overrides", {})[phase.value] = gate_def.to_dict()
            self._append_event(txn, "gate_override", phase=phase.value, reason=reason, definition=gate_def.to_dict())
            txn.put_doc("program", state)

        self._update("set_gate", change, message=f"override {phase.value} gate",
                             metadata={"author": self._user, "kind": "gate_override"})

    # -- members ----------------------------------------------------------
    def set_member(self, user: str, roles: list[str] | str) -> None:
        """Give ``user`` exactly these program roles (program manager or workspace admin)."""
        validate_name(user, "user name")
        roles = validate_roles(roles, user)
        self._ws._ensure_users([user])

        def change(txn):
            state = txn.doc("program", {})
            if not self._ws.is_admin:
                self._require("manage_members", state)
            self._check_writable(state, "change members")
            state.setdefault("members", {})[user.lower()] = roles
            self._append_event(txn, "member", member=user, roles=roles)
            txn.put_doc("program", state)
            return state["members"]

        _, members = self._update("set_member", change, message=f"member {user}: {', '.join(roles)}",
                                          metadata={"author": self._user, "kind": "member"})
        self._ws._mirror_members(self.key, members)

    def remove_member(self, user: str) -> None:
        def change(txn):
            state = txn.doc("program", {})
            if not self._ws.is_admin:
                self._require("manage_members", state)
            members = state.setdefault("members", {})
            if user.lower() not in members:
                raise NotFoundError(f"{user} is not a member of {self.name}")
            del members[user.lower()]
            if not any("program_manager" in r for r in members.values()):
                raise StateError(f"{self.name} would have no program_manager left; name another first")
            self._append_event(txn, "member_removed", member=user)
            txn.put_doc("program", state)
            return members

        _, members = self._update("remove_member", change, message=f"remove member {user}",
                                          metadata={"author": self._user, "kind": "member"})
        self._ws._mirror_members(self.key, members)

    # -- capacity -----------------------------------------------------------
    def capacity_requests(self) -> list[dict[str, Any]]:
        """Capacity requests of this program, oldest first (status pending / approved / rejected)."""
        from ..capacity.requests import list_requests

        return list_requests(self)

    def approve_capacity(self, request_id: str, comment: str = "") -> dict[str, Any]:
        """Approve a pending capacity request (finance, not the requester): the quotas change."""
        from ..capacity.requests import decide_request

        return decide_request(self, request_id, approve=True, comment=comment)

    def reject_capacity(self, request_id: str, reason: str) -> dict[str, Any]:
        from ..capacity.requests import decide_request

        return decide_request(self, request_id, approve=False, comment=_reason(reason, "reject"))

    def set_capacity_threshold(self, amount: float | None) -> None:
        """This program's approval threshold for capacity requests (None: the organisation's)."""
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0):
            raise InvalidInputError(f"threshold must be a number >= 0 or None, got {amount!r}")

        def change(txn):
            state = self._require("manage_members", txn.doc("program", {}))
            state.setdefault("capacity", {})["threshold"] = amount
            self._append_event(txn, "capacity_threshold", threshold=amount)
            txn.put_doc("program", state)

        self._update("set_capacity_threshold", change, message=f"capacity threshold {amount}",
                             metadata={"author": self._user, "kind": "capacity"})

    # -- gate decisions: go, hold, recycle, kill ----------------------------
    def _transition(self, operation: str, kind: str, mutate, message: str) -> dict[str, Any]:
        def change(txn):
            state = self._require(operation, txn.doc("program", {}))
            result = mutate(txn, state)
            txn.put_doc("program", state)
            return result

        from ..audit import refusals

        with refusals(self._ws, kind, program=self):  # an illegal move is recorded, then raised
            _, result = self._enclave.update(self._branch, change, message=message,
                                             metadata={"author": self._user, "kind": kind})
        return result

    def _record_transition(self, state, kind, frm, to, reason):
        entry = {"kind": kind, "from": frm, "to": to, "user": self._user, "time": now(), "reason": reason}
        transitions = state.setdefault("transitions", [])
        transitions.append(entry)
        del transitions[:-20]
        return entry

    def advance(self, message: str = "") -> "FrozenContext":
        """Go: evaluate the gate again and, if it passes, freeze the working context
        into an immutable tag and move to the next phase. Returns the FrozenContext."""
        from ..context.frozen import tag_name
        from ..context.view import ContextView
        from ..gates.evaluation import evaluate_gate
        from ..gates.gate import gate_definition

        if not isinstance(message, str):
            raise InvalidInputError("message must be text")
        self._repair_freeze_tags()

        def mutate(txn, state):
            self._check_writable(state, "advance")
            phase = Phase(state["phase"])
            view = ContextView(self, txn, state=state)
            report = evaluate_gate(gate_definition(state, phase), view, state, by=self._user)
            if not report.passed:
                raise GateNotPassed(
                    f"the {phase.value} gate of {self.name} does not pass: " + "; ".join(report.reasons), report
                )
            seq = int(state.get("freeze_seq", 0)) + 1
            counts = state.setdefault("freeze_counts", {})
            n = int(counts.get(phase.value, 0)) + 1
            counts[phase.value] = n
            state["freeze_seq"] = seq
            tag = tag_name(self.key, seq, phase.value, n)
            state["last_freeze"] = {
                "phase": phase.value, "n": n, "seq": seq, "tag": tag, "user": self._user, "time": now(),
                "message": message, "report": report.to_dict(), "ref": f"{self.name}@{phase.value}#{n}",
            }
            target = phase.next or phase  # CAS is the last phase: a freeze records a sustainment baseline
            state["phase"] = target.value
            state["epoch"] = int(state.get("epoch", 0)) + 1
            state["approvals"] = []
            state["contributors"] = []
            self._record_transition(state, "advanced", phase.value, target.value, message)
            self._append_event(txn, "freeze", phase=phase.value, to=target.value, ref=state["last_freeze"]["ref"],
                               message=message, tag=tag)
            return tag

        def change(txn):
            state = self._require("advance", txn.doc("program", {}))
            tag = mutate(txn, state)
            txn.metadata["tag"] = tag
            txn.put_doc("program", state)
            return tag

        from ..audit import refusals

        with refusals(self._ws, "advance", program=self):  # a gate that does not pass is recorded, then raised
            sid, tag = self._enclave.update(self._branch, change, message=message or "freeze",
                                            metadata={"author": self._user, "kind": "freeze"})
        self._enclave.create_tag(tag, sid)
        self._index_freeze(tag, sid)
        return self._frozen_from_tag(tag)

    def hold(self, reason: str) -> None:
        """Hold: block writes and advance until ``resume(reason)``."""
        reason = _reason(reason, "hold")

        def mutate(txn, state):
            self._check_writable(state, "put on hold")
            state["status"] = Status.HOLD.value
            state["status_reason"] = reason
            self._append_event(txn, "hold", phase=state["phase"], reason=reason)

        self._transition("hold", "hold", mutate, f"hold: {reason}")

    def resume(self, reason: str) -> None:
        reason = _reason(reason, "resume")

        def mutate(txn, state):
            if state.get("status") != Status.HOLD.value:
                raise StateError(f"{self.name} is not on hold (status {state.get('status')}); nothing to resume")
            state["status"] = Status.ACTIVE.value
            state["status_reason"] = ""
            self._append_event(txn, "resume", phase=state["phase"], reason=reason)

        self._transition("resume", "resume", mutate, f"resume: {reason}")

    def rework(self, to_phase: Phase | str, reason: str) -> None:
        """Recycle: go back to an earlier phase; the working context carries on, frozen contexts stay."""
        to_phase = Phase.parse(to_phase)
        reason = _reason(reason, "rework")

        def mutate(txn, state):
            self._check_writable(state, "rework")
            current = Phase(state["phase"])
            if not to_phase < current:
                raise StateError(
                    f"rework goes back to an earlier phase: {self.name} is in {current.value}, "
                    f"so choose one of {', '.join(p.value for p in Phase if p < current) or '(none: CAD is first)'}"
                )
            state["phase"] = to_phase.value
            state["epoch"] = int(state.get("epoch", 0)) + 1
            state["approvals"] = []
            self._record_transition(state, "reworked", current.value, to_phase.value, reason)
            self._append_event(txn, "rework", phase=current.value, to=to_phase.value, reason=reason)

        self._transition("rework", "rework", mutate, f"rework to {to_phase.value}: {reason}")

    def kill(self, reason: str) -> None:
        """Kill: final. The program and its frozen contexts stay readable."""
        reason = _reason(reason, "kill")

        def mutate(txn, state):
            if state.get("status") == Status.KILLED.value:
                raise StateError(f"{self.name} was already killed ({state.get('status_reason')})")
            state["status"] = Status.KILLED.value
            state["status_reason"] = reason
            state["epoch"] = int(state.get("epoch", 0)) + 1
            self._record_transition(state, "killed", state["phase"], state["phase"], reason)
            self._append_event(txn, "kill", phase=state["phase"], reason=reason)

        self._transition("kill", "kill", mutate, f"kill: {reason}")

    # -- history ------------------------------------------------------------
    def _frozen_from_tag(self, tag: str) -> "FrozenContext":
        from ..context.frozen import FrozenContext

        return FrozenContext(self, self._enclave.snapshot(tag=tag), tag)

    def _index_freeze(self, tag: str, snapshot_id: str) -> None:
        from ..query import FrozenIndex, entry_for

        FrozenIndex(self._ws).record(self._enclave, [entry_for(self._enclave, tag, snapshot_id)], author=self._user)
        from ..integrity import record_freeze_checksums

        record_freeze_checksums(self._enclave, tag, snapshot_id, author=self._user)  # for pluma fsck

    def _repair_freeze_tags(self) -> None:
        """Roll forward a freeze whose commit landed but whose tag did not (a crash between the two)."""
        state = self._state()
        last = state.get("last_freeze")
        if not last or last["tag"] in self._enclave.tags(f"frozen/{self.key}/"):
            return
        for commit in self._enclave.log(self._branch):
            if commit.metadata.get("kind") == "freeze" and commit.metadata.get("tag") == last["tag"]:
                self._enclave.create_tag(last["tag"], commit.id)
                self._index_freeze(last["tag"], commit.id)
                return

    def history(self) -> list["FrozenContext"]:
        """Frozen contexts of this program, oldest first."""
        self._require("read")
        self._repair_freeze_tags()
        return [self._frozen_from_tag(t) for t in self._enclave.tags(f"frozen/{self.key}/")]

    def frozen(self, ref: str) -> "FrozenContext":
        """A frozen context by reference: ``"CAD"`` (latest CAD freeze), ``"CAD#1"``,
        ``"AMPEL360@CAD#1"`` or its id."""
        from ..context.frozen import parse_tag

        if not isinstance(ref, str) or not ref:
            raise InvalidInputError("give a frozen reference such as 'CAD#1' or 'AMPEL360@CAD'")
        self._require("read")
        self._repair_freeze_tags()
        tags = self._enclave.tags(f"frozen/{self.key}/")
        if "@" in ref:
            owner, spec = ref.split("@", 1)
            if name_key(owner) != self.key:
                raise InvalidInputError(f"{ref!r} names another program than {self.name}")
        else:
            spec = ref
        phase_text, _, n_text = spec.partition("#")
        if phase_text.strip().upper() in Phase.__members__:
            phase = Phase.parse(phase_text)
            if n_text and not n_text.isdigit():
                raise InvalidInputError(f"{ref!r}: the number after '#' must be a positive integer")
            matches = [t for t in tags if parse_tag(t)[2] == phase.value and (not n_text or parse_tag(t)[3] == int(n_text))]
        else:  # an id
            matches = [t for t in tags if self._enclave.lookup_tag(t) == ref]
        if not matches:
            refs = ", ".join(f"{self.name}@{parse_tag(t)[2]}#{parse_tag(t)[3]}" for t in tags) or "none yet"
            raise NotFoundError(f"no frozen context {ref!r} in {self.name} (it has: {refs})")
        return self._frozen_from_tag(matches[-1])

    def events(self, *, include_changes: bool = False) -> list[dict[str, Any]]:
        """Everything recorded: creation, freezes, approvals, holds, reworks, kills, gate overrides,
        members, usage; with ``include_changes`` also every context change (kind ``change``).

        The entries of the program's audit chain, oldest first, without the chain
        fields (``pluma.audit.trail`` shows those)."""
        from ..audit import chain

        self._require("read")
        entries = chain.read_entries(self._enclave.snapshot(branch=self._branch), strip=True)
        return entries if include_changes else [e for e in entries if e.get("kind") != "change"]

    # -- templates ----------------------------------------------------------
    def run_template(self, name: str, params=None, **kwargs):
        """Run template ``name`` for this program (see :func:`pluma.templates.run`):
        parameters not given come from the context, then the latest frozen context,
        then the template; recorded outputs flow back into the context."""
        from ..templates import run

        return run(self, name, params, **kwargs)

    # -- display ------------------------------------------------------------
    def __repr__(self) -> str:
        try:
            s = self._state()
            return f"<Program {self.name} {s.get('phase')} ({s.get('status')}), {s.get('classification')}>"
        except Exception:  # repr must not raise
            return f"<Program {self.name}>"

    def _repr_html_(self) -> str:
        from ..display import program_html

        return program_html(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Program) and other.key == self.key and other._ws.root == self._ws.root

    def __hash__(self) -> int:
        return hash(self.key)
