"""Local JupyterHub for PLUMA: development, demos and the integration tests.

Run it from the repository root::

    env/install-node-tools.sh        # configurable-http-proxy into env/node_modules
    PLUMA_HUB_SERVICE_TOKEN=$(openssl rand -hex 32) \\
        .venv/bin/jupyterhub -f hub-config/jupyterhub_config.py

Everything listens on 127.0.0.1 only. Settings come from environment variables:

    PLUMA_HUB_PORT            public port (the proxy)                  default 8000
    PLUMA_HUB_API_PORT        configurable-http-proxy's API port       default 8001
    PLUMA_HUB_INTERNAL_PORT   the hub process itself                   default 8081
    PLUMA_HUB_DIR             sqlite db, cookie secret, pid files,
                              users' home folders                       default <repo>/pluma-home/hub
    PLUMA_HUB_SERVICE_TOKEN   API token of the `pluma-admin` service
                              (>= 8 chars; no token if unset)
    PLUMA_HUB_USER_PASSWORD   shared password for users (>= 8 chars; unset: nobody logs in
                              through the browser, the REST API still works)
    PLUMA_HUB_ADMIN_PASSWORD  password of the admin users (>= 32 chars)
    PLUMA_HUB_ADMINS          comma-separated admin user names
    PLUMA_HUB_USERS           comma-separated allowed user names (users created through
                              the REST API are allowed as well)
    PLUMA_HUB_LOG_LEVEL       DEBUG, INFO, WARNING ...                 default INFO

What production changes (zero-to-jupyterhub-k8s Helm chart):

* Spawner: ``KubeSpawner`` instead of ``SimpleLocalProcessSpawner``. Each user
  gets a pod, with per-enclave storage credentials mounted only in the pods
  of users cleared for that enclave (ITAR). Here every user's server runs as
  the same OS user on this machine, so PLUMA's library checks are the only
  wall between tenants (see DESIGN.md, "Security model").
* Authenticator: ``GenericOAuthenticator`` (OIDC against the corporate IdP)
  with ``manage_groups`` so that IdP groups become hub groups, instead of a
  shared password. User names are mapped to PLUMA's rule (letters, digits,
  '-' and '_', starting with a letter) with ``Authenticator.username_map`` or
  the IdP's claim.
* Proxy: the chart runs configurable-http-proxy as its own pod (or Traefik);
  TLS terminates at the ingress; ``internal_ssl`` may protect hub <-> server.
* Database: PostgreSQL instead of sqlite; cookie secret and service tokens
  from Kubernetes secrets, never from a shell variable.
* Roles and groups come from PLUMA program membership (DESIGN.md), loaded
  through the chart's ``hub.loadRoles`` instead of the block below.
"""

import os
from pathlib import Path

c = get_config()  # noqa: F821  (injected by JupyterHub)

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
CHP = REPO / "env" / "node_modules" / ".bin" / "configurable-http-proxy"
IP = "127.0.0.1"


def _env(name, default=None):
    value = os.environ.get(name, "").strip()
    return value if value else default


def _names(name):
    return {n.strip() for n in _env(name, "").split(",") if n.strip()}


hub_port = int(_env("PLUMA_HUB_PORT", "8000"))
proxy_api_port = int(_env("PLUMA_HUB_API_PORT", "8001"))
hub_internal_port = int(_env("PLUMA_HUB_INTERNAL_PORT", "8081"))
hub_dir = Path(_env("PLUMA_HUB_DIR", str(REPO / "pluma-home" / "hub"))).resolve()
hub_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

if not CHP.exists():
    raise SystemExit(f"{CHP} not found: run env/install-node-tools.sh first")

# --- network: loopback only --------------------------------------------------
c.JupyterHub.bind_url = f"http://{IP}:{hub_port}"
c.JupyterHub.hub_bind_url = f"http://{IP}:{hub_internal_port}"
c.JupyterHub.log_level = _env("PLUMA_HUB_LOG_LEVEL", "INFO")

# --- state on disk -------------------------------------------------------------
c.JupyterHub.db_url = f"sqlite:///{hub_dir / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(hub_dir / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(hub_dir / "jupyterhub.pid")
# Stop proxy and single-user servers when the hub stops (the defaults, stated).
c.JupyterHub.cleanup_proxy = True
c.JupyterHub.cleanup_servers = True

# --- proxy: configurable-http-proxy from env/node_modules ----------------------
c.JupyterHub.proxy_class = "configurable-http-proxy"
c.ConfigurableHTTPProxy.command = [str(CHP)]
c.ConfigurableHTTPProxy.api_url = f"http://{IP}:{proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = str(hub_dir / "jupyterhub-proxy.pid")
c.ConfigurableHTTPProxy.should_start = True
# The proxy's auth token is CONFIGPROXY_AUTH_TOKEN when set, else generated per start.

# --- spawner: local processes, all as the current OS user -----------------------
c.JupyterHub.spawner_class = "simple"  # SimpleLocalProcessSpawner
c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.args = ["--allow-root"]  # sessions and CI run as root on these machines
c.Spawner.default_url = "/lab"
c.Spawner.ip = IP
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
c.SimpleLocalProcessSpawner.home_dir_template = str(hub_dir / "users" / "{username}")

# --- authenticator: shared password (DummyAuthenticator is deprecated) -----------
c.JupyterHub.authenticator_class = "shared-password"
user_password = _env("PLUMA_HUB_USER_PASSWORD")
admin_password = _env("PLUMA_HUB_ADMIN_PASSWORD")
if user_password:
    c.SharedPasswordAuthenticator.user_password = user_password
if admin_password:
    c.SharedPasswordAuthenticator.admin_password = admin_password
c.Authenticator.admin_users = _names("PLUMA_HUB_ADMINS")
c.Authenticator.allowed_users = _names("PLUMA_HUB_USERS")
c.Authenticator.allow_existing_users = True  # users created through the REST API may log in

# --- the pluma-admin service: manages users, groups, tokens and servers ----------
service = {"name": "pluma-admin", "display": False}
service_token = _env("PLUMA_HUB_SERVICE_TOKEN")
if service_token:
    if len(service_token) < 8:
        raise SystemExit("PLUMA_HUB_SERVICE_TOKEN must be at least 8 characters")
    service["api_token"] = service_token
c.JupyterHub.services = [service]
c.JupyterHub.load_roles = [
    {
        "name": "pluma-admin",
        "description": "PLUMA's administration service: users, groups, tokens, servers",
        "scopes": [
            "admin:users",
            "admin:groups",
            "admin:servers",
            "tokens",
            "list:users",
            "list:groups",
            "read:hub",
            "proxy",
        ],
        "services": ["pluma-admin"],
    },
]
