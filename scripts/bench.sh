#!/usr/bin/env bash
# bench.sh — `make bench`: the pooler against PgBouncer and PostgreSQL under
# pgbench, on this machine; the table goes to stdout and .bench/results.md.
#
# Installs what is missing (scripts/deps.sh: PostgreSQL, pgbench, PgBouncer),
# builds bin/odyssey, then runs the harness in scripts/bench (its package
# comment says what it measures and how). It starts its own PostgreSQL,
# pooler and PgBouncer on 127.0.0.1 and stops them on exit or Ctrl-C.
#
# Environment (see scripts/bench/main.go): BENCH_QUICK=1 for one short
# round; BENCH_ROUNDS, BENCH_DURATION, BENCH_IDLE_CLIENTS, BENCH_POOL_SIZE,
# BENCH_ONLY, BENCH_PROFILE=1 (pprof profiles of the pooler), BENCH_OUT.
# A full run (3 rounds of 8 s runs) takes about 11 minutes on 2 cores;
# BENCH_QUICK=1 about 2.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
scripts/deps.sh
"${MAKE:-make}" --no-print-directory build
"$GO" build -o bin/bench ./scripts/bench
exec bin/bench
