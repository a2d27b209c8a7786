"""The ``pluma`` command line: workspaces, users, programs, contexts, gates and the
gate decisions (advance, rework, hold, resume, kill), for people (rich tables)
and scripts (``--json``).

One module per command group; this package imports only click (and rich when
something is printed), so ``pluma --help`` is quick.

>>> from click.testing import CliRunner
>>> from pluma.cli import cli
>>> CliRunner().invoke(cli, ["--help"]).exit_code
0
"""

from __future__ import annotations

import os
import sys

import click

from ._app import PlumaGroup, State, parse_pairs
from .audit import audit
from .capacity import capacity, kpis
from .catalog import catalog
from .context import context
from .demo import demo
from .federation import federation
from .frozen import clone, diff, query, reindex
from .gates import gate
from .lifecycle import advance, events, hold, history, kill, resume, rework
from .memory import fsck, gc, replicate
from .programs import program
from .sweeps import sweep
from .templates import ask, template
from .workspace import init, user

__all__ = ["cli", "main"]

_EPILOG = """\b
Exit codes:
  0  success (`gate evaluate`: the gate passes)
  1  `gate evaluate`: the gate does not pass
  2  a PLUMA error (invalid input, illegal state, ...) or a usage error
  3  access denied (missing role, clearance or admin)
  4  not found (program, user, parameter, frozen context, workspace)
  5  conflict (someone changed the same item meanwhile; retry)
  70 internal error (a bug; --debug shows the traceback)

\b
Errors are one line on stderr (`error: ...`); with --json they are
{"error": kind, "message": ...} on stderr.

\b
Start with:
  pluma init
  pluma user add ana
  pluma program create AMPEL360 --domain AAA --member ana=engineer
  pluma demo        (a workspace full of example programs)
"""


def _storage_options(ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> dict:
    options = {}
    for key, value in parse_pairs(values, "--storage-option", "endpoint_url=http://127.0.0.1:9000"):
        if key in options:
            raise click.BadParameter(f"{key} is given twice", param_hint="--storage-option")
        options[key] = value.lower() == "true" if value.lower() in ("true", "false") else value
    return options


@click.group(cls=PlumaGroup, epilog=_EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", metavar="PATH_OR_URI",
              help="Workspace location: a folder or s3://bucket/prefix. Default: $PLUMA_HOME, else ./pluma-home.")
@click.option("--user", metavar="NAME",
              help="Act as this user (asserted, not authenticated). Default: $PLUMA_USER, else the OS user; "
                   "under JupyterHub the hub's identity.")
@click.option("--json", "json_", is_flag=True, help="Print JSON on stdout (errors as JSON on stderr).")
@click.option("--debug", is_flag=True, help="Show the traceback of errors.")
@click.option("--storage-option", "storage_options", metavar="KEY=VALUE", multiple=True, callback=_storage_options,
              help="Object-store option for s3:// homes (repeatable), e.g. endpoint_url=..., allow_http=true.")
@click.version_option(package_name="pluma", prog_name="pluma")
@click.pass_context
def cli(ctx: click.Context, home: str | None, user: str | None, json_: bool, debug: bool,
        storage_options: dict) -> None:
    """PLUMA: aircraft programs through nine CAx phases, their gates and frozen contexts."""
    state = ctx.ensure_object(State)
    state.home = home
    state.user = user
    state.json = state.json or json_
    state.debug = debug
    state.storage_options = storage_options


for _command in (init, user, program, context, gate, advance, rework, hold, resume, kill, history, events, demo):
    cli.add_command(_command)
for _command in (clone, diff, query, reindex):
    cli.add_command(_command)
cli.add_command(catalog)
cli.add_command(capacity)
cli.add_command(kpis)
cli.add_command(sweep)
cli.add_command(template)
cli.add_command(ask)
cli.add_command(federation)
cli.add_command(fsck)
cli.add_command(replicate)
cli.add_command(gc)
cli.add_command(audit)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``pluma`` script.

    Ends the process with ``os._exit`` once output is flushed: Icechunk's tokio
    threads can touch Python objects while the interpreter finalises (a known
    pyo3 teardown race, seen here as an occasional SIGSEGV *after* a command
    finished), and a command's exit code must be the command's, not the race's.
    """
    try:
        cli.main(args=argv, prog_name="pluma")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    kernels = sys.modules.get("pluma.templates.kernels")
    if kernels is not None:  # os._exit skips atexit: stop the spare Jupyter kernel a template run started
        try:
            kernels.shutdown_pools()
        except Exception:  # noqa: BLE001 - best effort; the kernel also stops when it sees its parent gone
            pass
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # `pluma ... | head`: the reader went away, which is fine
        pass
    os._exit(code)

