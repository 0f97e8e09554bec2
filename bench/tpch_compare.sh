#!/usr/bin/env bash
# TPC-H, Tessera vs a local PostgreSQL 15 on the same machine in the same
# run: each loads the rows `tpchgen-cli` generates at the scale factor
# (through the `tpch` loader of crates/tessera-testkit, plain INSERTs over
# two connections), gets the same secondary index, and runs the 22 queries
# (validation parameters) ROUNDS times; the best time counts. Both must
# return the same answer to every query (the script stops otherwise).
# Prints per-query times, PostgreSQL/Tessera speedups (above 1: Tessera is
# faster), the total and the geometric mean.
#
# The index, lineitem (l_partkey), is the one PostgreSQL needs for Q17 and
# Q20 to finish in reasonable time at scale 1 (its correlated subplans
# otherwise scan lineitem once per outer row); --no-index leaves it out.
#
# Usage: bench/tpch_compare.sh [--scale S] [--rounds N] [--shards N] [--no-build] [--no-index]
# Environment (flags win): BENCH_SCALE (1), BENCH_ROUNDS (1), BENCH_SHARDS
#   (all cores), BENCH_PG_OPTS (extra postgres -c options), TESSERA_BIN.
set -euo pipefail

scale=${BENCH_SCALE:-1}
rounds=${BENCH_ROUNDS:-1}
shards=${BENCH_SHARDS:-$(nproc)}
pg_opts=${BENCH_PG_OPTS:-}
build=1
index=1

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) scale=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --shards) shards=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --no-index) index=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

# shellcheck source=bench/common.sh
. "$(dirname "$0")/common.sh"

if [ "$build" -eq 1 ]; then
    (cd "$root" && cargo build --release -q -p tessera-testkit --bin tpch)
fi
tpch=${CARGO_TARGET_DIR:-$root/target}/release/tpch
[ -x "$tpch" ] || die "no tpch binary at $tpch (build with cargo build --release -p tessera-testkit --bin tpch)"

declare -A took

run_system() { # system port
    local system=$1 port=$2 conninfo="host=127.0.0.1 port=$2 user=postgres" start
    log "$system: loading TPC-H at scale $scale"
    start=$(date +%s)
    "$tpch" load "$conninfo" --scale "$scale" --jobs 2 >/dev/null
    if [ "$index" -eq 1 ]; then
        sql "$port" -c "CREATE INDEX lineitem_partkey ON lineitem (l_partkey)"
    fi
    log "$system: loaded in $(($(date +%s) - start)) s; running the queries"
    "$tpch" run "$conninfo" --rounds "$rounds" --save "$work/answers-$system" >"$work/times-$system" ||
        { cat "$work/times-$system" >&2; die "$system: a query failed"; }
    while read -r q ms _; do
        took[$system,$q]=$ms
        log "$system: $q $ms ms"
    done <"$work/times-$system"
}

start_tessera
run_system tessera "$tessera_port"
stop_tessera
start_postgres
run_system postgres "$postgres_port"
stop_postgres

for n in $(seq -w 1 22); do
    cmp -s "$work/answers-tessera/q$n.tsv" "$work/answers-postgres/q$n.tsv" ||
        die "q$n: the answers differ: $(diff "$work/answers-postgres/q$n.tsv" "$work/answers-tessera/q$n.tsv" | head -5)"
done

echo
echo "TPC-H scale $scale; best of $rounds; $(nproc) cores; index on lineitem (l_partkey): $([ "$index" -eq 1 ] && echo yes || echo no)"
echo "tessera: $tessera --shards $shards"
echo "postgres: $("$pg_bin/postgres" --version)${pg_opts:+ $pg_opts}"
printf '%-8s %14s %14s %10s\n' query tessera_ms postgres_ms speedup
tt=0
pt=0
geo=1
for n in $(seq -w 1 22); do
    t=${took[tessera,q$n]}
    p=${took[postgres,q$n]}
    tt=$(awk -v a="$tt" -v b="$t" 'BEGIN { print a + b }')
    pt=$(awk -v a="$pt" -v b="$p" 'BEGIN { print a + b }')
    geo=$(awk -v g="$geo" -v t="$t" -v p="$p" 'BEGIN { print g * (p / (t > 0 ? t : 0.001)) }')
    printf '%-8s %14.1f %14.1f %10s\n' "q$n" "$t" "$p" \
        "$(awk -v t="$t" -v p="$p" 'BEGIN { if (t > 0) printf "%.2f", p / t; else print "n/a" }')"
done
printf '%-8s %14.1f %14.1f %10s\n' total "$tt" "$pt" \
    "$(awk -v t="$tt" -v p="$pt" 'BEGIN { if (t > 0) printf "%.2f", p / t; else print "n/a" }')"
printf '%-8s %14s %14s %10s\n' geomean "" "" \
    "$(awk -v g="$geo" 'BEGIN { printf "%.2f", exp(log(g) / 22) }')"
