"""``pluma sweep ...``: run a registered analysis over a grid on Dask.

FUNC is looked up in the analysis registry (:mod:`pluma.sweeps.registry`)
only; a dotted path given on the command line is never imported.
"""

from __future__ import annotations

import click

from ._app import State, json_option, pass_state

__all__ = ["sweep", "parse_axis"]


def parse_axis(text: str) -> tuple[str, list]:
    """``name=a:b:n`` (n values from a to b, linspace) or ``name=v1,v2,...`` (a list)."""
    from ._app import parse_scalar

    key, sep, spec = text.partition("=")
    key, spec = key.strip(), spec.strip()
    if not sep or not key or not spec:
        raise click.BadParameter(f"{text!r} is not NAME=START:STOP:COUNT or NAME=V1,V2,... "
                                 "(e.g. aspect_ratio=6:14:9 or taper_ratio=0.3,0.45,0.6)", param_hint="--grid")
    if ":" in spec:
        parts = spec.split(":")
        try:
            if len(parts) != 3:
                raise ValueError
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise click.BadParameter(f"{text!r}: a range is START:STOP:COUNT with a whole COUNT, e.g. 6:14:9",
                                     param_hint="--grid") from None
        if count < 1:
            raise click.BadParameter(f"{text!r}: COUNT must be at least 1", param_hint="--grid")
        import numpy as np

        return key, [float(v) for v in np.linspace(start, stop, count)]
    values = [parse_scalar(v.strip()) for v in spec.split(",")]
    if any(v == "" for v in values):
        raise click.BadParameter(f"{text!r} has an empty value", param_hint="--grid")
    return key, values


@click.group()
def sweep() -> None:
    """Parameter sweeps of registered analyses on Dask (local, or Dask Gateway when configured)."""


@sweep.command("list")
@json_option
@pass_state
def sweep_list(state: State) -> None:
    """The analyses that `pluma sweep run` knows."""
    from ..sweeps import registry

    names = registry.available()
    if state.json:
        state.emit_json(names)
    elif names:
        for name in names:
            click.echo(name)
    else:
        click.echo("no analyses registered")


@sweep.command("run")
@click.argument("func", metavar="FUNC")
@click.option("--program", "program_name", metavar="PROGRAM",
              help="Store the result in this program's working context and record usage there.")
@click.option("--grid", "grid", multiple=True, required=True, metavar="NAME=SPEC",
              help="A grid axis, repeatable: NAME=START:STOP:COUNT or NAME=V1,V2,...")
@click.option("--name", metavar="DATASET", help="Dataset name in the context (default: FUNC). Needs --program.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Points per task (default: chosen from a probe).")
@click.option("--message", help="Commit message.")
@json_option
@pass_state
def sweep_run(state: State, func: str, program_name: str | None, grid: tuple[str, ...], name: str | None,
              batch_size: int | None, message: str | None) -> None:
    """Run the registered analysis FUNC over the outer product of the --grid axes.

    \b
    Example:
      pluma sweep run wing_lifting_line --program AMPEL360 \\
          --grid aspect_ratio=6:14:9 --grid taper_ratio=0.3,0.45,0.6 --grid alpha_deg=4
    """
    from ..sweeps import registry, run

    axes: dict[str, list] = {}
    for text in grid:
        key, values = parse_axis(text)
        if key in axes:
            raise click.BadParameter(f"axis {key!r} is given twice", param_hint="--grid")
        axes[key] = values
    if name is not None and program_name is None:
        raise click.BadParameter("--name stores the result in a program: give --program too", param_hint="--name")
    analysis = registry.get(func)
    program = state.program(program_name) if program_name else None
    ds = run(analysis, grid=axes, program=program, name=(name or func) if program is not None else None,
             batch_size=batch_size, message=message, progress=not state.json)
    summary = {
        "function": func,
        "program": program.name if program is not None else None,
        "dataset": (name or func) if program is not None else None,
        "dims": {str(k): int(v) for k, v in ds.sizes.items()},
        "variables": [str(v) for v in ds.data_vars],
        "points": ds.attrs["sweep"]["points"],
        "failures": ds.attrs["sweep"]["failures"],
        "errors": ds.attrs["errors"],
        "batching": ds.attrs["batching"],
        "usage": ds.attrs["usage"],
    }
    if state.json:
        state.emit_json(summary)
        return
    u = summary["usage"]
    where = f"stored as {summary['dataset']} in {summary['program']}" if program is not None else "not stored"
    state.fields(f"Sweep {func} — {where}", [
        ("dims", ", ".join(f"{k}={v}" for k, v in summary["dims"].items())),
        ("variables", ", ".join(summary["variables"])),
        ("points", f"{summary['points']} ({summary['failures']} failed)"),
        ("tasks", f"{u['tasks']} (batch size {summary['batching'].get('batch_size')})"),
        ("core-seconds", f"{u['core_seconds']:.3f}"),
        ("wall", f"{u['wall_seconds']:.3f} s on {u['cores']} cores (efficiency {u['parallel_efficiency']:.2f})"),
        ("peak worker memory", f"{u['peak_worker_memory_bytes'] / 2**20:.0f} MiB"),
        ("bytes written", str(u["bytes_written"])),
    ])
    for err in summary["errors"][:10]:
        click.echo(f"failed {err['point']}: {err['error']}: {err['message']}", err=True)
