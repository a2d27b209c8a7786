"""Run a real JupyterHub (hub-config/jupyterhub_config.py) for integration tests.

    with running_hub(tmp_path) as hub:
        hub.create_user("ana")
        token = hub.create_token("ana")
        ... hub.api_url ...

Everything listens on free ports on 127.0.0.1; the hub's database, cookie
secret, pid files and log live in ``tmp_path``. On exit the hub is stopped
and every process it started is killed, configurable-http-proxy included:
JupyterHub starts the proxy (and single-user servers) with
``start_new_session=True``, so killing the hub's process group alone would
leave them running.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
JUPYTERHUB = REPO / ".venv" / "bin" / "jupyterhub"
CONFIG = REPO / "hub-config" / "jupyterhub_config.py"
CHP = REPO / "env" / "node_modules" / ".bin" / "configurable-http-proxy"

START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def hub_available() -> str | None:
    """Why a hub cannot be started here, or None when it can (for skip marks)."""
    if not JUPYTERHUB.exists():
        return f"{JUPYTERHUB} missing: install pluma[hub] (env/setup.sh)"
    if not CHP.exists():
        return f"{CHP} missing: run env/install-node-tools.sh"
    if shutil.which("node") is None:
        return "node not found: configurable-http-proxy needs Node.js"
    return None


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1 (held together while chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class Hub:
    """A running hub: its URLs, the ``pluma-admin`` service token and a REST client."""

    url: str  # public URL (through the proxy), ends in "/"
    api_url: str  # ".../hub/api", as JUPYTERHUB_API_URL
    token: str  # the pluma-admin service token
    dir: Path
    log_path: Path
    process: subprocess.Popen
    client: httpx.Client = field(repr=False)

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        """Call the hub REST API as the pluma-admin service; raise on HTTP errors."""
        response = self.client.request(method, f"{self.api_url}/{path.lstrip('/')}", **kwargs)
        if response.is_error:
            raise RuntimeError(f"{method} {path}: HTTP {response.status_code} {response.text}")
        return response

    def create_user(self, name: str) -> dict:
        return self.api("POST", f"users/{name}").json()

    def create_token(self, name: str, *, note: str = "pluma tests", **body) -> str:
        """Mint an API token owned by user ``name``; returns the token string."""
        return self.api("POST", f"users/{name}/tokens", json={"note": note, **body}).json()["token"]

    def delete_user(self, name: str) -> None:
        self.api("DELETE", f"users/{name}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _proc_start_time(pid: int) -> int | None:
    """Kernel start time of ``pid`` (guards against pid reuse), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[19])


def _descendants(root: int) -> list[tuple[int, int]]:
    """(pid, start time) of every live descendant of ``root``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            start = _proc_start_time(child)
            if start is not None:
                found.append((child, start))
                stack.append(child)
    return found


def _kill(pid: int, start: int | None, sig: int) -> None:
    if start is not None and _proc_start_time(pid) != start:
        return  # gone, or the pid now belongs to someone else
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _alive(pid: int, start: int | None) -> bool:
    now = _proc_start_time(pid)
    if now is None or (start is not None and now != start):
        return False
    # a zombie is dead for our purposes
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z":
            return False
    return True


def _stop(process: subprocess.Popen, hub_dir: Path) -> None:
    """Stop the hub gracefully, then make sure nothing it started survives."""
    tracked = _descendants(process.pid)
    proxy_pid_file = hub_dir / "jupyterhub-proxy.pid"
    with contextlib.suppress(OSError, ValueError):
        pid = int(proxy_pid_file.read_text().strip())
        tracked.append((pid, _proc_start_time(pid)))
    if process.poll() is None:
        # SIGTERM: JupyterHub stops the proxy and the servers (cleanup_* = True).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # stragglers in the hub's own group
    # The proxy and servers run in their own sessions: kill them by pid.
    for pid, start in tracked:
        _kill(pid, start, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while any(_alive(p, s) for p, s in tracked) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid, start in tracked:
        if _alive(pid, start):
            _kill(pid, start, signal.SIGKILL)


@contextlib.contextmanager
def running_hub(tmp_path: Path, *, log_level: str = "INFO") -> Iterator[Hub]:
    """Start hub-config/jupyterhub_config.py on free 127.0.0.1 ports; yield a :class:`Hub`."""
    reason = hub_available()
    if reason:
        raise RuntimeError(reason)
    hub_dir = Path(tmp_path) / "hub"
    hub_dir.mkdir(parents=True, exist_ok=True)
    port, proxy_api_port, internal_port = free_ports(3)
    token = secrets.token_hex(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "PLUMA_HUB_"))}
    env.update(
        PLUMA_HUB_PORT=str(port),
        PLUMA_HUB_API_PORT=str(proxy_api_port),
        PLUMA_HUB_INTERNAL_PORT=str(internal_port),
        PLUMA_HUB_DIR=str(hub_dir),
        PLUMA_HUB_SERVICE_TOKEN=token,
        PLUMA_HUB_LOG_LEVEL=log_level,
        CONFIGPROXY_AUTH_TOKEN=secrets.token_hex(32),
    )
    log_path = hub_dir / "jupyterhub.log"
    url = f"http://127.0.0.1:{port}/"
    api_url = f"{url}hub/api"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(JUPYTERHUB), "-f", str(CONFIG)],
            cwd=hub_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as a whole on exit
        )
    client = httpx.Client(headers={"Authorization": f"token {token}"}, timeout=10, trust_env=False)
    hub = Hub(url, api_url, token, hub_dir, log_path, process, client)
    try:
        _wait_ready(hub)
        yield hub
    finally:
        client.close()
        _stop(process, hub_dir)


def _wait_ready(hub: Hub) -> None:
    """Wait until ``/hub/api/`` answers through the proxy (hub and proxy both up)."""
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(timeout=2, trust_env=False) as probe:
        while True:
            if hub.process.poll() is not None:
                raise RuntimeError(
                    f"jupyterhub exited with {hub.process.returncode}:\n{hub.log()[-4000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if probe.get(f"{hub.api_url}/").status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"jupyterhub not ready after {START_TIMEOUT:.0f} s:\n{hub.log()[-4000:]}"
                )
            time.sleep(0.1)
