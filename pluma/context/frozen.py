"""Frozen contexts: immutable snapshots made when a gate passes."""

from __future__ import annotations

from typing import Any

from ..programs.phases import Phase
from .view import ContextView

__all__ = ["FrozenContext", "tag_name", "parse_tag"]


def tag_name(program_key: str, seq: int, phase: str, n: int) -> str:
    return f"frozen/{program_key}/{seq:06d}.{phase}.{n}"


def parse_tag(tag: str) -> tuple[str, int, str, int]:
    _, key, rest = tag.split("/", 2)
    seq, phase, n = rest.split(".")
    return key, int(seq), phase, int(n)


class FrozenContext(ContextView):
    """An immutable context: id, readable reference, program, phase, who, when,
    gate report and approvals; read it like a working context."""

    def __init__(self, program, snapshot, tag: str) -> None:
        super().__init__(program, snapshot)
        self.tag = tag
        _, self.seq, phase, self.n = parse_tag(tag)
        self._phase = Phase(phase)
        self._record: dict[str, Any] = self._state.get("last_freeze") or {}

    @property
    def id(self) -> str:
        """Immutable id of this freeze (the Icechunk snapshot id)."""
        return self.snapshot_id

    @property
    def ref(self) -> str:
        """Readable reference, e.g. ``AMPEL360@CAD#1``."""
        return f"{self._program.name}@{self._phase.value}#{self.n}"

    @property
    def label(self) -> str:
        return self.ref

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def user(self) -> str:
        return self._record.get("user", "")

    @property
    def time(self) -> str:
        return self._record.get("time", "")

    @property
    def message(self) -> str:
        return self._record.get("message", "")

    @property
    def report(self):
        from ..gates.report import GateReport

        return GateReport.from_dict(self._record.get("report", {}))

    @property
    def approvals(self) -> list[dict[str, Any]]:
        return [a for a in self.report.approvals if a.get("valid")]

    def clone(self, name: str, *, overrides=None, dataset_overrides=None, message: str = "", **program):
        """A new program starting from this frozen context plus overrides, sharing
        every unchanged byte (needs read here and workspace admin; you become its
        program_manager). Keyword arguments priority, classification, domains,
        quotas, members replace what the source program has.

        Examples
        --------
        >>> child = frozen.clone("AMPEL360-F", overrides={"span": 38.0})   # doctest: +SKIP
        >>> child.phase, child.reuse                                        # doctest: +SKIP
        (<Phase.CAD: 'CAD'>, 0.9993)
        """
        from .clone import clone_frozen

        allowed = {"priority", "classification", "domains", "quotas", "members"}
        unknown = set(program) - allowed
        if unknown:
            from ..errors import InvalidInputError

            raise InvalidInputError(f"clone() got unknown argument(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        return clone_frozen(self, name, overrides=overrides, dataset_overrides=dataset_overrides, message=message,
                            **program)

    def _repr_html_(self) -> str:
        from ..display import frozen_html

        return frozen_html(self)

    def __repr__(self) -> str:
        return f"<FrozenContext {self.ref} id={self.id} by {self.user} at {self.time}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FrozenContext) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)
