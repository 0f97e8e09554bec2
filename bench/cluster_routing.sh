#!/usr/bin/env bash
# What a hop to another node costs (issue 6, docs/CLUSTER.md step 4): the
# same pgbench runs against PostgreSQL 15, a Tessera node on its own, and
# a cluster of NODES Tessera nodes on loopback, once through the node whose
# shards hold the rows (the founder, started with --rebalance=false)
# and once through another node, whose statements reach those shards over
# the internal port. Prints TPS and the ratios to PostgreSQL.
#
# Workloads (pgbench -n -M prepared -c CLIENTS -j 2 -T SECONDS, scale 2):
#   select_only   pgbench's SELECT-only script (-S)
#   tpcb_like     pgbench's TPC-B-like script (a block of 3 UPDATEs, a
#                 SELECT and an INSERT); the four balance sums must agree
#
# Usage: bench/cluster_routing.sh [--nodes N] [--shards N] [-c CLIENTS]
#                                 [-T SECONDS] [--no-build]
# Environment: TESSERA_BIN (a built binary; default target/release/tessera).
set -euo pipefail

nodes=3
shards=1
clients=8
duration=10
scale=2
build=1
# shellcheck source=bench/cluster_options.sh
. "$(dirname "$0")/cluster_options.sh"
cluster_options "$@"
# shellcheck source=bench/common.sh
. "$(dirname "$0")/common.sh"

declare -A tps

load() { # port what
    "$pgbench" -i -I dtGp -s "$scale" -h 127.0.0.1 -p "$1" -U postgres postgres \
        >"$work/$2-init.out" 2>&1 || { cat "$work/$2-init.out" >&2; die "$2: pgbench -i failed"; }
}

# Runs both workloads through `port`, recording TPS under `system`.
run() { # port system
    local out value workload flags
    for workload in select_only tpcb_like; do
        flags=()
        [ "$workload" = select_only ] && flags=(-S)
        out=$work/$2-$workload.out
        log "$2: $workload"
        "$pgbench" -n -M prepared "${flags[@]}" -c "$clients" -j 2 -T "$duration" \
            -h 127.0.0.1 -p "$1" -U postgres postgres >"$out" 2>&1 ||
            { cat "$out" >&2; die "$2: pgbench $workload failed"; }
        value=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out" | tail -1)
        [ -n "$value" ] || { cat "$out" >&2; die "$2: no tps in pgbench output"; }
        tps[$2,$workload]=$value
    done
    local sums
    sums=$(sql "$1" -c "SELECT (SELECT sum(abalance) FROM pgbench_accounts), \
        (SELECT sum(tbalance) FROM pgbench_tellers), (SELECT sum(bbalance) FROM pgbench_branches), \
        (SELECT sum(delta) FROM pgbench_history)")
    awk -F'|' '{ exit !($1 == $2 && $2 == $3 && $3 == $4) }' <<<"$sums" ||
        die "$2: the balance sums disagree: $sums"
}

start_postgres
load "$postgres_port" postgres
run "$postgres_port" postgres
stop_postgres

start_tessera
load "$tessera_port" alone
run "$tessera_port" alone
stop_tessera

# The founder keeps every bucket: the rows stay on one node.
cluster_args=(--rebalance=false)
start_cluster "$nodes"
owner=$(sql "${pg_ports[1]}" -c "SELECT pg_address FROM tessera_nodes WHERE buckets > 0")
founder=""
for i in $(seq 1 "$nodes"); do
    [ "$owner" = "127.0.0.1:${pg_ports[i]}" ] && founder=$i
done
[ -n "$founder" ] || die "no node owns the buckets ($owner)"
other=$(( founder % nodes + 1 ))
load "${pg_ports[other]}" other
run "${pg_ports[founder]}" founder
run "${pg_ports[other]}" other
stop_cluster

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "pgbench -n -M prepared -c $clients -j 2 -T $duration, scale $scale; $(nproc) cores; Tessera with $shards shard(s) per node"
printf '%-44s %14s %8s %14s %8s\n' system select_only "x PG" tpcb_like "x PG"
for s in postgres alone founder other; do
    case $s in
        postgres) name="PostgreSQL 15" ;;
        alone) name="Tessera, one node" ;;
        founder) name="Tessera, $nodes nodes, via the rows' node" ;;
        other) name="Tessera, $nodes nodes, via another node" ;;
    esac
    printf '%-44s %14s %8s %14s %8s\n' "$name" \
        "${tps[$s,select_only]}" "$(ratio "${tps[$s,select_only]}" "${tps[postgres,select_only]}")" \
        "${tps[$s,tpcb_like]}" "$(ratio "${tps[$s,tpcb_like]}" "${tps[postgres,tpcb_like]}")"
done
