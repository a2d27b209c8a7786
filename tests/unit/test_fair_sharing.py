"""Fair sharing of one real Dask LocalCluster between programs (issue 6, point 5):
weighted fair queuing with the program weights, core quotas, no starvation."""

from __future__ import annotations

import threading
import time

import pytest

import pluma
from pluma.errors import InvalidInputError, StateError
from pluma.programs.phases import PRIORITIES
from pluma.scheduling import FairScheduler

import distributed  # noqa: E402  (CI installs every optional part)

TASK = 0.05  # seconds a task sleeps: a scheduling test, not a compute one


# -- tasks run on the workers (module level: they pickle by reference) ------------------
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def stamped(seconds: float) -> tuple[float, float]:
    """Sleep and say when it ran (wall clock, comparable across local processes)."""
    t0 = time.time()
    time.sleep(seconds)
    return t0, time.time()


def boom(x: int) -> int:
    raise ZeroDivisionError(f"no result for {x}")


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster, Client(cluster, set_as_default=False) as c:
        c.wait_for_workers(2, timeout=60)
        c.submit(nap, 0, pure=False).result()  # warm the workers: import this module there once
        yield c


def wait_for_completions(fs: FairScheduler, n: int, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while len(fs.completion_log) < n:
        assert time.monotonic() < deadline, f"only {len(fs.completion_log)} of {n} completions in {timeout} s"
        time.sleep(0.01)


def max_gap(log: tuple[str, ...], name: str) -> int:
    """The most entries before the first of ``name``, or between two of them."""
    idx = [i for i, n in enumerate(log) if n == name]
    assert idx, f"{name} never appears"
    return max([idx[0]] + [b - a - 1 for a, b in zip(idx, idx[1:])])


def test_completed_work_under_contention_follows_the_program_weights(client):
    weights = dict(PRIORITIES)  # standard 1.0, research 1.2, defense 1.5
    n_count = 150
    with FairScheduler(client) as fs:
        assert fs.slots == 4  # 2 workers x 2 threads
        for name, w in weights.items():
            fs.add_tenant(name, w)
        for _ in range(150):  # far more than the window: every tenant stays backlogged
            for name in weights:
                fs.submit(name, nap, TASK)
        wait_for_completions(fs, n_count)
        window = fs.completion_log[:n_count]
        dispatched = fs.dispatch_log[:148]
    total_w = sum(weights.values())
    shares = {name: window.count(name) / n_count for name in weights}
    print("\ncompleted-work shares in the first", n_count, "completions:",
          {n: f"{s:.3f} (target {weights[n] / total_w:.3f})" for n, s in shares.items()})
    for name, w in weights.items():
        assert abs(shares[name] - w / total_w) <= 0.05, (name, shares)
        assert window.count(name) > 0  # nobody starves
    # the dispatch order itself is deterministic: 148 dispatches = 40 + 48 + 60 (± one)
    for name, w in weights.items():
        assert abs(dispatched.count(name) - 40 * w) <= 1, (name, dispatched.count(name))
    stats = fs.stats()
    assert sum(s.completed for s in stats.values()) >= n_count
    assert sum(s.cancelled for s in stats.values()) > 0  # the backlog was cancelled on close
    assert all(s.queued == 0 and s.in_flight == 0 for s in stats.values())


def test_a_core_quota_holds_even_alone_and_the_others_fill_the_rest(client):
    with FairScheduler(client) as fs:
        fs.add_tenant("capped", 1.5, max_cores=1)
        fs.add_tenant("open", 1.0)
        alone = [fs.submit("capped", stamped, TASK) for _ in range(6)]
        fs.run_until_idle(timeout=30)
        assert fs.stats()["capped"].in_flight_max == 1
        assert fs.peak_in_flight == 1  # the free slots stay free: nobody else has work
        spans = sorted(f.result() for f in alone)
        assert all(b[0] >= a[1] - 1e-3 for a, b in zip(spans, spans[1:]))  # never two at once on the workers

        capped = [fs.submit("capped", stamped, TASK) for _ in range(8)]
        other = [fs.submit("open", stamped, TASK) for _ in range(24)]
        fs.run_until_idle(timeout=30)
        stats = fs.stats()
    assert stats["capped"].in_flight_max == 1
    assert stats["open"].in_flight_max >= 3
    assert fs.peak_in_flight == 4
    assert stats["capped"].completed == 14 and stats["open"].completed == 24
    spans = sorted(f.result() for f in capped)
    assert all(b[0] >= a[1] - 1e-3 for a, b in zip(spans, spans[1:]))
    assert all(f.done() and f.tenant == "open" for f in other)


def test_the_lightest_program_is_served_steadily_and_a_latecomer_at_once(client):
    with FairScheduler(client) as fs:
        fs.add_tenant("light", 1.0)
        fs.add_tenant("heavy_a", 1.5)
        fs.add_tenant("heavy_b", 1.5)
        fs.add_tenant("medium", 1.2)
        for _ in range(60):
            for name in ("heavy_a", "heavy_b", "medium", "light"):
                fs.submit(name, nap, TASK)
        wait_for_completions(fs, 100)
        dispatched, completed = fs.dispatch_log[:100], fs.completion_log[:100]

        # a latecomer with weight 1 against a deep backlog of the others
        fs.add_tenant("late", 1.0)
        before = len(fs.completion_log)
        late = [fs.submit("late", nap, TASK) for _ in range(5)]
        late[0].result(timeout=20)
        waited = fs.completion_log[before:].index("late")
    print(f"\nlight: first dispatch #{dispatched.index('light')}, largest gap {max_gap(dispatched, 'light')} "
          f"dispatches / {max_gap(completed, 'light')} completions; latecomer served after {waited} completions")
    assert dispatched.index("light") <= 3  # in the first round
    assert max_gap(dispatched, "light") <= 7  # WFQ bound: ≤ 2 tasks of each heavier tenant in between
    assert completed.index("light") <= 8  # first completion within the first two dispatch rounds
    assert max_gap(completed, "light") <= 12
    assert waited <= 12  # within a round plus the running tasks, not after the backlog


def test_programs_take_their_weight_and_core_quota(client, tmp_path):
    ws = pluma.open(tmp_path / "ws", user="admin")
    ws.create_program("AMPEL360", priority="defense", quotas={"cores": 1}, domains=["AAA"])
    ws.create_program("OPENWING", priority="research", domains=["AAA"])
    with FairScheduler(client, slots=2) as fs:
        assert fs.add_program(ws.program("AMPEL360")) == "AMPEL360"
        fs.add_program(ws.program("OPENWING"))
        futs = [fs.submit(ws.program("AMPEL360"), nap, 0.01) for _ in range(3)]
        futs.append(fs.submit("OPENWING", pow, 2, 10))
        fs.run_until_idle(timeout=30)
        stats = fs.stats()
    assert stats["AMPEL360"].weight == 1.5 and stats["AMPEL360"].max_cores == 1
    assert stats["OPENWING"].weight == 1.2 and stats["OPENWING"].max_cores is None
    assert stats["AMPEL360"].in_flight_max == 1
    assert futs[-1].result() == 1024


def test_failures_cancellation_and_closing(client):
    fs = FairScheduler(client, slots=1)
    fs.add_tenant("t", 1.0)
    bad = fs.submit("t", boom, 3, cost=2.0)
    queued = [fs.submit("t", nap, TASK) for _ in range(5)]
    assert queued[-1].cancel()
    with pytest.raises(ZeroDivisionError):
        bad.result(timeout=20)
    fs.run_until_idle(timeout=20)
    s = fs.stats()["t"]
    assert (s.submitted, s.completed, s.failed, s.cancelled) == (6, 5, 1, 1)
    assert s.completed_cost == 6.0
    assert fs.shares() == {"t": 1.0}
    fs.close()
    with pytest.raises(StateError):
        fs.submit("t", nap, 0)


def test_invalid_input_is_rejected(client):
    fs = FairScheduler(client)
    for weight in (0, -1.0, float("nan"), float("inf"), True, "1.0"):
        with pytest.raises(InvalidInputError):
            fs.add_tenant("x", weight)
    with pytest.raises(InvalidInputError):
        fs.add_tenant("x", 1.0, max_cores=0)
    fs.add_tenant("a", 1.0, max_cores=1)
    with pytest.raises(InvalidInputError):
        fs.add_tenant("a", 1.0)  # already registered
    with pytest.raises(InvalidInputError, match="unknown tenant"):
        fs.submit("nobody", nap, 0)
    for cost in (-1.0, 0, float("nan")):
        with pytest.raises(InvalidInputError):
            fs.submit("a", nap, 0, cost=cost)
    with pytest.raises(InvalidInputError):
        fs.submit("a", nap, 0, cores=2)  # beyond the tenant's quota
    with pytest.raises(InvalidInputError):
        fs.submit("a", "not callable")
    for slots in (0, -2, 1.5):
        with pytest.raises(InvalidInputError):
            FairScheduler(client, slots=slots)
    with pytest.raises(InvalidInputError):
        FairScheduler(None)
    assert fs.stats()["a"].submitted == 0
    fs.close()


def test_thread_safe_submission_from_many_threads(client):
    with FairScheduler(client) as fs:
        for name in ("p", "q", "r"):
            fs.add_tenant(name, 1.0)
        futs: list = []
        lock = threading.Lock()

        def feed(name: str) -> None:
            mine = [fs.submit(name, pow, 2, k, cost=1.0) for k in range(40)]
            with lock:
                futs.extend(mine)

        threads = [threading.Thread(target=feed, args=(n,)) for n in ("p", "q", "r") for _ in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        fs.run_until_idle(timeout=30)
        stats = fs.stats()
    assert len(futs) == 240 and all(f.done() and not f.cancelled() for f in futs)
    assert {n: s.completed for n, s in stats.items()} == {"p": 80, "q": 80, "r": 80}
    assert fs.in_flight == 0 and fs.peak_in_flight <= fs.slots
