#!/usr/bin/env bash
# Regenerates the expected results of the project's own sqllogictest files
# (crates/tessera-testkit/slt/*.slt, or the files given) from a local
# PostgreSQL 15: starts a throwaway server, gives each file a fresh
# database, and rewrites each query's results with what PostgreSQL returns.
# Review the diff before committing it.
set -euo pipefail
cd "$(dirname "$0")/.."

files=("$@")
[ ${#files[@]} -gt 0 ] || files=(crates/tessera-testkit/slt/*.slt)

cargo build -q -p tessera-testkit --bin slt
slt=${CARGO_TARGET_DIR:-target}/debug/slt

# shellcheck source=scripts/throwaway-postgres.sh
. "$(dirname "$0")/throwaway-postgres.sh"

for f in "${files[@]}"; do
    db="slt_$(basename "$f" .slt | tr -c 'a-z0-9\n' '_')"
    psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "CREATE DATABASE $db"
    "$slt" --complete "host=127.0.0.1 port=$port user=postgres dbname=$db" "$f"
done
