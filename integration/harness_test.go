// Package integration runs the pooler, in-process and as the built binary,
// in front of a real PostgreSQL started once per package run by
// integration/pgtest, with pgx, psql and pgbench as its clients.
//
// Every test starts its own pooler from an HCL string (listen port 0) and,
// where pool behaviour is asserted, logs in to PostgreSQL as its own role, so
// that pg_stat_activity rows with that usename are exactly that pooler's
// server connections.
package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/odyssey-go/odyssey/integration/pgtest"
	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/instance"
)

// cluster is the PostgreSQL of this package run.
var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }

// superUser is the user the tests' clients give the pooler (whose rules
// use authentication "none" and log in to PostgreSQL as a role of their
// own, see serverRole).
const superUser = pgtest.SuperUser

// testTimeout bounds each test's context; a hung pooler fails the test
// instead of the package's go test -timeout.
const testTimeout = 90 * time.Second

// testCtx is a context for one test, cancelled when the test ends.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// pgBin returns the path of a PostgreSQL client program (psql, pgbench).
func pgBin(name string) string {
	if cluster.BinDir != "" {
		return filepath.Join(cluster.BinDir, name)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return name
}

// admin is a direct superuser connection to PostgreSQL (not through the
// pooler), closed when the test ends.
func admin(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, cluster.DSN(cluster.User, cluster.Password, "postgres"))
	if err != nil {
		t.Fatalf("connect to PostgreSQL directly: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// adminExec runs sql directly on PostgreSQL as the superuser.
func adminExec(t *testing.T, sql string) {
	t.Helper()
	if _, err := admin(t).Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

var roles sync.Map // role name → struct{}: created in this package run

// serverRole creates (once) a superuser login role for a pooler's server
// connections and returns its password. A role per pooler makes
// pg_stat_activity's usename identify that pooler's servers.
func serverRole(t *testing.T, name string) string {
	t.Helper()
	pw := name + "_pw"
	if _, done := roles.Load(name); done {
		return pw
	}
	c := admin(t)
	ctx := context.Background()
	var exists bool
	if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	verb := "CREATE"
	if exists {
		verb = "ALTER"
	}
	if _, err := c.Exec(ctx, fmt.Sprintf("%s ROLE %s LOGIN SUPERUSER PASSWORD '%s'", verb, pgx.Identifier{name}.Sanitize(), pw)); err != nil {
		t.Fatal(err)
	}
	roles.Store(name, struct{}{})
	return pw
}

// pooler is an in-process pooler started for one test.
type pooler struct {
	t    *testing.T
	inst *instance.Instance
	addr string // host:port of the first listen block
	host string
	port string
}

// listenAndStorage is the usual head of a test config: a listen block on
// a free loopback port and storage "postgres" for the package's cluster.
const listenAndStorage = `listen {
  host = "127.0.0.1"
  port = 0
}
storage "postgres" {
  type = "remote"
  host = "{{pg_host}}"
  port = {{pg_port}}
}`

// hcl fills {{listen_and_storage}}, {{pg_host}} and {{pg_port}} in a config
// template.
func hcl(src string) string {
	src = strings.ReplaceAll(src, "{{listen_and_storage}}", listenAndStorage)
	return strings.NewReplacer("{{pg_host}}", cluster.Host, "{{pg_port}}", strconv.Itoa(cluster.Port)).Replace(src)
}

// startPoolerHCL runs a pooler in-process from an HCL config template (see
// hcl); it is closed when the test ends.
func startPoolerHCL(t *testing.T, src string) *pooler {
	t.Helper()
	cfg, err := config.Parse([]byte(hcl(src)), "test.hcl")
	if err != nil {
		t.Fatalf("config: %v\n%s", err, hcl(src))
	}
	inst, err := instance.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inst.Close)
	addr := inst.Addrs()[0].String()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return &pooler{t: t, inst: inst, addr: addr, host: host, port: port}
}

// poolSpec describes the one rule of a simple pooler.
type poolSpec struct {
	role   string // server role (created on demand); its password is used at the server
	mode   string // session | transaction | statement
	size   int    // pool_size; 0 is unlimited
	extra  string // more attributes for the user block
	global string // more top-level attributes
}

// configFor renders a complete config for spec.
func configFor(spec poolSpec) string {
	return fmt.Sprintf(`
%s
listen {
  host = "127.0.0.1"
  port = 0
}
storage "postgres" {
  type = "remote"
  host = "{{pg_host}}"
  port = {{pg_port}}
}
database default {
  user default {
    authentication   = "none"
    storage          = "postgres"
    storage_user     = "%s"
    storage_password = "%s"
    pool             = "%s"
    pool_size        = %d
    %s
  }
}
`, spec.global, spec.role, spec.role+"_pw", spec.mode, spec.size, spec.extra)
}

// startPool creates spec's role and runs a pooler with a single default rule.
func startPool(t *testing.T, spec poolSpec) *pooler {
	t.Helper()
	if spec.role == "" {
		spec.role = "pooled"
	}
	serverRole(t, spec.role)
	return startPoolerHCL(t, configFor(spec))
}

// dsn is a libpq URL for the pooler; params are extra URL query parameters
// such as "default_query_exec_mode=exec".
func (p *pooler) dsn(params string) string {
	u := fmt.Sprintf("postgres://%s@%s/postgres?sslmode=disable&connect_timeout=15", superUser, p.addr)
	if params != "" {
		u += "&" + params
	}
	return u
}

// conn connects pgconn to the pooler; closed when the test ends.
func (p *pooler) conn(t *testing.T, params string) *pgconn.PgConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, p.dsn(params))
	if err != nil {
		t.Fatalf("connect to the pooler: %v", err)
	}
	t.Cleanup(func() { closeQuietly(c) })
	return c
}

// connectOnce connects pgconn to the pooler without failing the test.
func connectOnce(ctx context.Context, p *pooler) (*pgconn.PgConn, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return pgconn.Connect(ctx, p.dsn(""))
}

func closeQuietly(c *pgconn.PgConn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Close(ctx)
}

// simple runs sql with the simple query protocol and returns the first
// column of every row of the last result.
func simple(ctx context.Context, c *pgconn.PgConn, sql string) ([]string, error) {
	res, err := c.Exec(ctx, sql).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(res) == 0 {
		return nil, nil
	}
	var out []string
	for _, row := range res[len(res)-1].Rows {
		if len(row) > 0 {
			out = append(out, string(row[0]))
		}
	}
	return out, nil
}

// extended runs sql with the extended protocol (unnamed statement) and text
// parameters and returns the first column of every row.
func extended(ctx context.Context, c *pgconn.PgConn, sql string, args ...string) ([]string, error) {
	params := make([][]byte, len(args))
	for i, a := range args {
		params[i] = []byte(a)
	}
	res := c.ExecParams(ctx, sql, params, nil, nil, nil).Read()
	if res.Err != nil {
		return nil, res.Err
	}
	var out []string
	for _, row := range res.Rows {
		if len(row) > 0 {
			out = append(out, string(row[0]))
		}
	}
	return out, nil
}

// one runs a simple query that must return exactly one value.
func one(t *testing.T, ctx context.Context, c *pgconn.PgConn, sql string) string {
	t.Helper()
	rows, err := simple(ctx, c, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if len(rows) != 1 {
		t.Fatalf("%s: %d rows, want 1", sql, len(rows))
	}
	return rows[0]
}

// sqlstate returns err's SQLSTATE, or "" when it is not a PostgreSQL error.
func sqlstate(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// wantCode fails the test unless err carries SQLSTATE code.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := sqlstate(err); got != code {
		t.Fatalf("%s: got error %v (SQLSTATE %q), want SQLSTATE %s", what, err, got, code)
	}
}

// countServers counts PostgreSQL client backends logged in as role (other
// than the caller's own), with an optional extra SQL condition.
func countServers(ctx context.Context, c *pgx.Conn, role, where string) (int, error) {
	q := "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND usename = $1"
	if where != "" {
		q += " AND (" + where + ")"
	}
	var n int
	err := c.QueryRow(ctx, q, role).Scan(&n)
	return n, err
}

// eventually polls cond every 50ms until it is true or limit passes.
func eventually(t *testing.T, limit time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %v (last error: %v)", what, limit, lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitServers waits until the count of role's servers matching where is n.
func waitServers(t *testing.T, mon *pgx.Conn, role, where string, n int, what string) {
	t.Helper()
	eventually(t, 20*time.Second, what, func() (bool, error) {
		got, err := countServers(context.Background(), mon, role, where)
		return err == nil && got == n, err
	})
}

// monitor samples the number of role's server connections in
// pg_stat_activity until stopped, remembering the largest.
type monitor struct {
	max     atomic.Int64
	samples atomic.Int64
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	err     atomic.Value
}

// startMonitor starts sampling on its own direct connection.
func startMonitor(t *testing.T, role string) *monitor {
	t.Helper()
	c := admin(t)
	m := &monitor{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			n, err := countServers(context.Background(), c, role, "")
			if err != nil {
				m.err.Store(err)
				return
			}
			m.samples.Add(1)
			if int64(n) > m.max.Load() {
				m.max.Store(int64(n))
			}
			select {
			case <-m.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(m.halt)
	return m
}

// halt stops sampling and waits for the sampler; it may be called twice.
func (m *monitor) halt() {
	m.once.Do(func() { close(m.stop) })
	<-m.done
}

// check stops the monitor and fails the test unless it sampled and never
// saw more than limit servers.
func (m *monitor) check(t *testing.T, limit int) {
	t.Helper()
	m.halt()
	if err, _ := m.err.Load().(error); err != nil {
		t.Fatalf("pg_stat_activity monitor: %v", err)
	}
	if m.samples.Load() == 0 {
		t.Fatal("pg_stat_activity monitor took no samples")
	}
	if n := m.max.Load(); n > int64(limit) {
		t.Errorf("saw %d server connections in pg_stat_activity, want at most pool_size %d", n, limit)
	} else if n == 0 {
		t.Errorf("never saw a server connection of the pooler in pg_stat_activity")
	}
	t.Logf("pg_stat_activity: max %d server connections over %d samples", m.max.Load(), m.samples.Load())
}
