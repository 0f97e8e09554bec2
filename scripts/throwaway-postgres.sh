# Sourced by the scripts that take expected results from PostgreSQL 15
# (not run): starts a throwaway server on a free port with trust
# authentication, sets `port`, and stops and removes it when the script
# exits.

pg_bin=/usr/lib/postgresql/15/bin
[ -x "$pg_bin/initdb" ] || { echo "needs postgresql-15 (apt-get install postgresql-15)" >&2; exit 1; }

pg_work=$(mktemp -d)
chmod 755 "$pg_work"
run_as_pg=()
if [ "$(id -u)" -eq 0 ]; then
    run_as_pg=(runuser -u postgres --)
    chown postgres "$pg_work"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
stop_throwaway_postgres() {
    "${run_as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_work/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$pg_work"
}
trap stop_throwaway_postgres EXIT

# A sourcing script may set initdb_args (e.g. --locale=C) before sourcing.
"${run_as_pg[@]}" "$pg_bin/initdb" -A trust -U postgres ${initdb_args[@]+"${initdb_args[@]}"} -D "$pg_work/data" >"$pg_work/initdb.log" 2>&1 ||
    { cat "$pg_work/initdb.log" >&2; exit 1; }
"${run_as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_work/data" -l "$pg_work/server.log" -w \
    -o "-p $port -k $pg_work -c listen_addresses=127.0.0.1" start >/dev/null
