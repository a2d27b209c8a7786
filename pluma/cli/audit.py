"""``pluma audit show`` and ``pluma audit verify``: read and check the audit trail."""

from __future__ import annotations

import sys

import click

from ._app import State, fmt_time, json_option, pass_state

__all__ = ["audit"]


@click.group()
def audit() -> None:
    """The audit trail: every change and every refusal, hash-chained."""


def _detail(detail: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in detail.items() if k != "definition" and v not in (None, "", [], {}))


@audit.command("show")
@click.option("--program", "program", help="Only entries about this program.")
@click.option("--since", help="From this time (ISO, e.g. 2026-11-29 or 2026-11-29T10:00; UTC unless given).")
@click.option("--until", help="Up to this time (ISO).")
@click.option("--user", "who", help="Only entries by this user.")
@click.option("--action", help="Only this action (e.g. freeze, advance, write).")
@click.option("-n", "--limit", type=click.IntRange(min=1), help="Only the last N entries.")
@json_option
@pass_state
def show(state: State, program: str | None, since: str | None, until: str | None, who: str | None,
         action: str | None, limit: int | None) -> None:
    """Who did what, to which program, in which phase, when, and the outcome (oldest first).

    Admins see every entry; other users the entries of their programs.
    """
    from ..audit import trail

    frame = trail(state.open(), program=program, since=since, until=until, user=who, action=action)
    rows = frame.to_dict("records")
    if limit:
        rows = rows[-limit:]
    if state.json:
        state.emit_json(rows)
        return
    state.table(f"Audit trail{' of ' + program if program else ''} ({len(rows)})",
                ["when", "who", "action", "program", "phase", "outcome", "detail"],
                [(fmt_time(r["time"]), r["user"], r["action"], r["program"], r["phase"], r["outcome"],
                  _detail(r["detail"])) for r in rows])


@audit.command("verify")
@click.option("--anchor", type=click.Path(dir_okay=False),
              help="A file holding the chain heads of the last run: checked, then updated. Keep it outside the "
                   "storage (it detects a history rewritten by someone with write access to the store).")
@json_option
@pass_state
def verify_cmd(state: State, anchor: str | None) -> None:
    """Check every hash chain of the audit trail (admin only). Exit code 1 when damage is found."""
    from ..audit.verify import load_anchor, save_anchor, verify

    ws = state.open()
    heads = load_anchor(anchor) if anchor else None
    if state.json or not sys.stderr.isatty():
        report = verify(ws, anchor=heads)
    else:
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("verifying chains", total=None)
            report = verify(ws, anchor=heads,
                            progress=lambda done, total, _cid: bar.update(task, completed=done, total=total))
    if anchor and report.ok:
        save_anchor(anchor, report, ws.location)
    if state.json:
        state.emit_json(report.to_dict())
    else:
        verdict = "intact" if report.ok else f"DAMAGED: {len(report.problems)} problem(s)"
        click.echo(f"audit trail {verdict}: {report.entries_checked} chained entries in {len(report.chains)} chains"
                   f", {report.unchained} unchained (written before the trail existed)"
                   + (f"; {report.anchored} chains checked against {anchor}" if report.anchored else ""))
        if report.problems:
            state.table(None, ["chain", "seq", "problem", "detail"],
                        [(p.chain, p.seq, p.kind, p.message) for p in report.problems])
        elif anchor:
            click.echo(f"heads saved to {anchor}")
    if not report.ok:
        click.get_current_context().exit(1)
