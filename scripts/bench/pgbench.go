package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// workload is one pgbench configuration.
type workload struct {
	name    string // for BENCH_ONLY and the raw log
	title   string // for the table
	clients int
	args    []string // besides -c, -j, -T and the connection
	storm   bool     // -C: one connection per transaction
	tls     bool     // sslmode=require
	direct  bool     // also run straight against PostgreSQL
}

// workloads are the runs of one round, in order. Direct runs stop at 100
// clients: 1000 would need max_connections in the thousands, and TLS is
// the poolers' business.
func workloads() []workload {
	var ws []workload
	for _, c := range []int{10, 100, 1000} {
		for _, mode := range []string{"simple", "extended"} {
			ws = append(ws, workload{
				name:    fmt.Sprintf("select-%s-%d", mode, c),
				title:   fmt.Sprintf("-S -M %s, %d clients", mode, c),
				clients: c, args: []string{"-S", "-M", mode}, direct: c <= 100,
			})
		}
	}
	return append(ws,
		workload{name: "tpcb-50", title: "TPC-B, 50 clients", clients: 50, args: []string{"-M", "simple"}, direct: true},
		workload{name: "storm", title: "-C -S storm, 10 clients", clients: 10, args: []string{"-C", "-S", "-M", "simple"}, storm: true, direct: true},
		workload{name: "storm-tls", title: "-C -S storm over TLS, 10 clients", clients: 10, args: []string{"-C", "-S", "-M", "simple"}, storm: true, tls: true},
	)
}

// measurement is what one pgbench run gave.
type measurement struct {
	tps    float64 // pgbench's; for -C, connections (= transactions) per second
	tx     int64   // transactions processed
	latAvg float64 // ms, from the per-transaction log
	latP99 float64 // ms, from the per-transaction log
	connMs float64 // -C: pgbench's average connection time, ms
	cpuUs  float64 // the server process's CPU µs per transaction; NaN without one
}

var (
	reTPS       = regexp.MustCompile(`(?m)^tps = ([0-9.]+)`)
	reProcessed = regexp.MustCompile(`(?m)^number of transactions actually processed: (\d+)`)
	reFailed    = regexp.MustCompile(`(?m)^number of failed transactions: (\d+)`)
	reConnTime  = regexp.MustCompile(`(?m)^average connection time = ([0-9.]+) ms`)
)

// pgbench runs workload w against srv for d and measures it. tag names the
// run in the raw log.
func (b *bench) pgbench(ctx context.Context, srv *server, w workload, d time.Duration, tag string) (measurement, error) {
	port, sslmode := srv.port, "disable"
	if w.tls {
		if srv.tlsPort == 0 {
			return measurement{}, errSkipped
		}
		port, sslmode = srv.tlsPort, "require"
	}
	if err := srv.alive(); err != nil {
		return measurement{}, err
	}
	logDir, err := os.MkdirTemp(b.dir, "txlog-")
	if err != nil {
		return measurement{}, err
	}
	defer os.RemoveAll(logDir)
	jobs := min(2, w.clients)
	args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", benchUser,
		"-n", "-c", strconv.Itoa(w.clients), "-j", strconv.Itoa(jobs),
		"-T", strconv.Itoa(int(d.Seconds())), "--log", "--log-prefix=" + filepath.Join(logDir, "tx")}
	args = append(append(args, w.args...), benchDB)

	// Generous: 1000 clients log in one by one before the clock starts.
	runCtx, cancel := context.WithTimeout(ctx, d+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(runCtx, b.pg.Bin("pgbench"), args...)
	cmd.Env = append(os.Environ(), "PGSSLMODE="+sslmode, "PGCONNECT_TIMEOUT=15")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // if we die

	var cpu0 int64
	if pid := srv.pid(); pid != 0 {
		if cpu0, err = cpuTicks(pid); err != nil {
			return measurement{}, err
		}
	}
	out, runErr := cmd.CombinedOutput()
	m := measurement{cpuUs: math.NaN()}
	var cpu1 int64
	if pid := srv.pid(); pid != 0 {
		cpu1, err = cpuTicks(pid)
	}
	fmt.Fprintf(b.rawLog, "=== %s: pgbench %s\n%s\n", tag, strings.Join(args, " "), out)
	if ctx.Err() != nil {
		return m, ctx.Err()
	}
	if runCtx.Err() != nil {
		return m, fmt.Errorf("pgbench did not finish within %v", d+2*time.Minute)
	}
	if runErr != nil {
		return m, fmt.Errorf("pgbench: %v: %s", runErr, lastLine(string(out)))
	}
	if err != nil {
		return m, err // the server is gone: /proc/PID/stat
	}
	if m, err = parsePgbench(string(out)); err != nil {
		return m, err
	}
	if srv.pid() != 0 {
		m.cpuUs = float64(cpu1-cpu0) / b.clkTck * 1e6 / float64(m.tx)
	}
	lat, err := readTxLogs(logDir)
	if err != nil {
		return m, err
	}
	m.latAvg, m.latP99 = mean(lat)/1000, percentile(lat, 0.99)/1000
	return m, nil
}

// parsePgbench reads pgbench's summary (PostgreSQL 15's wording). cpuUs,
// latAvg and latP99 are left to the caller.
// https://www.postgresql.org/docs/15/pgbench.html#id-1.9.4.11.9.6
func parsePgbench(out string) (measurement, error) {
	m := measurement{cpuUs: math.NaN()}
	tps := reTPS.FindStringSubmatch(out)
	processed := reProcessed.FindStringSubmatch(out)
	if tps == nil || processed == nil {
		return m, fmt.Errorf("pgbench printed no tps or processed count: %s", lastLine(out))
	}
	m.tps, _ = strconv.ParseFloat(tps[1], 64)
	m.tx, _ = strconv.ParseInt(processed[1], 10, 64)
	if m.tx == 0 {
		return m, errors.New("pgbench processed no transactions")
	}
	if f := reFailed.FindStringSubmatch(out); f != nil && f[1] != "0" {
		return m, fmt.Errorf("pgbench: %s failed transactions", f[1])
	}
	if c := reConnTime.FindStringSubmatch(out); c != nil {
		m.connMs, _ = strconv.ParseFloat(c[1], 64)
	}
	return m, nil
}

// readTxLogs reads the latencies (µs) from pgbench's per-transaction logs
// in dir, one file per thread: "client_id transaction_no time script_no
// time_epoch time_us ...", where time is the latency in µs or "failed" /
// "skipped".
// https://www.postgresql.org/docs/15/pgbench.html#PGBENCH-PER-TRANSACTION-LOGGING
func readTxLogs(dir string) ([]float64, error) {
	files, err := filepath.Glob(filepath.Join(dir, "tx.*"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("pgbench wrote no transaction log in %s", dir)
	}
	var lat []float64
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		lat, err = appendLatencies(lat, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(name), err)
		}
	}
	if len(lat) == 0 {
		return nil, errors.New("pgbench logged no successful transaction")
	}
	return lat, nil
}

func appendLatencies(lat []float64, f *os.File) ([]float64, error) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			return lat, fmt.Errorf("short line %q", sc.Text())
		}
		us, err := strconv.ParseFloat(fields[2], 64)
		if err != nil {
			continue // failed or skipped
		}
		lat = append(lat, us)
	}
	return lat, sc.Err()
}

func mean(xs []float64) float64 {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// percentile is the nearest-rank p-quantile of xs (sorted in place).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	rank := int(math.Ceil(p * float64(len(xs))))
	return xs[max(rank, 1)-1]
}

// median of xs (not modified); NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
