"""Shared, module-scoped fixtures for the template tests: one workspace with real
program data, one local Dask cluster, and each template executed once (kernel
starts cost about a second each, so runs are shared between tests)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import pluma
from tests.conftest import fill_cad, make_program

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def dask_client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster, set_as_default=False) as client:
        yield client


@pytest.fixture(scope="module")
def tws(tmp_path_factory, dask_client):
    """A workspace: AMPEL360 (CAD data, a failing test campaign, a wing sweep) with ana engineer,
    vic viewer; B2 (CAD data); C3 (ana not a member)."""
    from pluma import sweeps
    from pluma.analysis import wing_lifting_line
    from pluma.demo.datasets import test_results

    root = tmp_path_factory.mktemp("templates") / "ws"
    admin = pluma.open(root, user="admin")
    make_program(admin, members={"ana": ["engineer"], "raj": ["chief_engineer"], "lin": ["quality"],
                                 "pam": ["program_manager"], "vic": ["viewer"]})
    make_program(admin, "B2")
    make_program(admin, "C3", members={"raj": ["chief_engineer"]})
    ana = pluma.open(root, user="ana")
    for name in ("AMPEL360", "B2"):
        fill_cad(ana.program(name).context)
    prog = ana.program("AMPEL360")
    prog.context.put_dataset("test_results", test_results(passing=False))
    sweeps.run(wing_lifting_line, grid={"aspect_ratio": [8.0, 9.5, 11.0, 12.5], "taper_ratio": [0.2, 0.3, 0.4],
                                        "alpha_deg": [2.0]},
               program=prog, name="wing_sweep", client=dask_client, progress=False)
    return root


@pytest.fixture(scope="module")
def ana_ws(tws):
    return pluma.open(tws, user="ana")


@pytest.fixture
def test_templates(monkeypatch):
    """The tiny failing templates of tests/templates/data on the template path."""
    monkeypatch.setenv("PLUMA_TEMPLATE_PATH", str(DATA))
    return DATA


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch):
    for var in ("PLUMA_HOME", "PLUMA_USER", "JUPYTERHUB_USER", "PLUMA_INTERPRETER"):
        monkeypatch.delenv(var, raising=False)
    yield


def pytest_configure(config):  # kernels print a TCP warning on stderr; keep ICECHUNK quiet as the suite does
    os.environ.setdefault("ICECHUNK_LOG", "error")
