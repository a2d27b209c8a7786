"""``pluma gate show|evaluate|approve|set``."""

from __future__ import annotations

from pathlib import Path

import click

from ..programs.phases import Phase
from ..programs.roles import ROLES
from ._app import State, fmt_time, json_option, pass_state

__all__ = ["gate"]

_phase_option = click.option("--phase", type=click.Choice([p.value for p in Phase], case_sensitive=False),
                             help="Phase whose gate to use (default: the program's current phase).")


@click.group()
def gate() -> None:
    """Phase gates: definitions, evaluation, approvals."""


@gate.command("show")
@click.argument("program")
@_phase_option
@json_option
@pass_state
def gate_show(state: State, program: str, phase: str | None) -> None:
    """Print the gate definition of PROGRAM's phase as YAML."""
    g = state.program(program).gate(phase)
    definition = g.definition
    if state.json:
        state.emit_json({**definition.to_dict(), "source": definition.source, "program": g.program.name})
    else:
        click.echo(f"# {g.phase.value} gate of {g.program.name} (definition: {definition.source})")
        click.echo(definition.to_yaml(), nl=False)


def _print_report(state: State, report) -> None:
    from rich.text import Text

    def badge(ok: bool, yes: str, no: str) -> Text:
        return Text(yes, style="green") if ok else Text(no, style="bold red")

    verdict = "PASSED" if report.passed else "NOT PASSED"
    state.console.print(Text.assemble(f"{report.program} {report.phase} gate: ",
                                      (verdict, "bold green" if report.passed else "bold red")))
    click.echo(f"evaluated by {report.evaluated_by} at {fmt_time(report.evaluated_at)}, context rev "
               f"{report.context_rev}, definition: {report.definition_source}")
    rows = []
    for item in report.items:
        rows.append((f"required {item.kind}", item.name, badge(item.present, "present", "MISSING"), ""))
    for c in report.checks:
        status = Text("n/a", style="dim") if c.skipped else badge(c.passed, "pass", "FAIL")
        evidence = c.error or ", ".join(f"{k} = {v}" for k, v in c.evidence.items())
        rows.append(("check", f"{c.id}: {c.expr}", status, evidence))
    for a in report.approvals:
        rows.append(("approval", f"{a['role']} by {a['user']}", badge(a.get("valid"), "valid", "void"),
                     a.get("comment") or a.get("reason", "")))
    for role in report.approvals_needed:
        rows.append(("approval", role, Text("needed", style="bold red"), ""))
    if not report.separation_of_duties.get("ok", True):
        rows.append(("separation of duties", "", badge(False, "", "FAIL"), report.separation_of_duties.get("detail")))
    if rows:
        state.table(None, ["what", "item", "status", "evidence"], rows)


@gate.command("evaluate")
@click.argument("program")
@_phase_option
@json_option
@pass_state
@click.pass_context
def gate_evaluate(ctx: click.Context, state: State, program: str, phase: str | None) -> None:
    """Evaluate PROGRAM's gate against its working context (read-only).

    Exit code 0 when the gate passes, 1 when it does not, so scripts can write
    `pluma gate evaluate AMPEL360 && pluma advance AMPEL360`.
    """
    report = state.program(program).gate(phase).evaluate()
    if state.json:
        state.emit_json(report.to_dict())
    else:
        _print_report(state, report)
    if not report.passed:
        ctx.exit(1)


@gate.command("approve")
@click.argument("program")
@click.option("--role", type=click.Choice(list(ROLES)),
              help="Approve as this role (needed only when you hold several roles the gate asks for).")
@click.option("--comment", default="", help="What you checked.")
@json_option
@pass_state
def gate_approve(state: State, program: str, role: str | None, comment: str) -> None:
    """Approve the current phase's gate of PROGRAM, bound to the context as it is now.

    A later change of the context voids the approval.
    """
    prog = state.program(program)
    approval = prog.gate().approve(role=role, comment=comment)
    report = prog.gate().evaluate()
    if state.json:
        state.emit_json({**approval, "program": prog.name, "gate_passed": report.passed,
                         "reasons": report.reasons})
        return
    click.echo(f"{approval['user']} approved the {approval['phase']} gate of {prog.name} as {approval['role']} "
               f"(context rev {approval['rev']})")
    if report.passed:
        click.echo(f"the gate passes now: `pluma advance {prog.name}` freezes the context")
    else:
        click.echo("the gate does not pass yet: " + "; ".join(report.reasons))


@gate.command("set")
@click.argument("program")
@click.argument("phase", type=click.Choice([p.value for p in Phase], case_sensitive=False))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--reason", default="", help="Why this program needs its own gate.")
@json_option
@pass_state
def gate_set(state: State, program: str, phase: str, file: Path, reason: str) -> None:
    """Override PROGRAM's gate for PHASE with the YAML definition in FILE (program manager).

    Start from `pluma gate show PROGRAM --phase PHASE > gate.yaml`.
    """
    prog = state.program(program)
    prog.set_gate(phase, file.read_text(encoding="utf-8"), reason=reason)
    definition = prog.gate(phase).definition
    if state.json:
        state.emit_json({**definition.to_dict(), "source": definition.source, "program": prog.name})
    else:
        click.echo(f"{prog.name}: the {definition.phase.value} gate now follows {file.name} "
                   f"({len(definition.checks)} checks, approvals by {', '.join(definition.approvals) or 'nobody'})")
