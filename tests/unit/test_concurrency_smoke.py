"""Concurrent writers on one local workspace: nothing reported as committed is lost.

Icechunk's local storage is not safe for concurrent commits by itself (FIELD-NOTES:
4 unlocked processes lost about a fifth of their commits, also on *different*
branches, because every ref lives in the one repo object). PLUMA serialises commits
on local storage with an OS file lock; these tests run real processes (``spawn``,
never ``fork`` after icechunk was used) against it:

1. 4 processes, each committing 25 times to its OWN program of the same workspace;
2. 4 processes committing to DIFFERENT parameters of the SAME program;
3. in one process, two handles from the same snapshot racing on one parameter:
   the second write is refused with a ConflictError that names the other user,
   a write of a different parameter goes through.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from pathlib import Path

import pytest

import pluma
from pluma.units import to_unit

N_WORKERS = 4
N_COMMITS = 25
JOIN_TIMEOUT = 120

pytestmark = pytest.mark.timeout(240)


# -- workers (module level: a spawned child imports them by name) ---------------
def _warm_up() -> None:
    """Load the unit registry (about 1 s) before the barrier, so that the writers really overlap."""
    to_unit("1 kg", "kg")


def _exit_after_reporting(results) -> None:
    """Leave without interpreter finalisation once the report is flushed: Icechunk's
    tokio threads can race Python's teardown (an occasional SIGSEGV after all work is
    committed and reported). What this test checks is in the store and the report."""
    results.close()
    results.join_thread()
    os._exit(0)


def _own_program_worker(root: str, k: int, barrier, results) -> None:
    """eng{k} sets mtow of program P{k} to 70000 + i, 25 commits through one handle."""
    try:
        user = f"eng{k}"
        ctx = pluma.open(root, user=user).program(f"P{k}").context
        _warm_up()
        barrier.wait(timeout=60)
        done = 0
        for i in range(N_COMMITS):
            ctx.set_params(mtow=70000.0 + i, message=f"{user} write {i}")
            done += 1
        results.put((k, done, None))
    except BaseException:  # report everything to the parent
        results.put((k, -1, traceback.format_exc()))
    _exit_after_reporting(results)


def _shared_program_worker(root: str, k: int, barrier, results) -> None:
    """eng{k} sets p{25k} .. p{25k+24} of program SHARED, a fresh context handle per write."""
    try:
        user = f"eng{k}"
        prog = pluma.open(root, user=user).program("SHARED")
        _warm_up()
        barrier.wait(timeout=60)
        done = 0
        for i in range(N_COMMITS):
            prog.context.set_params(**{f"p{k * N_COMMITS + i}": float(k * 1000 + i)}, message=f"{user} write {i}")
            done += 1
        results.put((k, done, None))
    except BaseException:
        results.put((k, -1, traceback.format_exc()))
    _exit_after_reporting(results)


N_FREEZES = 5


def _freezing_worker(root: str, k: int, barrier, results) -> None:
    """chief{k} changes and freezes program F{k} N_FREEZES times (a gate with no checks)."""
    try:
        user = f"chief{k}"
        prog = pluma.open(root, user=user).program(f"F{k}")
        _warm_up()
        barrier.wait(timeout=60)
        done = 0
        for i in range(N_FREEZES):
            prog.context.set_params(mtow=60000.0 + i)
            prog.advance(message=f"freeze {i}")
            done += 1
        results.put((k, done, None))
    except BaseException:
        results.put((k, -1, traceback.format_exc()))
    _exit_after_reporting(results)


def _run_workers(target, root: Path, expected: int = N_COMMITS) -> None:
    """Start N_WORKERS spawned processes released together by a barrier; fail on any error."""
    mp = multiprocessing.get_context("spawn")
    barrier = mp.Barrier(N_WORKERS)
    results = mp.Queue()
    procs = [mp.Process(target=target, args=(str(root), k, barrier, results), name=f"pluma-writer-{k}")
             for k in range(N_WORKERS)]
    for p in procs:
        p.start()
    try:
        reports = [results.get(timeout=JOIN_TIMEOUT) for _ in procs]  # drain before join
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():  # only the processes this test started
                p.kill()
                p.join(5)
    errors = [tb for _, _, tb in reports if tb]
    assert not errors, "a writer failed:\n" + "\n".join(errors)
    assert sorted(k for k, _, _ in reports) == list(range(N_WORKERS))
    assert all(done == expected for _, done, _ in reports), reports
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]


def _changes(ctx) -> list:
    """The branch's content commits, oldest first."""
    return [c for c in reversed(ctx.log()) if c.metadata.get("kind") == "change"]


# -- tests ------------------------------------------------------------------------
def test_writers_on_different_programs_lose_nothing(tmp_path):
    root = tmp_path / "ws"
    admin = pluma.open(root, user="admin")
    for k in range(N_WORKERS):
        admin.create_program(f"P{k}", classification="EAR99",
                             members={f"eng{k}": ["engineer"], "pam": ["program_manager"]})

    _run_workers(_own_program_worker, root)

    reader = pluma.open(root, user="admin")
    windows = []
    assert reader.program_names() == [f"P{k}" for k in range(N_WORKERS)]
    for k in range(N_WORKERS):
        user = f"eng{k}"
        ctx = reader.program(f"P{k}").context
        log = ctx.log()
        assert all(c.author for c in log), [(c.message, c.metadata) for c in log]
        assert [c.metadata.get("kind") for c in log] == ["change"] * N_COMMITS + ["create"], \
            f"P{k}: {len(_changes(ctx))} of {N_COMMITS} commits in the log"
        changes = _changes(ctx)
        windows.append((changes[0].time, changes[-1].time))
        assert [c.author for c in changes] == [user] * N_COMMITS
        assert [c.message for c in changes] == [f"{user} write {i}" for i in range(N_COMMITS)]
        # each commit holds the value written by it (time travel), and the tip the last one
        assert [ctx.at(c.id).params["mtow"] for c in changes] == [70000.0 + i for i in range(N_COMMITS)]
        assert ctx.params["mtow"] == 70000.0 + N_COMMITS - 1
        assert ctx.params.info("mtow").author == user
        assert ctx.rev == N_COMMITS
    # the test is only worth something if the writers were committing at the same time
    assert max(a for a, _ in windows) < min(b for _, b in windows), f"writers did not overlap: {windows}"


def test_writers_on_different_params_of_one_program_lose_nothing(tmp_path):
    root = tmp_path / "ws"
    admin = pluma.open(root, user="admin")
    members = {f"eng{k}": ["engineer"] for k in range(N_WORKERS)}
    members["pam"] = ["program_manager"]
    admin.create_program("SHARED", classification="EAR99", members=members)
    names = [f"p{j}" for j in range(N_WORKERS * N_COMMITS)]
    pluma.open(root, user="pam").program("SHARED").declare_params(
        {n: {"type": "float", "unit": "1", "description": "concurrency probe"} for n in names})

    _run_workers(_shared_program_worker, root)

    ctx = pluma.open(root, user="pam").program("SHARED").context
    params = ctx.params
    assert sorted(params, key=lambda n: int(n[1:])) == names
    for k in range(N_WORKERS):
        for i in range(N_COMMITS):
            name = f"p{k * N_COMMITS + i}"
            assert params[name] == float(k * 1000 + i), name
            assert params.info(name).author == f"eng{k}", name
    changes = _changes(ctx)
    assert len(changes) == N_WORKERS * N_COMMITS
    assert ctx.rev == N_WORKERS * N_COMMITS  # every commit bumped the revision once: none was lost or merged
    assert all(c.author for c in ctx.log())
    authors = [c.author for c in changes]
    switches = sum(a != b for a, b in zip(authors, authors[1:]))
    assert switches > N_WORKERS, f"the writers barely interleaved: {authors}"
    for k in range(N_WORKERS):  # each writer's commits appear once each, in its order
        user = f"eng{k}"
        assert [c.message for c in changes if c.author == user] == [f"{user} write {i}" for i in range(N_COMMITS)]


def test_two_handles_from_one_snapshot_conflict_on_the_same_param(local_ws):
    admin = local_ws("admin")
    admin.create_program("RACE", classification="EAR99",
                         members={"ana": ["engineer"], "raj": ["chief_engineer"], "pam": ["program_manager"]})
    c1 = local_ws("ana").program("RACE").context
    c2 = local_ws("raj").program("RACE").context
    assert c1.snapshot_id == c2.snapshot_id

    c1.set_params(mtow=78000.0, message="ana sizes")
    commits = len(c1.log())
    with pytest.raises(pluma.ConflictError) as info:
        c2.set_params(mtow=80000.0, message="raj sizes")
    assert "ana" in str(info.value) and "mtow" in str(info.value)
    assert "ana sizes" in str(info.value)
    assert len(c2.log()) == commits  # the refused write committed nothing
    assert local_ws("pam").program("RACE").context.params["mtow"] == 78000.0

    # a different parameter goes through, from the same (older) handle
    c2.set_params(oew=42600.0, message="raj sets oew")
    now = local_ws("pam").program("RACE").context
    assert now.params.to_dict() == {"mtow": 78000.0, "oew": 42600.0}
    assert now.params.info("mtow").author == "ana" and now.params.info("oew").author == "raj"

    # c2 has read the tip it committed on: it now sees ana's mtow and may change it
    assert c2.params["mtow"] == 78000.0
    c2.set_params(mtow=79000.0, message="raj revises mtow")
    # c1 is now behind on both: the refusal names raj
    with pytest.raises(pluma.ConflictError) as info:
        c1.set_params(oew=43000.0)
    assert "raj" in str(info.value) and "oew" in str(info.value)
    # refresh, then decide
    c1.refresh().set_params(oew=43000.0, message="ana after refresh")
    final = local_ws("pam").program("RACE").context
    assert final.params.to_dict() == {"mtow": 79000.0, "oew": 43000.0}
    assert [c.author for c in _changes(final)] == ["ana", "raj", "raj", "ana"]


def test_reader_between_freeze_commit_and_tag_does_not_break_advance(local_ws):
    from tests.conftest import fill_cad, make_program

    make_program(local_ws("admin"))
    fill_cad(local_ws("ana").program("AMPEL360").context)
    raj = local_ws("raj").program("AMPEL360")
    lin = local_ws("lin").program("AMPEL360")  # e.g. a dashboard polling the history
    raj.gate().approve(role="chief_engineer")

    # force the interleaving that another process can produce: the reader runs right
    # after the freeze commit and before advance() creates the tag
    real_create_tag = raj._enclave.create_tag
    seen = []

    def create_tag_after_a_reader(name, snapshot_id):
        seen.append([fc.ref for fc in lin.history()])
        real_create_tag(name, snapshot_id)

    raj._enclave.create_tag = create_tag_after_a_reader
    frozen = raj.advance(message="CAD gate passed")
    assert seen == [["AMPEL360@CAD#1"]]
    assert frozen.ref == "AMPEL360@CAD#1"
    assert [fc.ref for fc in lin.history()] == ["AMPEL360@CAD#1"]


def test_concurrent_freezes_are_all_tagged_and_indexed(tmp_path):
    """Freezes in four processes at once: every tag and every index entry is there."""
    root = tmp_path / "ws"
    admin = pluma.open(root, user="admin")
    open_gate = {"requires": {}, "checks": [], "approvals": []}
    for k in range(N_WORKERS):
        prog = admin.create_program(f"F{k}", members={f"chief{k}": ["chief_engineer"], "admin": ["program_manager"]})
        for phase in pluma.Phase:
            prog.set_gate(phase, {"phase": phase.value, **open_gate})

    _run_workers(_freezing_worker, root, expected=N_FREEZES)

    ws = pluma.open(root, user="admin")
    phases = [p.value for p in pluma.Phase][:N_FREEZES]
    for k in range(N_WORKERS):
        refs = [fc.ref for fc in ws.program(f"F{k}").history()]
        assert refs == [f"F{k}@{phase}#1" for phase in phases]
    from pluma.query import FrozenIndex

    indexed = sorted(e["ref"] for e in FrozenIndex(ws).entries())  # written by the workers, not healed
    assert indexed == sorted(f"F{k}@{phase}#1" for k in range(N_WORKERS) for phase in phases)
    df = ws.query(params=["mtow"])
    assert len(df) == N_WORKERS * N_FREEZES
    assert sorted(df[df["program"] == "F0"]["mtow"]) == [60000.0 + i for i in range(N_FREEZES)]
