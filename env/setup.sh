#!/usr/bin/env bash
# Idempotent set-up: finds a Python >= 3.12, creates .venv, installs PLUMA with
# every optional part, registers the Jupyter kernel. Safe to run again.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

find_python() {
    local candidates=("${PLUMA_PYTHON:-}" python3.13 python3.12)
    for c in "${candidates[@]}"; do
        [ -n "$c" ] || continue
        if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            command -v "$c"; return 0
        fi
    done
    # pyenv installs (the default python3 on these machines is 3.11)
    for v in 3.12.1 3.13.0; do
        if PYENV_VERSION=$v python3 -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            PYENV_VERSION=$v python3 -c 'import sys; print(sys.executable)'; return 0
        fi
    done
    if python3 -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
        command -v python3; return 0
    fi
    return 1
}

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    py="$(find_python)" || {
        echo "PLUMA needs Python >= 3.12 (icechunk 2 and zarr >= 3.2 require it)." >&2
        echo "Install one (e.g. 'pyenv install 3.12' or your distribution's python3.12) or set PLUMA_PYTHON=/path/to/python3.12." >&2
        exit 1
    }
    echo "Using $py"
    rm -rf .venv
    "$py" -m venv .venv
fi

stamp=.venv/.pluma-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[all]"
    .venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null 2>&1 || true
    touch "$stamp"
fi
# configurable-http-proxy for the local JupyterHub (hub-config/, integration tests).
# The JupyterHub integration tests need configurable-http-proxy: the set-up fails loudly without it.
bash env/install-node-tools.sh
# PostgreSQL server binaries for the shared-index tests (tests/postgres): Debian's package, only if missing.
bash env/install-postgres.sh
echo "PLUMA environment ready: $here/.venv ($(.venv/bin/python --version))"
