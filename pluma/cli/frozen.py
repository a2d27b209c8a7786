"""Frozen contexts across programs: ``pluma clone``, ``diff``, ``query`` and ``reindex``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from ..errors import NotFoundError
from ..programs.phases import CLASSIFICATIONS, PRIORITIES, Phase
from ._app import State, fmt_time, fmt_value, json_option, parse_pairs, parse_scalar, pass_state

__all__ = ["clone", "diff", "query", "reindex"]

_REF_HELP = "a frozen reference (AMPEL360@CAD = latest CAD freeze, AMPEL360@CAD#1) or a frozen context id"


def _frozen(ws, ref: str):
    """A frozen context from ``AMPEL360@CAD``, ``AMPEL360@CAD#1`` or an id."""
    return ws.frozen(ref.strip())


def _side(ws, ref: str):
    """One side of a diff: a frozen reference or id, or a program name (its working context)."""
    ref = ref.strip()
    if "@" in ref:
        return ws.frozen(ref)
    if ref.lower() in {name.lower() for name in ws.program_names()}:
        return ws.program(ref).context
    try:
        return ws.frozen(ref)
    except NotFoundError:
        raise NotFoundError(
            f"{ref!r} is neither a program nor a frozen context id; give a program name (its working context), "
            f"{_REF_HELP} (see `pluma query`)"
        ) from None


def _overrides(prog, values: tuple[str, ...]) -> dict[str, Any]:
    specs = prog.param_specs()
    out: dict[str, Any] = {}
    for name, text in parse_pairs(values, "--set", "span=38 or 'span=38 m'"):
        if name in out:
            raise click.BadParameter(f"{name} is given twice", param_hint="--set")
        spec = specs.get(name)
        out[name] = text if spec is not None and spec.type == "str" else parse_scalar(text)
    return out


def _dataset_overrides(values: tuple[str, ...]) -> dict[str, Any]:
    from .context import _open_dataset

    out: dict[str, Any] = {}
    for name, text in parse_pairs(values, "--dataset", "wing_loads=outboard.zarr"):
        if name in out:
            raise click.BadParameter(f"{name} is given twice", param_hint="--dataset")
        path = Path(text).expanduser()
        if not path.exists():
            raise click.BadParameter(f"{name}={text}: no such file or folder", param_hint="--dataset")
        out[name] = _open_dataset(path)
    return out


@click.command()
@click.argument("source_ref", metavar="SOURCE_REF")
@click.argument("new_name")
@click.option("--set", "assignments", multiple=True, metavar="NAME=VALUE",
              help="Parameter override (repeatable): a number, true/false or text; a number with a unit converts "
                   "to the parameter's unit (quote it: --set 'span=38 m').")
@click.option("--dataset", "datasets", multiple=True, metavar="NAME=FILE",
              help="Dataset override (repeatable) from a .zarr folder or .nc file. A dataset with the stored "
                   "variables that is smaller along a dimension rewrites only that region.")
@click.option("--priority", type=click.Choice(list(PRIORITIES), case_sensitive=False),
              help="Priority of the new program (default: the source program's).")
@click.option("--classification", type=click.Choice(list(CLASSIFICATIONS), case_sensitive=False),
              help="Classification ceiling of the new program (default: the source program's).")
@click.option("-m", "--message", default="", help="Commit message of the clone's overrides.")
@json_option
@pass_state
def clone(state: State, source_ref: str, new_name: str, assignments: tuple[str, ...], datasets: tuple[str, ...],
          priority: str | None, classification: str | None, message: str) -> None:
    """Create program NEW_NAME from the frozen context SOURCE_REF plus overrides.

    SOURCE_REF is a frozen reference (AMPEL360@CAD = its latest CAD freeze,
    AMPEL360@CAD#1) or a frozen context id. The new program starts in the
    frozen context's phase and shares every unchanged byte with it; the
    Context Reuse Ratio (CRR) says how much. Needs read access to the source
    and workspace admin; you become the new program's program_manager.

    \b
    Example:
      pluma clone AMPEL360@CAD#1 AMPEL360-F --set span=38 --set "cruise_mach=0.80" -m "stretch study"
    """
    ws = state.open()
    fc = _frozen(ws, source_ref)
    overrides = _overrides(fc.program, assignments)
    dataset_overrides = _dataset_overrides(datasets)
    program: dict[str, Any] = {}
    if priority is not None:
        program["priority"] = priority.lower()
    if classification is not None:
        program["classification"] = classification.upper()
    child = fc.clone(new_name, overrides=overrides or None, dataset_overrides=dataset_overrides or None,
                     message=message, **program)
    info = child.info
    reuse = (info.get("origin") or {}).get("reuse") or {}
    ratio = reuse.get("ratio")
    if state.json:
        state.emit_json({
            "program": child.name, "phase": info["phase"], "status": info["status"],
            "classification": info["classification"], "priority": info["priority"],
            "source": fc.ref, "source_id": fc.id,
            "overrides": sorted(overrides), "dataset_overrides": sorted(dataset_overrides),
            "reuse": ratio, "shared_bytes": reuse.get("shared_bytes"), "total_bytes": reuse.get("total_bytes"),
        })
        return
    click.echo(f"cloned {fc.ref} (id {fc.id}) into {child.name}")
    click.echo(f"{child.name} is in {info['phase']} ({Phase(info['phase']).title}), {info['status']}, "
               f"{info['classification']}")
    changed = [*(f"{n}={fmt_value(child.context.params[n], child.context.params.unit(n))}" for n in sorted(overrides)),
               *(f"dataset {n}" for n in sorted(dataset_overrides))]
    if changed:
        click.echo("overrides: " + ", ".join(changed))
    if ratio is not None:
        click.echo(f"reuse (CRR): {ratio:.1%} of the context shared with {fc.ref} "
                   f"({reuse.get('shared_bytes'):,} of {reuse.get('total_bytes'):,} bytes)")


@click.command()
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@click.option("--deep", is_flag=True,
              help="Compare the bytes of chunks rewritten on either side (only real differences remain).")
@json_option
@pass_state
def diff(state: State, a: str, b: str, deep: bool) -> None:
    """What differs from context A to context B: parameters, datasets (down to the chunk), artifacts.

    A and B are each a program name (its working context), a frozen reference
    (AMPEL360@CAD#1, AMPEL360@CAD = the latest CAD freeze) or a frozen context id.

    \b
    Example:
      pluma diff AMPEL360@CAD#1 AMPEL360-F --deep
    """
    import pluma

    ws = state.open()
    result = pluma.diff(_side(ws, a), _side(ws, b), deep=deep)
    if state.json:
        state.emit_json(result.to_dict())
    else:
        click.echo(result.summary())


def _cell(value: Any) -> Any:
    """A DataFrame cell as plain JSON: numpy scalars unwrapped, missing values None."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


@click.command()
@click.option("--program", "programs", multiple=True, metavar="NAME", help="Only this program (repeatable).")
@click.option("--phase", "phases", multiple=True, type=click.Choice([p.value for p in Phase], case_sensitive=False),
              help="Only freezes of this phase (repeatable).")
@click.option("--since", metavar="ISO", help="Frozen at or after this date/time, e.g. 2026-11-29 or 2026-11-29T10:00.")
@click.option("--until", metavar="ISO", help="Frozen at or before this date/time.")
@click.option("--where", metavar="EXPR",
              help="Filter on parameters in the gate expression language, e.g. 'span > 30 and cruise_mach < 0.8' "
                   "(freezes lacking a named parameter are left out).")
@click.option("--param", "params", multiple=True, metavar="NAME", help="Show this parameter as a column (repeatable).")
@json_option
@pass_state
def query(state: State, programs: tuple[str, ...], phases: tuple[str, ...], since: str | None, until: str | None,
          where: str | None, params: tuple[str, ...]) -> None:
    """Frozen contexts of every program you may read, oldest first.

    \b
    Example:
      pluma query --phase CAD --param span --param mtow --where "span > 30 and mtow < 80000 kg"
    """
    frame = state.open().query(program=list(programs) or None, phase=[p.upper() for p in phases] or None,
                               since=since, until=until, where=where, params=list(params) or None)
    units = frame.attrs.get("units", {})
    records = [{str(k): _cell(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
    if state.json:
        state.emit_json(records)
        return
    if not records:
        click.echo("no frozen contexts match" if (programs or phases or since or until or where)
                   else "no frozen contexts you may read")
        return
    columns = ["ref", "id", "by", "when", *(f"{p} ({units[p]})" if units.get(p) not in (None, "", "1") else p
                                            for p in params)]
    rows = [(r["ref"], r["id"], r["frozen_by"], fmt_time(r["frozen_at"]),
             *("" if r.get(p) is None else fmt_value(r[p]) for p in params)) for r in records]
    state.table(f"Frozen contexts ({len(rows)})", columns, rows)


@click.command()
@json_option
@pass_state
def reindex(state: State) -> None:
    """Rebuild the frozen-context index from the store (workspace admin); prints the number of entries."""
    count = state.open().reindex()
    if state.json:
        state.emit_json({"entries": count})
    else:
        click.echo(f"rebuilt the frozen-context index: {count} entr{'y' if count == 1 else 'ies'}")
