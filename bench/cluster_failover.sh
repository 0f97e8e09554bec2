#!/usr/bin/env bash
# Cluster failover timings on loopback (issue 6). Today the cluster's
# metadata Raft group is what fails over: this starts a cluster of NODES
# nodes (one shard each), kills the Raft leader with SIGKILL ROUNDS times
# (restarting it after each round), and measures how long the survivors
# take to have a new leader, as `tessera status` reports it. Data failover
# (master kill to first successful write) joins this script when replica
# sets exist (docs/CLUSTER.md steps 5-6).
#
# Also measured: the time from starting the nodes to a settled cluster
# (all nodes voting or learning, one leader).
#
# Usage: bench/cluster_failover.sh [--nodes N] [--rounds N] [--no-build]
# KEEP_DIR=1 keeps the nodes' logs and data (with TESSERA_LOG_LEVEL=debug,
# openraft's own lines show each election).
# Environment: TESSERA_BIN (a built binary; default target/release/tessera).
set -euo pipefail
cd "$(dirname "$0")/.."

nodes=3
rounds=5
build=1
while [ $# -gt 0 ]; do
    case "$1" in
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
        --cluster-secret-file "$dir/secret" --shards 1 >> "$dir/log$i" 2>&1 &
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
echo "metadata leader failover: mean $((total / rounds)) ms over $rounds rounds (election timeout 500-1000 ms)"
