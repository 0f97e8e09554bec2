#!/usr/bin/env bash
# Global tables (issue 6, docs/CLUSTER.md §7): reads of a global table
# on a node that does not own the sharded rows, next to the same read of
# a sharded table (a hop to the owning node), and writes of a global
# table, which go through the Raft group. The same pgbench scripts run
# against PostgreSQL 15 (plain tables) for the ratios.
#
# Workloads (pgbench -n -M prepared -c CLIENTS -j 2 -T SECONDS):
#   global_read    SELECT name FROM countries WHERE code = :code
#   sharded_read   the same read of `places`, a sharded copy of it
#   join_read      a point read of `orders` joined with `countries`
#   global_update  UPDATE counters SET v = v + 1 WHERE id = :id (1000 rows);
#                  afterwards sum(v) must equal the updates made
#   global_block   BEGIN; two such updates of `tallies`; COMMIT (a block
#                  that finds a row changed first fails with 40001 and is
#                  tried again: --max-tries); afterwards sum(v) must be
#                  twice the blocks committed
#   index_read     SELECT code FROM countries WHERE name = … (an index)
#
# Usage: bench/cluster_global.sh [--nodes N] [--shards N] [-c CLIENTS]
#                                [-T SECONDS] [--no-build]
# Environment: TESSERA_BIN (a built binary; default target/release/tessera).
set -euo pipefail

nodes=3
shards=1
clients=8
duration=10
build=1
# shellcheck source=bench/cluster_options.sh
. "$(dirname "$0")/cluster_options.sh"
cluster_options "$@"
# shellcheck source=bench/common.sh
. "$(dirname "$0")/common.sh"

workloads=(global_read sharded_read join_read global_update global_block index_read)
declare -A tps

cat >"$work/global_read.sql" <<'EOF'
\set c random(1, 200)
SELECT name FROM countries WHERE code = 'c' || :c;
EOF
cat >"$work/sharded_read.sql" <<'EOF'
\set c random(1, 200)
SELECT name FROM places WHERE code = 'c' || :c;
EOF
cat >"$work/join_read.sql" <<'EOF'
\set id random(1, 100000)
SELECT o.amount, c.name FROM orders o JOIN countries c ON c.code = o.country WHERE o.id = :id;
EOF
cat >"$work/global_update.sql" <<'EOF'
\set id random(1, 1000)
UPDATE counters SET v = v + 1 WHERE id = :id;
EOF
cat >"$work/global_block.sql" <<'EOF'
\set a random(1, 1000)
\set b random(1, 1000)
BEGIN;
UPDATE tallies SET v = v + 1 WHERE id = :a;
UPDATE tallies SET v = v + 1 WHERE id = :b;
COMMIT;
EOF
cat >"$work/index_read.sql" <<'EOF'
\set c random(1, 200)
SELECT code FROM countries WHERE name = 'country ' || :c;
EOF

# Tables in `port`; `global` is "DISTRIBUTED GLOBALLY" or empty.
load() { # port global
    sql "$1" <<EOF
CREATE TABLE countries (code text PRIMARY KEY, name text) $2;
CREATE TABLE places (code text PRIMARY KEY, name text);
CREATE TABLE counters (id int PRIMARY KEY, v int) $2;
CREATE TABLE tallies (id int PRIMARY KEY, v int) $2;
CREATE INDEX countries_name ON countries (name);
CREATE TABLE orders (id int PRIMARY KEY, country text, amount int);
INSERT INTO countries SELECT 'c' || g, 'country ' || g FROM generate_series(1, 200) g;
INSERT INTO places SELECT * FROM countries;
INSERT INTO counters SELECT g, 0 FROM generate_series(1, 1000) g;
INSERT INTO tallies SELECT g, 0 FROM generate_series(1, 1000) g;
INSERT INTO orders SELECT g, 'c' || (1 + g % 200), g % 1000 FROM generate_series(1, 100000) g;
EOF
}

run() { # port system
    local workload out value done_updates
    for workload in "${workloads[@]}"; do
        out=$work/$2-$workload.out
        log "$2: $workload"
        "$pgbench" -n -M prepared --max-tries=100 -f "$work/$workload.sql" -c "$clients" -j 2 -T "$duration" \
            -h 127.0.0.1 -p "$1" -U postgres postgres >"$out" 2>&1 ||
            { cat "$out" >&2; die "$2: pgbench $workload failed"; }
        value=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out" | tail -1)
        [ -n "$value" ] || { cat "$out" >&2; die "$2: no tps in pgbench output"; }
        tps[$2,$workload]=$value
    done
    done_updates=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' \
        "$work/$2-global_update.out")
    [ "$(sql "$1" -c "SELECT sum(v) FROM counters")" = "$done_updates" ] ||
        die "$2: counters hold $(sql "$1" -c "SELECT sum(v) FROM counters"), not $done_updates updates"
    done_updates=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' \
        "$work/$2-global_block.out")
    [ "$(sql "$1" -c "SELECT sum(v) FROM tallies")" = "$((2 * done_updates))" ] ||
        die "$2: tallies hold $(sql "$1" -c "SELECT sum(v) FROM tallies"), not twice $done_updates blocks"
}

start_postgres
load "$postgres_port" ""
run "$postgres_port" postgres
stop_postgres

cluster_args=(--rebalance=false)
start_cluster "$nodes"
owner=$(sql "${pg_ports[1]}" -c "SELECT pg_address FROM tessera_nodes WHERE buckets > 0")
other=""
for i in $(seq 1 "$nodes"); do
    [ "$owner" = "127.0.0.1:${pg_ports[i]}" ] || other=$i
done
[ -n "$other" ] || die "no node without buckets ($owner)"
load "${pg_ports[other]}" "DISTRIBUTED GLOBALLY"
run "${pg_ports[other]}" cluster
for i in $(seq 1 "$nodes"); do
    [ "$(sql "${pg_ports[i]}" -c "SELECT sum(v) FROM counters")" = \
        "$(sql "${pg_ports[other]}" -c "SELECT sum(v) FROM counters")" ] ||
        die "node $i's copy of counters differs"
    [ "$(sql "${pg_ports[i]}" -c "SELECT sum(v) FROM tallies")" = \
        "$(sql "${pg_ports[other]}" -c "SELECT sum(v) FROM tallies")" ] ||
        die "node $i's copy of tallies differs"
done
stop_cluster

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "pgbench -n -M prepared --max-tries=100 -c $clients -j 2 -T $duration; $(nproc) cores; Tessera: $nodes nodes, $shards shard(s) each, via a node that owns no buckets"
printf '%-16s %14s %14s %8s\n' workload "PostgreSQL 15" Tessera "x PG"
for w in "${workloads[@]}"; do
    printf '%-16s %14s %14s %8s\n' "$w" "${tps[postgres,$w]}" "${tps[cluster,$w]}" \
        "$(ratio "${tps[cluster,$w]}" "${tps[postgres,$w]}")"
done
