#!/usr/bin/env bash
# A soak of partitions under write load (issue 6, docs/CLUSTER.md §6): 3
# nodes of 2 shards in one replica group of three, sync mode. A writer per
# node inserts 8 rows a statement through its node, without pause. Each
# round cuts the master of shard 0 off from the other two, both ways
# (`tessera fault`, the transport's fault hook), for HOLD seconds, then
# heals the cut and waits until every node takes writes again. Per round
# it prints how long the majority side took to acknowledge a write after
# the cut. At the end every acknowledged row must be present, and every
# node must read the same count and checksum. It fails otherwise. This is
# no comparison with a reference system: no other system here fails over.
#
# Usage: bench/cluster_partition_soak.sh [--rounds N] [--hold SECONDS]
#                                        [--replication-mode sync|async]
#                                        [--no-build]
# Environment: TESSERA_BIN (a built binary; default target/release/tessera);
# KEEP_LOGS=1 keeps the nodes' logs and the writers' records.
set -euo pipefail

rounds=10
hold=5
mode=sync
shards=2
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --hold) hold="$2"; shift 2 ;;
        --replication-mode) mode="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
# shellcheck source=bench/common.sh
. "$(dirname "$0")/common.sh"

now_ms() { date +%s%3N; }

cluster_args=(--replication-factor 3 --replication-mode "$mode")
start_cluster 3
sql "${pg_ports[1]}" -c "CREATE TABLE soak (id bigint PRIMARY KEY, via int NOT NULL)"

# The internal address of node `$1` (1-3, the script's numbering).
addr() { echo "127.0.0.1:${ports[$1]}"; }
# The script's number of shard 0's master, as a node that answers says.
master() {
    local s id port via
    for via in 1 2 3; do
        s=$("$tessera" status --peer "$(addr "$via")" --cluster-secret-file "$work/secret" 2>/dev/null) && break
    done
    id=$(sed -n 's/.* 0: node \([0-9]*\) (epoch.*/\1/p' <<<"$s")
    port=$(awk -v id="$id" '$1 == id { split($3, a, ":"); print a[2]; exit }' <<<"$s")
    for via in 1 2 3; do
        if [ "${ports[$via]}" = "$port" ]; then echo "$via"; fi
    done
}
fault() { # node, then the addresses it cannot reach (comma-separated)
    "$tessera" fault --peer "$(addr "$1")" --cluster-secret-file "$work/secret" --cut-off "$2" >/dev/null
}

# Writer `$1` inserts through node `$1`; it logs "start end base" per
# acknowledged statement, "start end failed" per failed one.
writer() {
    local w=$1 n=0 t base
    while :; do
        base=$(( w * 100000000 + n * 8 ))
        t=$(now_ms)
        if sql "${pg_ports[$w]}" -c "INSERT INTO soak SELECT g, $w FROM generate_series($base, $base + 7) g" \
            >/dev/null 2>>"$work/writer$w.err"; then
            echo "$t $(now_ms) $base" >>"$work/acked$w"
        else
            echo "$t $(now_ms) failed" >>"$work/acked$w"
        fi
        n=$((n + 1))
    done
}
writer_pids=()
for w in 1 2 3; do
    : >"$work/acked$w"
    writer "$w" &
    writer_pids+=($!)
done
stop_writers() {
    local p
    for p in "${writer_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${writer_pids[@]}"; do wait "$p" 2>/dev/null || true; done
    writer_pids=()
}
trap 'stop_writers; stop_cluster; cleanup' EXIT
sleep 2

total=0
for r in $(seq 1 "$rounds"); do
    m=$(master)
    [ -n "$m" ] || die "round $r: no master of shard 0 found"
    others=()
    for i in 1 2 3; do [ "$i" = "$m" ] || others+=("$i"); done
    t0=$(now_ms)
    echo "round $r: cut node $m at $t0" >>"$work/cuts"
    fault "$m" "$(addr "${others[0]}"),$(addr "${others[1]}")"
    for o in "${others[@]}"; do fault "$o" "$(addr "$m")"; done
    # The first write on the majority side sent after the cut and
    # acknowledged.
    first=
    deadline=$(( t0 + 60000 ))
    while [ -z "$first" ]; do
        first=$(cat "$work/acked${others[0]}" "$work/acked${others[1]}" |
            awk -v t="$t0" '$1 >= t && $3 != "failed" { print $2 }' | sort -n | head -1)
        [ "$(now_ms)" -lt "$deadline" ] || die "round $r: the majority took no write within 60 s"
        [ -n "$first" ] || sleep 0.05
    done
    took=$(( first - t0 ))
    total=$(( total + took ))
    sleep "$hold"
    for i in 1 2 3; do fault "$i" ""; done
    echo "round $r: healed at $(now_ms)" >>"$work/cuts"
    # Healed: every node takes a write again (the cut-off one may restart
    # itself to drop a copy the majority never had).
    t1=$(now_ms)
    for i in 1 2 3; do
        until awk -v t="$t1" '$1 >= t && $3 != "failed" { found = 1 } END { exit !found }' "$work/acked$i"; do
            [ "$(( $(now_ms) - t1 ))" -lt 120000 ] || die "round $r: node $i took no write within 120 s of healing"
            sleep 0.1
        done
    done
    echo "round $r: cut off master node $m for ${hold} s; the majority wrote again after $took ms; healed, every node writes after $(( $(now_ms) - t1 )) ms"
done
stop_writers

cat "$work"/acked[123] | awk '$3 != "failed" { for (i = 0; i < 8; i++) printf "%d\n", $3 + i }' | sort >"$work/acked_ids"
acked=$(cat "$work"/acked[123] | grep -vc failed || true)
failed=$(cat "$work"/acked[123] | grep -c failed || true)
# Every node must read the same. A writer's last statement may still be
# under way (its psql outlives the loop), so the nodes are given a while
# to agree.
checksum="SELECT count(*), sum(id), sum(via) FROM soak"
deadline=$(( $(now_ms) + 30000 ))
while :; do
    want=$(sql "${pg_ports[1]}" -c "$checksum")
    agree=1
    for i in 2 3; do
        seen=$(sql "${pg_ports[$i]}" -c "$checksum")
        [ "$seen" = "$want" ] || agree=
    done
    [ -n "$agree" ] && [ "$(sql "${pg_ports[1]}" -c "$checksum")" = "$want" ] && break
    [ "$(now_ms)" -lt "$deadline" ] || die "node $i reads $seen, node 1 $want"
    sleep 0.5
done
sql "${pg_ports[1]}" -c "SELECT id FROM soak" | sort >"$work/kept"
lost=$(comm -23 "$work/acked_ids" "$work/kept" | wc -l)
if [ "$lost" != 0 ]; then
    # Which statements, through which node, sent and acknowledged when.
    comm -23 "$work/acked_ids" "$work/kept" | awk '{ printf "%d\n", $1 - $1 % 8 }' | sort -u |
        while read -r base; do
            grep -h " $base\$" "$work"/acked[123] | sed "s/^/missing: writer $(( base / 100000000 )) sent, acknowledged, base: /"
        done | head -20
    cat "$work/cuts"
fi
echo "partition soak ($mode, replication factor 3, $rounds rounds of ${hold} s): the majority wrote again after $((total / rounds)) ms on average"
echo "inserts: $acked acknowledged (8 rows each), $failed failed; rows kept $(cut -d'|' -f1 <<<"$want"); every node reads $want; $lost acknowledged rows missing"
# The nodes' logs, for whoever looks into a failure (or with KEEP_LOGS=1).
keep_logs() {
    keep=$(mktemp -d "${TMPDIR:-/tmp}/tessera-soak.XXXXXX")
    cp "$work"/n*.log "$work"/acked* "$work"/cuts "$work"/writer*.err "$keep"/ 2>/dev/null || true
    echo "logs kept in $keep"
}
[ -z "${KEEP_LOGS:-}" ] || keep_logs
if [ "$mode" = sync ] && [ "$lost" != 0 ]; then
    keep_logs
    die "acknowledged rows are missing in sync mode"
fi
exit 0
