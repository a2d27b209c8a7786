"""Who is acting: resolve the PLUMA user name.

Two modes, chosen by the environment (see DESIGN.md, "Security model"):

* **Embedded** (no ``JUPYTERHUB_USER``): the name is *asserted* — the ``user=``
  argument, else ``PLUMA_USER``, else the operating-system user. It attributes
  actions; it does not authenticate anybody.
* **JupyterHub** (``JUPYTERHUB_USER`` is set): the hub's identity wins. It is
  confirmed by asking the hub who owns ``JUPYTERHUB_API_TOKEN``
  (``GET {JUPYTERHUB_API_URL}/user``). ``user=`` and ``PLUMA_USER`` may only
  repeat that name. Anything that cannot be confirmed fails closed with
  :class:`~pluma.errors.AccessDenied`.

User names are 1-64 ASCII letters, digits, ``-`` and ``_``, starting with a
letter. They are returned as given; PLUMA compares them case-insensitively.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Mapping

from pluma.errors import AccessDenied, InvalidInputError

__all__ = ["resolve_user", "validate_user_name"]

_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")

# Successful hub confirmations for this process: (api_url, sha256(token), user).
# The token itself is not kept here.
_confirmed: set[tuple[str, str, str]] = set()
_confirmed_lock = threading.Lock()


def validate_user_name(name: object, *, source: str = "user name") -> str:
    """Return ``name`` unchanged if it is a valid PLUMA user name, else raise
    :class:`~pluma.errors.InvalidInputError` naming ``source``."""
    if not isinstance(name, str):
        raise InvalidInputError(f"{source} must be a string, not {type(name).__name__}")
    if not _NAME_RE.fullmatch(name):
        raise InvalidInputError(
            f"invalid {source} {name!r}: a PLUMA user name is 1-64 characters of "
            "ASCII letters, digits, '-' and '_', starting with a letter"
        )
    return name


def resolve_user(
    user: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> str:
    """Return the name of the acting user.

    ``env`` defaults to ``os.environ``. ``timeout`` (seconds) bounds the call
    to the JupyterHub API. Outside JupyterHub the operating-system user comes
    from :func:`getpass.getuser`, which always reads the real process
    environment.

    Raises :class:`~pluma.errors.InvalidInputError` for a malformed name and
    :class:`~pluma.errors.AccessDenied` when running under JupyterHub and the
    hub identity cannot be confirmed or is contradicted by ``user=`` /
    ``PLUMA_USER``.
    """
    if env is None:
        env = os.environ
    if user is not None and not isinstance(user, str):
        raise InvalidInputError(f"user= must be a string or None, not {type(user).__name__}")
    pluma_user = env.get("PLUMA_USER") or None  # an empty PLUMA_USER counts as unset

    if "JUPYTERHUB_USER" in env:
        return _resolve_hub_user(user, pluma_user, env, timeout)

    if user is not None:
        return validate_user_name(user, source="user= argument")
    if pluma_user is not None:
        return validate_user_name(pluma_user, source="PLUMA_USER")
    import getpass

    try:
        os_user = getpass.getuser()
    except Exception as exc:  # no LOGNAME/USER and no passwd entry (some containers)
        raise InvalidInputError(
            f"cannot determine the operating-system user ({exc}); pass user= or set PLUMA_USER"
        ) from None
    return validate_user_name(
        os_user, source="operating-system user (pass user= or set PLUMA_USER to use another name)"
    )


def _resolve_hub_user(
    user: str | None, pluma_user: str | None, env: Mapping[str, str], timeout: float
) -> str:
    hub_user = env["JUPYTERHUB_USER"]
    if not hub_user:
        raise AccessDenied(
            "JUPYTERHUB_USER is set but empty: cannot confirm the JupyterHub identity. "
            "Start PLUMA from a server spawned by JupyterHub, or unset JUPYTERHUB_USER outside JupyterHub."
        )
    for value, source in ((user, "user="), (pluma_user, "PLUMA_USER")):
        if value is not None and value.casefold() != hub_user.casefold():
            raise AccessDenied(
                f"{source} {value!r} differs from the JupyterHub user {hub_user!r}: under JupyterHub "
                f"the hub identity wins and cannot be overridden. Drop {source}, or log in to the hub "
                f"as {value!r}."
            )

    api_url = (env.get("JUPYTERHUB_API_URL") or "").rstrip("/")
    token = env.get("JUPYTERHUB_API_TOKEN") or ""
    if not api_url:
        raise AccessDenied(
            f"cannot confirm JupyterHub user {hub_user!r}: JUPYTERHUB_API_URL is not set. "
            "It is set by JupyterHub in every spawned server; run PLUMA there, or unset "
            "JUPYTERHUB_USER outside JupyterHub."
        )
    if not token:
        raise AccessDenied(
            f"cannot confirm JupyterHub user {hub_user!r}: JUPYTERHUB_API_TOKEN is not set. "
            "It is set by JupyterHub in every spawned server; run PLUMA there, or unset "
            "JUPYTERHUB_USER outside JupyterHub."
        )

    key = (api_url, hashlib.sha256(token.encode()).hexdigest(), hub_user)
    with _confirmed_lock:
        if key in _confirmed:
            return hub_user

    name = _hub_whoami(api_url, token, hub_user, env, timeout)
    if name != hub_user:
        raise AccessDenied(
            f"JUPYTERHUB_API_TOKEN belongs to {name!r}, not to JUPYTERHUB_USER {hub_user!r}: "
            "refusing to act. Use the token JupyterHub gave this server (restart the server "
            "from the hub's control panel if it was replaced)."
        )
    # The hub confirmed it, but PLUMA's own naming rule still applies.
    validate_user_name(
        hub_user,
        source="JupyterHub user name (map it to letters, digits, '-' and '_' with the "
        "hub's Authenticator.username_map)",
    )
    with _confirmed_lock:
        _confirmed.add(key)
    return hub_user


def _hub_whoami(
    api_url: str, token: str, hub_user: str, env: Mapping[str, str], timeout: float
) -> str:
    """Ask the hub who owns ``token``; return the user name or raise AccessDenied."""
    import json
    import urllib.error
    import urllib.request

    url = f"{api_url}/user"
    what = f"cannot confirm JupyterHub user {hub_user!r} at {url}"
    if not url.startswith(("http://", "https://")):
        raise AccessDenied(f"{what}: JUPYTERHUB_API_URL must be an http(s) URL ending in /hub/api")

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        # urllib would forward the Authorization header to wherever a redirect
        # points; the hub API never redirects /user, so a redirect is an error.
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            return None

    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.ProxyHandler({}),  # the hub API is internal: never via HTTP(S)_PROXY
        _NoRedirect(),
    ]
    if url.startswith("https://") and env.get("JUPYTERHUB_SSL_CLIENT_CA"):
        import ssl

        # JupyterHub internal_ssl: trust the hub's CA and present our client cert.
        ctx = ssl.create_default_context(cafile=env["JUPYTERHUB_SSL_CLIENT_CA"])
        cert, keyfile = env.get("JUPYTERHUB_SSL_CERTFILE"), env.get("JUPYTERHUB_SSL_KEYFILE")
        if cert and keyfile:
            ctx.load_cert_chain(cert, keyfile)
        handlers.append(urllib.request.HTTPSHandler(context=ctx))
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(
        url,
        headers={"Authorization": f"token {token}", "Accept": "application/json"},
        method="GET",
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            body = response.read(1_000_000)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise AccessDenied(
                f"{what}: the hub rejected JUPYTERHUB_API_TOKEN (HTTP {exc.code}; invalid, "
                "expired or revoked). Restart your server from the hub's control panel to get "
                "a fresh token."
            ) from None
        if 300 <= exc.code < 400 or exc.code == 404:
            raise AccessDenied(
                f"{what}: HTTP {exc.code}. Check that JUPYTERHUB_API_URL points at the hub API "
                "(it ends in /hub/api)."
            ) from None
        raise AccessDenied(
            f"{what}: the hub answered HTTP {exc.code}. Retry later or ask the hub administrator."
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AccessDenied(
            f"{what}: the hub cannot be reached ({reason}). PLUMA fails closed without a "
            "confirmed identity: check that the hub is running and JUPYTERHUB_API_URL is right."
        ) from None

    try:
        model = json.loads(body)
    except ValueError:
        model = None
    if not isinstance(model, dict) or not isinstance(model.get("name"), str):
        raise AccessDenied(
            f"{what}: the answer is not a JupyterHub user model. Check that JUPYTERHUB_API_URL "
            "points at the hub API (it ends in /hub/api)."
        )
    kind = model.get("kind", "user")
    if kind != "user":
        raise AccessDenied(
            f"{what}: JUPYTERHUB_API_TOKEN belongs to a {kind} ({model['name']!r}), not to a "
            "user. Use a user's token."
        )
    return model["name"]


def _clear_cache() -> None:
    """Forget hub confirmations (for tests)."""
    with _confirmed_lock:
        _confirmed.clear()
