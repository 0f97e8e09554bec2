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
#   serial_insert INSERT INTO bench_serial (v) VALUES ... RETURNING id (-f;
#                 a bigserial primary key and a DEFAULT now() column, the
#                 table an ORM makes)
#   tpcb_like     pgbench's built-in TPC-B-like script (BEGIN; 3 UPDATEs, a
#                 SELECT, an INSERT; END); afterwards the four balance sums
#                 must agree
#   tpcb_simple   the same over the simple protocol (-M simple, pgbench's
#                 default): each statement is a Query of its own text
#   select_simple -S over the simple protocol
#   connect       a new connection per transaction (-C): connect, SELECT 1,
#                 disconnect; 8 clients on 8 threads, simple protocol
#   select_c64    -S with 64 clients (many connections at once)
#
# Each system runs alone: start it on a temp dir and a free port, load, run
# the workloads, stop it; then the other one. Prints a table of TPS and the
# Tessera/PostgreSQL ratio, each system's p99 latency, and the CPU time
# per transaction of each server and of pgbench.
#
# pgbench reaches both over TCP on 127.0.0.1, or with --unix over each
# one's Unix-domain socket (what pgbench uses by default on the same machine).
#
# Usage: bench/pgbench_compare.sh [-c CLIENTS] [-j THREADS] [-T SECONDS]
#                                 [--scale N] [--shards N] [--unix] [--no-build]
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
unix=0

usage() { sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        -c) clients=$2; shift 2 ;;
        -j) threads=$2; shift 2 ;;
        -T) duration=$2; shift 2 ;;
        --scale) scale=$2; shift 2 ;;
        --shards) shards=$2; shift 2 ;;
        --unix) unix=1; shift ;;
        --no-build) build=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

# shellcheck source=bench/common.sh
. "$(dirname "$0")/common.sh"

# --- workload files -------------------------------------------------------------
cat >"$work/setup.sql" <<'EOF'
CREATE TABLE bench_ins (id bigint, v text);
CREATE TABLE bench_serial (id bigserial PRIMARY KEY, v text, at timestamptz DEFAULT now());
EOF
cat >"$work/serial.sql" <<'EOF'
INSERT INTO bench_serial (v) VALUES ('payload-0123456789') RETURNING id;
EOF
cat >"$work/insert.sql" <<'EOF'
\set id random(1, 1000000000000)
INSERT INTO bench_ins (id, v) VALUES (:id, 'payload-0123456789');
EOF
cat >"$work/select1.sql" <<'EOF'
SELECT 1;
EOF
chmod 644 "$work"/*.sql

workloads=(select_only insert serial_insert tpcb_like tpcb_simple select_simple connect select_c64)
# What pgbench runs for each workload, and the clients, threads and
# protocol where they are not the command line's.
declare -A script=([select_only]="-S" [insert]="-f $work/insert.sql"
    [serial_insert]="-f $work/serial.sql" [tpcb_like]="" [connect]="-C -f $work/select1.sql"
    [select_c64]="-S" [tpcb_simple]="" [select_simple]="-S")
declare -A clients_of=([connect]=8 [select_c64]=64)
declare -A threads_of=([connect]=8)
declare -A mode_of=([connect]=simple [tpcb_simple]=simple [select_simple]=simple)
declare -A tps p99 server_us client_us
ticks_per_second=$(getconf CLK_TCK)

load_and_run() { # system port socket_dir
    local system=$1 port=$2 host=127.0.0.1
    [ "$unix" -eq 0 ] || host=$3
    log "$system: pgbench -i -I dtGp -s $scale"
    sql "$port" -f "$work/setup.sql" >/dev/null
    "$pgbench" -i -I dtGp -s "$scale" -h 127.0.0.1 -p "$port" -U postgres postgres \
        >"$work/$system-init.out" 2>&1 || { cat "$work/$system-init.out" >&2; die "$system: pgbench -i failed"; }
    local count
    count=$(sql "$port" -c 'SELECT count(*) FROM pgbench_accounts')
    [ "$count" = "$((scale * 100000))" ] || die "$system: pgbench_accounts has $count rows"
    for workload in "${workloads[@]}"; do
        local c=${clients_of[$workload]:-$clients} j=${threads_of[$workload]:-$threads}
        local mode=${mode_of[$workload]:-prepared}
        log "$system: $workload for ${duration}s (-c $c -j $j -M $mode)"
        local out="$work/$system-$workload.out"
        rm -f "$work/$system-$workload".log*
        local cpu_before
        cpu_before=$(server_cpu_ticks "$system")
        # shellcheck disable=SC2086 # the script arguments split on purpose
        if ! /usr/bin/time -f '%U %S' -o "$work/$system-$workload.time" \
            "$pgbench" -n -M "$mode" ${script[$workload]} -c "$c" -j "$j" \
            -T "$duration" -l --log-prefix="$work/$system-$workload.log" \
            -h "$host" -p "$port" -U postgres postgres >"$out" 2>&1; then
            cat "$out" >&2
            die "$system: pgbench $workload failed"
        fi
        local value
        value=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out" | tail -1)
        [ -n "$value" ] || { cat "$out" >&2; die "$system: no tps in pgbench output"; }
        tps[$system,$workload]=$value
        # CPU per transaction, server and pgbench: less noisy than TPS on a
        # shared machine (backends that just left are reaped meanwhile).
        sleep 0.5
        local done_tx cpu_after
        cpu_after=$(server_cpu_ticks "$system")
        done_tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
        server_us[$system,$workload]=$(awk -v a="$cpu_before" -v b="$cpu_after" -v n="$done_tx" -v hz="$ticks_per_second" \
            'BEGIN { if (n > 0) printf "%.1f", (b - a) / hz * 1e6 / n; else print "n/a" }')
        client_us[$system,$workload]=$(awk -v n="$done_tx" '{ if (n > 0) printf "%.1f", ($1 + $2) * 1e6 / n; else print "n/a" }' \
            "$work/$system-$workload.time")
        # The per-transaction log's third column is the latency in microseconds.
        p99[$system,$workload]=$(cat "$work/$system-$workload".log* | awk '{print $3}' | sort -n |
            awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.2f", v[i] / 1000 } }')
        rm -f "$work/$system-$workload".log*
        grep -E 'aborted|failed transactions: [1-9]' "$out" >&2 || true
    done
    # Every TPC-B-like transaction moved one delta through all four tables.
    local sums
    sums="$(sql "$port" -c 'SELECT sum(abalance) FROM pgbench_accounts')|$(sql "$port" -c 'SELECT sum(tbalance) FROM pgbench_tellers')|$(sql "$port" -c 'SELECT sum(bbalance) FROM pgbench_branches')|$(sql "$port" -c 'SELECT sum(delta) FROM pgbench_history')"
    log "$system: balance sums after the TPC-B-like runs (accounts|tellers|branches|history): $sums"
    [ "$(echo "$sums" | tr '|' '\n' | sort -u | wc -l)" = 1 ] || die "$system: TPC-B-like balances disagree: $sums"
}

# --- runs ----------------------------------------------------------------------------
start_tessera
load_and_run tessera "$tessera_port" "$work"
stop_tessera
start_postgres
load_and_run postgres "$postgres_port" "$work/pg"
stop_postgres

# --- report --------------------------------------------------------------------
echo
echo "pgbench -n -M prepared -c $clients -j $threads -T $duration (tpcb_simple, select_simple: -M simple; connect: -M simple -C -c 8 -j 8; select_c64: -c 64); $(nproc) cores; scale $scale; over $([ "$unix" -eq 1 ] && echo 'Unix sockets' || echo 'TCP (127.0.0.1)')"
echo "tessera: $tessera --shards $shards"
echo "postgres: $("$pg_bin/postgres" --version)${pg_opts:+ $pg_opts}"
printf '%-14s %12s %12s %7s %9s %9s %18s %18s\n' workload tessera_tps postgres_tps ratio \
    t_p99_ms pg_p99_ms server_us/tx_t/pg pgbench_us/tx_t/pg
for workload in "${workloads[@]}"; do
    t=${tps[tessera,$workload]}
    p=${tps[postgres,$workload]}
    printf '%-14s %12.1f %12.1f %7s %9s %9s %18s %18s\n' "$workload" "$t" "$p" \
        "$(awk -v t="$t" -v p="$p" 'BEGIN { if (p > 0) printf "%.2f", t / p; else print "n/a" }')" \
        "${p99[tessera,$workload]}" "${p99[postgres,$workload]}" \
        "${server_us[tessera,$workload]}/${server_us[postgres,$workload]}" \
        "${client_us[tessera,$workload]}/${client_us[postgres,$workload]}"
done
echo "server_us/tx: CPU time per transaction of the server (all of Tessera's threads; all of"
echo "PostgreSQL's processes); pgbench_us/tx: pgbench's own. Microseconds, Tessera/PostgreSQL."
