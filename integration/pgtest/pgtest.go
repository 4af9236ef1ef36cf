package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/odyssey-go/odyssey/integration/testcert"
)

// Roles of the throwaway cluster. The superuser logs in with trust over the
// unix socket and with its password over TCP; each other role matches one
// pg_hba.conf line, so logging in as it exercises one authentication method.
const (
	SuperUser         = "postgres"
	SuperPassword     = "postgres"
	CleartextUser     = "cleartext_user" // pg_hba method password
	CleartextPassword = "cleartext_pw"
	MD5User           = "md5_user" // method md5, md5 secret stored
	MD5Password       = "md5_pw"
	SCRAMUser         = "scram_user" // method scram-sha-256
	SCRAMPassword     = "scram_pw"
)

// hba is the whole pg_hba.conf of a throwaway cluster. PostgreSQL uses the
// first line that matches, so the per-role lines come before the catch-all.
const hba = `local all all trust
host all ` + CleartextUser + ` 127.0.0.1/32 password
host all ` + MD5User + ` 127.0.0.1/32 md5
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
`

// Time limits for the harness's own commands; a hung initdb or pg_ctl
// fails the run instead of hanging it.
const (
	commandTimeout = 2 * time.Minute
	pgctlWait      = "60" // pg_ctl -t, seconds
	startAttempts  = 5    // fresh ports tried when the chosen one was taken
)

// Options adjust a throwaway cluster.
type Options struct {
	// Settings are extra postgresql.conf settings (name → value), written
	// after the harness's own so that they win. Ignored for an external
	// server.
	Settings map[string]string
	// SSL, when set, turns ssl on.
	SSL *SSL
	// HBA are pg_hba.conf lines put before the harness's own, which
	// PostgreSQL therefore tries first (for example "hostssl all tls_user
	// 127.0.0.1/32 scram-sha-256").
	HBA []string
	// Private asks for a throwaway cluster even when ODYSSEY_TEST_PG names
	// a server: for a test that changes server-wide settings.
	Private bool
}

// SSL is the TLS setup of a throwaway cluster, with certificates from
// integration/testcert.
type SSL struct {
	Cert *testcert.Pair // the server's certificate (ssl_cert_file, ssl_key_file)
	// CA, when set, is ssl_ca_file: PostgreSQL then asks clients for a
	// certificate and checks one that is given, and the "cert" method and
	// clientcert=verify-ca work.
	CA *testcert.CA
}

// Cluster is a running PostgreSQL. Its methods are safe for concurrent use.
type Cluster struct {
	Host      string // TCP host: "127.0.0.1" for a throwaway cluster
	Port      int
	SocketDir string // unix socket directory; "" for an external server
	Dir       string // temporary directory holding data/ and sock/; "" for an external server
	BinDir    string // PostgreSQL binaries; "" if none were found (external server only)
	User      string // superuser
	Password  string // superuser's password over TCP

	conn     string     // pgconn connection string for the superuser
	osUser   string     // OS user running the server binaries; "" for ourselves
	watchdog *watchdog  // nil for an external server
	mu       sync.Mutex // guards stopped
	stopped  bool
}

// Start starts a throwaway cluster, or connects to the server named by
// ODYSSEY_TEST_PG when that is set and opts asks for no SSL, pg_hba.conf
// lines or privacy, which only a throwaway cluster can have. The caller
// must Stop it.
func Start(opts Options) (*Cluster, error) {
	if ext := os.Getenv("ODYSSEY_TEST_PG"); ext != "" && opts.SSL == nil && len(opts.HBA) == 0 && !opts.Private {
		return external(ext)
	}
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{Host: "127.0.0.1", BinDir: bin, User: SuperUser, Password: SuperPassword}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		c.osUser = "postgres"
	}
	c.Dir, err = os.MkdirTemp("", "odyssey-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c.SocketDir = filepath.Join(c.Dir, "sock")
	if err := c.init(opts); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return c, nil
}

// init creates, configures and starts the cluster in c.Dir.
func (c *Cluster) init(opts Options) error {
	if err := c.chown(c.Dir); err != nil {
		return err
	}
	if err := os.Mkdir(c.SocketDir, 0o700); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if err := c.chown(c.SocketDir); err != nil {
		return err
	}
	// The watchdog is started first so that it covers everything after it.
	w, err := startWatchdog(c)
	if err != nil {
		return err
	}
	c.watchdog = w
	if out, err := c.run("initdb", "-D", c.data(), "-U", SuperUser, "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"); err != nil {
		return fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}
	lines := hba
	if len(opts.HBA) > 0 {
		lines = strings.Join(opts.HBA, "\n") + "\n" + hba
	}
	if err := c.writeFile("pg_hba.conf", []byte(lines)); err != nil {
		return err
	}
	extra, err := c.writeSSL(opts.SSL)
	if err != nil {
		return err
	}
	for name, value := range opts.Settings {
		extra[name] = value
	}
	conf, err := os.ReadFile(filepath.Join(c.data(), "postgresql.conf"))
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	conf = append(conf, "\ninclude 'odyssey_test.conf'\n"...)
	if err := c.writeFile("postgresql.conf", conf); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		if c.Port, err = freePort(); err != nil {
			return err
		}
		if err := c.writeFile("odyssey_test.conf", settings(c, extra)); err != nil {
			return err
		}
		out, err := c.run("pg_ctl", "-D", c.data(), "-l", c.LogFile(), "-w", "-t", pgctlWait, "start")
		if err == nil {
			break
		}
		tail := c.LogTail(30)
		if attempt < startAttempts && strings.Contains(tail, "already in use") {
			continue // another process took the port between freePort and bind
		}
		return fmt.Errorf("pgtest: pg_ctl start: %v\n%s\nlast lines of %s:\n%s", err, out, c.LogFile(), tail)
	}
	c.conn = fmt.Sprintf("host=%s port=%d user=%s dbname=postgres sslmode=disable",
		quoteConn(c.SocketDir), c.Port, SuperUser)
	if err := c.Exec(fmt.Sprintf("ALTER ROLE %s PASSWORD '%s';\n", SuperUser, SuperPassword) + rolesSQL); err != nil {
		return fmt.Errorf("pgtest: create roles: %w", err)
	}
	return nil
}

// writeSSL writes ssl's files to the data directory, owned by the server's
// OS user (PostgreSQL refuses a key that others can read), and returns the
// settings that use them: none when ssl is nil.
func (c *Cluster) writeSSL(ssl *SSL) (map[string]string, error) {
	set := map[string]string{}
	if ssl == nil {
		return set, nil
	}
	if err := c.writeFile("server.crt", ssl.Cert.CertPEM); err != nil {
		return nil, err
	}
	if err := c.writeFile("server.key", ssl.Cert.KeyPEM); err != nil {
		return nil, err
	}
	set["ssl"] = "on"
	set["ssl_cert_file"] = "server.crt" // relative to the data directory
	set["ssl_key_file"] = "server.key"
	if ssl.CA != nil {
		if err := c.writeFile("root.crt", ssl.CA.CertPEM); err != nil {
			return nil, err
		}
		set["ssl_ca_file"] = "root.crt"
	}
	return set, nil
}

// settings renders odyssey_test.conf: the harness's settings, then extra.
func settings(c *Cluster, extra map[string]string) []byte {
	var b bytes.Buffer
	set := func(name, value string) {
		fmt.Fprintf(&b, "%s = '%s'\n", name, strings.ReplaceAll(value, "'", "''"))
	}
	set("port", strconv.Itoa(c.Port))
	set("listen_addresses", c.Host)
	set("unix_socket_directories", c.SocketDir)
	set("max_connections", "300")
	set("fsync", "off")
	set("synchronous_commit", "off")
	set("full_page_writes", "off")
	set("shared_buffers", "64MB")
	names := make([]string, 0, len(extra))
	for name := range extra {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		set(name, extra[name])
	}
	return b.Bytes()
}

// rolesSQL creates the test roles if they are missing and (re)sets their
// passwords. md5_user's password is stored as an md5 secret, so that the md5
// line in pg_hba.conf really does md5 (with a SCRAM secret PostgreSQL would
// switch to SCRAM). PostgreSQL 15 no longer lets everyone create in schema
// public, hence the grants.
const rolesSQL = `DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '` + CleartextUser + `') THEN CREATE ROLE ` + CleartextUser + `; END IF;
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '` + MD5User + `') THEN CREATE ROLE ` + MD5User + `; END IF;
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '` + SCRAMUser + `') THEN CREATE ROLE ` + SCRAMUser + `; END IF;
END $$;
SET password_encryption = 'scram-sha-256';
ALTER ROLE ` + CleartextUser + ` LOGIN PASSWORD '` + CleartextPassword + `';
ALTER ROLE ` + SCRAMUser + ` LOGIN PASSWORD '` + SCRAMPassword + `';
SET password_encryption = 'md5';
ALTER ROLE ` + MD5User + ` LOGIN PASSWORD '` + MD5Password + `';
RESET password_encryption;
GRANT CONNECT, CREATE ON DATABASE postgres TO ` + CleartextUser + `, ` + MD5User + `, ` + SCRAMUser + `;
GRANT USAGE, CREATE ON SCHEMA public TO ` + CleartextUser + `, ` + MD5User + `, ` + SCRAMUser + `;
`

// external describes the server named by ODYSSEY_TEST_PG and makes sure it
// has the test roles.
func external(spec string) (*Cluster, error) {
	if f := strings.Fields(spec); len(f) == 2 && !strings.ContainsAny(spec, "=/") {
		spec = fmt.Sprintf("host=%s port=%s user=%s", f[0], f[1], SuperUser) // "host port"
	}
	cfg, err := pgconn.ParseConfig(spec)
	if err != nil {
		return nil, fmt.Errorf("pgtest: ODYSSEY_TEST_PG: %w", err)
	}
	if strings.HasPrefix(cfg.Host, "/") {
		return nil, errors.New("pgtest: ODYSSEY_TEST_PG must name a TCP host, not a socket directory")
	}
	bin, _ := BinDir() // only Psql needs it
	c := &Cluster{Host: cfg.Host, Port: int(cfg.Port), BinDir: bin, User: cfg.User, Password: cfg.Password, conn: spec}
	if err := c.Exec(rolesSQL); err != nil {
		return nil, fmt.Errorf("pgtest: create test roles on the ODYSSEY_TEST_PG server (its user needs CREATEROLE): %w", err)
	}
	return c, nil
}

// Stop stops the server (fast shutdown, then immediate, then SIGKILL) and
// removes its directory. An external server is left alone. Calling Stop
// again does nothing.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || c.Dir == "" {
		c.stopped = true
		return nil
	}
	c.stopped = true
	var errs []error
	if pid := c.postmaster(); pid > 0 {
		if _, err := c.run("pg_ctl", "-D", c.data(), "-m", "fast", "-w", "-t", pgctlWait, "stop"); err != nil {
			out, err := c.run("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "-t", pgctlWait, "stop")
			if err != nil {
				errs = append(errs, fmt.Errorf("pg_ctl stop: %v\n%s", err, out))
				_ = syscall.Kill(-pid, syscall.SIGKILL) // the postmaster leads its process group
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		// pg_ctl returns once postmaster.pid is gone, a moment before
		// the process is.
		for i := 0; i < 100 && Running(pid); i++ {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		errs = append(errs, err)
	}
	if c.watchdog != nil {
		c.watchdog.dismiss()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pgtest: stop: %w", err)
	}
	return nil
}

// postmaster returns the server's process id from postmaster.pid, or 0.
func (c *Cluster) postmaster() int {
	b, err := os.ReadFile(filepath.Join(c.data(), "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 1 {
		return 0
	}
	return pid
}

// PID is the postmaster's process id, or 0 for an external or stopped
// server.
func (c *Cluster) PID() int {
	if c.Dir == "" {
		return 0
	}
	return c.postmaster()
}

// Running reports whether process pid exists and is not a zombie.
func Running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) == nil // no /proc
	}
	// The state follows the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// Restart restarts a throwaway cluster with a fast shutdown (sessions are
// terminated) on the same port.
func (c *Cluster) Restart() error {
	if c.Dir == "" {
		return errors.New("pgtest: cannot restart an external server")
	}
	out, err := c.run("pg_ctl", "-D", c.data(), "-l", c.LogFile(), "-m", "fast", "-w", "-t", pgctlWait, "restart")
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl restart: %v\n%s\nlast lines of %s:\n%s", err, out, c.LogFile(), c.LogTail(30))
	}
	return nil
}

// DSN is a pgx/libpq URL for logging in to the server over TCP.
func (c *Cluster) DSN(user, password, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     c.Addr(),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Addr is the server's TCP address, "127.0.0.1:port".
func (c *Cluster) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// SocketPath is the server's unix socket, or "" for an external server.
func (c *Cluster) SocketPath() string {
	if c.SocketDir == "" {
		return ""
	}
	return filepath.Join(c.SocketDir, fmt.Sprintf(".s.PGSQL.%d", c.Port))
}

// Exec runs sql (one or more statements) as the superuser on database
// postgres, on a connection of its own.
func (c *Cluster) Exec(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	conn, err := pgconn.Connect(ctx, c.conn)
	if err != nil {
		return fmt.Errorf("pgtest: connect as %s: %w", c.User, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql).ReadAll(); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// Psql returns a command running the real psql as the superuser over TCP,
// with PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE set, -X (no psqlrc)
// and -w (never prompt for a password) before args.
func (c *Cluster) Psql(args ...string) *exec.Cmd {
	cmd := exec.Command(c.Bin("psql"), append([]string{"-X", "-w"}, args...)...)
	cmd.Env = append(os.Environ(),
		"PGHOST="+c.Host,
		"PGPORT="+strconv.Itoa(c.Port),
		"PGUSER="+c.User,
		"PGDATABASE=postgres",
	)
	if c.Password != "" {
		cmd.Env = append(cmd.Env, "PGPASSWORD="+c.Password)
	}
	return cmd
}

// Bin returns the path of a PostgreSQL program (psql, pgbench, ...).
func (c *Cluster) Bin(name string) string {
	if c.BinDir == "" {
		return name
	}
	return filepath.Join(c.BinDir, name)
}

// LogFile is the server log of a throwaway cluster.
func (c *Cluster) LogFile() string { return filepath.Join(c.data(), "server.log") }

// LogTail returns the last n lines of the server log ("" if unreadable).
func (c *Cluster) LogTail(n int) string {
	b, err := os.ReadFile(c.LogFile())
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Main is the body of a TestMain: it starts a cluster into *c, runs the
// tests and stops the cluster, returning the exit code for os.Exit. When
// PostgreSQL cannot be started it says why and returns 1 without running
// any test.
func Main(m *testing.M, c **Cluster) int {
	cl, err := Start(Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: cannot start PostgreSQL for the tests: %v\n", err)
		if os.Getenv("ODYSSEY_TEST_PG") == "" {
			fmt.Fprintln(os.Stderr, "pgtest: install the PostgreSQL server package (initdb, pg_ctl), or set ODYSSEY_TEST_PG to an existing server")
		}
		return 1
	}
	*c = cl
	code := m.Run()
	if err := cl.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// BinDir finds the PostgreSQL server binaries: pg_config --bindir, else the
// highest version under /usr/lib/postgresql.
func BinDir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if isFile(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if isFile(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", errors.New("pgtest: PostgreSQL binaries not found (no pg_config --bindir with initdb, nothing in /usr/lib/postgresql/*/bin)")
}

// version is the major version in /usr/lib/postgresql/<version>/bin, so that
// 15 sorts above 9.6.
func version(bin string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(bin)), 64)
	return v
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func (c *Cluster) data() string { return filepath.Join(c.Dir, "data") }

// argv returns the command line running a PostgreSQL binary as c.osUser.
func (c *Cluster) argv(name string, args ...string) []string {
	cmd := append([]string{filepath.Join(c.BinDir, name)}, args...)
	switch {
	case c.osUser == "":
		return cmd
	case haveRunuser():
		return append([]string{"runuser", "-u", c.osUser, "--"}, cmd...)
	default:
		return []string{"su", c.osUser, "-s", "/bin/sh", "-c", shellJoin(cmd)}
	}
}

func haveRunuser() bool {
	_, err := exec.LookPath("runuser")
	return err == nil
}

// run runs a PostgreSQL binary in c.Dir and returns its combined output.
// pg_ctl start is always given -l: the postmaster would otherwise inherit
// the output pipe and the call would not return until the server stops.
func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	argv := c.argv(name, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = c.Dir // the postgres OS user may not be able to enter ours
	return cmd.CombinedOutput()
}

// writeFile writes a file in the data directory, owned by the OS user the
// server runs as.
func (c *Cluster) writeFile(name string, data []byte) error {
	p := filepath.Join(c.data(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return c.chown(p)
}

// chown gives p to the OS user the server runs as.
func (c *Cluster) chown(p string) error {
	if c.osUser == "" {
		return nil
	}
	u, err := user.Lookup(c.osUser)
	if err != nil {
		return fmt.Errorf("pgtest: running as root needs a %s OS user to run PostgreSQL: %w", c.osUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(p, uid, gid); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// quoteConn quotes a value for a libpq keyword/value connection string.
func quoteConn(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}
