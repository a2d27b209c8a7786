#!/usr/bin/env bash
# Idempotent: installs Debian's PostgreSQL server (for the shared query index and
# its tests, tests/postgres/) only when its binaries are missing. Safe to run again.
# The tests start their own throw-away server as the `postgres` user (the server
# refuses to run as root) on 127.0.0.1; nothing here starts a server.
set -euo pipefail

have_server() {
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && id postgres >/dev/null 2>&1
}

if have_server; then
    echo "PostgreSQL server present: $(ls -d /usr/lib/postgresql/*/bin | tail -n 1)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "PostgreSQL is missing; run this script as root (it uses apt-get)." >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q postgresql
have_server || { echo "apt-get installed postgresql but initdb or the postgres user is missing" >&2; exit 1; }
echo "PostgreSQL server installed: $(ls -d /usr/lib/postgresql/*/bin | tail -n 1)"
