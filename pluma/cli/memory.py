"""Integrity of the Enterprise Memory: ``pluma fsck``, ``pluma replicate`` and ``pluma gc``
(workspace admins only).

    pluma replicate --to /backup/ws                 # incremental copy, again and again
    pluma fsck                                      # verify; exit code 1 on damage
    pluma fsck --repair-from /backup/ws             # restore damaged objects, verify again
    pluma gc --older-than 30d                       # dry run: what would go
    pluma gc --older-than 30d --apply
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import click

from ._app import State, json_option, parse_pairs, pass_state

__all__ = ["fsck", "gc", "replicate"]


def _options(values: tuple[str, ...], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in parse_pairs(values, what, "endpoint_url=http://127.0.0.1:9000"):
        if key in out:
            raise click.BadParameter(f"{key} is given twice", param_hint=what)
        out[key] = value.lower() == "true" if value.lower() in ("true", "false") else value
    return out


_replica_option = click.option(
    "--replica-option", "replica_options", metavar="KEY=VALUE", multiple=True,
    help="Object-store option of an s3:// replica (repeatable), e.g. endpoint_url=..., allow_http=true.")
_enclave_option = click.option("--enclave", "enclaves", metavar="NAME", multiple=True,
                               help="Only this enclave (repeatable; default: all: 'default', 'program-<key>', ...).")


@contextmanager
def _progress(state: State, label: str) -> Iterator[Any]:
    """A rich progress bar on stderr (none under --json); yields the callback."""
    if state.json:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[what]}"), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None, what="")

        def update(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, what=what[-60:])

        yield update


@click.command()
@click.option("--repair-from", metavar="URI",
              help="A replica made by `pluma replicate`: restore damaged objects from it, then verify again.")
@_replica_option
@_enclave_option
@json_option
@pass_state
def fsck(state: State, repair_from: str | None, replica_options: tuple[str, ...], enclaves: tuple[str, ...]) -> None:
    """Verify every frozen context against the checksums recorded when it was frozen,
    and that every branch and tag opens. Names each damaged key and storage object.
    Exit code 1 when damage remains."""
    from ..integrity import fsck as run

    ws = state.open()
    with _progress(state, "fsck") as progress:
        report = run(ws, repair_from=repair_from, storage_options=_options(replica_options, "--replica-option") or None,
                     enclaves=list(enclaves) or None, progress=progress)
    if state.json:
        state.emit_json(report.to_dict())
    else:
        state.fields(f"fsck {report.location}", [
            ("enclaves", ", ".join(report.enclaves)), ("frozen contexts", report.frozen_checked),
            ("branches", report.branches_checked), ("keys verified", report.keys_verified),
            ("objects verified", report.objects_verified), ("bytes read", f"{report.bytes_read:,}"),
            ("seconds", f"{report.seconds:.2f}")])
        if report.repair_from:
            state.say(f"repair from {report.repair_from}: {len(report.found)} problem(s) found, "
                      f"{len(report.repaired)} object(s) restored")
            if report.repaired:
                state.table("restored", ["object"], [[o] for o in report.repaired])
            if report.unrepairable:
                state.table("not restorable from the replica", ["object"], [[o] for o in report.unrepairable])
        if report.recorded_late:
            state.say(f"checksums recorded now for {len(report.recorded_late)} frozen context(s) frozen before "
                      "checksums existed: " + ", ".join(report.recorded_late))
        if report.ok:
            state.say("clean: no damage found")
        else:
            state.table(f"{len(report.damage)} problem(s)", ["enclave", "program", "ref", "key", "object", "problem"],
                        [[d.enclave, d.program, d.ref, d.key, d.object, d.problem] for d in report.damage])
    if not report.ok:
        click.get_current_context().exit(1)


@click.command()
@click.option("--to", "to", required=True, metavar="URI", help="The replica: a folder or s3://bucket/prefix.")
@_replica_option
@click.option("--verify", is_flag=True,
              help="Also re-read every object the replica already holds and compare (a full read of the workspace).")
@_enclave_option
@json_option
@pass_state
def replicate(state: State, to: str, replica_options: tuple[str, ...], verify: bool, enclaves: tuple[str, ...]) -> None:
    """Bring a second copy of the workspace up to date (incremental). Objects whose bytes
    differ from the replica's copy or from their freeze-time checksum are not copied:
    they are listed and the exit code is 1."""
    from ..integrity import replicate as run

    ws = state.open()
    with _progress(state, "replicate") as progress:
        report = run(ws, to, storage_options=_options(replica_options, "--replica-option") or None,
                     enclaves=list(enclaves) or None, verify=verify, progress=progress)
    if state.json:
        state.emit_json(report.to_dict())
    else:
        state.say(f"replicated {report.source} -> {report.target}: {report.copied} object(s) copied "
                  f"({report.bytes_copied:,} bytes), {report.unchanged} already there, refs updated in "
                  f"{', '.join(report.refs_updated) or 'no enclave'} ({report.seconds:.2f} s)")
        if report.skipped:
            state.table("not replicated", ["object", "reason"], [[s["object"], s["reason"]] for s in report.skipped])
    if not report.ok:
        click.get_current_context().exit(1)


@click.command()
@click.option("--older-than", "older_than", required=True, metavar="DURATION",
              help="Expire working-context history older than this: 30d, 12h, 90m, 2w.")
@click.option("--apply", "apply_", is_flag=True, help="Do it. Without --apply, only show what would be removed.")
@click.option("--grace", default="1h", show_default=True, metavar="DURATION",
              help="Never delete objects younger than this (they may belong to a commit in progress).")
@_enclave_option
@json_option
@pass_state
def gc(state: State, older_than: str, apply_: bool, grace: str, enclaves: tuple[str, ...]) -> None:
    """Expire old working-context history and delete what nothing needs any more.
    Frozen contexts (tags) and branch tips are always kept. Dry run unless --apply."""
    from ..integrity import gc as run

    ws = state.open()
    report = run(ws, older_than, apply=apply_, grace=grace, enclaves=list(enclaves) or None)
    if state.json:
        state.emit_json(report.to_dict())
        return
    verb = "expired / deleted" if apply_ else "would expire / delete (dry run: nothing changed)"
    state.table(f"gc --older-than {older_than}: {verb}",
                ["enclave", "snapshots expired", "snapshots", "manifests", "chunks", "tx logs", "bytes",
                 "tags kept", "branches kept"],
                [[e.enclave, len(e.expired), e.snapshots_deleted, e.manifests_deleted, e.chunks_deleted,
                  e.transaction_logs_deleted, f"{e.bytes_deleted:,}", e.tags_kept, e.branches_kept]
                 for e in report.enclaves])
    if not apply_:
        state.say("run again with --apply to do it")
