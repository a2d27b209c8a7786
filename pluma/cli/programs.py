"""``pluma program create|list|show|member``."""

from __future__ import annotations

import click

from ..programs.phases import CLASSIFICATIONS, DOMAINS, PRIORITIES, QUOTA_KEYS
from ..programs.roles import ROLES
from ._app import State, fmt_time, fmt_value, json_option, parse_pairs, parse_scalar, pass_state

__all__ = ["program"]


def _roles(text: str, who: str) -> list[str]:
    roles = [r.strip() for r in text.split(",") if r.strip()]
    if not roles:
        raise click.BadParameter(f"no roles for {who}; use {', '.join(ROLES)}")
    return roles


def _members(values: tuple[str, ...]) -> dict[str, list[str]]:
    members: dict[str, list[str]] = {}
    for name, roles in parse_pairs(values, "--member", "ana=engineer,chief_engineer"):
        if name.lower() in {m.lower() for m in members}:
            raise click.BadParameter(f"{name} is given twice; list all roles once: {name}=role1,role2",
                                     param_hint="--member")
        members[name] = _roles(roles, name)
    return members


def _quotas(values: tuple[str, ...]) -> dict[str, float]:
    quotas: dict[str, float] = {}
    for key, text in parse_pairs(values, "--quota", "cores=80"):
        value = parse_scalar(text)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise click.BadParameter(f"{key}={text!r}: a quota is a number, e.g. {key}=80", param_hint="--quota")
        if key in quotas:
            raise click.BadParameter(f"{key} is given twice", param_hint="--quota")
        quotas[key] = value
    return quotas


@click.group()
def program() -> None:
    """Programs: create, list, show, manage members."""


@program.command("create")
@click.argument("name")
@click.option("--priority", type=click.Choice(list(PRIORITIES), case_sensitive=False), default="standard",
              show_default=True, help="Priority class (fair-scheduling weight).")
@click.option("--classification", type=click.Choice(list(CLASSIFICATIONS), case_sensitive=False),
              default="PUBLIC", show_default=True, help="Export classification ceiling.")
@click.option("--domain", "domains", multiple=True, metavar="CODE", type=click.Choice(list(DOMAINS), case_sensitive=False),
              help="Engineering domain code (repeatable), e.g. --domain AAA --domain PPP.")
@click.option("--quota", "quotas", multiple=True, metavar="KEY=N",
              help=f"Resource quota (repeatable); keys: {', '.join(QUOTA_KEYS)}.")
@click.option("--member", "members", multiple=True, metavar="USER=ROLE[,ROLE]",
              help=f"Member and roles (repeatable); roles: {', '.join(ROLES)}.")
@json_option
@pass_state
def program_create(state: State, name: str, priority: str, classification: str, domains: tuple[str, ...],
                   quotas: tuple[str, ...], members: tuple[str, ...]) -> None:
    """Create program NAME (admin only).

    You become its program_manager unless a --member is given that role.

    \b
    Example:
      pluma program create AMPEL360 --priority research --classification EAR99 \\
        --domain AAA --domain PPP --quota cores=80 --quota memory_gb=160 \\
        --member ana=engineer --member raj=chief_engineer --member lin=quality
    """
    prog = state.open().create_program(
        name, priority=priority, classification=classification, domains=list(domains),
        quotas=_quotas(quotas), members=_members(members),
    )
    info = prog.info
    if state.json:
        state.emit_json(info)
    else:
        click.echo(f"created program {info['name']} ({info['classification']}, {info['priority']}), "
                   f"in phase {info['phase']}")
        click.echo("members: " + _members_text(info["members"]))


def _members_text(members: dict[str, list[str]]) -> str:
    return "; ".join(f"{u} ({', '.join(r)})" for u, r in sorted(members.items())) or "none"


@program.command("list")
@json_option
@pass_state
def program_list(state: State) -> None:
    """List the programs you may read."""
    programs = state.open().programs()
    infos = []
    for p in programs:
        info = p.info
        info["my_roles"] = p.my_roles
        infos.append(info)
    if state.json:
        state.emit_json(infos)
        return
    state.table(f"Programs ({len(infos)})", ["program", "phase", "status", "classification", "priority",
                                              "members", "my roles"],
                [(i["name"], i["phase"], i["status"], i["classification"], i["priority"], len(i["members"]),
                  ", ".join(i["my_roles"])) for i in infos])


@program.command("show")
@click.argument("name")
@json_option
@pass_state
def program_show(state: State, name: str) -> None:
    """Show program NAME: phase, status, members, quotas and its frozen contexts."""
    prog = state.program(name)
    info = prog.info
    info["my_roles"] = prog.my_roles
    history = [{"ref": fc.ref, "id": fc.id, "phase": fc.phase.value, "user": fc.user, "time": fc.time,
                "message": fc.message} for fc in prog.history()]
    if state.json:
        state.emit_json({**info, "history": history})
        return
    status = info["status"] + (f" ({info['status_reason']})" if info.get("status_reason") else "")
    state.fields(f"Program {info['name']}", [
        ("phase", info["phase"]),
        ("status", status),
        ("classification", info["classification"]),
        ("priority", info["priority"]),
        ("domains", ", ".join(info["domains"]) or "none"),
        ("quotas", ", ".join(f"{k}={fmt_value(v)}" for k, v in info["quotas"].items()) or "none"),
        ("members", _members_text(info["members"])),
        ("your roles", ", ".join(info["my_roles"]) or "none (admin read)"),
        ("created", f"{fmt_time(info['created'])} by {info['created_by']}"),
    ])
    if history:
        state.table("Frozen contexts", ["ref", "id", "by", "when", "message"],
                    [(h["ref"], h["id"], h["user"], fmt_time(h["time"]), h["message"]) for h in history])
    else:
        click.echo("no frozen contexts yet")


@program.command("member")
@click.argument("name")
@click.argument("user")
@click.argument("roles", required=False, metavar="[ROLE[,ROLE]]")
@click.option("--remove", is_flag=True, help="Remove USER from the program instead.")
@json_option
@pass_state
def program_member(state: State, name: str, user: str, roles: str | None, remove: bool) -> None:
    """Give USER exactly ROLES on program NAME, or --remove them.

    Program managers and workspace admins manage members. ROLES is comma
    separated, e.g. engineer,chief_engineer.
    """
    if remove == bool(roles):
        raise click.UsageError("give ROLES (e.g. engineer,chief_engineer) or --remove, not both or neither")
    prog = state.program(name)
    if remove:
        prog.remove_member(user)
    else:
        prog.set_member(user, _roles(roles or "", user))
    members = prog.members
    if state.json:
        state.emit_json({"program": prog.name, "members": members})
    elif remove:
        click.echo(f"removed {user} from {prog.name}")
    else:
        click.echo(f"{user} on {prog.name}: {', '.join(members.get(user.lower(), []))}")
