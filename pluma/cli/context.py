"""``pluma context show|set|put|attach|log``: the working context of a program."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import click

from ..context.params import RESERVED
from ..errors import InvalidInputError, MissingDependencyError
from ..programs.phases import CLASSIFICATIONS
from ._app import State, fmt_time, fmt_value, json_option, parse_pairs, parse_scalar, pass_state

__all__ = ["context"]

_label_option = click.option("--label", type=click.Choice(list(CLASSIFICATIONS), case_sensitive=False),
                              help="Classification label (default: the program's ceiling).")
_message_option = click.option("-m", "--message", help="Commit message.")


@click.group()
def context() -> None:
    """The working context of a program: parameters, datasets, artifacts."""


def _view(prog, at: str | None):
    ctx = prog.context
    if at is None:
        return ctx
    from ..programs.phases import Phase

    if "#" in at or "@" in at or at.strip().upper() in Phase.__members__:
        return prog.frozen(at)  # a frozen reference: CAD, CAD#1, AMPEL360@CAD#1
    return ctx.at(at)


def _describe(view) -> dict[str, Any]:
    params = view.params
    out: dict[str, Any] = {
        "program": view.program.name,
        "label": view.label,
        "phase": str(getattr(view, "phase", "") or ""),
        "snapshot": view.snapshot_id,
        "rev": view.rev,
        "params": {},
        "datasets": {n: view.dataset_info(n) for n in view.datasets},
        "artifacts": {n: view.artifact_info(n) for n in view.artifacts},
    }
    for name in params:
        info = params.info(name)
        out["params"][name] = {"value": info.value, "unit": info.unit, "label": info.label, "type": info.type,
                               "author": info.author, "time": info.time, "message": info.message,
                               "source": info.source, "rev": info.rev}
    if hasattr(view, "ref"):
        out["ref"] = view.ref
    return out


@context.command("show")
@click.argument("program")
@click.option("--at", metavar="COMMIT|REF",
              help="Show the context as it was at a commit (see `pluma context log`) or a frozen "
                   "reference such as CAD#1.")
@json_option
@pass_state
def context_show(state: State, program: str, at: str | None) -> None:
    """Show PROGRAM's parameters (value, unit, label, provenance), datasets and artifacts."""
    data = _describe(_view(state.program(program), at))
    if state.json:
        state.emit_json(data)
        return
    click.echo(data["label"])
    click.echo(f"snapshot {data['snapshot']}, rev {data['rev']}")
    params = data["params"]
    if params:
        state.table(f"Parameters ({len(params)})", ["name", "value", "label", "by", "when", "source", "message"],
                    [(n, fmt_value(p["value"], p["unit"]), p["label"], p["author"], fmt_time(p["time"]),
                      p["source"], p["message"]) for n, p in params.items()])
    else:
        click.echo("no parameters yet")
    if data["datasets"]:
        state.table(f"Datasets ({len(data['datasets'])})", ["name", "dims", "variables", "label", "by", "when"],
                    [(n, ", ".join(f"{k}: {v}" for k, v in d.get("dims", {}).items()),
                      ", ".join(d.get("variables", [])), d.get("label"), d.get("author"), fmt_time(d.get("time")))
                     for n, d in data["datasets"].items()])
    if data["artifacts"]:
        state.table(f"Artifacts ({len(data['artifacts'])})", ["name", "file", "type", "bytes", "label", "by"],
                    [(n, a.get("filename"), a.get("media_type"), a.get("size"), a.get("label"), a.get("author"))
                     for n, a in data["artifacts"].items()])


def _assignments(prog, values: tuple[str, ...]) -> dict[str, Any]:
    specs = prog.param_specs()
    out: dict[str, Any] = {}
    for name, text in parse_pairs(values, "NAME=VALUE", "span=36 or 'span=118 ft'"):
        if name in RESERVED:
            raise click.BadParameter(f"{name!r} is not a parameter; use --{name}", param_hint="NAME=VALUE")
        if name in out:
            raise click.BadParameter(f"{name} is given twice", param_hint="NAME=VALUE")
        spec = specs.get(name)
        out[name] = text if spec is not None and spec.type == "str" else parse_scalar(text)
    return out


@context.command("set")
@click.argument("program")
@click.argument("assignments", nargs=-1, required=True, metavar="NAME=VALUE...")
@_label_option
@_message_option
@json_option
@pass_state
def context_set(state: State, program: str, assignments: tuple[str, ...], label: str | None,
                message: str | None) -> None:
    """Set parameters of PROGRAM in one commit.

    A value is a number, true/false or text; a number with a unit converts to
    the parameter's unit (quote it: "span=118 ft" is stored as 35.97 m).

    \b
    Example:
      pluma context set AMPEL360 span=36 "wing_area=122.6 m**2" cruise_mach=0.78 -m "initial sizing"
    """
    prog = state.program(program)
    values = _assignments(prog, assignments)
    ctx = prog.context
    ctx.set_params(message=message, label=label, **values)
    params = ctx.params
    stored = {n: {"value": params[n], "unit": params.unit(n), "label": params.info(n).label} for n in values}
    if state.json:
        state.emit_json({"program": prog.name, "snapshot": ctx.snapshot_id, "rev": ctx.rev, "params": stored})
        return
    click.echo(f"{prog.name} rev {ctx.rev} (snapshot {ctx.snapshot_id}):")
    for name, rec in stored.items():
        click.echo(f"  {name} = {fmt_value(rec['value'], rec['unit'])} [{rec['label']}]")


def _open_dataset(path: Path):
    import xarray as xr

    is_zarr = path.is_dir() or path.suffix.lower() == ".zarr"
    try:
        with warnings.catch_warnings():  # a one-shot read: unconsolidated Zarr metadata is fine
            warnings.filterwarnings("ignore", message=".*consolidated metadata.*", category=RuntimeWarning)
            ds = xr.open_dataset(path, engine="zarr" if is_zarr else None)
    except ValueError as exc:
        if not is_zarr and "engine" in str(exc).lower():
            raise MissingDependencyError(
                f"reading {path.name} needs a NetCDF engine for xarray: pip install h5netcdf "
                "(or netCDF4, or scipy for NetCDF3); or store it as Zarr"
            ) from exc
        raise InvalidInputError(f"cannot read {path} as a dataset: {exc}") from exc
    except (OSError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"cannot read {path} as a dataset: {exc}") from exc
    with ds:
        loaded = ds.load()
    return loaded.drop_encoding()


@context.command("put")
@click.argument("program")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@_label_option
@_message_option
@json_option
@pass_state
def context_put(state: State, program: str, name: str, file: Path, label: str | None, message: str | None) -> None:
    """Store the dataset in FILE (.zarr folder or .nc) as NAME in PROGRAM's context."""
    prog = state.program(program)
    ds = _open_dataset(file)
    ctx = prog.context
    ctx.put_dataset(name, ds, message=message, label=label)
    info = ctx.dataset_info(name)
    if state.json:
        state.emit_json({"program": prog.name, "snapshot": ctx.snapshot_id, "rev": ctx.rev, "dataset": name, **info})
    else:
        dims = ", ".join(f"{k}: {v}" for k, v in info.get("dims", {}).items())
        click.echo(f"stored dataset {name} ({dims}; {', '.join(info.get('variables', []))}) in {prog.name}, "
                   f"rev {ctx.rev}")


@context.command("attach")
@click.argument("program")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--media-type", help="Media type (default: guessed from the file name).")
@_label_option
@_message_option
@json_option
@pass_state
def context_attach(state: State, program: str, name: str, file: Path, media_type: str | None, label: str | None,
                   message: str | None) -> None:
    """Attach FILE (report, executed notebook, ...) as artifact NAME of PROGRAM."""
    prog = state.program(program)
    ctx = prog.context
    ctx.attach(name, file, message=message, label=label, media_type=media_type)
    info = ctx.artifact_info(name)
    if state.json:
        state.emit_json({"program": prog.name, "snapshot": ctx.snapshot_id, "rev": ctx.rev, "artifact": name, **info})
    else:
        click.echo(f"attached {info.get('filename')} ({info.get('size')} bytes, {info.get('media_type')}) as "
                   f"{name} to {prog.name}, rev {ctx.rev}")


@context.command("log")
@click.argument("program")
@click.option("-n", "--limit", type=click.IntRange(min=1), help="Show at most this many commits.")
@json_option
@pass_state
def context_log(state: State, program: str, limit: int | None) -> None:
    """The commits of PROGRAM, newest first (use an id with `context show --at`)."""
    commits = state.program(program).context.log(limit=limit)
    rows = [{"id": c.id, "time": c.time, "author": c.author, "kind": c.metadata.get("kind"), "message": c.message,
             "metadata": c.metadata} for c in commits]
    if state.json:
        state.emit_json(rows)
    else:
        state.table(f"Commits of {program} ({len(rows)})", ["id", "when", "by", "kind", "message"],
                    [(r["id"], fmt_time(r["time"]), r["author"], r["kind"], r["message"]) for r in rows])
