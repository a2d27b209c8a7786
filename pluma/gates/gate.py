"""The Gate handle: ``prog.gate(phase=None)``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._time import now
from ..errors import AccessDenied, InvalidInputError, StateError
from ..programs.phases import Phase
from .definition import GateDefinition, default_gate
from .evaluation import evaluate_gate
from .report import GateReport

if TYPE_CHECKING:  # pragma: no cover
    from ..programs.program import Program

__all__ = ["Gate", "gate_definition"]


def gate_definition(state: dict[str, Any], phase: Phase) -> GateDefinition:
    override = (state.get("gate_overrides") or {}).get(phase.value)
    if override:
        return GateDefinition.from_dict(override, phase=phase, source="override")
    return default_gate(phase)


class Gate:
    """The exit gate of one phase of one program."""

    def __init__(self, program: "Program", phase: Phase) -> None:
        self.program = program
        self.phase = phase

    @property
    def definition(self) -> GateDefinition:
        self.program._require("read")
        return gate_definition(self.program._state(), self.phase)

    def evaluate(self) -> GateReport:
        """Evaluate the gate against the working context now. Read-only."""
        program = self.program
        program._require("read")
        ctx = program.context
        return evaluate_gate(gate_definition(ctx._state, self.phase), ctx, ctx._state, by=program._user)

    def approve(self, role: str | None = None, comment: str = "") -> dict[str, Any]:
        """Approve the gate as ``role``, bound to the current content of the context."""
        program = self.program
        user = program._user
        if not isinstance(comment, str):
            raise InvalidInputError("comment must be text")

        def change(txn):
            state = txn.doc("program", {})
            manifest = txn.doc("context", {})
            definition = gate_definition(state, self.phase)
            held = set(program._roles(state))
            eligible = [r for r in definition.approvals if r in held]
            if not definition.approvals:
                raise StateError(f"the {self.phase.value} gate of {program.name} asks for no approvals")
            if role is None:
                if not eligible:
                    raise AccessDenied(
                        f"{user} may not approve the {self.phase.value} gate of {program.name}: it needs "
                        f"{' or '.join(definition.approvals)} (has: {', '.join(sorted(held)) or 'no role'})"
                    )
                if len(eligible) > 1:
                    raise InvalidInputError(
                        f"{user} holds {' and '.join(eligible)}, which this gate both asks for: say which, e.g. approve(role={eligible[0]!r})"
                    )
                chosen = eligible[0]
            else:
                if role not in definition.approvals:
                    raise InvalidInputError(
                        f"the {self.phase.value} gate asks for approvals by {', '.join(definition.approvals)}, not {role!r}"
                    )
                if role not in held:
                    raise AccessDenied(f"{user} may not approve as {role} on {program.name}: the role is not theirs")
                chosen = role
            program._check_writable(state, what="approve a gate")
            if state.get("phase") != self.phase.value:
                raise StateError(
                    f"{program.name} is in {state.get('phase')}; only the current phase's gate can be approved, not {self.phase.value}"
                )
            rev = int(manifest.get("rev", 0))
            epoch = state.get("epoch", 0)
            approvals = state.setdefault("approvals", [])
            for a in approvals:
                if a["phase"] == self.phase.value and a["epoch"] == epoch and a["rev"] == rev and a["user"].lower() == user.lower():
                    raise StateError(
                        f"{user} already approved this content as {a['role']}; one person gives one approval per gate"
                    )
            approval = {"phase": self.phase.value, "role": chosen, "user": user, "comment": comment, "time": now(),
                        "rev": rev, "epoch": epoch, "snapshot": txn.id}
            approvals.append(approval)
            program._append_event(txn, "approval", phase=self.phase.value, role=chosen, comment=comment, rev=rev)
            txn.put_doc("program", state)
            return approval

        _, approval = program._update(
            "approve", change, message=f"approve {self.phase.value} gate",
            metadata={"author": user, "kind": "approval"},
        )
        return approval

    @property
    def approvals(self) -> list[dict[str, Any]]:
        return self.evaluate().approvals

    def __repr__(self) -> str:
        return f"<Gate {self.program.name} {self.phase.value}>"

    def _repr_html_(self) -> str:
        return self.evaluate()._repr_html_()
