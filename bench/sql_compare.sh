#!/usr/bin/env bash
# Side-by-side analytic SQL: Tessera vs a local PostgreSQL 15, same
# machine, same data, same queries. Each system loads `customers`
# (SCALE x 10,000 rows) and `orders` (SCALE x 90,910 rows) with
# INSERT ... SELECT over generate_series, then runs each query ROUNDS
# times; the best time counts. Both systems must return the same answer
# to every query (the script stops otherwise). Prints per-query times and
# PostgreSQL/Tessera speedups (above 1: Tessera is faster), the total and
# the geometric mean of the speedups.
#
# Queries: correlated subqueries (scalar, EXISTS), NOT IN, a join with
# GROUP BY ROLLUP, a window function, UNION, a recursive WITH, DISTINCT ON.
#
# Usage: bench/sql_compare.sh [--scale N] [--rounds N] [--shards N] [--no-build]
# Environment (flags win): BENCH_SCALE (1), BENCH_ROUNDS (3), BENCH_SHARDS (2),
#   BENCH_PG_OPTS (extra postgres -c options), TESSERA_BIN.
set -euo pipefail

scale=${BENCH_SCALE:-1}
rounds=${BENCH_ROUNDS:-3}
shards=${BENCH_SHARDS:-2}
pg_opts=${BENCH_PG_OPTS:-}
build=1

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) scale=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --shards) shards=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

# shellcheck source=bench/common.sh
. "$(dirname "$0")/common.sh"

customers=$((scale * 10000))
orders=$((scale * 100000))
cat >"$work/load.sql" <<EOF
CREATE TABLE customers (id int PRIMARY KEY, region text, segment text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, amount int, placed date);
INSERT INTO customers SELECT g, 'r' || (g % 7), 's' || (g % 3) FROM generate_series(1, $customers) g;
INSERT INTO orders SELECT g, (g * 7919) % $customers + 1, (g * 31) % 1000, DATE '2024-01-01' + g % 365
  FROM generate_series(1, $orders) g WHERE g % 11 <> 0;
EOF

# Order ids 1..$orders, every eleventh left out.
loaded=$((orders - orders / 11))

names=(correlated_count exists not_in rollup_join window_rank union recursive distinct_on)
declare -A query=(
    [correlated_count]="SELECT sum((SELECT count(*) FROM orders o WHERE o.customer_id = c.id)) FROM customers c WHERE c.id % 4 = 0"
    [exists]="SELECT count(*) FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.amount > 990)"
    [not_in]="SELECT count(*) FROM customers WHERE id NOT IN (SELECT customer_id FROM orders WHERE amount > 500)"
    [rollup_join]="SELECT count(*), sum(t) FROM (SELECT c.region, c.segment, sum(o.amount) AS t FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY ROLLUP (c.region, c.segment)) x"
    [window_rank]="SELECT count(*) FROM (SELECT rank() OVER (PARTITION BY customer_id ORDER BY amount DESC) AS r FROM orders) x WHERE r = 1"
    [union]="SELECT count(*) FROM (SELECT customer_id FROM orders UNION SELECT id FROM customers) u"
    [recursive]="WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $orders) SELECT sum(i) FROM n"
    [distinct_on]="SELECT count(*), sum(amount) FROM (SELECT DISTINCT ON (customer_id) customer_id, amount FROM orders ORDER BY customer_id, amount DESC, id) x"
)
declare -A best answer

run_queries() { # system port
    local system=$1 port=$2
    log "$system: loading $customers customers and $loaded orders"
    sql "$port" -f "$work/load.sql" >/dev/null
    for name in "${names[@]}"; do
        local q=${query[$name]} t fastest=
        answer[$system,$name]=$(sql "$port" -c "$q")
        for _ in $(seq "$rounds"); do
            t=$(printf '\\timing on\n%s;\n' "$q" | sql "$port" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
            [ -n "$t" ] || die "$system: no time for $name"
            if [ -z "$fastest" ] || awk -v a="$t" -v b="$fastest" 'BEGIN { exit !(a < b) }'; then
                fastest=$t
            fi
        done
        best[$system,$name]=$fastest
        log "$system: $name ${fastest} ms"
    done
}

start_tessera
run_queries tessera "$tessera_port"
stop_tessera
start_postgres
run_queries postgres "$postgres_port"
stop_postgres

for name in "${names[@]}"; do
    [ "${answer[tessera,$name]}" = "${answer[postgres,$name]}" ] ||
        die "$name: Tessera answered '${answer[tessera,$name]}', PostgreSQL '${answer[postgres,$name]}'"
done

echo
echo "scale $scale ($customers customers, $loaded orders); best of $rounds; $(nproc) cores"
echo "tessera: $tessera --shards $shards"
echo "postgres: $("$pg_bin/postgres" --version)${pg_opts:+ $pg_opts}"
printf '%-18s %14s %14s %10s\n' query tessera_ms postgres_ms speedup
tt=0
pt=0
for name in "${names[@]}"; do
    t=${best[tessera,$name]}
    p=${best[postgres,$name]}
    tt=$(awk -v a="$tt" -v b="$t" 'BEGIN { print a + b }')
    pt=$(awk -v a="$pt" -v b="$p" 'BEGIN { print a + b }')
    printf '%-18s %14.1f %14.1f %10s\n' "$name" "$t" "$p" \
        "$(awk -v t="$t" -v p="$p" 'BEGIN { if (t > 0) printf "%.2f", p / t; else print "n/a" }')"
done
printf '%-18s %14.1f %14.1f %10s\n' total "$tt" "$pt" \
    "$(awk -v t="$tt" -v p="$pt" 'BEGIN { if (t > 0) printf "%.2f", p / t; else print "n/a" }')"
# The total follows the slowest query; the geometric mean weighs each alike.
geo=1
for name in "${names[@]}"; do
    geo=$(awk -v g="$geo" -v t="${best[tessera,$name]}" -v p="${best[postgres,$name]}" \
        'BEGIN { print g * (p / (t > 0 ? t : 0.001)) }')
done
printf '%-18s %14s %14s %10s\n' geometric_mean "" "" \
    "$(awk -v g="$geo" -v n="${#names[@]}" 'BEGIN { printf "%.2f", exp(log(g) / n) }')"
