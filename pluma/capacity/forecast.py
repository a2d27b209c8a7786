"""``pluma.capacity.forecast(prog)``: what a program will need and cost, with intervals,
and the request/approval that turns a forecast into quotas."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..programs.program import Program

__all__ = ["Forecast", "forecast", "HOURS_PER_PHASE"]

#: Wall-clock hours a phase's GPU hours are spread over when turned into a GPU count (a month).
HOURS_PER_PHASE = 720.0


def _quotas_from(table: "pd.DataFrame") -> dict[str, float]:
    """Quotas that cover the p90 of each resource (rounded up)."""
    p90 = dict(zip(table["resource"], table["p90"]))
    quotas: dict[str, float] = {}
    if "cores" in p90:
        quotas["cores"] = int(math.ceil(p90["cores"]))
    if "memory_gb" in p90:
        quotas["memory_gb"] = int(math.ceil(p90["memory_gb"]))
    if "gpu_hours" in p90:
        quotas["gpus"] = int(math.ceil(p90["gpu_hours"] / HOURS_PER_PHASE))
    if "storage_tb" in p90:
        quotas["storage_tb"] = math.ceil(p90["storage_tb"] * 10) / 10
    if "qubits" in p90:
        quotas["qubits"] = int(math.ceil(p90["qubits"]))
    return quotas


@dataclass
class Forecast:
    """Per resource p10 / p50 / p90 for a program's phase(s), the cost with its
    interval, and the quotas that would cover p90."""

    program: "Program"
    phases: list[str]
    table: "pd.DataFrame"
    cost: dict[str, Any]
    model_version: str
    quotas: dict[str, float] = field(default_factory=dict)
    request_id: str | None = None

    def request(self, approver_role: str = "finance", *, quotas: dict[str, float] | None = None,
                reason: str = "") -> dict[str, Any]:
        """Ask for ``quotas`` (default: what covers p90). Within the threshold it is granted
        at once; above it, a finance member who is not you must approve it."""
        from .requests import submit_request

        request = submit_request(
            self.program, quotas=dict(quotas) if quotas is not None else dict(self.quotas), cost=self.cost,
            forecast=self.to_dict(), approver_role=approver_role, reason=reason,
        )
        self.request_id = request["id"]
        return request

    def approve(self, *, by: "Program | None" = None, comment: str = "") -> dict[str, Any]:
        """Approve this forecast's request, acting as ``by``'s user (a handle on the same
        program opened by the finance approver; default: this handle's user)."""
        if self.request_id is None:
            raise InvalidInputError("nothing to approve: call request() first")
        approver = by if by is not None else self.program
        if approver.key != self.program.key:
            raise InvalidInputError(f"by= must be a handle on {self.program.name}, not {approver.name}")
        return approver.approve_capacity(self.request_id, comment=comment)

    def to_dict(self) -> dict[str, Any]:
        return {"program": self.program.name, "phases": self.phases, "model_version": self.model_version,
                "resources": self.table.to_dict(orient="records"), "cost": self.cost, "quotas": self.quotas}

    def __str__(self) -> str:
        lines = [f"capacity forecast for {self.program.name} ({', '.join(self.phases)}), model {self.model_version}"]
        for row in self.table.itertuples():
            lines.append(f"  {row.phase} {row.resource:<14} p10 {row.p10:>10.4g}  p50 {row.p50:>10.4g}  p90 {row.p90:>10.4g}")
        c = self.cost
        lines.append(f"  cost {c['currency']}: p10 {c['p10']:,.0f}  p50 {c['p50']:,.0f}  p90 {c['p90']:,.0f}")
        lines.append("  quotas covering p90: " + ", ".join(f"{k}={v}" for k, v in self.quotas.items()))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        c = self.cost
        return (f"<h4>Capacity forecast — {escape(self.program.name)} ({escape(', '.join(self.phases))})</h4>"
                + self.table.to_html(index=False, float_format=lambda v: f"{v:.4g}")
                + f"<p>cost {escape(c['currency'])}: p10 {c['p10']:,.0f} · p50 {c['p50']:,.0f} · p90 {c['p90']:,.0f}"
                f"<br>quotas covering p90: {escape(', '.join(f'{k}={v}' for k, v in self.quotas.items()))}"
                f"<br><small>model {escape(self.model_version)}</small></p>")


def forecast(program: "Program", *, phases=None, sweep_points: float = 0, model=None, prices=None,
             months: float = 1.0) -> Forecast:
    """Forecast ``program``'s resources (p10/p50/p90) and cost for its current phase
    (or ``phases``), from its domains, classification, priority and context volume, and —
    for the phase right after the ones it has left — from what it used in those phases
    (its metered rows, :func:`pluma.capacity.metered.program_usage`; unmetered: not used).

    Examples
    --------
    >>> fc = pluma.capacity.forecast(prog)     # doctest: +SKIP
    >>> fc.request(approver_role="finance")    # doctest: +SKIP
    """
    from .cost import cost_interval, load_prices
    from .features import context_stats, features_for_program
    from .model import default_model

    from .metered import history_for, program_usage

    info = program.info
    stats = context_stats(program.context, sweep_points=sweep_points)
    # what the program itself used in the phases it has left: prior usage for a forecast one phase ahead
    features = features_for_program(info, stats, phases=phases, past_usage=program_usage(program))
    if model is None:  # learns from the shipped history plus this workspace's own metered usage
        model = default_model(history_for(program._ws))
    predictions = model.predict(features)
    prices = prices if prices is not None else load_prices()
    # ITAR programs stay on premises: no cloud core-hours in their cost
    cloud = 0.0 if info.get("classification") == "ITAR" else None
    cost = cost_interval(predictions, prices, months=months, dependence=model.dependence(), cloud_fraction=cloud)
    table = predictions.drop(columns=["row"])
    return Forecast(program, list(features["phase"]), table, cost, model.version, _quotas_from(table))
