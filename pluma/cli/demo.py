"""``pluma demo``: a workspace full of example programs, built by ``pluma.demo``."""

from __future__ import annotations

import click

from ..errors import MissingDependencyError
from ._app import State, json_option, pass_state

__all__ = ["demo"]


@click.command()
@click.option("--home", "demo_home", metavar="PATH_OR_URI",
              help="Where to build the demo (default: the global --home, else $PLUMA_HOME, else ./pluma-home).")
@click.option("--small", is_flag=True, help="A few programs only (quick).")
@click.option("--fresh", is_flag=True, help="Remove the demo programs of an earlier run first.")
@json_option
@pass_state
def demo(state: State, demo_home: str | None, small: bool, fresh: bool) -> None:
    """Build a demo workspace: programs in several phases, with contexts, gates and frozen contexts."""
    if state.storage_options:
        raise click.UsageError("pluma demo builds on a folder or a default-configured store; it takes no --storage-option")
    try:
        from ..demo import run_demo
    except ImportError as exc:
        raise MissingDependencyError(f"the demo is not available in this installation: {exc}") from exc
    location = demo_home or state.home
    if state.json:
        from rich.console import Console

        console = Console(stderr=True, highlight=False)  # stdout stays pure JSON
    else:
        console = state.console
    result = run_demo(location, small=small, fresh=fresh, console=console)
    if state.json:
        state.emit_json({"location": result.location, "programs": list(result.programs),
                         "frozen": dict(result.frozen), "duration": result.duration})
