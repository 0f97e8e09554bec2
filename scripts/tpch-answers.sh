#!/usr/bin/env bash
# Regenerates the TPC-H answers the suite compares Tessera's with
# (crates/tessera-testkit/tpch/answers-sf0.1/qNN.tsv) from a local
# PostgreSQL 15: starts a throwaway server, loads scale factor 0.1 with the
# same loader the test uses, runs the 22 queries and saves what they
# return. Review the diff before committing it.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -q -p tessera-testkit --bin tpch
tpch=${CARGO_TARGET_DIR:-target}/debug/tpch

# shellcheck source=scripts/throwaway-postgres.sh
. "$(dirname "$0")/throwaway-postgres.sh"

conninfo="host=127.0.0.1 port=$port user=postgres"
"$tpch" load "$conninfo" --scale 0.1 --jobs 2 >/dev/null
"$tpch" run "$conninfo" --save crates/tessera-testkit/tpch/answers-sf0.1
