"""``pluma catalog export``: an intake (v2) catalog of the frozen contexts you may read."""

from __future__ import annotations

import click

from ._app import State, json_option, pass_state

__all__ = ["catalog"]


@click.group()
def catalog() -> None:
    """intake catalogs of frozen contexts (read them with intake.from_yaml_file)."""


@catalog.command("export")
@click.argument("out", metavar="OUT.yaml", type=click.Path(dir_okay=False, writable=True))
@click.option("--latest", is_flag=True,
              help="Also add <program>_<phase>_latest_<dataset> entries that follow the latest freeze of each phase.")
@click.option("--location", metavar="PATH|URI|$VAR",
              help="How the catalog finds the workspace: a folder, s3://bucket/prefix, or an environment variable "
                   "read when the catalog is used, e.g. '$PLUMA_HOME' (default: this workspace's location).")
@json_option
@pass_state
def catalog_export(state: State, out: str, latest: bool, location: str | None) -> None:
    """Write OUT.yaml: one entry per (frozen context, dataset) you may read, named like
    ampel360_cae_1_wing_loads (program lower case, '_' -> '_0', '-' -> '_1')."""
    from ..catalog import build_catalog
    from ..catalog.export import write_catalog

    data = build_catalog(state.open(), latest=latest, location=location)
    path = write_catalog(data, out)
    names = list(data["entries"])
    if state.json:
        state.emit_json({"path": str(path), "entries": names})
        return
    click.echo(f"wrote {path}: {len(names)} entries")
    for name in names:
        click.echo(f"  {name}")
