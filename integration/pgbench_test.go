package integration

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// pgbenchTimeout bounds one pgbench run; runs last a few seconds.
const pgbenchTimeout = 60 * time.Second

var (
	pgbenchFailed    = regexp.MustCompile(`number of failed transactions: (\d+)`)
	pgbenchProcessed = regexp.MustCompile(`number of transactions actually processed: (\d+)`)
)

// pgbench runs pgbench against p and returns its output, failing the test
// when it exits non-zero.
func pgbench(t *testing.T, p *pooler, args ...string) string {
	t.Helper()
	all := append([]string{"-h", p.host, "-p", p.port, "-U", superUser}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), pgbenchTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, pgBin("pgbench"), append(all, "postgres")...)
	cmd.Env = append(cmd.Environ(), "PGCONNECT_TIMEOUT=15")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("pgbench %v did not finish in %v (killed):\n%s", args, pgbenchTimeout, out)
	}
	if err != nil {
		t.Fatalf("pgbench %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// checkPgbench fails unless pgbench processed transactions and reported no
// failed ones.
func checkPgbench(t *testing.T, what, out string) {
	t.Helper()
	m := pgbenchProcessed.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("%s: no processed count in pgbench output:\n%s", what, out)
	}
	if n, _ := strconv.Atoi(m[1]); n == 0 {
		t.Fatalf("%s: pgbench processed no transactions:\n%s", what, out)
	}
	if f := pgbenchFailed.FindStringSubmatch(out); f != nil && f[1] != "0" {
		t.Fatalf("%s: %s failed transactions:\n%s", what, f[1], out)
	}
	t.Logf("%s: %s transactions", what, m[1])
}

// TestPgbench: pgbench's initialisation and TPC-B-like runs with the simple
// and extended protocols through a transaction-mode pool of 5, with 20
// clients.
func TestPgbench(t *testing.T) {
	const role, size = "pooled_bench", 5
	p := startPool(t, poolSpec{role: role, mode: "transaction", size: size})
	pgbench(t, p, "-i", "-s", "1", "-q")
	for _, mode := range []string{"simple", "extended"} {
		t.Run(mode, func(t *testing.T) {
			mon := startMonitor(t, role)
			out := pgbench(t, p, "-c", "20", "-j", "2", "-T", "5", "-M", mode)
			checkPgbench(t, "pgbench -M "+mode, out)
			mon.check(t, size)
		})
	}
}

// TestPgbenchPrepared: named prepared statements (pgbench -M prepared) in
// transaction mode, which the pooler maps to its own statement names on
// whichever server a transaction lands. One thread per client: pgbench 15
// prepares with the blocking PQprepare, so a thread with several clients
// deadlocks itself when one of them holds a server inside a transaction
// and another waits for one (with any transaction pooler).
func TestPgbenchPrepared(t *testing.T) {
	const role, size = "pooled_bench_prep", 3
	p := startPool(t, poolSpec{role: role, mode: "transaction", size: size})
	pgbench(t, p, "-i", "-s", "1", "-q")
	mon := startMonitor(t, role)
	out := pgbench(t, p, "-c", "8", "-j", "8", "-T", "3", "-M", "prepared")
	checkPgbench(t, "pgbench -M prepared", out)
	mon.check(t, size)
}
