#!/usr/bin/env bash
# What a catalog change costs (issue 6, docs/CLUSTER.md step 2): the same
# DDL script (CREATE TABLE with a primary key, CREATE INDEX, ALTER TABLE
# ADD COLUMN, DROP TABLE, COUNT times each) through psql against
# PostgreSQL 15, a Tessera node on its own, and a cluster of NODES Tessera
# nodes on loopback (issued on one node; every node has applied each
# change when its statement returns). Prints milliseconds per statement
# and the ratios to PostgreSQL.
#
# Usage: bench/cluster_ddl.sh [--nodes N] [--count N] [--shards N] [--no-build]
# Environment: TESSERA_BIN (a built binary; default target/release/tessera).
set -euo pipefail

nodes=3
count=50
shards=1
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --nodes) nodes="$2"; shift 2 ;;
        --count) count="$2"; shift 2 ;;
        --shards) shards="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
# shellcheck source=bench/common.sh
. "$(dirname "$0")/common.sh"

script=$work/ddl.sql
for i in $(seq 1 "$count"); do
    cat >>"$script" <<EOF
CREATE TABLE bench_t$i (id int PRIMARY KEY, name text, v int);
CREATE INDEX bench_t${i}_v ON bench_t$i (v);
ALTER TABLE bench_t$i ADD COLUMN note text;
DROP TABLE bench_t$i;
EOF
done
statements=$((count * 4))

now_ms() { date +%s%3N; }

# Runs the script against `port`; prints milliseconds per statement.
per_statement() {
    local t0
    t0=$(now_ms)
    sql "$1" -f "$script" >/dev/null
    awk -v ms=$(( $(now_ms) - t0 )) -v n="$statements" 'BEGIN { printf "%.2f", ms / n }'
}

start_postgres
pg_ms=$(per_statement "$postgres_port")
stop_postgres

start_tessera
alone_ms=$(per_statement "$tessera_port")
stop_tessera

start_cluster "$nodes"
# Issued on the metadata leader, then on another node (whose proposals
# go through the leader).
leader_addr=""
for _ in $(seq 100); do
    leader_addr=$("$tessera" status --peer "127.0.0.1:${ports[1]}" --cluster-secret-file "$work/secret" 2>/dev/null |
        sed -n 's/^raft leader: node [0-9]* (\([^)]*\)).*/\1/p') || true
    [ -n "$leader_addr" ] && break
    sleep 0.1
done
[ -n "$leader_addr" ] || die "the cluster has no leader"
lead=1
for i in $(seq 1 "$nodes"); do
    [ "127.0.0.1:${ports[i]}" = "$leader_addr" ] && lead=$i
done
other=$(( lead % nodes + 1 ))
first_ms=$(per_statement "${pg_ports[lead]}")
other_ms=$(per_statement "${pg_ports[other]}")
for i in $(seq 1 "$nodes"); do
    left=$(sql "${pg_ports[i]}" -c "SELECT count(*) FROM pg_class WHERE relname LIKE 'bench_t%'")
    [ "$left" = 0 ] || die "node $i still lists $left bench tables"
done
stop_cluster

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "DDL, ms per statement ($statements statements: CREATE TABLE, CREATE INDEX, ALTER TABLE, DROP TABLE)"
printf '%-40s %8s %10s\n' "system" "ms" "x PG time"
printf '%-40s %8s %10s\n' "PostgreSQL 15" "$pg_ms" "1.00"
printf '%-40s %8s %10s\n' "Tessera, one node" "$alone_ms" "$(ratio "$alone_ms" "$pg_ms")"
printf '%-40s %8s %10s\n' "Tessera, $nodes-node cluster (leader)" "$first_ms" "$(ratio "$first_ms" "$pg_ms")"
printf '%-40s %8s %10s\n' "Tessera, $nodes-node cluster (follower)" "$other_ms" "$(ratio "$other_ms" "$pg_ms")"
