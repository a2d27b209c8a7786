"""Shared fixtures: real workspaces on a local folder and on a real S3-compatible
server (moto) started on 127.0.0.1 for the session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import pluma

os.environ.setdefault("ICECHUNK_LOG", "error")
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server():
    """A moto S3 server on 127.0.0.1 for the whole test session."""
    port = free_port()
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("moto_server did not start")
    endpoint = f"http://127.0.0.1:{port}"
    yield endpoint
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def make_bucket(endpoint: str) -> str:
    import boto3

    bucket = f"pluma-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=bucket)
    return bucket


def s3_options(endpoint: str) -> dict:
    return {"endpoint_url": endpoint, "allow_http": True, "force_path_style": True, "region": "us-east-1",
            "access_key_id": "testing", "secret_access_key": "testing"}


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.integration)])
def location(request, tmp_path):
    """(uri, storage_options) of a fresh workspace on each backend: the contract tests run on both."""
    if request.param == "local":
        return str(tmp_path / "ws"), None
    endpoint = request.getfixturevalue("moto_server")
    return f"s3://{make_bucket(endpoint)}/plumaws", s3_options(endpoint)


@pytest.fixture
def open_ws(location):
    """open_ws(user) -> Workspace on the backend under test."""
    uri, options = location

    def _open(user: str = "admin") -> pluma.Workspace:
        return pluma.open(uri, user=user, storage_options=options)

    return _open


@pytest.fixture
def local_ws(tmp_path):
    def _open(user: str = "admin") -> pluma.Workspace:
        return pluma.open(tmp_path / "ws", user=user)

    return _open


CAD_PARAMS = dict(span=35.8, wing_area=122.6, aspect_ratio=35.8**2 / 122.6, sweep_quarter_chord=25.0,
                  mtow=78000.0, oew=42600.0, thrust_to_weight=0.31, cruise_mach=0.78)


def mass_breakdown(oew: float = 42600.0):
    import numpy as np
    import xarray as xr

    shares = np.array([0.25, 0.25, 0.06, 0.04, 0.2, 0.2])
    return xr.Dataset({"mass": ("component", oew * shares, {"units": "kg"})},
                      coords={"component": ["wing", "fuselage", "empennage", "landing_gear", "propulsion", "systems"]})


def make_program(ws: pluma.Workspace, name: str = "AMPEL360", **kwargs) -> pluma.Program:
    kwargs.setdefault("classification", "EAR99")
    kwargs.setdefault("priority", "research")
    kwargs.setdefault("domains", ["AAA", "PPP"])
    kwargs.setdefault("members", {"ana": ["engineer"], "raj": ["chief_engineer"], "lin": ["quality"],
                                  "pam": ["program_manager"]})
    return ws.create_program(name, **kwargs)


def fill_cad(ctx) -> None:
    with ctx.transaction(message="CAD sizing") as tx:
        tx.set_params(**CAD_PARAMS)
        tx.put_dataset("mass_breakdown", mass_breakdown())
