"""Start and stop a throw-away PostgreSQL server (Debian's package) for tests and benchmarks.

Debian's server refuses to run as root, and sessions and CI run as root: the data
folder belongs to ``postgres`` and ``initdb``/``pg_ctl`` run through
``runuser -u postgres --`` (when already not root, directly). The server listens on
127.0.0.1 on a free port (TCP logins need a password: scram-sha-256) and on a unix
socket in a private folder. It has one role for PLUMA's index, ``pluma_owner``
(LOGIN CREATEROLE, not a superuser); its password reaches libpq through a
PGPASSFILE, never a URL.

    with running_postgres() as server:
        db = server.create_database()
        ws.set_index_url(server.url(db))
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import psycopg

OWNER = "pluma_owner"


def pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("PostgreSQL server binaries are missing: run env/install-postgres.sh")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*args: str) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)


@dataclass
class PgServer:
    port: int
    socket_dir: str
    owner_password: str

    def superuser(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(host=self.socket_dir, port=self.port, user="postgres", dbname=dbname, autocommit=True)

    def url(self, dbname: str) -> str:
        """PLUMA's index URL for ``dbname`` (no password: that is in PGPASSFILE)."""
        return f"postgresql://{OWNER}@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str, user: str, password: str) -> psycopg.Connection:
        """A hand-written-SQL session over TCP as ``user``."""
        return psycopg.connect(host="127.0.0.1", port=self.port, dbname=dbname, user=user, password=password,
                               autocommit=True)

    def create_database(self) -> str:
        """A fresh database owned by the index owner role; returns its name."""
        name = f"pluma_{uuid.uuid4().hex[:10]}"
        with self.superuser() as conn:
            conn.execute(f"CREATE DATABASE {name} OWNER {OWNER}")
        return name


@contextmanager
def running_postgres() -> Iterator[PgServer]:
    """A PostgreSQL server on 127.0.0.1 for the duration of the block; stopped and deleted after.
    Sets ``PGPASSFILE`` meanwhile (child processes inherit it)."""
    bindir = pg_bin()
    # /tmp: the postgres user must reach it (TMPDIR may be root's own), and socket paths must stay short
    top = tempfile.mkdtemp(prefix="pluma-pg-", dir="/tmp" if os.path.isdir("/tmp") else None)
    pgpass_dir = tempfile.mkdtemp(prefix="pluma-pgpass-")
    previous = os.environ.get("PGPASSFILE")
    started = False
    data, sock, log = f"{top}/data", f"{top}/sock", f"{top}/server.log"
    try:
        os.mkdir(sock, 0o700)
        pwfile = f"{top}/pw"
        Path(pwfile).write_text(secrets.token_hex(16) + "\n")
        if os.geteuid() == 0:
            for path in (top, sock, pwfile):
                shutil.chown(path, "postgres", "postgres")
        os.chmod(top, 0o700)
        _as_postgres(str(bindir / "initdb"), "-D", data, "-U", "postgres", "--pwfile", pwfile, "-E", "UTF8",
                     "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256")
        for _ in range(5):
            port = _free_port()
            opts = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={sock} -c fsync=off"
            try:
                _as_postgres(str(bindir / "pg_ctl"), "-D", data, "-l", log, "-o", opts, "-w", "-t", "60", "start")
                started = True
                break
            except subprocess.CalledProcessError:
                time.sleep(0.2)
        if not started:
            raise RuntimeError(f"PostgreSQL did not start: {Path(log).read_text()[-2000:]}")
        password = secrets.token_hex(16)
        server = PgServer(port, sock, password)
        with server.superuser() as conn:
            conn.execute(f"CREATE ROLE {OWNER} LOGIN CREATEROLE PASSWORD '{password}'")
        pgpass = Path(pgpass_dir) / "pgpass"
        pgpass.write_text(f"127.0.0.1:{port}:*:{OWNER}:{password}\n")
        pgpass.chmod(0o600)
        os.environ["PGPASSFILE"] = str(pgpass)
        yield server
    finally:
        if previous is None:
            os.environ.pop("PGPASSFILE", None)
        else:
            os.environ["PGPASSFILE"] = previous
        from pluma.query.postgres import close_connections

        close_connections()
        if started:
            prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
            subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"],
                           capture_output=True, timeout=60)
        shutil.rmtree(top, ignore_errors=True)
        shutil.rmtree(pgpass_dir, ignore_errors=True)
