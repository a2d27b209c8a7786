"""Fixtures for the shared-index tests: a real PostgreSQL server for the session
(see tests/postgres/server.py: Debian's package, run as ``postgres`` because it
refuses root, on 127.0.0.1, stopped and deleted after), a fresh database per test,
and ``open_ws`` for workspaces whose query index lives there."""

from __future__ import annotations

import pytest

import pluma
from tests.postgres.server import OWNER, running_postgres

__all__ = ["OWNER"]


@pytest.fixture(scope="session")
def pg_server():
    with running_postgres() as server:
        yield server


@pytest.fixture
def pg_db(pg_server) -> str:
    """A fresh database owned by the index owner role (``pluma_owner``)."""
    return pg_server.create_database()


@pytest.fixture
def pg_url(pg_server, pg_db) -> str:
    return pg_server.url(pg_db)


@pytest.fixture
def location(tmp_path):
    """The contract tests' workspace location: a local folder (the index backend is what varies here)."""
    return str(tmp_path / "ws"), None


@pytest.fixture
def open_ws(location, pg_server, pg_db):
    """open_ws(user) -> Workspace whose query index lives in PostgreSQL. After the test,
    checks that the index really was PostgreSQL's: a row per frozen tag there, and no
    embedded index branch in the default enclave."""
    uri, options = location
    admin = pluma.open(uri, user="admin", storage_options=options)
    admin.set_index_url(pg_server.url(pg_db))

    def _open(user: str = "admin") -> pluma.Workspace:
        return pluma.open(uri, user=user, storage_options=options)

    yield _open
    from pluma.query.index import INDEX_BRANCH
    from pluma.query.postgres import close_connections

    close_connections()
    ws = _open("admin")
    assert INDEX_BRANCH not in ws._default.branches(), "the default enclave kept an embedded index"
    with pg_server.superuser(pg_db) as conn:
        rows = conn.execute("SELECT count(*) FROM pluma_index.frozen").fetchone()[0]
    assert rows == len(ws._default.tags("frozen/"))
