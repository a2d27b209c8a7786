"""The shared query index in PostgreSQL, with row-level security per program.

One table, ``pluma_index.frozen``, holds the entries of the default enclave of any
number of workspaces (one row per frozen context, the entry as JSON). Each row names
the PostgreSQL role of its program; the table has ``ROW LEVEL SECURITY`` enabled and
forced, and the only policy other roles get is::

    USING (pg_has_role(current_user, reader, 'MEMBER'))

so a session sees a row only if its role is a member of that program's role. PLUMA
keeps the roles in step with the workspace registry (per workspace ``ns``, a short
hash of its identity)::

    pluma_<ns>_readers     may SELECT the table (every user role is a member)
    pluma_<ns>_p_<program> one per program of the default enclave (NOLOGIN)
    pluma_<ns>_u_<user>    one per user (NOLOGIN until a DBA gives it a login),
                           granted the roles of every program the user may read

The URL's role (the *index owner*: owner of the table, with ``CREATEROLE``) writes
entries and manages the roles; user sessions never connect as it. To read for a
user, PLUMA runs ``SET LOCAL ROLE pluma_<ns>_u_<user>`` in a transaction, so the
database itself filters what ``ws.query`` sees. A person with a login for their
user role sees, even by hand-written SQL, only their programs' rows: they cannot
``SET ROLE`` to a role they are not a member of, they do not own the table (so
cannot turn RLS off), and ``pg_stats`` hides the table's statistics from them.

Every statement is parameterised; role names enter DDL only as quoted identifiers
(:class:`psycopg.sql.Identifier`). The store stays the source of truth:
:meth:`PostgresIndex.reconcile` adds rows for tags the table lacks and
:meth:`PostgresIndex.rebuild` recreates the workspace's rows from the tags.

Examples
--------
>>> role_name("1a2b3c4d", "p", "ampel360")
'pluma_1a2b3c4d_p_ampel360'
>>> len(role_name("1a2b3c4d", "u", "x" * 64))
63
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import threading
import weakref
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Hashable, Iterator

from ..errors import PlumaError, StorageError, warn
from .backend import redact, require_psycopg
from .index import entry_for

if TYPE_CHECKING:  # pragma: no cover
    import psycopg

    from ..memory import Enclave
    from ..workspace import Workspace

log = logging.getLogger(__name__)

__all__ = ["PostgresIndex", "close_connections", "role_name", "workspace_ns", "SCHEMA", "TABLE"]

SCHEMA = "pluma_index"
TABLE = f"{SCHEMA}.frozen"
_MAX_ROLE = 63  # PostgreSQL's identifier length (NAMEDATALEN - 1)

_local = threading.local()
_schema_ready: set[tuple[int, str]] = set()
_synced: dict[tuple[str, str], str] = {}
_lock = threading.Lock()
_all: "weakref.WeakSet[psycopg.Connection]" = weakref.WeakSet()


def role_name(ns: str, kind: str, key: str) -> str:
    """The PostgreSQL role of a program (``kind="p"``) or user (``"u"``) of workspace ``ns``;
    names too long for PostgreSQL keep their start and end in a hash of the key."""
    name = f"pluma_{ns}_{kind}_{key}" if key else f"pluma_{ns}_{kind}"
    if len(name.encode()) > _MAX_ROLE:
        name = name[:_MAX_ROLE - 13] + "_" + hashlib.sha256(key.encode()).hexdigest()[:12]
    return name


def workspace_ns(ws: "Workspace") -> tuple[str, str]:
    """(workspace id, role namespace): stable for a workspace, different between workspaces."""
    info = ws._registry_doc("workspace", {}) or {}
    ident = f"{info.get('created')}|{info.get('created_by')}|{info.get('initial_snapshot')}"
    digest = hashlib.sha256(ident.encode()).hexdigest()
    return digest[:16], digest[:8]


@contextmanager
def _errors(url: str, what: str) -> Iterator[None]:
    """Turn database errors into StorageError saying what failed and where."""
    import psycopg

    try:
        yield
    except PlumaError:
        raise
    except psycopg.OperationalError as exc:
        _drop(url)
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise StorageError(
            f"cannot reach the PostgreSQL query index at {redact(url)} ({what}): {reason}; check the URL "
            "set with ws.set_index_url(...) or $PLUMA_INDEX_URL, that the server runs, and the password "
            "in ~/.pgpass or PGPASSWORD"
        ) from None
    except psycopg.Error as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        hint = ""
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            hint = ("; the URL's role must own the database's pluma_index schema (or may create it) and have "
                    "CREATEROLE, e.g. CREATE ROLE pluma_owner LOGIN CREATEROLE; "
                    "CREATE DATABASE pluma OWNER pluma_owner")
        raise StorageError(f"the PostgreSQL query index at {redact(url)} failed ({what}): {reason}{hint}") from None


def close_connections() -> None:
    """Close every index connection this process opened (also run at exit)."""
    with _lock:
        conns = list(_all)
        _all.clear()
    for conn in conns:
        try:
            conn.close()
        except Exception:  # pragma: no cover - closing a broken connection
            pass


atexit.register(close_connections)


def _drop(url: str) -> None:
    conns = getattr(_local, "conns", {})
    conn = conns.pop((os.getpid(), url), None)
    if conn is not None:
        try:
            conn.close()
        except Exception:  # pragma: no cover - closing a broken connection
            pass


def _connect(url: str) -> "psycopg.Connection":
    """This thread's connection to ``url`` (autocommit; transactions are explicit)."""
    psycopg = require_psycopg()

    conns = _local.__dict__.setdefault("conns", {})
    key = (os.getpid(), url)
    conn = conns.get(key)
    if conn is not None and not conn.closed and not conn.broken:
        return conn
    with _errors(url, "connect"):
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10, application_name="pluma-index")
    conns[key] = conn
    with _lock:
        _all.add(conn)
    return conn


_DDL = [
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC",
    f"CREATE SEQUENCE IF NOT EXISTS {SCHEMA}.rev",
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        workspace text NOT NULL,
        enclave text NOT NULL,
        tag text NOT NULL,
        program_key text NOT NULL,
        reader oid NOT NULL,
        entry json NOT NULL,
        rev bigint NOT NULL DEFAULT nextval('{SCHEMA}.rev'),
        PRIMARY KEY (workspace, enclave, tag))""",
    f"CREATE INDEX IF NOT EXISTS frozen_program ON {TABLE} (workspace, program_key)",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.meta (
        workspace text NOT NULL, k text NOT NULL, v text NOT NULL, PRIMARY KEY (workspace, k))""",
    f"REVOKE ALL ON {TABLE}, {SCHEMA}.meta, {SCHEMA}.rev FROM PUBLIC",
    f"ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY",
    f"ALTER TABLE {TABLE} FORCE ROW LEVEL SECURITY",
    f"CREATE POLICY members_read ON {TABLE} FOR SELECT USING (pg_has_role(current_user, reader, 'MEMBER'))",
    f"CREATE POLICY owner_all ON {TABLE} TO CURRENT_USER USING (true) WITH CHECK (true)",
]


def _ensure_schema(conn: "psycopg.Connection", url: str) -> None:
    key = (os.getpid(), url)
    if key in _schema_ready:
        return
    with _errors(url, "create the index schema"):
        with conn.transaction():
            if conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.meta",)).fetchone()[0] is None:
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('pluma_index schema'))")
                if conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.meta",)).fetchone()[0] is None:
                    for statement in _DDL:
                        conn.execute(statement)
    _schema_ready.add(key)


def _readable(user: str, users: dict[str, Any], programs: dict[str, Any]) -> set[str]:
    """Programs of the default enclave ``user`` may read (the registry's rule)."""
    record = users.get(user) or {}
    admin = bool(record.get("admin"))
    out = set()
    for key, entry in programs.items():
        if entry.get("enclave", "default") != "default" or entry.get("classification") == "ITAR":
            continue
        if user in (entry.get("members") or {}) or admin:
            out.add(key)
    return out


class PostgresIndex:
    """The default enclave's index in PostgreSQL (see the module docstring).

    Examples
    --------
    >>> ws.set_index_url("postgresql://pluma_owner@127.0.0.1:5432/pluma")   # doctest: +SKIP
    >>> PostgresIndex(ws, url).user_role("ana")                             # doctest: +SKIP
    'pluma_1a2b3c4d_u_ana'
    """

    name = "postgresql"

    def __init__(self, ws: "Workspace", url: str) -> None:
        self._ws = ws
        self.url = url
        self.workspace_id, self.ns = workspace_ns(ws)
        self._pending_state: Hashable | None = None  # the user's state, read along with reconcile()

    def __repr__(self) -> str:
        return f"<PostgresIndex {redact(self.url)} workspace {self.workspace_id}>"

    # -- plumbing -----------------------------------------------------------
    def _conn(self) -> "psycopg.Connection":
        conn = _connect(self.url)
        _ensure_schema(conn, self.url)
        return conn

    def user_role(self, user: str) -> str:
        """The database role through which ``user`` reads (a DBA may give it a login)."""
        return role_name(self.ns, "u", user.lower())

    def program_role(self, key: str) -> str:
        """The database role whose members may read program ``key``'s rows."""
        return role_name(self.ns, "p", key.lower())

    @property
    def readers_role(self) -> str:
        return role_name(self.ns, "readers", "")

    # -- roles --------------------------------------------------------------
    def _desired(self) -> tuple[str, str, set[str], dict[str, set[str]]]:
        """(registry tip, digest, program roles, user role -> program roles) the registry asks for."""
        registry = self._ws._default
        tip = registry.tip("main")
        snap = registry.snapshot(snapshot_id=tip)
        users = {k.lower(): v for k, v in (snap.doc("users", {}) or {}).items()}
        programs = snap.doc("programs", {}) or {}
        default_programs = {self.program_role(k) for k, e in programs.items()
                            if e.get("enclave", "default") == "default" and e.get("classification") != "ITAR"}
        user_names = set(users) | {m.lower() for e in programs.values() for m in (e.get("members") or {})}
        want = {self.user_role(u): {self.program_role(k) for k in _readable(u, users, programs)} for u in user_names}
        digest = hashlib.sha256(json.dumps([sorted(default_programs), sorted((u, sorted(g)) for u, g in want.items())])
                                .encode()).hexdigest()
        return tip, digest, default_programs, want

    def sync_roles(self, *, force: bool = False, extra_programs: set[str] = frozenset()) -> None:
        """Bring program and user roles and their grants in step with the registry.

        Cheap when nothing changed: the registry tip is compared with the one this
        process last synced, then the registry's digest with the one in the database."""
        slot = (self.url, self.workspace_id)
        quick = not force and not extra_programs
        if quick and _synced.get(slot) == self._ws._default.tip("main"):
            return
        from psycopg import sql

        tip, digest, program_roles, want = self._desired()
        extra = {self.program_role(k) for k in extra_programs}
        conn = self._conn()
        with _errors(self.url, "keep roles in step with program membership"), conn.transaction():
            row = conn.execute(f"SELECT v FROM {SCHEMA}.meta WHERE workspace = %s AND k = 'roles'",
                               (self.workspace_id,)).fetchone()
            if not force and row and row[0] == digest:
                present = {r for (r,) in conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)",
                                                      (sorted(extra),))}
                if present == extra:
                    with _lock:
                        _synced[slot] = tip
                    return
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"pluma_index roles {self.ns}",))
            # under the lock, from the newest registry: never apply an older one over a newer one
            tip, digest, program_roles, want = self._desired()
            prefix = f"pluma_{self.ns}_"
            have = {r for (r,) in conn.execute("SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)",
                                               (prefix,))}
            for role in sorted({self.readers_role} | program_roles | extra | set(want)):
                if role not in have:
                    conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
            # idempotent, so a new database (or a new owner) of the same workspace is set up too
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(SCHEMA), sql.Identifier(self.readers_role)))
            conn.execute(sql.SQL("GRANT SELECT ON {}.{} TO {}").format(
                sql.Identifier(SCHEMA), sql.Identifier("frozen"), sql.Identifier(self.readers_role)))
            me, is_super = conn.execute(
                "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
            granted: dict[str, set[str]] = {}
            for group, member in conn.execute(
                "SELECT g.rolname, m.rolname FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid "
                "JOIN pg_roles m ON m.oid = a.member WHERE starts_with(g.rolname, %s) "
                "AND (starts_with(m.rolname, %s) OR m.rolname = current_user)",
                (prefix, f"{prefix}u_"),
            ):
                granted.setdefault(member, set()).add(group)
            for user_role in sorted(want):
                if self.readers_role not in granted.get(user_role, set()):
                    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(self.readers_role),
                                                                  sql.Identifier(user_role)))
                if not is_super and user_role not in granted.get(me, set()):
                    # the owner reads as a user by SET LOCAL ROLE: it must be a member of the user's role
                    conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(user_role)))
            for user_role in sorted(set(want) | {m for m in granted if m.startswith(f"{prefix}u_")}):
                has = {g for g in granted.get(user_role, set()) if g.startswith(f"{prefix}p_")}
                for group in sorted(want.get(user_role, set()) - has):
                    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(user_role)))
                for group in sorted(has - want.get(user_role, set())):
                    conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(group), sql.Identifier(user_role)))
            conn.execute(
                f"INSERT INTO {SCHEMA}.meta (workspace, k, v) VALUES (%s, 'roles', %s) "
                "ON CONFLICT (workspace, k) DO UPDATE SET v = EXCLUDED.v", (self.workspace_id, digest))
        with _lock:
            _synced[slot] = tip

    # -- writing --------------------------------------------------------------
    def _write(self, enclave: "Enclave", entries: list[dict[str, Any]], *, replace: bool) -> None:
        from psycopg.types.json import Json

        keys = {e["key"] for e in entries}
        self.sync_roles(extra_programs=keys)
        conn = self._conn()
        with _errors(self.url, "write index entries"), conn.transaction():
            oids = dict(conn.execute("SELECT rolname, oid FROM pg_roles WHERE rolname = ANY(%s)",
                                     ([self.program_role(k) for k in keys],)).fetchall())
            if replace:
                conn.execute(f"DELETE FROM {TABLE} WHERE workspace = %s AND enclave = %s",
                             (self.workspace_id, enclave.name))
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {TABLE} (workspace, enclave, tag, program_key, reader, entry) "
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (workspace, enclave, tag) DO UPDATE SET "
                    f"program_key = EXCLUDED.program_key, reader = EXCLUDED.reader, entry = EXCLUDED.entry, "
                    f"rev = nextval('{SCHEMA}.rev')",
                    [(self.workspace_id, enclave.name, e["tag"], e["key"], oids[self.program_role(e["key"])], Json(e))
                     for e in entries],
                )

    def record(self, enclave: "Enclave", entries: list[dict[str, Any]], *, author: str) -> None:
        """Upsert entries (by tag). The store already holds the freeze: if the database
        cannot be written, warn; the next query (reconcile) or ``ws.reindex()`` adds them."""
        if not entries:
            return
        try:
            self._write(enclave, entries, replace=False)
        except StorageError as exc:
            warn(f"{len(entries)} frozen context(s) are stored but not yet in the shared index ({exc}); "
                 "the next ws.query() or ws.reindex() adds them")

    def reconcile(self, enclave: "Enclave", *, author: str) -> int:
        """Add rows for frozen tags of ``enclave`` that the table lacks; returns how many.

        One round trip when nothing is missing: the owner's row count and the user's
        index state (kept for :meth:`state`) travel in one pipeline."""
        tags = enclave.tags("frozen/")
        self.sync_roles()
        conn = self._conn()
        role = self._user_role_or_none()
        with _errors(self.url, "compare the index with the store"):
            with conn.pipeline():
                total = conn.execute(f"SELECT count(*) FROM {TABLE} WHERE workspace = %s AND enclave = %s",
                                     (self.workspace_id, enclave.name))
                mine = self._state_query(conn, role, enclave) if role else None
            count = total.fetchone()[0]
            self._pending_state = self._state_value(enclave, mine.fetchone() if mine else None)
            if count == len(tags):
                return 0
            self._pending_state = None
            known = {t for (t,) in conn.execute(
                f"SELECT tag FROM {TABLE} WHERE workspace = %s AND enclave = %s", (self.workspace_id, enclave.name))}
        missing = [t for t in tags if t not in known]
        if missing:
            self._write(enclave, [entry_for(enclave, t) for t in missing], replace=False)
        return len(missing)

    def rebuild(self, enclave: "Enclave", entries: list[dict[str, Any]], *, author: str) -> None:
        """Replace the workspace's rows of ``enclave`` with ``entries`` (one transaction),
        after re-deriving every role and grant from the registry."""
        self.sync_roles(force=True)
        self._write(enclave, entries, replace=True)

    # -- reading (as the workspace's user) --------------------------------------
    def _user_role_or_none(self) -> str | None:
        """The user's database role, or None for a user the registry does not know (no rows)."""
        me = self._ws.user.lower()
        users = {k.lower() for k in (self._ws._registry_doc("users", {}) or {})}
        programs = self._ws._registry_doc("programs", {}) or {}
        if me in users or any(me in (e.get("members") or {}) for e in programs.values()):
            return self.user_role(me)
        return None

    def _state_query(self, conn: "psycopg.Connection", role: str, enclave: "Enclave"):
        from psycopg import sql

        with conn.transaction():
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
            return conn.execute(
                f"SELECT count(*), coalesce(max(rev), 0) FROM {TABLE} WHERE workspace = %s AND enclave = %s",
                (self.workspace_id, enclave.name))

    def _state_value(self, enclave: "Enclave", row: tuple | None) -> Hashable:
        return (self.name, self.url, enclave.name, self._ws.user.lower(), *(row or (None,)))

    def state(self, enclave: "Enclave") -> Hashable:
        """What the user's role sees of the index (row count, newest revision): a new
        value whenever a visible row is added, replaced or removed."""
        pending, self._pending_state = self._pending_state, None
        if pending is not None and pending[2] == enclave.name:
            return pending
        self.sync_roles()
        role = self._user_role_or_none()
        if role is None:
            return self._state_value(enclave, None)
        conn = self._conn()
        with _errors(self.url, "read the index state"):
            with conn.pipeline():
                cur = self._state_query(conn, role, enclave)
            return self._state_value(enclave, cur.fetchone())

    def load(self, enclave: "Enclave") -> list[dict[str, Any]]:
        """The entries the database lets this user's role see."""
        from psycopg import sql

        self.sync_roles()
        role = self._user_role_or_none()
        if role is None:
            return []
        conn = self._conn()
        with _errors(self.url, "read index entries"):
            with conn.pipeline(), conn.transaction():
                conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
                cur = conn.execute(
                    f"SELECT entry FROM {TABLE} WHERE workspace = %s AND enclave = %s ORDER BY program_key, rev",
                    (self.workspace_id, enclave.name))
            return [r[0] for r in cur.fetchall()]
