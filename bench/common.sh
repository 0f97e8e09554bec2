# Shared by the bench/ scripts (sourced, not run): tools, the Tessera
# binary, scratch space with cleanup, free ports, and starting and stopping
# Tessera and a throwaway PostgreSQL 15. Expects `build` (1 to cargo build
# the release binary) and `shards` to be set by the caller.

root=$(cd "$(dirname "$0")/.." && pwd)
pg_bin=/usr/lib/postgresql/15/bin

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root (or sudo) to run: $*"
    fi
}

# --- tools ------------------------------------------------------------------
if [ ! -x "$pg_bin/pgbench" ] || ! command -v psql >/dev/null 2>&1; then
    log "installing postgresql-15 and postgresql-client-15 (pgbench, initdb, psql)"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-15 postgresql-client-15
fi
if [ ! -x /usr/bin/time ]; then
    log "installing time (CPU time of pgbench)"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q time
fi
pgbench=$pg_bin/pgbench
psql_cmd=$(command -v psql || echo "$pg_bin/psql")
[ -x "$pgbench" ] || die "pgbench not found at $pgbench"

if [ -n "${TESSERA_BIN:-}" ]; then
    tessera=$TESSERA_BIN
else
    if [ "$build" -eq 1 ]; then
        log "cargo build --release"
        (cd "$root" && cargo build --release --bin tessera)
    fi
    tessera=${CARGO_TARGET_DIR:-$root/target}/release/tessera
fi
[ -x "$tessera" ] || die "no tessera binary at $tessera"

# --- scratch space and cleanup ------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/tessera-bench.XXXXXX")
chmod 755 "$work"
tessera_pid=
pg_data=
run_as_pg=()
if [ "$(id -u)" -eq 0 ]; then
    # PostgreSQL refuses to run as root.
    id postgres >/dev/null 2>&1 || die "running as root needs the postgres user (from postgresql-15)"
    run_as_pg=(runuser -u postgres --)
fi

cleanup() {
    set +e
    if [ -n "$tessera_pid" ] && kill -0 "$tessera_pid" 2>/dev/null; then
        kill -TERM "$tessera_pid"
        for _ in $(seq 100); do kill -0 "$tessera_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$tessera_pid" 2>/dev/null
        wait "$tessera_pid" 2>/dev/null
    fi
    if [ -n "$pg_data" ] && [ -f "$pg_data/postmaster.pid" ]; then
        "${run_as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -m immediate -w stop >/dev/null 2>&1
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port nobody listens on right now (probe with bash's /dev/tcp), below
# the kernel's ephemeral range: a port in it can be taken meanwhile by the
# client side of some connection (pgbench's, with -C), and the server's
# bind then fails.
free_port() {
    local port low
    low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % (low - 20000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    die "no free port found"
}

wait_for_sql() { # port what logfile
    for _ in $(seq 600); do
        if "$psql_cmd" -X -q -A -t -h 127.0.0.1 -p "$1" -U postgres -d postgres \
            -c 'SELECT 1' >/dev/null 2>&1; then
            return
        fi
        sleep 0.1
    done
    cat "$3" >&2 || true
    die "$2 did not accept queries on port $1 within 60 s"
}

sql() { # port, then psql arguments
    local port=$1
    shift
    "$psql_cmd" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"
}

# CPU clock ticks used so far by the running server of `$1` (tessera or
# postgres): Tessera's process (all its threads); PostgreSQL's postmaster,
# its live children (backends, WAL writer, checkpointer) and the children
# it has reaped (backends of clients that left).
server_cpu_ticks() {
    local pids
    case $1 in
        tessera) pids=$tessera_pid ;;
        postgres)
            local pm
            pm=$(head -1 "$pg_data/postmaster.pid")
            pids="$pm $(pgrep -P "$pm" | tr '\n' ' ')"
            ;;
    esac
    local p total=0
    for p in $pids; do
        [ -r "/proc/$p/stat" ] || continue
        # utime stime cutime cstime: fields 14-17 after the command name.
        total=$((total + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 + $14 + $15 }')))
    done
    echo "$total"
}

# Starts Tessera on a fresh data directory; sets tessera_port. Its Unix
# socket is in $work (PostgreSQL's, in $work/pg).
start_tessera() {
    tessera_port=$(free_port)
    log "tessera: $tessera run --shards $shards on 127.0.0.1:$tessera_port"
    "$tessera" run --data-dir "$work/tessera-data" --pg-listen "127.0.0.1:$tessera_port" \
        --pg-socket-dir "$work" --shards "$shards" >"$work/tessera.log" 2>&1 &
    tessera_pid=$!
    wait_for_sql "$tessera_port" tessera "$work/tessera.log"
}

stop_tessera() {
    kill -TERM "$tessera_pid"
    wait "$tessera_pid" || log "tessera exited with status $?"
    tessera_pid=
}

# Starts PostgreSQL 15 on a fresh cluster (extra server options in
# pg_opts); sets postgres_port.
start_postgres() {
    postgres_port=$(free_port)
    mkdir -p "$work/pg"
    [ ${#run_as_pg[@]} -eq 0 ] || chown postgres: "$work/pg"
    pg_data=$work/pg/data
    log "postgres: initdb + pg_ctl start on 127.0.0.1:$postgres_port ${pg_opts:+($pg_opts)}"
    "${run_as_pg[@]}" "$pg_bin/initdb" -A trust -U postgres -D "$pg_data" >"$work/pg/initdb.log" 2>&1 ||
        { cat "$work/pg/initdb.log" >&2; die "initdb failed"; }
    "${run_as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -l "$work/pg/server.log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $postgres_port -k $work/pg ${pg_opts:-}" start >/dev/null ||
        { cat "$work/pg/server.log" >&2; die "pg_ctl start failed"; }
    wait_for_sql "$postgres_port" postgres "$work/pg/server.log"
}

stop_postgres() {
    "${run_as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null
    pg_data=
}

# --- a cluster of Tessera nodes on loopback -------------------------------------
# Starts `$1` nodes with `$shards` shards each, all peers of one another,
# sharing a new secret; sets ports[i] (internal) and pg_ports[i] (SQL),
# i from 1, and cluster_pids. Stop them with stop_cluster (also on exit).
# Extra `tessera run` arguments for every node: the array cluster_args.
cluster_pids=()
cluster_args=()
start_cluster() {
    local n=$1 peers="" i
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/secret"
    ports=()
    pg_ports=()
    for i in $(seq 1 "$n"); do
        ports[i]=$(free_port)
        pg_ports[i]=$(free_port)
        peers="${peers:+$peers,}127.0.0.1:${ports[i]}"
    done
    trap 'stop_cluster; cleanup' EXIT
    for i in $(seq 1 "$n"); do
        "$tessera" run --data-dir "$work/n$i" --pg-listen "127.0.0.1:${pg_ports[i]}" \
            --listen "127.0.0.1:${ports[i]}" --peer "$peers" --cluster-secret-file "$work/secret" \
            --shards "$shards" --pg-socket-dir "$work" "${cluster_args[@]}" >"$work/n$i.log" 2>&1 &
        cluster_pids+=($!)
    done
    for i in $(seq 1 "$n"); do
        wait_for_sql "${pg_ports[i]}" "node $i" "$work/n$i.log"
    done
}

# Starts one more node that joins the cluster through node 1; sets
# ports[i] and pg_ports[i] for it (i the next number) and returns once it
# serves SQL.
add_cluster_node() {
    local i=$(( ${#ports[@]} + 1 ))
    ports[i]=$(free_port)
    pg_ports[i]=$(free_port)
    "$tessera" run --data-dir "$work/n$i" --pg-listen "127.0.0.1:${pg_ports[i]}" \
        --listen "127.0.0.1:${ports[i]}" --peer "127.0.0.1:${ports[1]}" \
        --cluster-secret-file "$work/secret" --shards "$shards" --pg-socket-dir "$work" \
        "${cluster_args[@]}" >"$work/n$i.log" 2>&1 &
    cluster_pids+=($!)
    wait_for_sql "${pg_ports[i]}" "node $i" "$work/n$i.log"
}

stop_cluster() {
    local p
    for p in "${cluster_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${cluster_pids[@]}"; do wait "$p" 2>/dev/null || true; done
    cluster_pids=()
}
