"""Program quotas on Dask Gateway (issue 6, point 6).

Unit part: the ledger under processes racing for one program's quota.
Integration part: a real dask-gateway-server (hub-config/dask_gateway_config.py,
local backend) on 127.0.0.1; two members of a program start and scale clusters
at the same moment and the program's clusters together never exceed its
quota; a non-member is refused; the time to scale 0 -> 2 workers is measured.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

from pluma.gateway.quotas import GIB, ProgramQuotaLedger, Quota

sys.path.insert(0, str(Path(__file__).parent))
from gateway import gateway_available, running_gateway  # noqa: E402

# -- the ledger ---------------------------------------------------------------


def _race(path: str, who: int, attempts: int, start, results) -> None:
    ledger = ProgramQuotaLedger(path)
    quota = Quota(cores=4, memory=8 * GIB)
    start.wait()
    got = []
    for i in range(attempts):
        key = f"p{who}-{i}"
        if ledger.reserve("P", key, cores=1, memory=GIB, quota=quota, owner=f"proc{who}"):
            got.append(key)
            used = ledger.usage("P")
            assert used.cores <= 4 and used.memory <= 8 * GIB
            if i % 3 == 2:  # give some back so that the race goes on
                ledger.release(got.pop(0))
    results.put((who, got))


def test_ledger_processes_racing_never_exceed_the_quota(tmp_path):
    path = str(tmp_path / "ledger.sqlite")
    ProgramQuotaLedger(path)  # schema
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(path, who, 30, start, results)) for who in range(4)]
    for p in procs:
        p.start()
    held = dict(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    ledger = ProgramQuotaLedger(path)
    assert ledger.peak("P").cores == 4  # the quota was reached ...
    assert ledger.peak("P").memory == 4 * GIB
    assert ledger.usage("P").cores == sum(len(v) for v in held.values()) <= 4  # ... and never exceeded


def test_ledger_memory_quota_release_and_rekey(tmp_path):
    ledger = ProgramQuotaLedger(tmp_path / "l.sqlite")
    quota = Quota(cores=None, memory=3 * GIB)
    assert ledger.reserve("P", "a", cores=8, memory=2 * GIB, quota=quota)
    assert not ledger.reserve("P", "b", cores=1, memory=2 * GIB, quota=quota)  # memory bound
    assert ledger.reserve("Q", "b", cores=1, memory=2 * GIB, quota=quota)  # other program, own budget
    assert not ledger.reserve("P", "a", cores=1, memory=4 * GIB, quota=quota)  # a refused resize ...
    assert ledger.usage("P").memory == 2 * GIB  # ... keeps the old reservation
    assert ledger.rekey("a", "c1/w1") and ledger.release_prefix("c1/") == 1
    assert ledger.usage("p").cores == 0 and not ledger.release("a")


# -- a real dask-gateway-server -------------------------------------------------

def _cores_in_use(clients) -> float:
    """Cores of the running schedulers (1 each) and connected workers, across clusters."""
    total = 0.0
    for client in clients:
        info = client.scheduler_info(n_workers=-1) if _takes_n_workers(client) else client.scheduler_info()
        total += 1 + sum(w["nthreads"] for w in info["workers"].values())
    return total


def _takes_n_workers(client) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


@pytest.fixture()
def program_workspace(tmp_path):
    import pluma

    ws = pluma.open(tmp_path / "ws", user="admin")
    ws.create_program("P", quotas={"cores": 4, "memory_gb": 8},
                      members={"ana": ["program_manager"], "ben": ["engineer"]})
    ws.add_user("eve")
    return tmp_path / "ws"


@pytest.mark.integration
@pytest.mark.timeout(180)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # dask_gateway Gateway.__del__ after close
def test_program_quota_holds_across_members_clusters(tmp_path, program_workspace):
    why = gateway_available()
    assert why is None, f"{why} (bash env/setup.sh installs dask-gateway-server)"
    from pluma.gateway import time_to_scale

    warnings.simplefilter("ignore")  # "Scaling to N instead" from the per-cluster cap
    with running_gateway(tmp_path, workspace=program_workspace) as gw:
        ledger = gw.ledger()
        gateways = {u: gw.client(u) for u in ("ana", "ben", "eve")}
        try:
            # (1) two members start clusters at the same moment and scale as far as they can
            barrier = threading.Barrier(2)
            clusters, clients, errors = {}, {}, []

            def member(user):
                try:
                    barrier.wait()
                    cluster = gateways[user].new_cluster(program="P")
                    clusters[user] = cluster
                    cluster.scale(4)  # 1 + 4 cores alone would already be over 4
                    clients[user] = cluster.get_client(set_as_default=False)
                except Exception as exc:  # pragma: no cover - reported below
                    errors.append((user, exc))

            threads = [threading.Thread(target=member, args=(u,)) for u in ("ana", "ben")]
            for t in threads:
                t.start()
            max_ledger, max_seen = 0.0, 0.0
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                max_ledger = max(max_ledger, ledger.usage("P").cores)
                if len(clients) == 2:
                    max_seen = max(max_seen, _cores_in_use(list(clients.values())))
                time.sleep(0.05)
            for t in threads:
                t.join()
            assert not errors, errors
            assert max_ledger <= 4 and max_seen <= 4
            assert ledger.peak("P").cores <= 4 and ledger.peak("P").memory <= 8 * GIB
            # the program does get its whole quota: 2 schedulers + 2 one-core workers
            assert ledger.usage("P").cores == 4
            assert _cores_in_use(list(clients.values())) == 4
            # no room left for a third cluster of the program, whoever asks
            with pytest.raises(Exception, match="no room"):
                gateways["ana"].new_cluster(program="P")

            # (2) a user who is not a member cannot start a cluster for the program
            with pytest.raises(Exception, match="may not use program"):
                gateways["eve"].new_cluster(program="P")

            # resources freed by one member go to the other member's waiting workers
            clients.pop("ben").close()
            clusters.pop("ben").shutdown()
            clients["ana"].wait_for_workers(3, timeout=30)
            assert ledger.usage("P").cores == 4

            # (3) time to scale a fresh cluster 0 -> 2 workers (MSE KPI)
            clients.pop("ana").close()
            clusters.pop("ana").shutdown()
            deadline = time.monotonic() + 30
            while ledger.usage("P").cores and time.monotonic() < deadline:
                time.sleep(0.1)
            assert ledger.usage("P").cores == 0
            t0 = time.perf_counter()
            cluster = gateways["ben"].new_cluster(program="P")
            clusters["ben"] = cluster
            start_s = time.perf_counter() - t0
            scale_s = time_to_scale(cluster, 2, timeout=30)
            print(f"\nKPI gateway_cluster_start_s={start_s:.2f} gateway_scale_0_to_2_s={scale_s:.2f}")
            assert 0 < scale_s < 30
        finally:
            for c in clients.values():
                c.close()
            for c in clusters.values():
                try:
                    c.shutdown()
                except Exception:
                    pass
            for g in gateways.values():
                g.close()
    # the gateway released everything it held when it stopped
    assert ledger.usage("P").cores == 0


@pytest.mark.integration
@pytest.mark.timeout(180)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # dask_gateway Gateway.__del__ after close
def test_a_sweep_runs_on_the_configured_gateway_and_closes_its_cluster(tmp_path, program_workspace, monkeypatch):
    """Point 1: with a gateway configured, pluma.sweeps runs there (as a program member,
    charged to the program), stores its result, and shuts the cluster down."""
    import dask

    import pluma
    from pluma import analysis, sweeps

    why = gateway_available()
    assert why is None, f"{why} (bash env/setup.sh installs dask-gateway-server)"
    monkeypatch.delenv("PLUMA_DASK_GATEWAY", raising=False)
    with running_gateway(tmp_path, workspace=program_workspace) as gw:
        ledger = gw.ledger()
        prog = pluma.open(program_workspace, user="ben").program("P")
        config = {"gateway.address": gw.address, "gateway.proxy-address": gw.proxy_address,
                  "gateway.auth.type": "basic",
                  "gateway.auth.kwargs": {"username": "ben", "password": gw.password}}
        with dask.config.set(config):
            assert sweeps.resolve_target()[0] == "gateway"
            ds = sweeps.run(analysis.wing_lifting_line, grid={"aspect_ratio": [6.0, 8.0, 10.0], "taper_ratio": [0.4],
                                                               "alpha_deg": [2.0, 4.0]},
                            program=prog, name="gateway_polars", progress=False)
        assert bool(ds["ok"].all()) and ds["cl"].shape == (3, 1, 2)
        assert prog.context.dataset("gateway_polars")["cl"].shape == (3, 1, 2)
        usage = sweeps.usage_events(prog)[-1]  # the cluster's 0 -> N scale-up is recorded (the MSE KPI)
        assert usage["cluster"] == "gateway" and usage["scale_up_workers"] == 2
        assert 0 < usage["scale_up_seconds"] < 120
        assert ledger.peak("P").cores >= 2  # the sweep's cluster was charged to the program
        deadline = time.monotonic() + 30
        while ledger.usage("P").cores and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ledger.usage("P").cores == 0  # and closed when the sweep was done
