// Command bench is `make bench`: the pooler against PgBouncer (and, where it
// fits, PostgreSQL itself) under pgbench, on this machine, in one run.
//
// It starts a throwaway PostgreSQL (integration/pgtest; `pgbench -i -s 10`),
// bin/odyssey and the OS's PgBouncer with equivalent settings: transaction
// pooling, the same pool size, trust/none authentication on both sides so
// that authentication does not dominate, logging of connections off, both
// with a certificate for TLS clients. Everything listens on 127.0.0.1 only.
//
// Each round runs every workload against the pooler, then PgBouncer, then
// PostgreSQL directly (A B D, A B D, ...), so that drift on a shared
// machine touches all of them:
//
//	pgbench -S, -M simple and -M extended, 10, 100 and 1000 clients
//	pgbench TPC-B (the default script), 50 clients
//	pgbench -C -S: a connection storm, plain and with sslmode=require
//
// and records tps; average and p99 latency from pgbench's per-transaction
// logs (--log); and the pooler's CPU time per transaction, user+system from
// /proc/PID/stat before and after divided by the transactions pgbench
// processed. Each round then starts a fresh pooler and a fresh PgBouncer,
// opens N idle client connections to each (logged in, then silent) and
// reports the growth of the resident set per client, then again 2 s and
// 12 s after each client has run one query.
//
// The result is one table of medians over the rounds with the
// pooler/PgBouncer ratio and the target for each figure, printed and written
// as markdown to $BENCH_OUT/results.md (the raw pgbench output and the
// servers' logs go next to it).
//
// Environment:
//
//	BENCH_QUICK=1          1 round of 3 s runs (check the harness quickly)
//	BENCH_ROUNDS=n         rounds (default 3)
//	BENCH_DURATION=8s      length of each pgbench run
//	BENCH_IDLE_CLIENTS=n   idle connections for the memory figure (10000)
//	BENCH_POOL_SIZE=n      server connections per pool (20) on both poolers
//	BENCH_ONLY=regexp      only the workloads whose name matches ("idle" is one)
//	BENCH_PROFILE=1        afterwards, CPU and allocation profiles of the
//	                       pooler under -S with 100 clients (ODYSSEY_PPROF)
//	BENCH_OUT=dir          where results go (default .bench)
//
// It always starts its own PostgreSQL (ODYSSEY_TEST_PG is ignored: the
// pgbench tables would overwrite a real server's). Run from the repository
// root after `make build`; scripts/bench.sh does both. As root, PostgreSQL
// and PgBouncer run as the postgres OS user, which refuse root. Ctrl-C stops
// the run and everything it started.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// settings are the knobs read from the environment.
type settings struct {
	rounds   int
	duration time.Duration // one pgbench run
	warmup   time.Duration
	idle     int // idle clients for the memory figure
	poolSize int
	profile  bool
	only     *regexp.Regexp // nil: everything
	out      string
	quick    bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	// stop is not deferred: a second Ctrl-C while cleaning up must not
	// kill the harness before its servers are stopped.
	code := run(ctx)
	stop()
	os.Exit(code)
}

func run(ctx context.Context) int {
	s, err := readSettings()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	b, err := newBench(ctx, s)
	if b != nil {
		defer b.close()
	}
	if err == nil {
		err = b.run(ctx)
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "bench: interrupted; stopping everything")
		return 130
	case err != nil:
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	case b.failed:
		fmt.Fprintln(os.Stderr, "bench: some runs failed; see the notes under the table")
		return 1
	}
	return 0
}

func readSettings() (*settings, error) {
	s := &settings{rounds: 3, duration: 8 * time.Second, warmup: 2 * time.Second,
		idle: 10000, poolSize: 20, out: ".bench"}
	if on(os.Getenv("BENCH_QUICK")) {
		s.quick = true
		s.rounds = 1
		s.duration = 3 * time.Second
		s.warmup = time.Second
	}
	var err error
	if s.rounds, err = intEnv("BENCH_ROUNDS", s.rounds, 1, 100); err != nil {
		return nil, err
	}
	if s.idle, err = intEnv("BENCH_IDLE_CLIENTS", s.idle, 1, 100000); err != nil {
		return nil, err
	}
	if s.poolSize, err = intEnv("BENCH_POOL_SIZE", s.poolSize, 1, 200); err != nil {
		return nil, err
	}
	if v := os.Getenv("BENCH_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > time.Hour {
			return nil, fmt.Errorf("BENCH_DURATION=%q: want a duration from 1s to 1h, such as 8s", v)
		}
		s.duration = d
	}
	if v := os.Getenv("BENCH_ONLY"); v != "" {
		re, err := regexp.Compile(v)
		if err != nil {
			return nil, fmt.Errorf("BENCH_ONLY: %w", err)
		}
		s.only = re
	}
	s.profile = on(os.Getenv("BENCH_PROFILE"))
	if v := os.Getenv("BENCH_OUT"); v != "" {
		s.out = v
	}
	if s.out, err = filepath.Abs(s.out); err != nil {
		return nil, err
	}
	return s, nil
}

func on(v string) bool { return v != "" && v != "0" && !strings.EqualFold(v, "false") }

func intEnv(name string, def, lo, hi int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s=%q: want a whole number from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

// errSkipped marks a measurement that could not be taken for a reason the
// table explains (TLS not available), as opposed to a failure.
var errSkipped = errors.New("skipped")
