"""Evaluate a gate definition against a context view and program state."""

from __future__ import annotations

from typing import Any

from .._time import now
from ..errors import ExpressionError
from .definition import GateDefinition
from .report import CheckResult, GateReport, ItemResult

__all__ = ["evaluate_gate", "approval_status"]


def approval_status(state: dict[str, Any], rev: int, phase: str) -> list[dict[str, Any]]:
    """Approvals recorded for the current phase, each marked valid or void."""
    out = []
    for a in state.get("approvals", []):
        if a.get("phase") != phase or a.get("epoch") != state.get("epoch", 0):
            continue
        entry = dict(a)
        roles_now = (state.get("members") or {}).get(a["user"].lower(), [])
        if a["role"] not in roles_now:
            entry["valid"] = False
            entry["reason"] = f"{a['user']} no longer holds the role {a['role']}"
        elif a.get("rev") != rev:
            entry["valid"] = False
            entry["reason"] = f"the context changed after this approval (approved at rev {a.get('rev')}, now rev {rev})"
        else:
            entry["valid"] = True
            entry["reason"] = ""
        out.append(entry)
    return out


def evaluate_gate(definition: GateDefinition, view, state: dict[str, Any], *, by: str) -> GateReport:
    from ..expressions import parse

    params = view.params
    items = [ItemResult("param", n, n in params) for n in definition.required_params]
    items += [ItemResult("dataset", n, n in view.datasets) for n in definition.required_datasets]
    items += [ItemResult("artifact", n, n in view.artifacts) for n in definition.required_artifacts]

    resolver = view.resolver()
    checks = []
    for check in definition.checks:
        if any(w not in params for w in check.when):
            absent = [w for w in check.when if w not in params]
            checks.append(CheckResult(check.id, check.expr, False, check.description,
                                      missing=absent, skipped=True))
            continue
        try:
            result = parse(check.expr).evaluate(resolver)
            if result.missing:
                checks.append(CheckResult(check.id, check.expr, False, check.description,
                                          evidence=dict(result.evidence), missing=list(result.missing),
                                          error="missing " + ", ".join(result.missing)))
                continue
            passed = result.truth()
            checks.append(CheckResult(check.id, check.expr, bool(passed), check.description,
                                      evidence=dict(result.evidence)))
        except ExpressionError as exc:
            checks.append(CheckResult(check.id, check.expr, False, check.description, error=str(exc)))

    phase = definition.phase.value
    approvals = approval_status(state, view.rev, phase)
    for a in approvals:  # an approval for a role the (possibly overridden) gate no longer asks for counts for nothing
        if a["valid"] and a["role"] not in definition.approvals:
            a["valid"] = False
            a["reason"] = f"the {phase} gate no longer asks for {a['role']}"
    valid = [a for a in approvals if a["valid"]]
    approved_roles = {a["role"] for a in valid}
    needed = [r for r in definition.approvals if r not in approved_roles]

    contributors = set(state.get("contributors", []))
    approvers = {a["user"].lower() for a in valid}
    sod = {"ok": True, "detail": ""}
    if definition.approvals and approvers and approvers <= contributors:
        sod = {
            "ok": False,
            "detail": (
                f"every approver ({', '.join(sorted(approvers))}) changed the context since the last freeze; "
                "someone who did not produce the evidence must also approve"
            ),
        }

    reasons = [f"missing {i.kind} {i.name}" for i in items if not i.present]
    reasons += [f"check {c.id} failed" + (f": {c.error}" if c.error else "") for c in checks if not (c.passed or c.skipped)]
    reasons += [f"approval by {r} needed" for r in needed]
    if not sod["ok"]:
        reasons.append("separation of duties: " + sod["detail"])

    return GateReport(
        program=view.program.name,
        phase=phase,
        passed=not reasons,
        evaluated_at=now(),
        evaluated_by=by,
        context_rev=view.rev,
        snapshot=view.snapshot_id,
        definition=definition.to_dict(),
        definition_source=definition.source,
        items=items,
        checks=checks,
        approvals=approvals,
        approvals_needed=needed,
        separation_of_duties=sod,
        reasons=reasons,
    )
