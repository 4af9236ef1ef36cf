package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/odyssey-go/odyssey/integration/pgtest"
	"github.com/odyssey-go/odyssey/integration/testcert"
)

// scale is pgbench's scale factor: 1 000 000 rows in pgbench_accounts.
const scale = "10"

// bench is one run of the harness and everything it started.
type bench struct {
	s      *settings
	idleN  int                 // idle clients, s.idle unless the fd limit is lower
	dir    string              // scratch: configs, certificates, logs; removed at the end
	cred   *syscall.Credential // PgBouncer's OS user when we are root
	clkTck float64

	poolerBin, bouncerBin string
	certFile, keyFile     string
	pprofAddr             string // the pooler's ODYSSEY_PPROF when profiling

	pg                      *pgtest.Cluster
	pooler, bouncer, direct *server

	rawLog  *os.File // every pgbench output, in $BENCH_OUT/pgbench.log
	res     *results
	failed  bool // a run failed (not: was skipped)
	started time.Time
	load    [2]string // load averages at the start and the end
}

// newBench starts PostgreSQL, loads pgbench's tables and starts both
// poolers. When it fails half-way the returned bench still needs close.
func newBench(ctx context.Context, s *settings) (*bench, error) {
	b := &bench{s: s, idleN: s.idle, clkTck: clockTicks(), res: newResults(), started: time.Now(), load: [2]string{loadAverage(), ""}}
	var err error
	if b.poolerBin, err = filepath.Abs("bin/odyssey"); err != nil {
		return nil, err
	}
	if _, err := os.Stat(b.poolerBin); err != nil {
		return nil, fmt.Errorf("%s: run make build first (or make bench)", b.poolerBin)
	}
	if b.bouncerBin, err = exec.LookPath("pgbouncer"); err != nil {
		b.bouncerBin = "/usr/sbin/pgbouncer" // not on a normal user's PATH
		if _, err := os.Stat(b.bouncerBin); err != nil {
			return nil, errors.New("pgbouncer not found: install it (Debian: apt-get install pgbouncer; scripts/deps.sh does)")
		}
	}
	if b.cred, err = postgresCred(); err != nil {
		return nil, err
	}
	if err := b.raiseFileLimit(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.out, 0o755); err != nil {
		return nil, err
	}
	if b.rawLog, err = os.Create(filepath.Join(s.out, "pgbench.log")); err != nil {
		return nil, err
	}
	if b.dir, err = os.MkdirTemp("", "odyssey-bench-"); err != nil {
		return nil, err
	}
	// The postgres OS user reads pg_hba.conf, PgBouncer's files and the
	// certificate from here.
	if err := os.Chmod(b.dir, 0o755); err != nil {
		return b, err
	}
	if err := b.startPostgres(ctx); err != nil {
		return b, err
	}
	if err := b.writeCertificate(); err != nil {
		return b, err
	}
	// userlist.txt: PgBouncer's trust still wants the user listed.
	if err := os.WriteFile(filepath.Join(b.dir, "userlist.txt"), []byte(`"`+benchUser+`" ""`+"\n"), 0o644); err != nil {
		return b, err
	}
	if s.profile {
		port, err := freePort()
		if err != nil {
			return b, err
		}
		b.pprofAddr = fmt.Sprintf("127.0.0.1:%d", port)
	}
	fmt.Fprintln(os.Stderr, "bench: starting the pooler and PgBouncer")
	if b.pooler, err = b.startPooler(ctx, kindPooler, true, b.pprofAddr); err != nil {
		return b, fmt.Errorf("start the pooler: %w", err)
	}
	if b.pooler.noTLS != "" {
		fmt.Fprintln(os.Stderr, "bench:", b.pooler.noTLS)
	}
	if b.bouncer, err = b.startBouncer(ctx, kindBouncer, true); err != nil {
		return b, fmt.Errorf("start PgBouncer: %w", err)
	}
	if b.bouncer.noTLS != "" {
		fmt.Fprintln(os.Stderr, "bench: PgBouncer:", b.bouncer.noTLS)
	}
	b.direct = &server{kind: kindDirect, port: b.pg.Port, noTLS: "not measured"}
	return b, nil
}

// raiseFileLimit lifts RLIMIT_NOFILE for the idle clients (here and in the
// poolers, which inherit it) and pgbench's 1000 clients; root may raise the
// hard limit too. Setting it also stops Go from handing children the
// original soft limit. With too low a limit, fewer idle clients are used.
func (b *bench) raiseFileLimit() error {
	want := uint64(b.s.idle) + 2000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Max < want && os.Geteuid() == 0 {
		lim.Max = want
	}
	lim.Cur = min(max(lim.Cur, want), lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("raise the open file limit: %w", err)
		}
	}
	if lim.Cur < want {
		b.idleN = max(100, int(lim.Cur)-2000)
		b.res.note(fmt.Sprintf("The open file limit (ulimit -n %d) allows %d idle clients, not %d; raise the hard limit for the full figure.",
			lim.Cur, b.idleN, b.s.idle))
	}
	return nil
}

// startPostgres starts the throwaway cluster, trusting loopback logins
// (authentication is not what is measured), and loads pgbench's tables.
func (b *bench) startPostgres(ctx context.Context) error {
	hba := filepath.Join(b.dir, "pg_hba.conf")
	if err := os.WriteFile(hba, []byte("local all all trust\nhost all all 127.0.0.1/32 trust\n"), 0o644); err != nil {
		return err
	}
	os.Unsetenv("ODYSSEY_TEST_PG") // never pgbench -i someone's server
	fmt.Fprintln(os.Stderr, "bench: starting PostgreSQL")
	var err error
	b.pg, err = pgtest.Start(pgtest.Options{Settings: map[string]string{
		"hba_file":       hba,
		"shared_buffers": "256MB", // holds all of scale 10
	}})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: pgbench -i -s %s\n", scale)
	ictx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ictx, b.pg.Bin("pgbench"), "-i", "-s", scale, "-q",
		"-h", "127.0.0.1", "-p", fmt.Sprint(b.pg.Port), "-U", benchUser, benchDB)
	cmd.Env = append(os.Environ(), "PGSSLMODE=disable")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgbench -i: %v\n%s", err, out)
	}
	return b.pg.Exec("CHECKPOINT")
}

// writeCertificate makes the certificate both poolers present to TLS
// clients. The key goes to the postgres OS user when we are root, so that
// PgBouncer can read it.
func (b *bench) writeCertificate() error {
	ca, err := testcert.NewCA("make bench CA")
	if err != nil {
		return err
	}
	pair, err := ca.Server("127.0.0.1", "localhost")
	if err != nil {
		return err
	}
	if err := pair.Write(b.dir, "server"); err != nil {
		return err
	}
	b.certFile, b.keyFile = pair.CertFile, pair.KeyFile
	if b.cred != nil {
		return os.Chown(b.keyFile, int(b.cred.Uid), int(b.cred.Gid))
	}
	return nil
}

// close stops everything newBench started, keeps the servers' logs in
// $BENCH_OUT and removes the scratch directory.
func (b *bench) close() {
	for _, srv := range []*server{b.pooler, b.bouncer} {
		if srv != nil {
			srv.proc.halt()
		}
	}
	if b.pg != nil {
		if err := b.pg.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	}
	if b.dir != "" {
		for _, name := range []string{"odyssey.log", "pgbouncer.log", "odyssey-idle.log", "pgbouncer-idle.log"} {
			if data, err := os.ReadFile(filepath.Join(b.dir, name)); err == nil {
				_ = os.WriteFile(filepath.Join(b.s.out, name), data, 0o644)
			}
		}
		_ = os.RemoveAll(b.dir)
	}
	if b.rawLog != nil {
		_ = b.rawLog.Close()
	}
}

// run does the rounds, then the profiles, then the report.
func (b *bench) run(ctx context.Context) error {
	ws := b.selected()
	fmt.Fprintf(os.Stderr, "bench: %d round(s) of %d workloads, %v each, against the pooler, PgBouncer and PostgreSQL in turn\n",
		b.s.rounds, len(ws), b.s.duration)
	// Warm-up: fill both pools and PostgreSQL's caches; not measured.
	warm := workload{name: "warm-up", clients: 100, args: []string{"-S", "-M", "simple"}}
	for _, srv := range []*server{b.pooler, b.bouncer, b.direct} {
		if _, err := b.pgbench(ctx, srv, warm, b.s.warmup, "warm-up "+srv.kind); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(os.Stderr, "bench: warm-up against %s: %v\n", srv.kind, err)
		}
	}
	for r := 1; r <= b.s.rounds; r++ {
		for _, w := range ws {
			for _, srv := range b.servers(w) {
				tag := fmt.Sprintf("round %d/%d, %s, %s", r, b.s.rounds, w.name, srv.kind)
				m, err := b.pgbench(ctx, srv, w, b.s.duration, tag)
				if ctx.Err() != nil {
					return ctx.Err()
				}
				b.record(tag, w, srv, m, err)
			}
		}
		if b.want("idle") {
			for _, kind := range []string{kindPooler, kindBouncer} {
				if err := b.idleRound(ctx, r, kind); err != nil {
					return err
				}
			}
		}
	}
	if b.s.profile {
		if err := b.profile(ctx); err != nil {
			return err
		}
	}
	b.load[1] = loadAverage()
	md := b.report(ws)
	path := filepath.Join(b.s.out, "results.md")
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Println(md)
	fmt.Fprintf(os.Stderr, "bench: results in %s (raw pgbench output in %s)\n", path, b.rawLog.Name())
	return nil
}

func (b *bench) want(name string) bool { return b.s.only == nil || b.s.only.MatchString(name) }

func (b *bench) selected() []workload {
	var ws []workload
	for _, w := range workloads() {
		if b.want(w.name) {
			ws = append(ws, w)
		}
	}
	return ws
}

// servers are the ones w runs against, in the order it does.
func (b *bench) servers(w workload) []*server {
	if w.direct {
		return []*server{b.pooler, b.bouncer, b.direct}
	}
	return []*server{b.pooler, b.bouncer}
}

// record files a run's figures, or its failure, and prints a progress line.
func (b *bench) record(tag string, w workload, srv *server, m measurement, err error) {
	switch {
	case errors.Is(err, errSkipped):
		b.res.skip(w.name, srv.kind, srv.noTLS)
		fmt.Fprintf(os.Stderr, "%-50s skipped: %s\n", tag, srv.noTLS)
		return
	case err != nil:
		b.failed = true
		b.res.fail(w.name, srv.kind, fmt.Sprintf("%s: %v", tag, err))
		fmt.Fprintf(os.Stderr, "%-50s FAILED: %v\n", tag, err)
		return
	}
	if w.storm {
		b.res.add(w.name, srv.kind, figConnRate, m.tps)
		b.res.add(w.name, srv.kind, figConnTime, m.connMs)
	} else {
		b.res.add(w.name, srv.kind, figTPS, m.tps)
		b.res.add(w.name, srv.kind, figLatAvg, m.latAvg)
		b.res.add(w.name, srv.kind, figLatP99, m.latP99)
	}
	cpu := ""
	if srv.pid() != 0 {
		fig := figCPU
		if w.storm {
			fig = figCPUConn
		}
		b.res.add(w.name, srv.kind, fig, m.cpuUs)
		cpu = fmt.Sprintf("  %6.1f µs CPU/tx", m.cpuUs)
	}
	fmt.Fprintf(os.Stderr, "%-50s %8.0f tps  avg %7.3f ms  p99 %7.3f ms%s\n", tag, m.tps, m.latAvg, m.latP99, cpu)
}

// idleRound measures memory per idle client on a fresh server of kind.
func (b *bench) idleRound(ctx context.Context, r int, kind string) error {
	tag := fmt.Sprintf("round %d/%d, idle, %s", r, b.s.rounds, kind)
	var srv *server
	var err error
	if kind == kindPooler {
		srv, err = b.startPooler(ctx, kindPooler+"-idle", false, "")
	} else {
		srv, err = b.startBouncer(ctx, kindBouncer+"-idle", false)
	}
	if err == nil {
		var kib idleKiB
		kib, err = idleMemory(ctx, srv, b.idleN)
		srv.proc.halt()
		if err == nil {
			b.res.add(idleWork, kind, figIdle, kib.silent)
			b.res.add(idleWork, kind, figIdleActive, kib.active)
			b.res.add(idleWork, kind, figIdleRested, kib.rested)
			fmt.Fprintf(os.Stderr, "%-50s %8.2f KiB per idle client, %.2f after a query, %.2f %v later (%d clients)\n",
				tag, kib.silent, kib.active, kib.rested, restedAfter, b.idleN)
			return nil
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	b.failed = true
	b.res.fail(idleWork, kind, fmt.Sprintf("%s: %v", tag, err))
	fmt.Fprintf(os.Stderr, "%-50s FAILED: %v\n", tag, err)
	return nil
}

// profile takes CPU and allocation profiles of the pooler under -S with
// 100 clients, simple and extended, through ODYSSEY_PPROF. These runs are
// not in the table: profiling costs CPU.
func (b *bench) profile(ctx context.Context) error {
	secs := max(1, int(b.s.duration.Seconds())-1)
	for _, mode := range []string{"simple", "extended"} {
		w := workload{name: "profile-" + mode, clients: 100, args: []string{"-S", "-M", mode}}
		files := map[string]string{
			"profile": filepath.Join(b.s.out, "pprof-cpu-"+mode+".pb.gz"),
			"allocs":  filepath.Join(b.s.out, "pprof-allocs-"+mode+".pb.gz"),
		}
		errs := make(chan error, len(files))
		for prof, file := range files {
			go func() {
				errs <- fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", b.pprofAddr, prof, secs), file, time.Duration(secs+60)*time.Second)
			}()
		}
		_, runErr := b.pgbench(ctx, b.pooler, w, b.s.duration, "profile, -S -M "+mode+", 100 clients")
		var fetchErr error
		for range files {
			fetchErr = errors.Join(fetchErr, <-errs)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := errors.Join(runErr, fetchErr); err != nil {
			b.failed = true
			b.res.note(fmt.Sprintf("Profile -M %s: %v", mode, err))
			continue
		}
		for prof, file := range files {
			args := []string{"tool", "pprof", "-top", "-nodecount=30"}
			if prof == "allocs" {
				args = append(args, "-sample_index=alloc_objects")
			}
			out, err := exec.CommandContext(ctx, goTool(), append(args, b.poolerBin, file)...).CombinedOutput()
			if err != nil {
				out = fmt.Appendf(nil, "go tool pprof: %v\n%s", err, out)
			}
			_ = os.WriteFile(strings.TrimSuffix(file, ".pb.gz")+".txt", out, 0o644)
		}
		fmt.Fprintf(os.Stderr, "bench: profiles of -M %s in %s\n", mode, strings.Join([]string{files["profile"], files["allocs"]}, ", "))
	}
	return nil
}

// fetch GETs url into file.
func fetch(ctx context.Context, url, file string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(msg)))
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func goTool() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

// loadAverage is /proc/loadavg's first three numbers.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
