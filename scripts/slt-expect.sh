#!/usr/bin/env bash
# Regenerates the expected results of the project's own sqllogictest files
# (crates/tessera-testkit/slt/*.slt, or the files given) from a local
# PostgreSQL 15: starts a throwaway server, gives each file a fresh
# database, and rewrites each query's results with what PostgreSQL returns.
# Review the diff before committing it.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_bin=/usr/lib/postgresql/15/bin
[ -x "$pg_bin/initdb" ] || { echo "needs postgresql-15 (apt-get install postgresql-15)" >&2; exit 1; }
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(crates/tessera-testkit/slt/*.slt)

cargo build -q -p tessera-testkit --bin slt
slt=target/debug/slt

work=$(mktemp -d)
chmod 755 "$work"
run_as_pg=()
if [ "$(id -u)" -eq 0 ]; then
    run_as_pg=(runuser -u postgres --)
    chown postgres "$work"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
    "${run_as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

"${run_as_pg[@]}" "$pg_bin/initdb" -A trust -U postgres -D "$work/data" >"$work/initdb.log" 2>&1 ||
    { cat "$work/initdb.log" >&2; exit 1; }
"${run_as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/data" -l "$work/server.log" -w \
    -o "-p $port -k $work -c listen_addresses=127.0.0.1" start >/dev/null

for f in "${files[@]}"; do
    db="slt_$(basename "$f" .slt | tr -c 'a-z0-9\n' '_')"
    psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "CREATE DATABASE $db"
    "$slt" --complete "host=127.0.0.1 port=$port user=postgres dbname=$db" "$f"
done
