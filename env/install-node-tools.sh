#!/usr/bin/env bash
# Idempotent: installs configurable-http-proxy (JupyterHub's proxy) with npm
# into env/node_modules, project-local (no global npm install, no sudo).
# Skips the install when the pinned version is already there. Safe to run again.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
chp_version="${PLUMA_CHP_VERSION:-5.3.0}"
chp_bin="$here/node_modules/.bin/configurable-http-proxy"
chp_pkg="$here/node_modules/configurable-http-proxy/package.json"

if ! command -v npm >/dev/null 2>&1; then
    echo "npm not found: install Node.js >= 18 (e.g. 'apt-get install -y nodejs npm') to run a local JupyterHub." >&2
    exit 1
fi

installed=""
if [ -x "$chp_bin" ] && [ -f "$chp_pkg" ]; then
    installed="$(node -e 'process.stdout.write(require(process.argv[1]).version)' "$chp_pkg" 2>/dev/null || true)"
fi

if [ "$installed" = "$chp_version" ]; then
    echo "configurable-http-proxy $chp_version already installed: $chp_bin"
    exit 0
fi

echo "Installing configurable-http-proxy@$chp_version into $here/node_modules"
# CHP 5.x declares an engine range that node 20 is outside of; it works anyway.
npm install --prefix "$here" --no-audit --no-fund --loglevel=error \
    "configurable-http-proxy@$chp_version"
"$chp_bin" --version >/dev/null
echo "configurable-http-proxy $chp_version installed: $chp_bin"
