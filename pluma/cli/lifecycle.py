"""The gate decisions — ``pluma advance`` (go), ``rework`` (recycle), ``hold`` /
``resume``, ``kill`` — and the record: ``history`` and ``events``."""

from __future__ import annotations

import click

from ..programs.phases import Phase
from ..programs.roles import PERMISSIONS
from ._app import State, fmt_time, json_option, pass_state

__all__ = ["advance", "events", "history", "hold", "kill", "resume", "rework"]

_reason_option = click.option("--reason", required=True, help="Why (recorded in the program's events).")


def _status_line(prog) -> str:
    info = prog.info
    reason = f" ({info['status_reason']})" if info.get("status_reason") else ""
    return f"{prog.name} is in {info['phase']}, {info['status']}{reason}"


def _emit_status(state: State, prog, done: str) -> None:
    if state.json:
        info = prog.info
        state.emit_json({"program": prog.name, "phase": info["phase"], "status": info["status"],
                         "status_reason": info["status_reason"]})
    else:
        click.echo(f"{done}; {_status_line(prog)}")


@click.command()
@click.argument("program")
@click.option("-m", "--message", default="", help="What this freeze records.")
@json_option
@pass_state
def advance(state: State, program: str, message: str) -> None:
    """Go: if PROGRAM's gate passes, freeze the working context and move to the next phase.

    Needs chief_engineer or program_manager. Prints the frozen context's
    reference (e.g. AMPEL360@CAD#1) and immutable id.
    """
    prog = state.program(program)
    frozen = prog.advance(message=message)
    phase = prog.phase
    if state.json:
        state.emit_json({"program": prog.name, "ref": frozen.ref, "id": frozen.id, "tag": frozen.tag,
                         "phase": frozen.phase.value, "next_phase": phase.value, "user": frozen.user,
                         "time": frozen.time, "message": frozen.message})
    else:
        click.echo(f"froze {frozen.ref} (id {frozen.id})")
        click.echo(f"{prog.name} is now in {phase.value} ({phase.title})")


@click.command()
@click.argument("program")
@click.argument("phase", type=click.Choice([p.value for p in Phase], case_sensitive=False))
@_reason_option
@json_option
@pass_state
def rework(state: State, program: str, phase: str, reason: str) -> None:
    """Recycle: send PROGRAM back to an earlier PHASE (frozen contexts stay)."""
    prog = state.program(program)
    prog.rework(phase, reason)
    _emit_status(state, prog, f"sent {prog.name} back to {phase}")


@click.command()
@click.argument("program")
@_reason_option
@json_option
@pass_state
def hold(state: State, program: str, reason: str) -> None:
    """Hold PROGRAM: no changes or advance until `pluma resume`."""
    prog = state.program(program)
    prog.hold(reason)
    _emit_status(state, prog, f"put {prog.name} on hold")


@click.command()
@click.argument("program")
@_reason_option
@json_option
@pass_state
def resume(state: State, program: str, reason: str) -> None:
    """Resume PROGRAM after a hold."""
    prog = state.program(program)
    prog.resume(reason)
    _emit_status(state, prog, f"resumed {prog.name}")


@click.command()
@click.argument("program")
@_reason_option
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_state
def kill(state: State, program: str, reason: str, yes: bool) -> None:
    """Kill PROGRAM: final. It and its frozen contexts stay readable (program manager)."""
    prog = state.program(program)
    allowed = bool(set(prog.my_roles) & PERMISSIONS["kill"])  # else kill() below says why not, without asking
    if allowed and not yes:
        click.confirm(f"kill {prog.name}? This cannot be undone", abort=True, err=True)
    prog.kill(reason)
    _emit_status(state, prog, f"killed {prog.name}")


@click.command()
@click.argument("program")
@json_option
@pass_state
def history(state: State, program: str) -> None:
    """The frozen contexts of PROGRAM, oldest first."""
    frozen = state.program(program).history()
    rows = [{"ref": fc.ref, "id": fc.id, "phase": fc.phase.value, "n": fc.n, "user": fc.user, "time": fc.time,
             "message": fc.message, "gate_passed": fc.report.passed,
             "approvals": [{"role": a["role"], "user": a["user"]} for a in fc.approvals]} for fc in frozen]
    if state.json:
        state.emit_json(rows)
    elif not rows:
        click.echo(f"{program} has no frozen contexts yet")
    else:
        state.table(f"Frozen contexts of {program} ({len(rows)})", ["ref", "id", "by", "when", "approvals", "message"],
                    [(r["ref"], r["id"], r["user"], fmt_time(r["time"]),
                      ", ".join(f"{a['role']}: {a['user']}" for a in r["approvals"]), r["message"]) for r in rows])


_SHOWN = ("time", "user", "kind")


@click.command()
@click.argument("program", required=False)
@click.option("-n", "--limit", type=click.IntRange(min=1), help="Only the last N events.")
@json_option
@pass_state
def events(state: State, program: str | None, limit: int | None) -> None:
    """What happened to PROGRAM (or, without PROGRAM, to the workspace), oldest first."""
    found = state.program(program).events() if program else state.open().events()
    if limit:
        found = found[-limit:]
    if state.json:
        state.emit_json(found)
        return
    rows = []
    for e in found:
        detail = ", ".join(f"{k}={v}" for k, v in e.items()
                           if k not in _SHOWN and k != "definition" and v not in (None, "", [], {}))
        rows.append((fmt_time(e.get("time")), e.get("user"), e.get("kind"), detail))
    state.table(f"Events of {program or 'the workspace'} ({len(rows)})", ["when", "who", "what", "detail"], rows)
