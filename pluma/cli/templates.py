"""``pluma template list|show|run`` and ``pluma ask``: papermill templates that document programs.

Parameters on the command line are ``-p NAME=VALUE``; a value may carry a unit
(``-p cruise_altitude="35000 ft"``) and is validated against the template's
schema before any kernel starts.
"""

from __future__ import annotations

from typing import Any

import click

from ._app import State, json_option, parse_pairs, pass_state

__all__ = ["ask", "template"]


def _params(values: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in parse_pairs(values, "-p", "cruise_mach=0.8"):
        if key in out:
            raise click.BadParameter(f"{key} is given twice", param_hint="-p")
        out[key] = value
    return out


@click.group()
def template() -> None:
    """Templates: papermill notebooks that document every program (list, show, run)."""


@template.command("list")
@json_option
@pass_state
def template_list(state: State) -> None:
    """The templates: name, phase, title, parameters."""
    from .. import templates

    rows = templates.list()
    if state.json:
        state.emit_json(rows)
        return
    state.table("templates", ["name", "phase", "title", "parameters"],
                [(r["name"], r["phase"], r["title"], ", ".join(r["parameters"])) for r in rows])


@template.command("show")
@click.argument("name")
@json_option
@pass_state
def template_show(state: State, name: str) -> None:
    """A template's description and typed parameter schema."""
    from .. import templates

    schema = templates.schema(name)
    if state.json:
        state.emit_json(schema.to_dict())
        return
    state.fields(f"{schema.title} ({schema.name}, {schema.phase})", [("description", schema.description)])
    state.table("parameters (not given: from the program's context, then its latest frozen context, then the default)",
                ["name", "type", "unit", "default", "allowed", "help"],
                [(f.name, f.type, f.unit or "", repr(f.default), f.allowed, f.help) for f in schema.parameters])
    if schema.outputs:
        state.table("outputs (recorded into the program's context)", ["name", "unit", "help"],
                    [(o["name"], o.get("unit") or "", o.get("help", "")) for o in schema.outputs])


def _run_dict(run) -> dict[str, Any]:
    return {"template": run.template, "program": run.program, "run_id": run.run_id, "status": run.status,
            "duration_s": round(run.duration, 3), "params": run.params, "param_sources": run.param_sources,
            "outputs": {k: (str(v) if hasattr(v, "units") else v) for k, v in run.outputs.items()
                        if not hasattr(v, "data_vars") and not getattr(v, "ndim", 0)},
            "stored": run.stored, "report": str(run.report_path or ""), "error": run.error}


def _print_run(state: State, run) -> None:
    if state.json:
        state.emit_json(_run_dict(run))
        return
    state.fields(f"{run.template} for {run.program}: {run.status} in {run.duration:.2f} s (run {run.run_id})",
                 [("report", str(run.report_path or "")), *((k, f"{v}  [{run.param_sources[k]}]") for k, v in run.params.items())])
    shown = [(k, str(v), run.stored.get(k, "")) for k, v in run.outputs.items() if not hasattr(v, "data_vars")
             and not getattr(v, "ndim", 0)]
    if shown:
        state.table("outputs", ["name", "value", "stored as"], shown)


def _print_batch(state: State, batch) -> None:
    df = batch.summary()
    if state.json:
        state.emit_json({"template": batch.template, "batch_id": batch.batch_id, "wall_s": round(batch.wall_s, 3),
                         "workers": batch.workers, "runs": df.to_dict("records")})
    else:
        state.table(repr(batch), ["program", "status", "duration (s)", "error"],
                    [(r["program"], r["status"], f"{r['duration']:.2f}", r["error"]) for r in df.to_dict("records")])


@template.command("run")
@click.argument("name")
@click.option("--program", "programs", multiple=True, metavar="PROGRAM", help="Program to document (repeatable).")
@click.option("--all-programs", is_flag=True, help="Every program you may read, in parallel on Dask.")
@click.option("-p", "--param", "param", multiple=True, metavar="NAME=VALUE",
              help="A parameter, repeatable; a value may carry a unit ('35000 ft').")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Worker processes of the embedded Dask cluster for several programs.")
@click.option("--retry-failed", is_flag=True, help="Only the programs whose latest run of NAME failed.")
@click.option("--show-code", is_flag=True, help="Keep the code cells in the HTML report.")
@click.option("--output-dir", type=click.Path(file_okay=False), help="Where executed notebooks and reports are written.")
@json_option
@pass_state
def template_run(state: State, name: str, programs: tuple[str, ...], all_programs: bool, param: tuple[str, ...],
                 workers: int, retry_failed: bool, show_code: bool, output_dir: str | None) -> None:
    """Run template NAME for one program, several, or all of them.

    Exit code 0 when every run succeeded, 1 when a run failed or a program was refused
    (the table says which, with the cell and the error).
    """
    from .. import templates

    given = _params(param)
    if all_programs and programs:
        raise click.UsageError("give --program or --all-programs, not both")
    if not all_programs and not programs:
        raise click.UsageError("name a --program (repeatable) or pass --all-programs")
    ws = state.open()
    options = {"output_dir": output_dir, "show_code": show_code}
    if all_programs or len(programs) > 1 or retry_failed:
        batch = templates.run_batch(ws, name, "all" if all_programs else list(programs), params=given,
                                    workers=workers, retry_failed=retry_failed, progress=not state.json, **options)
        _print_batch(state, batch)
        if not batch.ok:
            click.get_current_context().exit(1)
        return
    run = templates.run(ws.program(programs[0]), name, given, raise_on_failure=False, **options)
    _print_run(state, run)
    if not run.ok:
        if not state.json:
            click.echo(f"error: {run.template} failed for {run.program} at {run.error_text}", err=True)
        click.get_current_context().exit(1)


@click.command("ask")
@click.argument("sentence", nargs=-1, required=True)
@click.option("--yes", is_flag=True, help="Run the proposal when nothing is missing or ambiguous.")
@click.option("--template", "template_name", help="Answer in advance: the template.")
@click.option("--program", "program_name", help="Answer in advance: the program.")
@click.option("-p", "--param", "param", multiple=True, metavar="NAME=VALUE", help="Answer in advance: a parameter.")
@click.option("--interpreter", help="Sentence interpreter (default: $PLUMA_INTERPRETER, else tfidf).")
@json_option
@pass_state
def ask(state: State, sentence: tuple[str, ...], yes: bool, template_name: str | None, program_name: str | None,
        param: tuple[str, ...], interpreter: str | None) -> None:
    """Propose (and with --yes run) a template run from a SENTENCE, e.g.
    pluma ask "wing analysis report for AMPEL360 at Mach 0.8".

    Exit code 0 when the proposal is ready (and ran), 1 when PLUMA has questions or the run failed.
    """
    from .. import templates

    ws = state.open()
    proposal = templates.ask(" ".join(sentence), ws, interpreter=interpreter, template=template_name,
                             program=program_name)
    given = _params(param)
    if given:
        proposal = proposal.answer(**given)
    if not (yes and proposal.ready):
        if state.json:
            state.emit_json(proposal.to_dict())
        else:
            click.echo(str(proposal))
            if proposal.ready:
                click.echo("run it with --yes")
        click.get_current_context().exit(0 if proposal.ready else 1)
    result = proposal.run(**({"raise_on_failure": False} if not (proposal.all_programs or len(proposal.programs) > 1)
                             else {"progress": not state.json}))
    if hasattr(result, "summary"):
        _print_batch(state, result)
        ok = result.ok
    else:
        _print_run(state, result)
        ok = result.ok
    if not ok:
        click.get_current_context().exit(1)
