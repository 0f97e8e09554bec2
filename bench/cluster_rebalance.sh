#!/usr/bin/env bash
# How long buckets take to move (issue 6, docs/CLUSTER.md §8): loads SIZE
# megabytes of rows into a one-node cluster, starts a second node that
# joins, and times the moves until both own an even share; then expels the
# second node and times its drain back. Checks after each that every node
# gives the same row count and content checksum as before. No reference
# system does this on one machine here, so it prints absolute figures.
# With --replication-factor N, a group of N nodes is loaded and a second
# group of N joins (moves go master to master, and each group's replicas
# copy them); the drain expels the second group's first node.
#
# Rows are (id bigint PRIMARY KEY, pad text) with a 1000-byte pad, loaded
# in statements of BATCH rows; SIZE counts id and pad bytes.
#
# Usage: bench/cluster_rebalance.sh [--size MB] [--shards N]
#                                   [--replication-factor N] [--no-build]
# Environment: TESSERA_BIN (a built binary; default target/release/tessera).
set -euo pipefail

size_mb=1024
shards=1
factor=1
batch=20000
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --size) size_mb="$2"; shift 2 ;;
        --shards) shards="$2"; shift 2 ;;
        --replication-factor) factor="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
# shellcheck source=bench/common.sh
. "$(dirname "$0")/common.sh"

now_ms() { date +%s%3N; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }

rows=$(( size_mb * 1024 * 1024 / 1008 ))
cluster_args=(--replication-factor "$factor")
start_cluster "$factor"
sql "${pg_ports[1]}" -c "CREATE TABLE big (id bigint PRIMARY KEY, pad text NOT NULL)"
log "loading $rows rows (${size_mb} MB) in statements of $batch"
t0=$(now_ms)
for ((first = 1; first <= rows; first += batch)); do
    last=$(( first + batch - 1 < rows ? first + batch - 1 : rows ))
    sql "${pg_ports[1]}" -c "INSERT INTO big SELECT g, substr(repeat(md5(g::text), 32), 1, 1000) \
        FROM generate_series($first, $last) g" >/dev/null
done
load_ms=$(( $(now_ms) - t0 ))

checksum_sql="SELECT count(*), sum(id), sum(length(pad)), md5(string_agg(md5(pad), '' ORDER BY id)) FROM big"
before=$(sql "${pg_ports[1]}" -c "$checksum_sql")
log "loaded in $(secs "$load_ms") s: $before"

# Per online node, the buckets it owns, as node `$1` sees them.
owned() {
    sql "${pg_ports[$1]}" -c "SELECT string_agg(buckets::text, ' ' ORDER BY node_id) FROM tessera_nodes WHERE state = 'online'"
}
# Waits until every online node (`$3` of them, in `$3 / factor` groups,
# whose members each show their group's buckets) owns within one bucket
# per shard of an even share; prints the milliseconds since `$2`.
wait_even() { # via started nodes
    local want=$(( 3000 / ($3 / factor * shards) * shards )) o
    while :; do
        o=$(owned "$1")
        if awk -v want="$want" -v slack="$shards" '{ for (i = 1; i <= NF; i++) if ($i < want - slack || $i > want + slack) exit 1 }' <<<"$o" &&
            [ "$(wc -w <<<"$o")" = "$3" ]; then
            break
        fi
        sleep 0.1
    done
    echo $(( $(now_ms) - $2 ))
}

log "adding $factor node(s)"
t0=$(now_ms)
for _ in $(seq 1 "$factor"); do add_cluster_node; done
joined_ms=$(( $(now_ms) - t0 ))
moved_ms=$(wait_even 1 "$t0" $(( 2 * factor )))
log "balanced: $(owned 1)"
for i in $(seq 1 $(( 2 * factor ))); do
    seen=$(sql "${pg_ports[i]}" -c "$checksum_sql")
    [ "$seen" = "$before" ] || die "node $i sees $seen after the moves, not $before"
done

gone=$(( factor + 1 ))
gone_id=$(sql "${pg_ports[1]}" -c "SELECT node_id FROM tessera_nodes WHERE address = '127.0.0.1:${ports[gone]}'")
log "expelling node $gone (id $gone_id; it drains first)"
t0=$(now_ms)
"$tessera" expel --peer "127.0.0.1:${ports[1]}" --cluster-secret-file "$work/secret" "$gone_id" >"$work/expel.out" 2>&1 ||
    { cat "$work/expel.out" >&2; die "tessera expel failed"; }
drained_ms=$(( $(now_ms) - t0 ))
[ "$(owned 1 | cut -d' ' -f1)" = 3000 ] || die "node 1 owns $(owned 1) buckets after the expel"
seen=$(sql "${pg_ports[1]}" -c "$checksum_sql")
[ "$seen" = "$before" ] || die "node 1 sees $seen after the drain, not $before"
stop_cluster

mb_s() { awk -v mb="$1" -v ms="$2" 'BEGIN { printf "%.1f", mb / (ms / 1000) }'; }
half=$(( size_mb / 2 ))
echo "$rows rows, ${size_mb} MB; $shards shard(s) per node; replication factor $factor; $(nproc) cores; release build"
printf '%-52s %10s %10s\n' step seconds "MB/s"
printf '%-52s %10s %10s\n' "load (INSERT … SELECT, $batch rows a statement)" "$(secs "$load_ms")" "$(mb_s "$size_mb" "$load_ms")"
printf '%-52s %10s %10s\n' "$factor node(s) join (until they serve SQL)" "$(secs "$joined_ms")" ""
printf '%-52s %10s %10s\n' "rebalance: half the data to the new node(s)" "$(secs "$moved_ms")" "$(mb_s "$half" "$moved_ms")"
printf '%-52s %10s %10s\n' "tessera expel: drain it back, then expel" "$(secs "$drained_ms")" "$(mb_s "$half" "$drained_ms")"
echo "row count and checksum unchanged on every node after each step"
