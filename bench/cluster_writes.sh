#!/usr/bin/env bash
# Write throughput of a cluster against one node (issue 6): the same
# single-row upserts (INSERT … ON CONFLICT DO UPDATE on a random key of
# KEYS) run against PostgreSQL 15, one Tessera node, and a cluster of NODES
# Tessera nodes whose buckets have spread evenly, with the clients divided
# among the nodes (one pgbench per node at once; their TPS added up).
# Prints TPS, the ratio to PostgreSQL and the cluster's ratio to one node.
#
# With --replication-factor N the nodes form replica groups of N (only
# full groups own buckets; each master ships its log to the others), in
# --replication-mode async (commits acknowledged once the master's log
# holds them) or sync (once a majority of the group's do). On a machine
# with fewer cores than nodes the nodes share them: the ratio then shows
# the cost of the hops and copies, not how a cluster scales.
#
# Usage: bench/cluster_writes.sh [--nodes N] [--shards N] [-c CLIENTS]
#                                [-T SECONDS] [--replication-factor N]
#                                [--replication-mode async|sync] [--no-build]
# Environment: TESSERA_BIN (a built binary; default target/release/tessera).
set -euo pipefail

nodes=3
shards=1
clients=12
duration=10
keys=1000000
build=1
# shellcheck source=bench/cluster_options.sh
. "$(dirname "$0")/cluster_options.sh"
cluster_options "$@"
# shellcheck source=bench/common.sh
. "$(dirname "$0")/common.sh"

cat >"$work/upsert.sql" <<EOF
\set id random(1, $keys)
INSERT INTO w (id, v) VALUES (:id, 1) ON CONFLICT (id) DO UPDATE SET v = w.v + 1;
EOF

declare -A tps
declare -A latency

prepare() { # port
    sql "$1" -c "CREATE TABLE w (id int PRIMARY KEY, v bigint NOT NULL)"
}

# Runs pgbench against each of the ports at once, `clients` divided among
# them; records the summed TPS and the worst average latency under
# `system`.
run() { # system port...
    local system=$1 n i out pids=() total=0 worst=0 value lat
    shift
    n=$#
    i=0
    for port in "$@"; do
        i=$((i + 1))
        out=$work/$system-$i.out
        "$pgbench" -n -M prepared -f "$work/upsert.sql" -c $((clients / n)) -j 1 -T "$duration" \
            -h 127.0.0.1 -p "$port" -U postgres postgres \
            >"$out" 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || die "$system: pgbench failed ($(cat "$work/$system"-*.out))"; done
    for i in $(seq 1 "$n"); do
        out=$work/$system-$i.out
        value=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out" | tail -1)
        [ -n "$value" ] || { cat "$out" >&2; die "$system: no tps in pgbench output"; }
        total=$(awk -v a="$total" -v b="$value" 'BEGIN { print a + b }')
        lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$out")
        worst=$(awk -v a="$worst" -v b="$lat" 'BEGIN { print (b > a ? b : a) }')
    done
    tps[$system]=$total
    latency[$system]=$worst
    log "$system: $total tps"
}

start_postgres
prepare "$postgres_port"
run postgres "$postgres_port"
stop_postgres

start_tessera
prepare "$tessera_port"
run alone "$tessera_port"
stop_tessera

cluster_args=(--replication-factor="$replication_factor" --replication-mode="$replication_mode")
start_cluster "$nodes"
prepare "${pg_ports[1]}"
# Only full replica groups own buckets; every member shows its group's.
groups=$(( nodes / replication_factor ))
want=$(( 3000 / groups ))
for _ in $(seq 600); do
    owned=$(sql "${pg_ports[1]}" -c "SELECT min(buckets) FILTER (WHERE buckets > 0), max(buckets) FROM tessera_nodes WHERE state = 'online'")
    awk -F'|' -v want="$want" -v slack="$shards" '{ exit !($1 >= want - slack && $2 <= want + slack + 1) }' <<<"$owned" && break
    sleep 0.1
done
log "buckets per node (min|max): $owned"
cluster_ports=()
for i in $(seq 1 "$nodes"); do cluster_ports+=("${pg_ports[i]}"); done
run cluster "${cluster_ports[@]}"
sum=$(sql "${pg_ports[1]}" -c "SELECT sum(v) FROM w")
stop_cluster

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "pgbench -n -M prepared, single-row upserts on $keys keys, $clients clients, -T $duration; $(nproc) cores; Tessera with $shards shard(s) per node"
printf '%-40s %12s %8s %10s %18s\n' system tps "x PG" "x 1 node" "avg latency (ms)"
for s in postgres alone cluster; do
    case $s in
        postgres) name="PostgreSQL 15" ;;
        alone) name="Tessera, one node" ;;
        cluster) name="Tessera, $nodes nodes (RF $replication_factor, $replication_mode)" ;;
    esac
    printf '%-40s %12s %8s %10s %18s\n' "$name" "${tps[$s]}" "$(ratio "${tps[$s]}" "${tps[postgres]}")" \
        "$(ratio "${tps[$s]}" "${tps[alone]}")" "${latency[$s]}"
done
echo "cluster: sum(v) = $sum after the run"
