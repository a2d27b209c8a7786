"""``pluma init`` and ``pluma user add|list|set``."""

from __future__ import annotations

import click

from ._app import State, json_option, pass_state

__all__ = ["init", "user"]


@click.command()
@json_option
@pass_state
def init(state: State) -> None:
    """Create the workspace (or open the existing one) and say who you are in it.

    Whoever creates a workspace is its first admin.
    """
    existed = state.workspace_exists()
    ws = state.open(create=True)
    admin = ws.is_admin
    if state.json:
        state.emit_json({"location": ws.location, "created": not existed, "user": ws.user, "admin": admin})
        return
    click.echo(f"{'opened the existing' if existed else 'created a'} PLUMA workspace at {ws.location}")
    if admin:
        click.echo(f"you are {ws.user}, a workspace admin")
        if not existed:
            click.echo("next: `pluma user add NAME`, then `pluma program create NAME --member NAME=engineer`")
    else:
        click.echo(f"you are {ws.user}, not an admin of this workspace; an admin can run "
                   f"`pluma user set {ws.user} --admin`")


@click.group()
def user() -> None:
    """Users of the workspace and their clearance (admins only change them)."""


def _user_row(record: dict) -> tuple:
    itar = bool((record.get("clearance") or {}).get("itar"))
    return (record["name"], record.get("display_name", ""), "yes" if record.get("admin") else "",
            "yes" if itar else "")


@user.command("add")
@click.argument("name")
@click.option("--display-name", help="Full name shown in dashboards.")
@click.option("--admin", is_flag=True, help="Make the user a workspace admin.")
@click.option("--itar-cleared", is_flag=True, help="Record an ITAR clearance.")
@json_option
@pass_state
def user_add(state: State, name: str, display_name: str | None, admin: bool, itar_cleared: bool) -> None:
    """Register user NAME (admin only)."""
    record = state.open().add_user(name, display_name=display_name, admin=admin, itar_cleared=itar_cleared)
    if state.json:
        state.emit_json(record)
    else:
        extras = [w for w, on in (("admin", admin), ("ITAR-cleared", itar_cleared)) if on]
        click.echo(f"added user {record['name']}" + (f" ({', '.join(extras)})" if extras else ""))


@user.command("list")
@json_option
@pass_state
def user_list(state: State) -> None:
    """List the users of the workspace."""
    users = state.open().users()
    if state.json:
        state.emit_json(users)
    else:
        state.table(f"Users ({len(users)})", ["name", "display name", "admin", "ITAR cleared"],
                    [_user_row(u) for u in users])


@user.command("set")
@click.argument("name")
@click.option("--display-name", help="New display name.")
@click.option("--admin/--no-admin", default=None, help="Grant or withdraw workspace admin.")
@click.option("--itar-cleared/--no-itar-cleared", default=None, help="Record or withdraw an ITAR clearance.")
@json_option
@pass_state
def user_set(state: State, name: str, display_name: str | None, admin: bool | None,
             itar_cleared: bool | None) -> None:
    """Change user NAME's display name, admin flag or ITAR clearance (admin only)."""
    if display_name is None and admin is None and itar_cleared is None:
        raise click.UsageError("say what to change: --display-name, --admin/--no-admin or --itar-cleared/--no-itar-cleared")
    record = state.open().set_user(name, display_name=display_name, admin=admin, itar_cleared=itar_cleared)
    if state.json:
        state.emit_json(record)
    else:
        _, shown, is_admin, itar = _user_row(record)
        click.echo(f"{record['name']}: display name {shown!r}, admin {'yes' if is_admin else 'no'}, "
                   f"ITAR cleared {'yes' if itar else 'no'}")
