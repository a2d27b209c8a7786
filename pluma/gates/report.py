"""Gate reports: the evidence behind a gate decision, kept with every freeze."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["GateReport", "CheckResult", "ItemResult"]


@dataclass(frozen=True)
class CheckResult:
    id: str
    expr: str
    passed: bool
    description: str = ""
    evidence: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    error: str | None = None
    skipped: bool = False  # a 'when' parameter is absent: not applicable

    @property
    def status(self) -> str:
        if self.skipped:
            return "n/a"
        return "pass" if self.passed else "FAIL"


@dataclass(frozen=True)
class ItemResult:
    kind: str  # param | dataset | artifact
    name: str
    present: bool


@dataclass(frozen=True)
class GateReport:
    """Result of evaluating a phase gate against a context.

    ``passed`` needs every required item, every check, every required approval
    (valid for the current content) and separation of duties.
    """

    program: str
    phase: str
    passed: bool
    evaluated_at: str
    evaluated_by: str
    context_rev: int
    snapshot: str
    definition: dict[str, Any]
    definition_source: str
    items: list[ItemResult]
    checks: list[CheckResult]
    approvals: list[dict[str, Any]]
    approvals_needed: list[str]
    separation_of_duties: dict[str, Any]
    reasons: list[str]

    @property
    def checks_passed(self) -> bool:
        return all(c.passed or c.skipped for c in self.checks) and all(i.present for i in self.items)

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if not (c.passed or c.skipped)]

    @property
    def missing_items(self) -> list[ItemResult]:
        return [i for i in self.items if not i.present]

    def summary(self) -> str:
        head = f"{self.program} {self.phase} gate: {'PASSED' if self.passed else 'NOT PASSED'}"
        lines = [head]
        for item in self.missing_items:
            lines.append(f"  missing {item.kind} {item.name}")
        for check in self.checks:
            ev = ", ".join(f"{k}={v}" for k, v in check.evidence.items())
            extra = f" ({check.error})" if check.error else (f" [{ev}]" if ev else "")
            lines.append(f"  [{check.status}] {check.id}: {check.expr}{extra}")
        for a in self.approvals:
            state = "valid" if a.get("valid") else f"void: {a.get('reason')}"
            lines.append(f"  approval {a['role']} by {a['user']} ({state})")
        if self.approvals_needed:
            lines.append(f"  approvals still needed: {', '.join(self.approvals_needed)}")
        if not self.separation_of_duties.get("ok", True):
            lines.append(f"  separation of duties: {self.separation_of_duties.get('detail')}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GateReport":
        if not data:
            return cls("", "", False, "", "", 0, "", {}, "", [], [], [], [], {"ok": True}, ["no report"])
        data = dict(data)
        data["items"] = [ItemResult(**i) for i in data.get("items", [])]
        data["checks"] = [CheckResult(**c) for c in data.get("checks", [])]
        return cls(**data)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (
            f"<GateReport {self.program} {self.phase}: {'passed' if self.passed else 'not passed'}, "
            f"{sum(c.passed for c in self.checks)}/{len(self.checks)} checks, "
            f"{len(self.approvals_needed)} approvals needed>"
        )

    def _repr_html_(self) -> str:
        from ..display import report_html

        return report_html(self)
