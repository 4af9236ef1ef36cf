package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// The three kinds of server a workload runs against.
const (
	kindPooler  = "odyssey"
	kindBouncer = "pgbouncer"
	kindDirect  = "postgres"
)

// benchUser and benchDB are what every client logs in as. The throwaway
// cluster trusts loopback connections, and so do both poolers.
const (
	benchUser = "postgres"
	benchDB   = "postgres"
)

// server is something pgbench connects to: a pooler process, PgBouncer, or
// PostgreSQL itself (proc nil).
type server struct {
	kind    string
	port    int
	tlsPort int    // where sslmode=require clients go; 0 when noTLS says why not
	noTLS   string // "TLS not available: ..." or ""
	proc    *proc  // nil for PostgreSQL, which pgtest runs
}

// pid is the process whose CPU time and memory are measured, 0 for none.
func (s *server) pid() int {
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// alive returns an error naming the server's exit when its process is gone.
func (s *server) alive() error {
	if s.proc == nil {
		return nil
	}
	select {
	case <-s.proc.done:
		return fmt.Errorf("%s exited (%v); the end of its log:\n%s", s.kind, s.proc.err, s.proc.tail(15))
	default:
		return nil
	}
}

// proc is a child process. Its stdout and stderr go to out (its log).
type proc struct {
	cmd  *exec.Cmd
	out  string
	stop syscall.Signal // the signal asking it to stop at once
	done chan struct{}  // closed when it has exited
	err  error          // its exit status, once done is closed
}

// startProc starts argv with its output in logPath, as uid/gid when cred is
// set. The child gets a process group of its own, so that a Ctrl-C at the
// terminal reaches only this harness, which then stops it in order; and it
// is killed if the harness dies without doing so (Pdeathsig).
func startProc(argv []string, env []string, dir, logPath string, cred *syscall.Credential, stop syscall.Signal) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own copy
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	p := &proc{cmd: cmd, out: logPath, stop: stop, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// halt stops the process: its stop signal, then SIGKILL after 15 s.
func (p *proc) halt() {
	_ = p.cmd.Process.Signal(p.stop)
	select {
	case <-p.done:
		return
	case <-time.After(15 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		fmt.Fprintf(os.Stderr, "bench: process %d did not die\n", p.cmd.Process.Pid)
	}
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.out)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// poolerConf is the pooler's configuration: the equivalent of
// bouncerConf, in odyssey.hcl's terms.
var poolerConf = template.Must(template.New("odyssey.hcl").Parse(`# written by make bench
workers        = "auto"
log_level      = "info"
log_session    = false
stats_interval = "60s"
client_max     = 0

listen {
  host    = "127.0.0.1"
  port    = {{.Port}}
  backlog = 4096
}
{{if .TLSPort}}
listen {
  host          = "127.0.0.1"
  port          = {{.TLSPort}}
  backlog       = 4096
  tls           = "require"
  tls_cert_file = "{{.Cert}}"
  tls_key_file  = "{{.Key}}"
}
{{end}}
storage "postgres" {
  type = "remote"
  host = "127.0.0.1"
  port = {{.PGPort}}
}

database default {
  user default {
    authentication = "none"
    storage        = "postgres"
    pool           = "transaction"
    pool_size      = {{.PoolSize}}
  }
}
`))

// bouncerConf is PgBouncer's configuration. client_tls_sslmode = allow:
// PgBouncer has one port, where plain clients stay plain and
// sslmode=require clients get TLS.
// https://www.pgbouncer.org/config.html
var bouncerConf = template.Must(template.New("pgbouncer.ini").Parse(`; written by make bench
[databases]
* = host=127.0.0.1 port={{.PGPort}}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {{.Port}}
unix_socket_dir =
listen_backlog = 4096
auth_type = trust
auth_file = {{.Dir}}/userlist.txt
pool_mode = transaction
default_pool_size = {{.PoolSize}}
max_client_conn = {{.MaxClients}}
log_connections = 0
log_disconnections = 0
stats_period = 60
{{if .TLSPort}}client_tls_sslmode = allow
client_tls_cert_file = {{.Cert}}
client_tls_key_file = {{.Key}}
{{end}}`))

// confData fills the templates.
type confData struct {
	Dir           string
	Port, TLSPort int
	PGPort        int
	PoolSize      int
	MaxClients    int
	Cert, Key     string
}

// startPooler starts bin/odyssey as name, with a TLS listener when withTLS.
// pprofAddr, when set, is passed as ODYSSEY_PPROF. If the pooler refuses
// the TLS listener (the config check, the start, or a TLS login fails), it
// runs without one and noTLS says why.
func (b *bench) startPooler(ctx context.Context, name string, withTLS bool, pprofAddr string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	d := confData{Dir: b.dir, Port: port, PGPort: b.pg.Port, PoolSize: b.s.poolSize, Cert: b.certFile, Key: b.keyFile}
	env := os.Environ()
	if pprofAddr != "" {
		env = append(env, "ODYSSEY_PPROF="+pprofAddr)
	}
	noTLS := ""
	if withTLS {
		if d.TLSPort, err = freePort(); err != nil {
			return nil, err
		}
	}
	conf := filepath.Join(b.dir, name+".hcl")
	for {
		if err := writeTemplate(conf, poolerConf, d); err != nil {
			return nil, err
		}
		if d.TLSPort != 0 {
			out, err := exec.CommandContext(ctx, b.poolerBin, "--check", conf).CombinedOutput()
			if err != nil {
				noTLS = "TLS not available: the pooler refuses the TLS listen block: " + firstLine(out)
				d.TLSPort = 0
				continue
			}
		}
		p, err := startProc([]string{b.poolerBin, conf}, env, b.dir, filepath.Join(b.dir, name+".log"), nil, syscall.SIGINT)
		if err != nil {
			return nil, err
		}
		srv := &server{kind: kindPooler, port: port, tlsPort: d.TLSPort, proc: p}
		if err := srv.waitReady(ctx); err != nil {
			p.halt()
			if d.TLSPort != 0 && ctx.Err() == nil {
				noTLS = "TLS not available: the pooler does not start with a TLS listener: " + strings.ReplaceAll(p.tail(3), "\n", " / ")
				d.TLSPort = 0
				continue
			}
			return nil, err
		}
		srv.noTLS = noTLS
		srv.checkTLS(ctx)
		return srv, nil
	}
}

// startBouncer starts PgBouncer as name (as the postgres OS user when we
// are root: it refuses to run as root), with TLS for clients that ask when
// withTLS.
func (b *bench) startBouncer(ctx context.Context, name string, withTLS bool) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	d := confData{Dir: b.dir, Port: port, PGPort: b.pg.Port, PoolSize: b.s.poolSize,
		MaxClients: b.s.idle + 1500, Cert: b.certFile, Key: b.keyFile}
	if withTLS {
		d.TLSPort = port
	}
	conf := filepath.Join(b.dir, name+".ini")
	if err := writeTemplate(conf, bouncerConf, d); err != nil {
		return nil, err
	}
	p, err := startProc([]string{b.bouncerBin, conf}, os.Environ(), b.dir, filepath.Join(b.dir, name+".log"), b.cred, syscall.SIGTERM)
	if err != nil {
		return nil, err
	}
	srv := &server{kind: kindBouncer, port: port, tlsPort: d.TLSPort, proc: p}
	if !withTLS {
		srv.noTLS = "TLS not configured"
	}
	if err := srv.waitReady(ctx); err != nil {
		p.halt()
		return nil, err
	}
	srv.checkTLS(ctx)
	return srv, nil
}

// waitReady waits (up to 30 s) until a client can log in and run a query.
func (s *server) waitReady(ctx context.Context) error {
	var last error
	for i := 0; i < 150; i++ {
		if err := s.alive(); err != nil {
			return err
		}
		if last = s.ping(ctx, s.port, "disable"); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not accept logins within 30 s: %v", s.kind, last)
}

// checkTLS logs in over TLS once; if that fails, TLS clients are skipped.
func (s *server) checkTLS(ctx context.Context) {
	if s.tlsPort == 0 {
		return
	}
	if err := s.ping(ctx, s.tlsPort, "require"); err != nil {
		s.noTLS = "TLS not available: a TLS login fails: " + err.Error()
		s.tlsPort = 0
	}
}

// ping logs in to port with sslmode and runs SELECT 1.
func (s *server) ping(ctx context.Context, port int, sslmode string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, connString(port, sslmode))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "SELECT 1").ReadAll()
	return err
}

func connString(port int, sslmode string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=%s connect_timeout=5", port, benchUser, benchDB, sslmode)
}

func writeTemplate(path string, t *template.Template, d confData) error {
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// postgresCred is the credential to run PgBouncer with when we are root
// (the postgres OS user, as for PostgreSQL), nil otherwise.
func postgresCred() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres OS user to run PostgreSQL and PgBouncer: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// cpuTicks is the user+system CPU time of process pid, in clock ticks.
// https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return utime + stime, nil
}

// rssKiB is the resident set size of process pid (VmRSS), in KiB.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v) // "12345 kB"
			if len(f) == 2 && f[1] == "kB" {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// clockTicks is CLK_TCK, the unit of cpuTicks.
func clockTicks() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			return float64(n)
		}
	}
	return 100 // what Linux uses everywhere
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
