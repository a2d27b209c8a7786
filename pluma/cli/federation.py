"""``pluma federation``: identity, peers, explain, push, pull, serve, status.

    pluma federation keygen
    pluma federation serve --port 8790
    pluma federation peer add supplier-b --url http://127.0.0.1:8791 --key ed25519:... --rules rules/supplier-b.yaml
    pluma federation explain AMPEL360@CAE --to supplier-b
    pluma federation push AMPEL360@CAE --to supplier-b
    pluma federation pull --from supplier-b
    pluma federation status
"""

from __future__ import annotations

from typing import Any

import click

from ._app import State, fmt_time, json_option, parse_pairs, pass_state

__all__ = ["federation"]


def _fed(state: State, key_dir: str | None):
    from ..federation import Federation

    return Federation(state.open(), key_dir=key_dir)


def _key_dir_option(f):
    return click.option("--key-dir", metavar="DIR", default=None,
                        help="Folder of this workspace's private key (default: <workspace>/config/federation, or "
                             "$PLUMA_CONFIG_HOME for object-store workspaces).")(f)


@click.group()
def federation() -> None:
    """Exchange frozen contexts with other organisations under export rules."""


@federation.command()
@click.option("--name", help="The name peers know this workspace by (default: from its location).")
@click.option("--force", is_flag=True, help="Replace an existing key (peers must be given the new public key).")
@_key_dir_option
@json_option
@pass_state
def keygen(state: State, name: str | None, force: bool, key_dir: str | None) -> None:
    """Create this workspace's signing identity (Ed25519; private key mode 0600)."""
    fed = _fed(state, key_dir)
    ident = fed.keygen(name, force=force)
    data = {"name": ident.name, "public_key": ident.public_text, "fingerprint": ident.fingerprint,
            "key_file": str(ident.folder / "identity.key")}
    if state.json:
        state.emit_json(data)
    else:
        state.fields("federation identity", list(data.items()))
        state.say("Give the public key to your peers: pluma federation peer add <you> --key <public key> ...")


@federation.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8790, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@_key_dir_option
@pass_state
def serve(state: State, port: int, host: str, key_dir: str | None) -> None:
    """Run this workspace's federation server (Ctrl-C stops it)."""
    fed = _fed(state, key_dir)
    fed.identity  # refuse to start without a key
    state.say(f"federation server of {fed.identity.name} on http://{host}:{port} (OpenAPI: /openapi.json)")
    fed.serve(port=port, host=host)


@federation.group()
def peer() -> None:
    """The organisations this workspace exchanges with."""


@peer.command("add")
@click.argument("name")
@click.option("--key", "key", required=True, metavar="PUBLIC_KEY", help="The peer's public key (ed25519:...).")
@click.option("--url", metavar="URL", help="The peer's federation server, e.g. http://127.0.0.1:8791.")
@click.option("--drop", metavar="PATH_OR_S3", help="A folder or s3://bucket/prefix both sides share.")
@click.option("--drop-option", "drop_options", multiple=True, metavar="KEY=VALUE",
              help="endpoint_url=... or region=... for an s3:// drop (credentials from the environment).")
@click.option("--rules", metavar="FILE", help="YAML export/import rules for this peer (none: nothing leaves).")
@click.option("--member", "members", multiple=True, metavar="USER",
              help="Who may read what this peer sends (viewer; repeatable; default: you).")
@click.option("--replace", is_flag=True, help="Change a peer that exists.")
@json_option
@pass_state
def peer_add(state: State, name: str, key: str, url: str | None, drop: str | None, drop_options: tuple[str, ...],
             rules: str | None, members: tuple[str, ...], replace: bool) -> None:
    """Register a peer by name, public key, url and/or drop, and rules."""
    from ..federation import Federation

    options = dict(parse_pairs(drop_options, "--drop-option", "endpoint_url=http://127.0.0.1:9000"))
    fed = Federation(state.open())
    p = fed.add_peer(name, key=key, url=url, drop=drop, rules=rules, drop_options=options or None,
                     members={m: ["viewer"] for m in members} if members else None, replace=replace)
    if state.json:
        state.emit_json(p.to_dict())
    else:
        state.say(f"peer {p.name} added: {p.url or ''} {p.drop or ''} key {p.fingerprint[:8]}, "
                  f"{len(p.rules.export)} export and {len(p.rules.import_)} import rule(s)"
                  + (", ITAR-authorised" if p.rules.itar_authorised else ""))


@peer.command("list")
@json_option
@pass_state
def peer_list(state: State) -> None:
    """The peers, how to reach them and their rules."""
    from ..federation import Federation

    peers = Federation(state.open()).peers()
    if state.json:
        state.emit_json([p.to_dict() for p in peers])
        return
    state.table("peers", ["name", "url", "drop", "key", "export rules", "import rules", "ITAR"],
                [(p.name, p.url or "", p.drop or "", p.fingerprint[:8], len(p.rules.export), len(p.rules.import_),
                  "yes" if p.rules.itar_authorised else "no") for p in peers])


@peer.command("remove")
@click.argument("name")
@json_option
@pass_state
def peer_remove(state: State, name: str) -> None:
    """Forget a peer (what it sent stays readable)."""
    from ..federation import Federation

    Federation(state.open()).remove_peer(name)
    if state.json:
        state.emit_json({"removed": name})
    else:
        state.say(f"peer {name} removed")


@federation.command()
@click.argument("ref")
@click.option("--to", "to", required=True, metavar="PEER")
@json_option
@pass_state
def explain(state: State, ref: str, to: str) -> None:
    """What of a frozen context would leave for a peer, what would not, and the rule that decided."""
    from ..federation import Federation

    ex = Federation(state.open()).explain(ref, to=to)
    if state.json:
        state.emit_json(ex.to_dict())
        return
    state.table(f"{ex.ref} -> {ex.peer}: {len(ex.allowed)} would leave, {len(ex.denied)} would not",
                ["decision", "kind", "name", "label", "rule", "reason"],
                [(r["decision"], r["kind"], r["name"], r["label"], r["rule"], r["reason"]) for r in ex.rows])


@federation.command()
@click.argument("ref")
@click.option("--to", "to", required=True, metavar="PEER")
@click.option("--rate-limit", type=click.FloatRange(min=1, min_open=False), default=None, metavar="BYTES_PER_S",
              help="Cap the sending rate.")
@_key_dir_option
@json_option
@pass_state
def push(state: State, ref: str, to: str, rate_limit: float | None, key_dir: str | None) -> None:
    """Send a frozen context to a peer (what its rules allow, only what it lacks)."""
    fed = _fed(state, key_dir)
    if state.json:
        result = fed.push(ref, to=to, rate_limit=rate_limit)
        state.emit_json(result.to_dict())
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=state.console, transient=True) as bar:
        task = bar.add_task(f"push {ref} -> {to}", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = fed.push(ref, to=to, rate_limit=rate_limit, progress=progress)
    _show_push(state, result)


def _show_push(state: State, r: Any) -> None:
    if r.status == "up_to_date":
        state.say(f"{r.ref}: {r.peer} has it already (nothing sent)")
        return
    fsl = f", FSL {r.fsl_ms:.0f} ms" if r.fsl_ms is not None else ""
    where = f" as {r.remote_ref}" if r.remote_ref else ""
    state.say(f"{r.ref} -> {r.peer}{where}: {r.status}, {r.objects_sent}/{r.objects_total} objects, "
              f"{r.bytes_sent:,} bytes sent{fsl}")


@federation.command()
@click.option("--from", "source", required=True, metavar="PEER")
@click.option("--ref", default=None, help="Only this source reference (e.g. AMPEL360@CAE#1).")
@_key_dir_option
@json_option
@pass_state
def pull(state: State, source: str, ref: str | None, key_dir: str | None) -> None:
    """Import what a peer has for this workspace (its drop, or its server's offers)."""
    results = _fed(state, key_dir).pull(source, ref=ref)
    if state.json:
        state.emit_json(results)
        return
    if not results:
        state.say(f"nothing new from {source}")
    for r in results:
        state.say(f"{r.get('ref') or r.get('bundle_id')}: {r['status']}"
                  + (f" ({r['reason']})" if r.get("reason") else "")
                  + (f", FSL {r['fsl_ms']:.0f} ms" if r.get("fsl_ms") is not None else ""))


@federation.command()
@json_option
@pass_state
def status(state: State) -> None:
    """Peers, last sync, FSL p50/p99 and refusals."""
    from ..federation import Federation

    st = Federation(state.open()).status()
    if state.json:
        state.emit_json(st.to_dict())
        return
    ident = st.identity or {}
    state.say(f"this workspace: {ident.get('name', '(no identity: pluma federation keygen)')} "
              f"{ident.get('public_key', '')}")

    def ms(v):
        return "-" if v is None else f"{v:.0f} ms"

    state.table("peers", ["peer", "reach", "last sync", "pushes", "received", "refusals", "FSL p50", "FSL p99"],
                [(p["peer"], p["url"] or p["drop"], fmt_time(p["last_sync"]) or "never", p["pushes"], p["received"],
                  p["refusals"], ms(p["fsl_p50_ms"]), ms(p["fsl_p99_ms"])) for p in st.peers])
    if st.refusals:
        state.table("recent refusals", ["time", "peer", "direction", "ref", "reason"],
                    [(fmt_time(e["time"]), e["peer"], e["direction"], e.get("ref", ""), e.get("reason", ""))
                     for e in st.refusals[-10:]])
