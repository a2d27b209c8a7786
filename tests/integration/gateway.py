"""Run a real dask-gateway-server (hub-config/dask_gateway_config.py) for integration tests.

    with running_gateway(tmp_path, workspace=ws_path) as gw:
        gateway = gw.client("ana")          # dask_gateway.Gateway as user ana
        cluster = gateway.new_cluster(program="P")

Everything listens on free ports on 127.0.0.1; the ledger, cluster working
directories and the log live in ``tmp_path``. On exit the gateway is stopped
with SIGINT (it stops its clusters), and any scheduler or worker it started
that is still alive is killed: they run in their own sessions, so killing the
gateway's process group alone would leave them running. They are found by the
gateway API URL (unique port) in their environment.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from hub import free_ports

REPO = Path(__file__).resolve().parents[2]
SERVER = REPO / ".venv" / "bin" / "dask-gateway-server"
CONFIG = REPO / "hub-config" / "dask_gateway_config.py"

START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0


def gateway_available() -> str | None:
    """Why a gateway cannot be started here, or None when it can (for skip marks)."""
    if not SERVER.exists():
        return f"{SERVER} missing: install pluma[hub] (env/setup.sh)"
    try:
        import dask_gateway  # noqa: F401
    except ImportError:
        return "dask-gateway missing: install pluma[hub] (env/setup.sh)"
    return None


@dataclass
class RunningGateway:
    address: str  # http://127.0.0.1:PORT
    proxy_address: str  # gateway://127.0.0.1:TCP_PORT
    password: str
    dir: Path
    ledger_path: Path
    log_path: Path
    process: subprocess.Popen

    def client(self, user: str, **kwargs):
        """A ``dask_gateway.Gateway`` authenticated as ``user``."""
        from dask_gateway import BasicAuth, Gateway

        return Gateway(self.address, proxy_address=self.proxy_address,
                       auth=BasicAuth(user, self.password), **kwargs)

    def ledger(self):
        from pluma.gateway.quotas import ProgramQuotaLedger

        return ProgramQuotaLedger(self.ledger_path)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _children_of(api_port: int) -> list[int]:
    """Pids of our processes whose environment points at this gateway's API."""
    marker = f"DASK_GATEWAY_API_URL=http://127.0.0.1:{api_port}/".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if any(v.startswith(marker) for v in environ.split(b"\0")):
            pids.append(int(entry.name))
    return pids


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def running_gateway(tmp_path: Path, *, workspace: Path, log_level: str = "INFO") -> Iterator[RunningGateway]:
    port, tcp_port, internal_port = free_ports(3)
    gw_dir = tmp_path / "gateway"
    gw_dir.mkdir(parents=True, exist_ok=True)
    password = secrets.token_hex(16)
    log_path = gw_dir / "gateway.log"
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("JUPYTERHUB_", "DASK_GATEWAY", "PLUMA_GATEWAY"))
    }
    env.update({
        "PLUMA_GATEWAY_WORKSPACE": str(workspace),
        "PLUMA_GATEWAY_DIR": str(gw_dir),
        "PLUMA_GATEWAY_PORT": str(port),
        "PLUMA_GATEWAY_TCP_PORT": str(tcp_port),
        "PLUMA_GATEWAY_INTERNAL_PORT": str(internal_port),
        "PLUMA_GATEWAY_PASSWORD": password,
        "PLUMA_GATEWAY_LOG_LEVEL": log_level,
        "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
    })
    address = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(SERVER), "-f", str(CONFIG)], cwd=gw_dir, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    gw = RunningGateway(address=address, proxy_address=f"gateway://127.0.0.1:{tcp_port}",
                        password=password, dir=gw_dir, ledger_path=gw_dir / "program-quotas.sqlite",
                        log_path=log_path, process=proc)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"dask-gateway-server exited with {proc.returncode}:\n{gw.log()[-4000:]}")
            try:
                if httpx.get(f"{address}/api/health", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"dask-gateway-server not healthy after {START_TIMEOUT} s:\n{gw.log()[-4000:]}")
            time.sleep(0.1)
        yield gw
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)  # the gateway stops its clusters on shutdown
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        _kill(_children_of(port))
