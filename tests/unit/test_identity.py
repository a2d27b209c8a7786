"""resolve_user() without a hub: asserted names, validation, and fail-closed hub checks."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pluma import identity
from pluma.errors import AccessDenied, InvalidInputError
from pluma.identity import resolve_user


@pytest.fixture(autouse=True)
def _fresh_cache():
    identity._clear_cache()
    yield
    identity._clear_cache()


@pytest.fixture
def os_user(monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "OsUser")
    return "OsUser"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- embedded mode: user= > PLUMA_USER > OS user ------------------------------


def test_user_argument_wins(os_user):
    assert resolve_user("ana", env={"PLUMA_USER": "bob"}) == "ana"


def test_pluma_user_over_os_user(os_user):
    assert resolve_user(env={"PLUMA_USER": "bob"}) == "bob"


def test_os_user_last(os_user):
    assert resolve_user(env={}) == "OsUser"


def test_empty_pluma_user_counts_as_unset(os_user):
    assert resolve_user(env={"PLUMA_USER": ""}) == "OsUser"


def test_case_preserved(os_user):
    assert resolve_user("Ana_Lopez-2", env={}) == "Ana_Lopez-2"


def test_env_defaults_to_os_environ(monkeypatch, os_user):
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    monkeypatch.setenv("PLUMA_USER", "carla")
    assert resolve_user() == "carla"


@pytest.mark.parametrize("name", ["a", "A", "a" * 64, "x-y_z9", "Q_"])
def test_valid_names(name):
    assert resolve_user(name, env={}) == name


@pytest.mark.parametrize(
    "name",
    ["", "1ana", "-ana", "_ana", "a" * 65, "ana smith", "ana.silva", "ana@corp", "ñandu",
     "ana\n", "ana/..", "../etc"],
)
def test_invalid_names(name):
    with pytest.raises(InvalidInputError, match="user= argument") as info:
        resolve_user(name, env={})
    assert "starting with a letter" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_non_string_user():
    with pytest.raises(InvalidInputError, match="string"):
        resolve_user(42, env={})  # type: ignore[arg-type]


def test_invalid_pluma_user_named_in_message(os_user):
    with pytest.raises(InvalidInputError, match="PLUMA_USER"):
        resolve_user(env={"PLUMA_USER": "bob smith"})


def test_invalid_os_user_says_what_to_do(monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "john.doe")
    with pytest.raises(InvalidInputError, match="PLUMA_USER"):
        resolve_user(env={})


def test_os_user_unknown(monkeypatch):
    def boom():
        raise OSError("No username set in the environment")

    monkeypatch.setattr("getpass.getuser", boom)
    with pytest.raises(InvalidInputError, match="pass user= or set PLUMA_USER"):
        resolve_user(env={})


# --- hub mode without a hub: everything fails closed ------------------------


def hub_env(**extra) -> dict[str, str]:
    env = {
        "JUPYTERHUB_USER": "ana",
        "JUPYTERHUB_API_URL": f"http://127.0.0.1:{closed_port()}/hub/api",
        "JUPYTERHUB_API_TOKEN": "secret-token-value",
    }
    env.update(extra)
    return env


def test_unreachable_hub_fails_closed(os_user):
    with pytest.raises(AccessDenied, match="cannot be reached") as info:
        resolve_user(env=hub_env(), timeout=2)
    assert isinstance(info.value, PermissionError)
    assert "secret-token-value" not in str(info.value)


def test_hub_identity_cannot_be_overridden_by_argument():
    with pytest.raises(AccessDenied, match="hub identity wins"):
        resolve_user("bob", env=hub_env())


def test_hub_identity_cannot_be_overridden_by_pluma_user():
    with pytest.raises(AccessDenied, match="hub identity wins"):
        resolve_user(env=hub_env(PLUMA_USER="bob"))


def test_repeating_hub_name_any_case_still_needs_the_hub():
    # "ANA" repeats "ana": not an override, so the check reaches the (absent) hub.
    with pytest.raises(AccessDenied, match="cannot be reached"):
        resolve_user("ANA", env=hub_env(PLUMA_USER="Ana"), timeout=2)


@pytest.mark.parametrize("missing", ["JUPYTERHUB_API_URL", "JUPYTERHUB_API_TOKEN"])
def test_missing_hub_variables(missing):
    env = hub_env()
    del env[missing]
    with pytest.raises(AccessDenied, match=f"{missing} is not set"):
        resolve_user(env=env)


def test_empty_jupyterhub_user_fails_closed():
    with pytest.raises(AccessDenied, match="empty"):
        resolve_user("ana", env=hub_env(JUPYTERHUB_USER=""))


def test_non_http_api_url():
    with pytest.raises(AccessDenied, match="http"):
        resolve_user(env=hub_env(JUPYTERHUB_API_URL="file:///etc/passwd"))


# --- hub mode against a scripted fake hub (edge cases a real hub rarely shows) --


class FakeHub:
    def __init__(self):
        self.status = 200
        self.body: object = {"kind": "user", "name": "ana"}
        self.headers: dict[str, str] = {}
        self.requests: list[tuple[str, str | None]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake.requests.append((self.path, self.headers.get("Authorization")))
                payload = fake.body if isinstance(fake.body, bytes) else json.dumps(fake.body).encode()
                self.send_response(fake.status)
                for k, v in fake.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.api_url = f"http://127.0.0.1:{self.server.server_address[1]}/hub/api"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def env(self, **extra):
        return hub_env(JUPYTERHUB_API_URL=self.api_url, **extra)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def _fake_hub_server():
    hub = FakeHub()
    yield hub
    hub.close()


@pytest.fixture
def fake_hub(_fake_hub_server):
    hub = _fake_hub_server
    hub.status, hub.body, hub.headers = 200, {"kind": "user", "name": "ana"}, {}
    hub.requests.clear()
    return hub


def test_fake_hub_confirms_and_caches(fake_hub):
    assert resolve_user(env=fake_hub.env()) == "ana"
    assert fake_hub.requests == [("/hub/api/user", "token secret-token-value")]
    assert resolve_user("ANA", env=fake_hub.env()) == "ana"
    assert len(fake_hub.requests) == 1  # cached for (api_url, token, user)
    resolve_user(env=fake_hub.env(JUPYTERHUB_API_TOKEN="another-token"))
    assert len(fake_hub.requests) == 2  # a different token is confirmed again


@pytest.mark.parametrize(
    ("status", "body", "headers", "match"),
    [
        (200, {"kind": "user", "name": "bob"}, {}, "belongs to 'bob'"),
        (200, {"kind": "user", "name": "Ana"}, {}, "belongs to 'Ana'"),
        (200, {"kind": "service", "name": "ana"}, {}, "belongs to a service"),
        (200, b"<html>login</html>", {}, "not a JupyterHub user model"),
        (200, {"nom": "ana"}, {}, "not a JupyterHub user model"),
        (403, {"status": 403}, {}, "rejected JUPYTERHUB_API_TOKEN"),
        (401, {"status": 401}, {}, "rejected JUPYTERHUB_API_TOKEN"),
        (404, {"status": 404}, {}, "ends in /hub/api"),
        (302, b"", {"Location": "http://evil.example/steal"}, "ends in /hub/api"),
        (500, {"status": 500}, {}, "HTTP 500"),
    ],
)
def test_fake_hub_failures(fake_hub, status, body, headers, match):
    fake_hub.status, fake_hub.body, fake_hub.headers = status, body, headers
    with pytest.raises(AccessDenied, match=match) as info:
        resolve_user(env=fake_hub.env())
    assert "secret-token-value" not in str(info.value)
    assert len(fake_hub.requests) == 1  # no redirect followed, nothing cached
    with pytest.raises(AccessDenied):
        resolve_user(env=fake_hub.env())
    assert len(fake_hub.requests) == 2


def test_hub_name_outside_pluma_rule(fake_hub):
    fake_hub.body = {"kind": "user", "name": "ana.silva"}
    with pytest.raises(InvalidInputError, match="username_map"):
        resolve_user(env=fake_hub.env(JUPYTERHUB_USER="ana.silva"))
