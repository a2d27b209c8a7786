"""resolve_user() against a real JupyterHub (hub-config/jupyterhub_config.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pluma import identity
from pluma.errors import AccessDenied
from pluma.identity import resolve_user

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub import free_ports, hub_available, running_hub  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    reason = hub_available()
    assert not reason, f"{reason} (bash env/setup.sh installs everything the hub needs)"
    with running_hub(tmp_path_factory.mktemp("hub")) as hub:
        hub.create_user("ana")
        hub.create_user("bob")
        hub.tokens = {"ana": hub.create_token("ana"), "bob": hub.create_token("bob")}
        yield hub


@pytest.fixture(autouse=True)
def _fresh_cache():
    identity._clear_cache()
    yield
    identity._clear_cache()


def ana_env(hub, **extra) -> dict[str, str]:
    env = {
        "JUPYTERHUB_USER": "ana",
        "JUPYTERHUB_API_URL": hub.api_url,
        "JUPYTERHUB_API_TOKEN": hub.tokens["ana"],
    }
    env.update(extra)
    return env


def test_hub_user_confirmed(hub):
    assert resolve_user(env=ana_env(hub)) == "ana"


def test_argument_may_repeat_hub_user(hub):
    assert resolve_user("ana", env=ana_env(hub)) == "ana"
    assert resolve_user("ANA", env=ana_env(hub, PLUMA_USER="Ana")) == "ana"


def test_argument_cannot_override_hub_user(hub):
    with pytest.raises(AccessDenied, match="hub identity wins"):
        resolve_user("bob", env=ana_env(hub))


def test_pluma_user_cannot_override_hub_user(hub):
    with pytest.raises(AccessDenied, match="hub identity wins"):
        resolve_user(env=ana_env(hub, PLUMA_USER="bob"))


def test_someone_elses_token(hub):
    with pytest.raises(AccessDenied, match="belongs to 'bob'"):
        resolve_user(env=ana_env(hub, JUPYTERHUB_API_TOKEN=hub.tokens["bob"]))


def test_bogus_token(hub):
    with pytest.raises(AccessDenied, match="rejected JUPYTERHUB_API_TOKEN") as info:
        resolve_user(env=ana_env(hub, JUPYTERHUB_API_TOKEN="0123456789abcdef" * 4))
    assert "0123456789abcdef" not in str(info.value)


def test_revoked_token(hub):
    token = hub.create_token("ana", note="to revoke")
    model = hub.api("GET", "users/ana/tokens").json()["api_tokens"]
    token_id = next(t["id"] for t in model if t["note"] == "to revoke")
    hub.api("DELETE", f"users/ana/tokens/{token_id}")
    with pytest.raises(AccessDenied, match="rejected"):
        resolve_user(env=ana_env(hub, JUPYTERHUB_API_TOKEN=token))


def test_service_token_is_not_a_user(hub):
    with pytest.raises(AccessDenied, match="belongs to a service"):
        resolve_user(env=ana_env(hub, JUPYTERHUB_USER="pluma-admin", JUPYTERHUB_API_TOKEN=hub.token))


def test_api_url_without_hub_api(hub):
    with pytest.raises(AccessDenied, match="/hub/api"):
        resolve_user(env=ana_env(hub, JUPYTERHUB_API_URL=hub.url.rstrip("/")))


def test_unreachable_hub(hub):
    (port,) = free_ports(1)  # nothing listens there
    with pytest.raises(AccessDenied, match="cannot be reached"):
        resolve_user(env=ana_env(hub, JUPYTERHUB_API_URL=f"http://127.0.0.1:{port}/hub/api"))
