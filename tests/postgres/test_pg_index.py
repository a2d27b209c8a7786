"""The shared query index in a real PostgreSQL server (started by tests/postgres/conftest.py).

The query contract of tests/contract/test_frozen_at_work.py runs here unchanged (its
tests are imported, and this folder's ``open_ws`` puts the index in PostgreSQL);
then what only a shared index has: rebuilding it from the store, row-level
security against hand-written SQL, concurrent writers in two processes, bad URLs.
"""

from __future__ import annotations

import multiprocessing
import warnings

import psycopg
import pytest

import pluma
from pluma.query.postgres import PostgresIndex
from tests.conftest import make_program
from tests.contract.test_frozen_at_work import (  # noqa: F401  (the contract, run against PostgreSQL)
    frozen,
    test_frozen_references,
    test_query_filters_with_the_expression_language,
)
from tests.postgres.server import OWNER

EMPTY_GATE = {"requires": {}, "checks": [], "approvals": []}


def _freeze_phases(ws: pluma.Workspace, name: str, phases: int) -> None:
    """Freeze ``phases`` phases of program ``name`` with permissive gates (the writer's own roles)."""
    prog = ws.program(name)
    for i in range(phases):
        phase = prog.phase
        prog.set_gate(phase, {"phase": phase.value, **EMPTY_GATE})
        prog.context.set_params(mtow=70000.0 + i, message=f"{name} step {i}")
        prog.advance(f"{name} {phase.value}")


def _rows(server, db: str, sql: str = "SELECT tag FROM pluma_index.frozen") -> list[tuple]:
    with server.superuser(db) as conn:
        return conn.execute(sql).fetchall()


def _backend(ws: pluma.Workspace) -> PostgresIndex:
    from pluma.query.backend import index_url

    return PostgresIndex(ws, index_url(ws))


def test_index_heals_and_is_rebuilt_from_the_store(open_ws, frozen, pg_server, pg_db):
    ws = open_ws("admin")
    assert ws.settings()["index_url"] == pg_server.url(pg_db)
    tags = ws._default.tags("frozen/")
    assert len(tags) == 1
    # lose every row (as if the database were restored from an old backup): queries heal it
    _rows(pg_server, pg_db, "DELETE FROM pluma_index.frozen RETURNING tag")
    assert ws.query()["ref"].tolist() == ["AMPEL360@CAD#1"]
    assert [t for (t,) in _rows(pg_server, pg_db)] == tags
    # a row the store does not back disappears on rebuild
    with pg_server.superuser(pg_db) as conn:
        conn.execute("INSERT INTO pluma_index.frozen (workspace, enclave, tag, program_key, reader, entry) "
                     "SELECT workspace, enclave, 'frozen/ghost/1.CAD.1', 'ghost', reader, entry "
                     "FROM pluma_index.frozen LIMIT 1")
    assert ws.reindex() == 1
    assert [t for (t,) in _rows(pg_server, pg_db)] == tags
    with pytest.raises(pluma.AccessDenied):
        open_ws("ana").reindex()


def test_switching_between_embedded_and_postgresql_gives_the_same_answers(local_ws, pg_server, pg_db):
    admin = local_ws("admin")
    make_program(admin, "A1", members={"ana": ["program_manager", "chief_engineer"]})
    make_program(admin, "A2", members={"zed": ["program_manager", "chief_engineer"]})
    _freeze_phases(local_ws("ana"), "A1", 2)
    _freeze_phases(local_ws("zed"), "A2", 1)
    embedded = {u: local_ws(u).query(params=["mtow"]).to_dict("records") for u in ("admin", "ana", "zed")}
    assert [len(embedded[u]) for u in ("admin", "ana", "zed")] == [3, 2, 1]
    assert admin.set_index_url(pg_server.url(pg_db)) == 3  # filled from the store before it is used
    assert len(_rows(pg_server, pg_db)) == 3
    for user, records in embedded.items():
        assert local_ws(user).query(params=["mtow"]).to_dict("records") == records
    _freeze_phases(local_ws("zed"), "A2", 1)  # indexed in PostgreSQL only
    assert admin.set_index_url(None) == 4 and "index_url" not in admin.settings()
    assert len(local_ws("zed").query()) == 2  # the embedded index caught up from the tags
    other_db = pg_server.create_database()  # a new database for the same workspace (and its existing roles)
    assert admin.set_index_url(pg_server.url(other_db)) == 4
    assert len(local_ws("ana").query()) == 2 and len(local_ws("zed").query()) == 2


def test_a_failed_index_write_never_loses_a_freeze(open_ws, frozen, pg_server, pg_db, monkeypatch):
    raj = open_ws("raj").program("AMPEL360")
    raj.rework("CAD", reason="again")
    open_ws("pam").program("AMPEL360").set_gate("CAD", {"phase": "CAD", **EMPTY_GATE})
    monkeypatch.setenv("PLUMA_INDEX_URL", f"postgresql://{OWNER}@127.0.0.1:1/{pg_db}")  # database unreachable
    with pytest.warns(pluma.PlumaWarning, match="stored but not yet in the shared index"):
        second = raj.advance(message="again")
    with pytest.raises(pluma.StorageError, match="cannot reach the PostgreSQL query index"):
        open_ws("ana").query()
    monkeypatch.delenv("PLUMA_INDEX_URL")
    assert len(_rows(pg_server, pg_db)) == 1  # the database missed the second freeze...
    assert open_ws("ana").query()["ref"].tolist() == ["AMPEL360@CAD#1", second.ref]  # ...the store did not


def test_row_level_security_holds_against_hand_written_sql(open_ws, frozen, pg_server, pg_db):
    admin = open_ws("admin")
    admin.create_program("Hidden", classification="EAR99", members={"zed": ["program_manager", "chief_engineer"]})
    _freeze_phases(open_ws("zed"), "Hidden", 1)
    assert set(admin.query()["program"]) == {"AMPEL360", "Hidden"}  # the admin reads both through PLUMA
    index = _backend(admin)
    ana_role, zed_role = index.user_role("ana"), index.user_role("zed")
    # a DBA gives two users a login for their database roles (hand-written SQL from here on)
    with pg_server.connect(pg_db, OWNER, pg_server.owner_password) as dba:
        for role in (ana_role, zed_role):
            dba.execute(psycopg.sql.SQL("ALTER ROLE {} LOGIN PASSWORD 'user-pw'").format(psycopg.sql.Identifier(role)))
        dba.execute("ANALYZE pluma_index.frozen")
    with pg_server.connect(pg_db, ana_role, "user-pw") as ana, pg_server.connect(pg_db, zed_role, "user-pw") as zed:
        assert {r[0] for r in ana.execute("SELECT program_key FROM pluma_index.frozen")} == {"ampel360"}
        assert {r[0] for r in zed.execute("SELECT program_key FROM pluma_index.frozen")} == {"hidden"}
        assert ana.execute("SELECT count(*) FROM pluma_index.frozen WHERE program_key = 'hidden'").fetchone()[0] == 0
        with ana.cursor().copy("COPY pluma_index.frozen (program_key) TO STDOUT") as copy:
            assert {row[0] for row in copy.rows()} == {"ampel360"}
        ampel_row = ana.execute("SELECT * FROM pluma_index.frozen").fetchall()
        assert len(ampel_row) == 1 and ampel_row[0][5]["ref"] == "AMPEL360@CAD#1"
        # every way around the policy that a user session has, refused
        attempts = [
            psycopg.sql.SQL("SET ROLE {}").format(psycopg.sql.Identifier(index.program_role("hidden"))),
            psycopg.sql.SQL("SET ROLE {}").format(psycopg.sql.Identifier(zed_role)),
            f"SET ROLE {OWNER}",
            "SET ROLE postgres",
            f"SET SESSION AUTHORIZATION {OWNER}",
            f"SELECT set_config('role', '{OWNER}', false)",
            "ALTER TABLE pluma_index.frozen DISABLE ROW LEVEL SECURITY",
            "ALTER TABLE pluma_index.frozen NO FORCE ROW LEVEL SECURITY",
            "DROP POLICY members_read ON pluma_index.frozen",
            "CREATE POLICY mine ON pluma_index.frozen FOR SELECT USING (true)",
            "SELECT * FROM pluma_index.meta",
            "UPDATE pluma_index.frozen SET reader = reader",
            "DELETE FROM pluma_index.frozen",
        ]
        for statement in attempts:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                ana.execute(statement)
        ana.execute("SET row_security = off")  # allowed, but then any filtered read fails instead of leaking
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            ana.execute("SELECT * FROM pluma_index.frozen")
        ana.execute("RESET row_security")
        ana.execute("SELECT set_config('pluma.program', 'hidden', false)")  # session variables mean nothing here
        assert ana.execute("SELECT count(*) FROM pluma_index.frozen WHERE program_key = 'hidden'").fetchone()[0] == 0
        assert ana.execute("SELECT count(*) FROM pg_stats WHERE tablename = 'frozen'").fetchone()[0] == 0
        assert ana.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", (OWNER,)).fetchone()[0] is False
        # roles follow membership: once ana leaves AMPEL360, her open session sees nothing
        admin.program("AMPEL360").remove_member("ana")
        assert open_ws("ana").query().empty
        assert ana.execute("SELECT count(*) FROM pluma_index.frozen").fetchone()[0] == 0
        admin.program("Hidden").set_member("ana", ["viewer"])
        assert open_ws("ana").query()["program"].tolist() == ["Hidden"]
        assert {r[0] for r in ana.execute("SELECT program_key FROM pluma_index.frozen")} == {"hidden"}


def test_queries_read_through_the_users_database_role(open_ws, frozen, pg_server, pg_db):
    admin = open_ws("admin")
    admin.create_program("Other", classification="EAR99", members={"zed": ["program_manager", "chief_engineer"]})
    _freeze_phases(open_ws("zed"), "Other", 2)
    # the backend itself (below PLUMA's own access filter) gets only the user's rows from the database
    ana_rows = _backend(open_ws("ana")).load(admin._default)
    assert {e["program"] for e in ana_rows} == {"AMPEL360"}
    assert {e["program"] for e in _backend(open_ws("zed")).load(admin._default)} == {"Other"}
    assert _backend(open_ws("stranger")).load(admin._default) == []
    assert len(_backend(admin).load(admin._default)) == 3
    assert open_ws("zed").query(program="Other", params="mtow")["mtow"].tolist() == [70000.0, 70001.0]


def _worker(uri: str, names: list[str], phases: int) -> int:
    ws = pluma.open(uri, user="admin")
    for name in names:
        _freeze_phases(ws, name, phases)
    return len(names) * phases


def test_concurrent_freezes_from_two_processes_are_all_indexed(open_ws, location, pg_server, pg_db):
    admin = open_ws("admin")
    names = [f"W{i}" for i in range(4)]
    for name in names:
        admin.create_program(name, classification="EAR99", members={"admin": ["program_manager", "chief_engineer"]})
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        done = pool.starmap(_worker, [(location[0], names[:2], 3), (location[0], names[2:], 3)])
    assert sum(done) == 12
    stored = sorted(admin._default.tags("frozen/"))
    assert len(stored) == 12
    assert sorted(t for (t,) in _rows(pg_server, pg_db)) == stored  # written by the workers, not healed
    assert len(admin.query()) == 12


def test_programs_with_an_enclave_of_their_own_keep_their_index_there(open_ws, pg_server, pg_db):
    admin = open_ws("admin")
    admin.add_user("ivy", itar_cleared=True)
    admin.create_program("Secret", classification="ITAR", members={"ivy": ["program_manager", "chief_engineer"]})
    _freeze_phases(open_ws("ivy"), "Secret", 1)
    assert open_ws("ivy").query()["ref"].tolist() == ["Secret@CAD#1"]
    assert _rows(pg_server, pg_db) == []  # nothing of the ITAR program reached the shared database
    with pg_server.superuser(pg_db) as conn:
        text = conn.execute("SELECT coalesce(string_agg(entry::text, ''), '') FROM pluma_index.frozen").fetchone()[0]
    assert "Secret" not in text


def test_bad_index_urls_fail_clearly_and_change_nothing(local_ws, pg_server, pg_db, monkeypatch):
    ws = local_ws("admin")
    make_program(ws)
    for bad, error, match in [
        ("mysql://root@127.0.0.1/pluma", pluma.InvalidInputError, "PostgreSQL"),
        ("", pluma.InvalidInputError, "index URL"),
        (42, pluma.InvalidInputError, "index URL"),
        (f"postgresql://{OWNER}:secret@127.0.0.1:{pg_server.port}/{pg_db}", pluma.InvalidInputError, "password"),
        ("postgresql://u@127.0.0.1:1/pluma?sslmode=nonsense", pluma.StorageError, "PostgreSQL query index"),
        (f"postgresql://{OWNER}@127.0.0.1:1/pluma", pluma.StorageError, "cannot reach"),
        (f"postgresql://{OWNER}@127.0.0.1:{pg_server.port}/no_such_db", pluma.StorageError, "no_such_db"),
        (f"postgresql://nobody@127.0.0.1:{pg_server.port}/{pg_db}", pluma.StorageError, "cannot reach"),
    ]:
        with pytest.raises(error, match=match):
            ws.set_index_url(bad)
    with pytest.raises(pluma.AccessDenied, match="only a workspace admin"):
        local_ws("ana").set_index_url(pg_server.url(pg_db))
    assert "index_url" not in ws.settings()
    assert _rows(pg_server, pg_db, "SELECT to_regclass('pluma_index.frozen')") == [(None,)]
    monkeypatch.setenv("PLUMA_INDEX_URL", "http://example.invalid/index")
    with pytest.raises(pluma.InvalidInputError, match="PostgreSQL"):
        ws.query()
    monkeypatch.setenv("PLUMA_INDEX_URL", f"postgresql://{OWNER}:wrong@127.0.0.1:{pg_server.port}/{pg_db}")
    with pytest.raises(pluma.StorageError) as info:
        ws.query()
    assert "wrong" not in str(info.value) and "***" in str(info.value)  # passwords never shown
    monkeypatch.setenv("PLUMA_INDEX_URL", pg_server.url(pg_db))  # a service's own URL wins over the setting
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ws.query().empty
    assert _rows(pg_server, pg_db, "SELECT to_regclass('pluma_index.frozen')::text") == [("pluma_index.frozen",)]
