#!/usr/bin/env bash
# Regenerates what psql 15's backslash commands print for the schema in
# crates/tessera-testkit/psql/schema.sql (crates/tessera-testkit/psql/*.out),
# which tests/psql_describe.rs compares Tessera's output with: starts a
# throwaway PostgreSQL 15, creates the schema, runs each command. Review the
# diff before committing it.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=crates/tessera-testkit/psql

# Tessera compares text bytewise: the "C" collation.
initdb_args=(--locale=C -E UTF8)
# shellcheck source=scripts/throwaway-postgres.sh
. "$(dirname "$0")/throwaway-postgres.sh"

run() { psql -X -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"; }
run -q -v ON_ERROR_STOP=1 -f "$dir/schema.sql" >/dev/null
while IFS=$'\t' read -r file command; do
    run -c "$command" >"$dir/$file.out"
done <"$dir/commands.tsv"
