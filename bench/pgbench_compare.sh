#!/usr/bin/env bash
# Side-by-side pgbench: Tessera vs a local PostgreSQL 15, same machine, same
# invocation, same pgbench settings, so machine noise largely cancels.
#
# Data: `pgbench -i -I dtGp -s SCALE` on each system (pgbench's own tables,
# generated server-side, then ALTER TABLE ... ADD PRIMARY KEY).
# Workloads (pgbench -n -M prepared):
#   select_only   pgbench's built-in SELECT-only script (-S)
#   insert        INSERT INTO bench_ins (id, v) VALUES ...  (-f; a table
#                 without primary key)
#   tpcb_like     pgbench's built-in TPC-B-like script (BEGIN; 3 UPDATEs, a
#                 SELECT, an INSERT; END); afterwards the four balance sums
#                 must agree
#
# Each system runs alone: start it on a temp dir and a free port, load, run
# both workloads, stop it; then the other one. Prints a table of TPS and the
# Tessera/PostgreSQL ratio, and each system's p99 latency.
#
# Usage: bench/pgbench_compare.sh [-c CLIENTS] [-j THREADS] [-T SECONDS]
#                                 [--scale N] [--shards N] [--no-build]
# Environment (flags win): BENCH_CLIENTS (8), BENCH_THREADS (2),
#   BENCH_DURATION (20), BENCH_SCALE (2), BENCH_SHARDS (2),
#   BENCH_PG_OPTS (extra postgres -c options, e.g. "-c synchronous_commit=off"),
#   TESSERA_BIN (use this binary instead of building target/release/tessera).
set -euo pipefail

clients=${BENCH_CLIENTS:-8}
threads=${BENCH_THREADS:-2}
duration=${BENCH_DURATION:-20}
scale=${BENCH_SCALE:-2}
shards=${BENCH_SHARDS:-2}
pg_opts=${BENCH_PG_OPTS:-}
build=1

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        -c) clients=$2; shift 2 ;;
        -j) threads=$2; shift 2 ;;
        -T) duration=$2; shift 2 ;;
        --scale) scale=$2; shift 2 ;;
        --shards) shards=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

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

# A port nobody listens on right now (probe with bash's /dev/tcp).
free_port() {
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 40000))
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

# --- workload files -------------------------------------------------------------
cat >"$work/setup.sql" <<'EOF'
CREATE TABLE bench_ins (id bigint, v text);
EOF
cat >"$work/insert.sql" <<'EOF'
\set id random(1, 1000000000000)
INSERT INTO bench_ins (id, v) VALUES (:id, 'payload-0123456789');
EOF
chmod 644 "$work"/*.sql

workloads=(select_only insert tpcb_like)
# What pgbench runs for each workload.
declare -A script=([select_only]="-S" [insert]="-f $work/insert.sql" [tpcb_like]="")
declare -A tps p99

load_and_run() { # system port
    local system=$1 port=$2
    log "$system: pgbench -i -I dtGp -s $scale"
    sql "$port" -f "$work/setup.sql" >/dev/null
    "$pgbench" -i -I dtGp -s "$scale" -h 127.0.0.1 -p "$port" -U postgres postgres \
        >"$work/$system-init.out" 2>&1 || { cat "$work/$system-init.out" >&2; die "$system: pgbench -i failed"; }
    local count
    count=$(sql "$port" -c 'SELECT count(*) FROM pgbench_accounts')
    [ "$count" = "$((scale * 100000))" ] || die "$system: pgbench_accounts has $count rows"
    for workload in "${workloads[@]}"; do
        log "$system: $workload for ${duration}s (-c $clients -j $threads)"
        local out="$work/$system-$workload.out"
        rm -f "$work/$system-$workload".log*
        # shellcheck disable=SC2086 # the script arguments split on purpose
        if ! "$pgbench" -n -M prepared ${script[$workload]} -c "$clients" -j "$threads" \
            -T "$duration" -l --log-prefix="$work/$system-$workload.log" \
            -h 127.0.0.1 -p "$port" -U postgres postgres >"$out" 2>&1; then
            cat "$out" >&2
            die "$system: pgbench $workload failed"
        fi
        local value
        value=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out" | tail -1)
        [ -n "$value" ] || { cat "$out" >&2; die "$system: no tps in pgbench output"; }
        tps[$system,$workload]=$value
        # The per-transaction log's third column is the latency in microseconds.
        p99[$system,$workload]=$(cat "$work/$system-$workload".log* | awk '{print $3}' | sort -n |
            awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.2f", v[i] / 1000 } }')
        rm -f "$work/$system-$workload".log*
        grep -E 'aborted|failed transactions: [1-9]' "$out" >&2 || true
    done
    # Every TPC-B-like transaction moved one delta through all four tables.
    local sums
    sums="$(sql "$port" -c 'SELECT sum(abalance) FROM pgbench_accounts')|$(sql "$port" -c 'SELECT sum(tbalance) FROM pgbench_tellers')|$(sql "$port" -c 'SELECT sum(bbalance) FROM pgbench_branches')|$(sql "$port" -c 'SELECT sum(delta) FROM pgbench_history')"
    log "$system: balance sums after tpcb_like (accounts|tellers|branches|history): $sums"
    [ "$(echo "$sums" | tr '|' '\n' | sort -u | wc -l)" = 1 ] || die "$system: TPC-B-like balances disagree: $sums"
}

# --- Tessera -----------------------------------------------------------------------
port=$(free_port)
log "tessera: $tessera run --shards $shards on 127.0.0.1:$port"
"$tessera" run --data-dir "$work/tessera-data" --pg-listen "127.0.0.1:$port" --shards "$shards" \
    >"$work/tessera.log" 2>&1 &
tessera_pid=$!
wait_for_sql "$port" tessera "$work/tessera.log"
load_and_run tessera "$port"
kill -TERM "$tessera_pid"
wait "$tessera_pid" || log "tessera exited with status $?"
tessera_pid=

# --- PostgreSQL --------------------------------------------------------------------
port=$(free_port)
mkdir -p "$work/pg"
[ ${#run_as_pg[@]} -eq 0 ] || chown postgres: "$work/pg"
pg_data=$work/pg/data
log "postgres: initdb + pg_ctl start on 127.0.0.1:$port ${pg_opts:+($pg_opts)}"
"${run_as_pg[@]}" "$pg_bin/initdb" -A trust -U postgres -D "$pg_data" >"$work/pg/initdb.log" 2>&1 ||
    { cat "$work/pg/initdb.log" >&2; die "initdb failed"; }
"${run_as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -l "$work/pg/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $work/pg $pg_opts" start >/dev/null ||
    { cat "$work/pg/server.log" >&2; die "pg_ctl start failed"; }
wait_for_sql "$port" postgres "$work/pg/server.log"
load_and_run postgres "$port"
"${run_as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null
pg_data=

# --- report --------------------------------------------------------------------
echo
echo "pgbench -n -M prepared -c $clients -j $threads -T $duration; $(nproc) cores; scale $scale"
echo "tessera: $tessera --shards $shards"
echo "postgres: $("$pg_bin/postgres" --version)${pg_opts:+ $pg_opts}"
printf '%-14s %14s %14s %10s %16s %16s\n' workload tessera_tps postgres_tps ratio tessera_p99_ms postgres_p99_ms
for workload in "${workloads[@]}"; do
    t=${tps[tessera,$workload]}
    p=${tps[postgres,$workload]}
    printf '%-14s %14.1f %14.1f %10s %16s %16s\n' "$workload" "$t" "$p" \
        "$(awk -v t="$t" -v p="$p" 'BEGIN { if (p > 0) printf "%.2f", t / p; else print "n/a" }')" \
        "${p99[tessera,$workload]}" "${p99[postgres,$workload]}"
done
