"""``pluma capacity ...`` (forecasts, evaluation, requests, approvals) and ``pluma kpis``."""

from __future__ import annotations

import click

from ..programs.phases import Phase
from ._app import State, json_option, pass_state

__all__ = ["capacity", "kpis"]


@click.group()
def capacity() -> None:
    """Capacity planning: forecast with intervals and cost, request, approve."""


@capacity.command("forecast")
@click.argument("program")
@click.option("--phase", "phases", multiple=True, type=click.Choice([p.value for p in Phase], case_sensitive=False),
              help="Phase(s) to forecast (default: the program's current phase).")
@click.option("--months", type=float, default=1.0, show_default=True, help="How long storage is held.")
@json_option
@pass_state
def capacity_forecast(state: State, program: str, phases: tuple[str, ...], months: float) -> None:
    """p10 / p50 / p90 of each resource for PROGRAM, its cost interval and the quotas covering p90."""
    from ..capacity import forecast

    fc = forecast(state.program(program), phases=[p.upper() for p in phases] or None, months=months)
    if state.json:
        state.emit_json(fc.to_dict())
        return
    state.table(f"Capacity forecast — {fc.program.name} (model {fc.model_version})",
                ["phase", "resource", "p10", "p50", "p90"],
                [(r.phase, r.resource, f"{r.p10:.4g}", f"{r.p50:.4g}", f"{r.p90:.4g}") for r in fc.table.itertuples()])
    c = fc.cost
    click.echo(f"cost ({c['currency']}, {c['method']}): p10 {c['p10']:,.0f}  p50 {c['p50']:,.0f}  p90 {c['p90']:,.0f}")
    click.echo("quotas covering p90: " + ", ".join(f"{k}={v}" for k, v in fc.quotas.items()))


@capacity.command("evaluate")
@click.option("--holdout", type=float, default=0.25, show_default=True, help="Share of programs held out.")
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
@pass_state
def capacity_evaluate(state: State, holdout: float, seed: int) -> None:
    """Holdout accuracy (MdAPE of p50 vs a nearest-programs baseline) and p10-p90 coverage."""
    from ..capacity.evaluate import evaluate
    from ..capacity.history import load_history

    report = evaluate(load_history(), holdout_fraction=holdout, seed=seed)
    if state.json:
        state.emit_json(report.to_dict())
    else:
        click.echo(str(report))


@capacity.command("request")
@click.argument("program")
@click.option("--reason", default="", help="Why the program needs it.")
@json_option
@pass_state
def capacity_request(state: State, program: str, reason: str) -> None:
    """Request the quotas that cover PROGRAM's p90 forecast (finance approves above the threshold)."""
    from ..capacity import forecast

    request = forecast(state.program(program)).request(reason=reason)
    if state.json:
        state.emit_json(request)
    else:
        click.echo(f"request {request['id']}: {request['status']} (cost p50 {request['cost']['p50']:,.0f} "
                   f"vs {request['threshold_source']} threshold {request['threshold']:,.0f})")


@capacity.command("requests")
@click.argument("program")
@json_option
@pass_state
def capacity_requests(state: State, program: str) -> None:
    """PROGRAM's capacity requests and their status."""
    requests = state.program(program).capacity_requests()
    if state.json:
        state.emit_json(requests)
        return
    state.table(f"Capacity requests — {program}", ["id", "by", "status", "cost p50", "quotas", "decided by"],
                [(r["id"], r["requested_by"], r["status"], f"{r['cost']['p50']:,.0f}",
                  ", ".join(f"{k}={v}" for k, v in r["quotas"].items()), r.get("decided_by") or "")
                 for r in requests])


@capacity.command("approve")
@click.argument("program")
@click.argument("request_id")
@click.option("--comment", default="")
@json_option
@pass_state
def capacity_approve(state: State, program: str, request_id: str, comment: str) -> None:
    """Approve a pending request (finance, not the requester); the quotas change."""
    request = state.program(program).approve_capacity(request_id, comment=comment)
    state.emit_json(request) if state.json else click.echo(f"request {request_id} approved; quotas now apply")


@capacity.command("reject")
@click.argument("program")
@click.argument("request_id")
@click.option("--reason", required=True)
@json_option
@pass_state
def capacity_reject(state: State, program: str, request_id: str, reason: str) -> None:
    """Reject a pending request (finance, not the requester)."""
    request = state.program(program).reject_capacity(request_id, reason)
    state.emit_json(request) if state.json else click.echo(f"request {request_id} rejected")


@click.command()
@click.option("--probes", type=int, default=20, show_default=True, help="Queries timed for the query p95 KPI.")
@json_option
@pass_state
def kpis(state: State, probes: int) -> None:
    """The workspace's KPIs, each with the number of records it rests on."""
    from ..kpis import kpis as measure

    report = measure(state.open(), query_probes=probes)
    if state.json:
        state.emit_json(report.to_dict())
        return
    state.table(f"KPIs — {report.workspace}", ["KPI", "value", "records", "source", "note"],
                [(k.title, "no records" if k.value is None else f"{k.value:.4g} {k.unit}".strip(), k.records,
                  k.source, k.note) for k in report.items])
