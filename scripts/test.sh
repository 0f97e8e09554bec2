#!/usr/bin/env bash
# THE test command: installs what the tests need if it is missing, then runs
# formatting and lint checks, builds the server, and runs the whole suite
# (unit tests plus the end-to-end tests in crates/tessera-testkit, which start
# target/debug/tessera processes and drive them with tokio-postgres, psql and
# raw TCP).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[test.sh] %s\n' "$*" >&2; }

# psql, pg_dump and pg_restore (postgresql-client-15) for the psql and
# pg_dump tests; pgbench (postgresql-15,
# the server package) for bench/pgbench_compare.sh; tzdata
# (/usr/share/zoneinfo) for region time zones; openssl (the command) makes
# the test certificates of the TLS tests.
if ! command -v psql >/dev/null 2>&1 || ! command -v pg_dump >/dev/null 2>&1 \
    || ! command -v pg_restore >/dev/null 2>&1 || ! [ -x /usr/lib/postgresql/15/bin/pgbench ] \
    || ! [ -f /usr/share/zoneinfo/America/New_York ] || ! command -v openssl >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        as_root=(env DEBIAN_FRONTEND=noninteractive)
    elif command -v sudo >/dev/null 2>&1; then
        as_root=(sudo env DEBIAN_FRONTEND=noninteractive)
    else
        as_root=()
    fi
    if [ ${#as_root[@]} -gt 0 ]; then
        log "installing postgresql-client-15 postgresql-15 tzdata openssl"
        "${as_root[@]}" apt-get update
        "${as_root[@]}" apt-get install -y postgresql-client-15 postgresql-15 tzdata openssl
    else
        log "warning: psql/pgbench/tzdata/openssl missing and neither root nor sudo; psql and TLS tests will be skipped, region time zones fail"
    fi
fi

# The client libraries of the driver and ORM tests (tests/drivers_*.rs).
scripts/drivers-setup.sh

# rustfmt and clippy come with rustup's default profile; add them if not.
if command -v rustup >/dev/null 2>&1; then
    cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
    cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
fi

log "cargo fmt --all --check"
cargo fmt --all --check
log "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
log "cargo build --bins"
cargo build --bins
export TESSERA_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/tessera"
log "cargo test --workspace (end-to-end tests use $TESSERA_BIN)"
cargo test --workspace
log "all tests passed"
