#!/usr/bin/env bash
# Cluster failover timings on loopback (issue 6), in two parts.
#
# 1. The metadata Raft group: a cluster of NODES nodes (one shard each);
#    the Raft leader is killed with SIGKILL ROUNDS times (restarted after
#    each round), and the time until the survivors have a new leader, as
#    `tessera status` reports it, is measured. Also the time from starting
#    the nodes to a settled cluster (all nodes voting or learning, one
#    leader).
# 2. Data failover (docs/CLUSTER.md §6): 3 nodes, replication factor 2
#    (two of them form the group that owns the buckets, the third routes).
#    A client inserts eight rows per statement (so each insert reaches
#    both shards, all but surely, and succeeds only once each has a master
#    again) through a node other than the master, without pause;
#    the master of the group is killed with SIGKILL ROUNDS times, and the
#    time from the kill to the client's first acknowledged insert after it
#    is measured (the statement waits for the new master; none fails). The
#    old master is restarted as a replica after each round. Whether the
#    master also led the Raft group is printed: then an election comes
#    first. With --replication-mode sync the three nodes form one group of
#    three (replication factor 3; a commit waits for a majority of it), the
#    client writes through a node other than the master, and the script
#    counts acknowledged inserts missing afterwards (sync mode loses none).
#
# Usage: bench/cluster_failover.sh [--nodes N] [--rounds N]
#                                  [--replication-mode async|sync] [--no-build]
# KEEP_DIR=1 keeps the nodes' logs and data (with TESSERA_LOG_LEVEL=debug,
# openraft's own lines show each election).
# Environment: TESSERA_BIN (a built binary; default target/release/tessera).
set -euo pipefail
cd "$(dirname "$0")/.."

nodes=3
rounds=5
build=1
mode=async
while [ $# -gt 0 ]; do
    case "$1" in
        --replication-mode) mode="$2"; shift 2 ;;
        --nodes) nodes="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done

bin="${TESSERA_BIN:-target/release/tessera}"
if [ "$build" = 1 ] && [ -z "${TESSERA_BIN:-}" ]; then
    cargo build --release -p tessera --bin tessera
fi
[ -x "$bin" ] || { echo "no binary at $bin" >&2; exit 1; }

dir=$(mktemp -d /tmp/tessera-failover.XXXXXX)
[ -n "${KEEP_DIR:-}" ] && echo "dir $dir" >&2
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    [ -n "${KEEP_DIR:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/secret"
# Below the ephemeral range (32768 up), so that no client socket takes them.
base=$((20000 + RANDOM % 10000))
peers=""
for i in $(seq 1 "$nodes"); do
    peers="${peers:+$peers,}127.0.0.1:$((base + i))"
done

start_node() {
    local i=$1
    "$bin" run --data-dir "$dir/n$i" --pg-listen "127.0.0.1:$((base + 100 + i))" \
        --listen "127.0.0.1:$((base + i))" --peer "$peers" \
        --cluster-secret-file "$dir/secret" --shards 1 --pg-socket-dir "$dir" >> "$dir/log$i" 2>&1 &
    pids[$i]=$!
}

now_ms() { date +%s%3N; }

# The leader's node id as node `via` reports it, or nothing.
leader() {
    { "$bin" status --peer "127.0.0.1:$((base + $1))" --cluster-secret-file "$dir/secret" 2>/dev/null || true; } \
        | sed -n 's/^raft leader: node \([0-9]*\) (\([^)]*\)).*/\1 \2/p'
}

# Settled: every node online and as many voters as the governor keeps
# (an odd number, at most five), with a leader.
want=$(( nodes > 5 ? 5 : (nodes % 2 == 0 ? nodes - 1 : nodes) ))
settled() {
    local s
    s=$("$bin" status --peer "127.0.0.1:$((base + $1))" --cluster-secret-file "$dir/secret" 2>/dev/null) || return 1
    [ "$(grep -c ' online ' <<< "$s")" = "$nodes" ] || return 1
    [ "$(grep -cE ' (leader|voter) ' <<< "$s")" = "$want" ] || return 1
}

t0=$(now_ms)
for i in $(seq 1 "$nodes"); do start_node "$i"; done
until settled 1; do sleep 0.05; done
echo "cluster of $nodes nodes settled with $want voters in $(( $(now_ms) - t0 )) ms"

total=0
for r in $(seq 1 "$rounds"); do
    lead=$(leader 1)
    [ -n "$lead" ] || lead=$(leader 2)
    read -r id addr <<< "$lead"
    port=${addr##*:}
    victim=$((port - base))
    survivor=$(( victim % nodes + 1 ))
    t0=$(now_ms)
    kill -9 "${pids[$victim]}"
    wait "${pids[$victim]}" 2>/dev/null || true
    while :; do
        got=$(leader "$survivor" | cut -d' ' -f1)
        if [ -n "$got" ] && [ "$got" != "$id" ]; then break; fi
        sleep 0.02
    done
    took=$(( $(now_ms) - t0 ))
    total=$((total + took))
    echo "round $r: killed leader node $id; node $got leads after $took ms"
    start_node "$victim"
    until settled "$survivor"; do sleep 0.05; done
    echo "  node $victim back; settled" >&2
done
echo "metadata leader failover: mean $((total / rounds)) ms over $rounds rounds (elections after 0.75-1 s without a heartbeat)"

# ---------------------------------------------------------------------
# 2. Data failover.
for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
pids=()
rm -rf "$dir"/n* "$dir"/log*
peers="127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))"
factor=2
[ "$mode" = sync ] && factor=3
start_replicated() {
    local i=$1
    "$bin" run --data-dir "$dir/n$i" --pg-listen "127.0.0.1:$((base + 100 + i))" \
        --listen "127.0.0.1:$((base + i))" --peer "$peers" \
        --cluster-secret-file "$dir/secret" --shards 2 --replication-factor "$factor" \
        --replication-mode "$mode" --pg-socket-dir "$dir" >> "$dir/log$i" 2>&1 &
    pids[$i]=$!
}
sql() { psql -h 127.0.0.1 -p "$((base + 100 + $1))" -U postgres -qAtX -c "$2"; }
# Which of the script's nodes (1-3, by port: node ids follow the order
# they joined in) is shard 0's master and which leads Raft, as node 3
# (or node 1, when 3 is down) says.
master_and_leader() {
    local s id lead via
    for via in 3 1 2; do
        s=$("$bin" status --peer "127.0.0.1:$((base + via))" --cluster-secret-file "$dir/secret" 2>/dev/null) && break
    done
    [ -n "$s" ] || return 1
    id=$(sed -n 's/.* 0: node \([0-9]*\) (epoch.*/\1/p' <<< "$s")
    lead=$(sed -n 's/^raft leader: node \([0-9]*\) .*/\1/p' <<< "$s")
    echo "$(node_index "$s" "$id") $(node_index "$s" "$lead")"
}
# The script's number of the node with id $2 in status output $1.
node_index() {
    local port
    port=$(awk -v id="$2" '$1 == id && $3 ~ /^127\.0\.0\.1:/ { split($3, a, ":"); print a[2]; exit }' <<< "$1")
    echo $((port - base))
}
for i in 1 2 3; do start_replicated "$i"; sleep 0.3; done
until sql 3 "SELECT 1" >/dev/null 2>&1; do sleep 0.1; done
sql 3 "CREATE TABLE failover_rows (id bigint PRIMARY KEY, at timestamptz DEFAULT now())"
# Each insert's start and end, or "failed"; through the node `$dir/via` names.
echo 3 > "$dir/via"
writer() {
    local id=1 t
    while :; do
        t=$(now_ms)
        if sql "$(cat "$dir/via")" "INSERT INTO failover_rows (id) SELECT g FROM generate_series($((id * 8)), $((id * 8 + 7))) g" >/dev/null 2>>"$dir/writer.err"; then
            echo "$t $(now_ms) $id" >> "$dir/acked"
        else
            echo "$t $(now_ms) failed" >> "$dir/acked"
        fi
        id=$((id + 1))
    done
}
writer &
writer_pid=$!
trap 'kill $writer_pid 2>/dev/null || true; cleanup' EXIT
sleep 2
total=0
for r in $(seq 1 "$rounds"); do
    read -r master leader < <(master_and_leader)
    # Write through a node other than the master (any may be one: nodes
    # join groups in the order they reach the leader).
    via=3
    [ "$master" = 3 ] && via=1
    if [ "$(cat "$dir/via")" != "$via" ]; then echo "$via" > "$dir/via"; sleep 0.5; fi
    t0=$(now_ms)
    kill -9 "${pids[$master]}"
    wait "${pids[$master]}" 2>/dev/null || true
    while :; do
        # The first insert sent after the kill that was acknowledged.
        first=$(awk -v t="$t0" '$1 >= t && $3 != "failed" {print $2; exit}' "$dir/acked")
        [ -n "$first" ] && break
        sleep 0.02
    done
    took=$((first - t0))
    total=$((total + took))
    lead="not the Raft leader"
    [ "$master" = "$leader" ] && lead="also the Raft leader"
    read -r now _ < <(master_and_leader)
    echo "round $r: killed master node $master ($lead); node $now took over; first write after $took ms"
    start_replicated "$master"
    until sql "$master" "SELECT 1" >/dev/null 2>&1; do sleep 0.1; done
    sleep 2
done
kill "$writer_pid" 2>/dev/null || true
wait "$writer_pid" 2>/dev/null || true
failed=$(grep -c failed "$dir/acked" || true)
acked=$(grep -vc failed "$dir/acked" || true)
rows=$(sql 3 "SELECT count(*) FROM failover_rows")
sql 3 "SELECT id FROM failover_rows" | sort > "$dir/kept"
awk '$3 != "failed" {for (i = 0; i < 8; i++) print $3 * 8 + i}' "$dir/acked" | sort > "$dir/acked_ids"
lost=$(comm -23 "$dir/acked_ids" "$dir/kept" | wc -l)
echo "data failover ($mode, replication factor $factor): mean $((total / rounds)) ms from master kill to first write over $rounds rounds (failover timeout 1000 ms)"
echo "inserts: $acked acknowledged (8 rows each), $failed failed; $rows rows kept; $lost acknowledged rows missing"
[ "$mode" = sync ] && [ "$lost" != 0 ] && { echo "sync mode lost acknowledged inserts" >&2; exit 1; }
exit 0
