"""Many writers, nothing lost (issue 4, point 1) — on a local folder and on S3 (moto).

Real processes (``spawn``: never ``fork`` once icechunk ran) write to one workspace
at the same moment (released together by a barrier):

* 8 processes x N commits of distinct parameters to the SAME program;
* 8 processes x N commits of distinct parameters, each to its OWN program (every
  ref lives in one Icechunk repo object, so different branches contend too);
* two users changing the same parameter from the same starting point, several
  rounds: exactly one winner per round, and the other gets a ``ConflictError``
  that names who changed what (user, parameter, message).

After each run every acknowledged commit is checked: its snapshot is in the
branch history, holds the value written, and the tip holds every value.

N = 50 on local storage (commits are serialised by the commit lock) and 10 on S3
(commits race and rebase; moto answers slowly): 400 and 80 commits per test.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback

import pytest

import pluma

N_WORKERS = 8
N_COMMITS = {"local": 50, "s3": 10}
ROUNDS = 4
JOIN_TIMEOUT = 150

pytestmark = pytest.mark.timeout(300)


# -- workers (module level: a spawned child imports them by name) ---------------
def _leave(results) -> None:
    """Exit without interpreter teardown once the report is flushed (icechunk's runtime
    threads can race Python's finalisation; what is checked is in the store)."""
    results.close()
    results.join_thread()
    os._exit(0)


def _writer(uri: str, options, program: str, k: int, n: int, barrier, results) -> None:
    """eng{k} sets p{k}_{i} = k*1000 + i on ``program``, one commit each, through one handle."""
    try:
        from pluma.units import to_unit

        user = f"eng{k}"
        ctx = pluma.open(uri, user=user, storage_options=options, create=False).program(program).context
        to_unit("1 kg", "kg")  # load the unit registry before the barrier so that writers overlap
        barrier.wait(timeout=90)
        acked = []
        for i in range(n):
            name, value = f"p{k}_{i}", float(k * 1000 + i)
            ctx.set_params(**{name: value}, message=f"{user} write {i}")
            acked.append((name, value, ctx.snapshot_id))
        results.put((k, acked, None))
    except BaseException:  # report everything to the parent
        results.put((k, None, traceback.format_exc()))
    _leave(results)


def _racer(uri: str, options, k: int, barrier, results) -> None:
    """Each round: read the same tip as the other racer, then both set mtow."""
    try:
        from pluma.units import to_unit

        user = ("ana", "raj")[k]
        ctx = pluma.open(uri, user=user, storage_options=options, create=False).program("RACE").context
        to_unit("1 kg", "kg")
        outcomes = []
        for r in range(ROUNDS):
            barrier.wait(timeout=90)  # the previous round is over for both
            start = ctx.refresh().snapshot_id
            barrier.wait(timeout=90)
            try:
                ctx.set_params(mtow=70000.0 + 100 * r + k, message=f"{user} sizes round {r}")
                outcomes.append(("won", start, ctx.snapshot_id))
            except pluma.ConflictError as exc:
                outcomes.append(("conflict", start, str(exc)))
        results.put((k, outcomes, None))
    except BaseException:
        results.put((k, None, traceback.format_exc()))
    _leave(results)


def _run(target, argsets: list[tuple]) -> dict[int, list]:
    """Start one spawned process per argument tuple (+ barrier, queue); return k -> report."""
    mp = multiprocessing.get_context("spawn")
    barrier = mp.Barrier(len(argsets))
    results = mp.Queue()
    procs = [mp.Process(target=target, args=(*args, barrier, results), name=f"pluma-writer-{i}")
             for i, args in enumerate(argsets)]
    for p in procs:
        p.start()
    try:
        reports = [results.get(timeout=JOIN_TIMEOUT) for _ in procs]  # drain before join
    finally:
        for p in procs:
            p.join(timeout=15)
            if p.is_alive():  # only the processes this test started
                p.kill()
                p.join(5)
    errors = [tb for _, _, tb in reports if tb]
    assert not errors, "a writer failed:\n" + "\n".join(errors)
    return {k: report for k, report, _ in reports}


def _backend(location) -> str:
    return "s3" if location[0].startswith("s3://") else "local"


def _declare(prog, n: int, workers) -> None:
    prog.declare_params({f"p{k}_{i}": {"type": "float", "unit": "1", "description": "concurrency probe"}
                         for k in workers for i in range(n)})


def _check_acknowledged(prog, acked: list[tuple[str, float, str]], user: str) -> None:
    """Every acknowledged commit is in the history and holds its value; the tip holds them all."""
    ctx = prog.context
    log = {c.id: c for c in ctx.log()}
    for i, (name, value, sid) in enumerate(acked):
        assert sid in log, f"{user}'s acknowledged commit {i} ({name}) is not in {prog.name}'s history"
        assert log[sid].author == user and log[sid].message == f"{user} write {i}"
        if i % 10 == 0:  # public time travel, sampled (ctx.at reads the log each time)
            assert ctx.at(sid).params[name] == value
        assert prog._enclave.snapshot(snapshot_id=sid).doc("context")["params"][name]["value"] == value
        assert ctx.params[name] == value, f"{name} lost from the tip of {prog.name}"
        assert ctx.params.info(name).author == user


# -- tests ------------------------------------------------------------------------
def test_eight_writers_on_one_program_lose_nothing(location, open_ws):
    uri, options = location
    n = N_COMMITS[_backend(location)]
    members = {f"eng{k}": ["engineer"] for k in range(N_WORKERS)}
    prog = open_ws("admin").create_program("SHARED", classification="EAR99",
                                           members={**members, "admin": ["program_manager"]})
    _declare(prog, n, range(N_WORKERS))

    reports = _run(_writer, [(uri, options, "SHARED", k, n) for k in range(N_WORKERS)])

    prog = open_ws("admin").program("SHARED")
    for k in range(N_WORKERS):
        assert len(reports[k]) == n
        _check_acknowledged(prog, reports[k], f"eng{k}")
    ctx = prog.context
    assert len(ctx.params) == N_WORKERS * n
    changes = [c for c in ctx.log() if c.metadata.get("kind") == "change"]
    assert len(changes) == N_WORKERS * n
    assert ctx.rev == N_WORKERS * n  # one revision per commit: none lost, none merged into another
    authors = [c.author for c in reversed(changes)]
    assert sum(a != b for a, b in zip(authors, authors[1:])) > N_WORKERS, "the writers barely interleaved"


def test_eight_writers_on_eight_programs_lose_nothing(location, open_ws):
    uri, options = location
    n = N_COMMITS[_backend(location)]
    admin = open_ws("admin")
    for k in range(N_WORKERS):
        prog = admin.create_program(f"P{k}", classification="EAR99",
                                    members={f"eng{k}": ["engineer"], "admin": ["program_manager"]})
        _declare(prog, n, [k])

    reports = _run(_writer, [(uri, options, f"P{k}", k, n) for k in range(N_WORKERS)])

    ws = open_ws("admin")
    windows = []
    for k in range(N_WORKERS):
        prog = ws.program(f"P{k}")
        _check_acknowledged(prog, reports[k], f"eng{k}")
        changes = [c for c in prog.context.log() if c.metadata.get("kind") == "change"]
        assert len(changes) == n and prog.context.rev == n
        windows.append((min(c.time for c in changes), max(c.time for c in changes)))
    assert max(a for a, _ in windows) < min(b for _, b in windows), f"writers did not overlap: {windows}"


def test_same_parameter_race_has_one_winner_and_a_conflict_naming_who(location, open_ws):
    uri, options = location
    open_ws("admin").create_program("RACE", classification="EAR99",
                                    members={"ana": ["engineer"], "raj": ["engineer"], "admin": ["program_manager"]})

    reports = _run(_racer, [(uri, options, k) for k in range(2)])

    prog = open_ws("admin").program("RACE")
    log = {c.id: c for c in prog.context.log()}
    for r in range(ROUNDS):
        (a_kind, a_start, a_out), (b_kind, b_start, b_out) = reports[0][r], reports[1][r]
        assert a_start == b_start, f"round {r}: the racers did not start from the same snapshot"
        assert sorted([a_kind, b_kind]) == ["conflict", "won"], f"round {r}: {reports[0][r]} / {reports[1][r]}"
        winner, loser = (0, 1) if a_kind == "won" else (1, 0)
        w_user, l_user = ("ana", "raj")[winner], ("ana", "raj")[loser]
        message = reports[loser][r][2]
        # the refusal says who changed what, when and why
        assert w_user in message and "mtow" in message and f"{w_user} sizes round {r}" in message, message
        assert "refresh" in message, message
        sid = reports[winner][r][2]
        assert log[sid].author == w_user
        assert prog._enclave.snapshot(snapshot_id=sid).doc("context")["params"]["mtow"]["value"] == 70000.0 + 100 * r + winner
    # exactly one commit per round: the loser committed nothing
    changes = [c for c in prog.context.log() if c.metadata.get("kind") == "change"]
    assert len(changes) == ROUNDS
    last_winner = 0 if reports[0][-1][0] == "won" else 1
    assert prog.context.params["mtow"] == 70000.0 + 100 * (ROUNDS - 1) + last_winner
