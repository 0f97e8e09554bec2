#!/usr/bin/env bash
# Installs the client libraries the driver and ORM tests use
# (crates/tessera-testkit/tests/drivers_*.rs run the programs in
# crates/tessera-testkit/drivers/): a Python virtual environment with the
# pinned PyPI packages, the pinned npm packages, and a JDK with Debian's
# pgJDBC. Does nothing for what is already installed. scripts/test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[drivers-setup.sh] %s\n' "$*" >&2; }
drivers=crates/tessera-testkit/drivers

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        env DEBIAN_FRONTEND=noninteractive "$@"
    else
        sudo env DEBIAN_FRONTEND=noninteractive "$@"
    fi
}

# Debian: python3-venv for the virtual environment, Node.js with npm, a JDK
# (javac) and pgJDBC.
missing=()
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
[ -f /usr/share/java/postgresql.jar ] || missing+=(libpostgresql-jdbc-java)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root apt-get update
    as_root apt-get install -y "${missing[@]}"
fi

# PyPI, pinned in requirements.txt; reinstalled when that file changes.
venv=$drivers/python/.venv
if ! [ -x "$venv/bin/python" ] || ! cmp -s "$drivers/python/requirements.txt" "$venv/requirements.txt"; then
    log "creating $venv from $drivers/python/requirements.txt"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$drivers/python/requirements.txt"
    cp "$drivers/python/requirements.txt" "$venv/requirements.txt"
fi

# npm, pinned by package-lock.json.
if ! [ -d "$drivers/node/node_modules" ] || ! cmp -s "$drivers/node/package-lock.json" "$drivers/node/node_modules/.package-lock.json.installed"; then
    log "npm ci in $drivers/node"
    (cd "$drivers/node" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$drivers/node/package-lock.json" "$drivers/node/node_modules/.package-lock.json.installed"
fi
