"""Capacity requests and their approval.

A request asks for new quotas with the forecast cost behind it. At or below the
threshold (the program's own, else the organisation's) it is granted at once;
above it, a user holding the finance role on the program — never the requester —
must approve it. Only an approved request changes the program's quotas (and so
the limits of its Dask clusters). Every step is recorded in the program's events.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from .._time import now
from ..errors import AccessDenied, InvalidInputError, NotFoundError, StateError
from ..programs.phases import validate_quotas

if TYPE_CHECKING:  # pragma: no cover
    from ..programs.program import Program

__all__ = ["DEFAULT_ORG_THRESHOLD", "submit_request", "decide_request", "list_requests", "threshold_for"]

#: Organisation-wide threshold (in the price table's currency) when none is set.
DEFAULT_ORG_THRESHOLD = 50_000.0


def threshold_for(program: "Program", state: dict[str, Any] | None = None) -> tuple[float, str]:
    """The threshold that applies to ``program`` and where it comes from."""
    state = state if state is not None else program._state()
    own = (state.get("capacity") or {}).get("threshold")
    if own is not None:
        return float(own), "program"
    settings = program._ws._registry_doc("settings", {}) or {}
    org = settings.get("capacity_threshold")
    if org is not None:
        return float(org), "organisation"
    return DEFAULT_ORG_THRESHOLD, "default"


def _check_amount(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        raise InvalidInputError(f"{what} must be a number >= 0, got {value!r}")
    return float(value)


def submit_request(program: "Program", *, quotas: dict[str, float], cost: dict[str, Any], forecast: dict[str, Any],
                   approver_role: str = "finance", reason: str = "") -> dict[str, Any]:
    """Record a capacity request; grant it at once when the cost is within the threshold."""
    if approver_role != "finance":
        raise InvalidInputError("capacity requests above the threshold are approved by the finance role only")
    quotas = validate_quotas(quotas)
    if not quotas:
        raise InvalidInputError("a capacity request needs at least one quota (cores, memory_gb, gpus, storage_tb, qubits)")
    amount = _check_amount(cost.get("p50"), "the forecast cost p50")
    if not isinstance(reason, str):
        raise InvalidInputError("reason must be text")
    user = program._user

    def change(txn):
        state = program._require("request_capacity", txn.doc("program", {}))
        program._check_writable(state, "request capacity")
        limit, source = threshold_for(program, state)
        request = {
            "id": uuid.uuid4().hex[:12], "time": now(), "requested_by": user, "quotas": quotas,
            "previous_quotas": dict(state.get("quotas") or {}), "cost": cost, "forecast": forecast,
            "threshold": limit, "threshold_source": source, "reason": reason, "approver_role": approver_role,
        }
        capacity = state.setdefault("capacity", {})
        requests = capacity.setdefault("requests", [])
        program._append_event(txn, "capacity_request", request=request["id"], quotas=quotas,
                              cost_p50=amount, threshold=limit)
        if amount <= limit:
            request.update(status="approved", decided_by=None, decided_at=request["time"],
                           comment=f"within the {source} threshold {limit:g}: granted without approval")
            state["quotas"] = {**state.get("quotas", {}), **quotas}
            program._append_event(txn, "quotas_changed", request=request["id"], quotas=state["quotas"],
                                  previous=request["previous_quotas"])
        else:
            request["status"] = "pending"
        requests.append(request)
        txn.put_doc("program", state)
        return request

    _, request = program._update("capacity_request", change, message=f"capacity request by {user}",
                                         metadata={"author": user, "kind": "capacity"})
    return request


def decide_request(program: "Program", request_id: str, *, approve: bool, comment: str = "") -> dict[str, Any]:
    """Approve (quotas change) or reject a pending request, as a finance member who did not request it."""
    if not isinstance(comment, str):
        raise InvalidInputError("comment must be text")
    user = program._user

    def change(txn):
        state = txn.doc("program", {})
        requests = (state.get("capacity") or {}).get("requests", [])
        match = [r for r in requests if r["id"] == request_id]
        if not match:
            known = ", ".join(r["id"] for r in requests) or "none"
            raise NotFoundError(f"no capacity request {request_id!r} on {program.name} (requests: {known})")
        request = match[0]
        roles = program._roles(state)
        if request.get("approver_role", "finance") not in roles:
            raise AccessDenied(
                f"{user} may not decide capacity requests on {program.name}: needs finance (has: {', '.join(roles) or 'no role'})"
            )
        if request["requested_by"].lower() == user.lower():
            raise AccessDenied(f"{user} requested {request_id} and may not also decide it (separation of duties)")
        if request["status"] != "pending":
            raise StateError(f"request {request_id} is already {request['status']}")
        if state.get("status") == "killed":
            raise StateError(f"{program.name} was killed; its capacity cannot change")
        request.update(status="approved" if approve else "rejected", decided_by=user, decided_at=now(),
                       comment=comment)
        if approve:
            previous = dict(state.get("quotas") or {})
            state["quotas"] = {**previous, **request["quotas"]}
            program._append_event(txn, "capacity_approved", request=request_id, comment=comment)
            program._append_event(txn, "quotas_changed", request=request_id, quotas=state["quotas"], previous=previous)
        else:
            program._append_event(txn, "capacity_rejected", request=request_id, comment=comment)
        txn.put_doc("program", state)
        return request

    _, request = program._update("capacity_decision", change,
                                         message=f"capacity request {request_id} {'approved' if approve else 'rejected'}",
                                         metadata={"author": user, "kind": "capacity"})
    return request


def list_requests(program: "Program") -> list[dict[str, Any]]:
    state = program._require("read")
    return list((state.get("capacity") or {}).get("requests", []))
