package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/instance"
)

// consoleConfig is a pooler with the console under both of its names, an
// admin and a stat user, and a transaction pool for everyone else.
const consoleConfig = `
{{listen_and_storage}}
storage "local" {
  type = "local"
}
database "console" {
  user "admin" {
    authentication = "md5"
    password       = "admin-pw"
    role           = "admin"
    storage        = "local"
    pool           = "session"
  }
  user "watcher" {
    authentication = "scram-sha-256"
    password       = "watcher-pw"
    role           = "stat"
    storage        = "local"
    pool           = "session"
  }
}
database "pgbouncer" {
  user "admin" {
    authentication = "md5"
    password       = "admin-pw"
    role           = "admin"
    storage        = "local"
    pool           = "session"
  }
}
database default {
  user default {
    authentication   = "none"
    storage          = "postgres"
    storage_db       = "postgres"
    storage_user     = "%s"
    storage_password = "%s_pw"
    pool             = "transaction"
    pool_size        = %d
  }
}
`

// startConsolePooler runs consoleConfig from a file (so that RELOAD can
// read it again) and returns the pooler and the file's path.
func startConsolePooler(t *testing.T, role string, size int) (*pooler, string) {
	t.Helper()
	serverRole(t, role)
	path := filepath.Join(t.TempDir(), "odyssey.hcl")
	if err := os.WriteFile(path, []byte(hcl(fmt.Sprintf(consoleConfig, role, role, size))), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
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
	host, port, _ := strings.Cut(addr, ":")
	return &pooler{t: t, inst: inst, addr: addr, host: host, port: port}, path
}

// consoleConn logs in to the console as user.
func consoleConn(t *testing.T, p *pooler, user, password, db string) *pgconn.PgConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := pgconn.ParseConfig(fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", user, p.addr, db))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = password
	c, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("console login as %s: %v", user, err)
	}
	t.Cleanup(func() { closeQuietly(c) })
	return c
}

// show runs a console command and returns its rows keyed by column name,
// and the column names in order.
func show(t *testing.T, c *pgconn.PgConn, cmd string) ([]map[string]string, []string) {
	t.Helper()
	// Not ReadAll: its Result has FieldDescriptions only when there are
	// rows, and an empty SHOW's columns count too.
	mrr := c.Exec(testCtx(t), cmd)
	var cols []string
	var rows []map[string]string
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		cols, rows = nil, nil
		for _, f := range rr.FieldDescriptions() {
			cols = append(cols, f.Name)
		}
		for rr.NextRow() {
			m := map[string]string{}
			for k, v := range rr.Values() {
				m[cols[k]] = string(v)
			}
			rows = append(rows, m)
		}
		if _, err := rr.Close(); err != nil {
			_ = mrr.Close()
			t.Fatalf("%s: %v", cmd, err)
		}
	}
	if err := mrr.Close(); err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return rows, cols
}

// connectAs connects without a password as user to db.
func connectAs(t *testing.T, p *pooler, user, db string) *pgconn.PgConn {
	t.Helper()
	c, err := pgconn.Connect(testCtx(t), fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", user, p.addr, db))
	if err != nil {
		t.Fatalf("connect as %s to %s: %v", user, db, err)
	}
	t.Cleanup(func() { closeQuietly(c) })
	return c
}

func consoleErr(t *testing.T, c *pgconn.PgConn, cmd string) error {
	t.Helper()
	_, err := c.Exec(testCtx(t), cmd).ReadAll()
	return err
}

func TestConsoleLoginAndRoles(t *testing.T) {
	ctx := testCtx(t)
	p, _ := startConsolePooler(t, "console_srv", 4)
	admin := consoleConn(t, p, "admin", "admin-pw", "console")
	rows, _ := show(t, admin, "SHOW VERSION")
	if len(rows) != 1 || rows[0]["version"] != instance.Version {
		t.Errorf("SHOW VERSION: %v", rows)
	}
	// pgbouncer is the console too, for tools that assume its name.
	pgb := consoleConn(t, p, "admin", "admin-pw", "pgbouncer")
	if rows, _ := show(t, pgb, "show version;"); len(rows) != 1 {
		t.Errorf("SHOW VERSION on pgbouncer: %v", rows)
	}
	// Wrong password, and a user without a console rule.
	_, err := loginAs(ctx, p, "admin", "wrong", "console")
	wantCode(t, "wrong console password", err, "28P01")
	// A user without a console rule falls through to the default rule:
	// PostgreSQL, not the console.
	m := connectAs(t, p, "mallory", "console")
	_, err = simple(ctx, m, "SHOW VERSION")
	wantCode(t, "SHOW VERSION outside the console", err, "42704")

	// Unknown commands are errors and the session goes on.
	err = consoleErr(t, admin, "FROBNICATE")
	wantCode(t, "unknown command", err, "08P01")
	if !strings.Contains(err.Error(), "invalid command 'FROBNICATE', use SHOW HELP;") {
		t.Errorf("unknown command: %v", err)
	}
	if rows, _ := show(t, admin, "SHOW VERSION"); len(rows) != 1 {
		t.Errorf("session after an error: %v", rows)
	}

	// The stat role may SHOW, not act.
	watcher := consoleConn(t, p, "watcher", "watcher-pw", "console")
	if rows, _ := show(t, watcher, "SHOW CONFIG"); len(rows) == 0 {
		t.Errorf("stat role SHOW CONFIG: no rows")
	}
	for _, cmd := range []string{"PAUSE", "RELOAD", "KILL_CLIENT 1", "SHUTDOWN", "SET client_max = 5"} {
		wantCode(t, "stat role "+cmd, consoleErr(t, watcher, cmd), "42501")
	}

	// pgx in its default (extended protocol) mode.
	cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://admin@%s/console?sslmode=disable", p.addr))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = "admin-pw"
	pc, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	var version string
	if err := pc.QueryRow(ctx, "SHOW VERSION").Scan(&version); err != nil || version != instance.Version {
		t.Errorf("pgx SHOW VERSION: %q %v", version, err)
	}
}

func TestConsoleConfigReloadAndSet(t *testing.T) {
	p, path := startConsolePooler(t, "console_srv", 4)
	admin := consoleConn(t, p, "admin", "admin-pw", "console")
	setting := func(key string) string {
		rows, _ := show(t, admin, "SHOW CONFIG")
		for _, r := range rows {
			if r["key"] == key {
				return r["value"]
			}
		}
		t.Fatalf("SHOW CONFIG has no %s", key)
		return ""
	}
	if err := consoleErr(t, admin, "SET client_max = 77"); err != nil {
		t.Fatal(err)
	}
	if got := setting("client_max"); got != "77" {
		t.Errorf("client_max after SET: %s", got)
	}
	wantCode(t, "SET of a non-changeable setting", consoleErr(t, admin, "SET workers = 3"), "55P02")
	wantCode(t, "SET of an unknown setting", consoleErr(t, admin, "SET no_such_thing = 3"), "42704")
	wantCode(t, "SET with a bad value", consoleErr(t, admin, "SET client_max = lots"), "22023")

	// RELOAD reads the file: client_max goes back to it.
	if err := consoleErr(t, admin, "RELOAD"); err != nil {
		t.Fatal(err)
	}
	if got := setting("client_max"); got != "10000" {
		t.Errorf("client_max after RELOAD: %s", got)
	}
	// A broken file: F0000 with the error, nothing changes.
	good, _ := os.ReadFile(path)
	if err := os.WriteFile(path, append(good, []byte("\nnot_a_setting = 1\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	err := consoleErr(t, admin, "RELOAD")
	wantCode(t, "RELOAD of a broken file", err, "F0000")
	if !strings.Contains(err.Error(), "not_a_setting") {
		t.Errorf("RELOAD error does not say what is wrong: %v", err)
	}
	c := p.conn(t, "")
	if got := one(t, testCtx(t), c, "SELECT 1"); got != "1" {
		t.Errorf("pooling after a failed RELOAD: %s", got)
	}
}

func TestConsoleKillClientAndShutdown(t *testing.T) {
	ctx := testCtx(t)
	p, _ := startConsolePooler(t, "console_srv", 4)
	admin := consoleConn(t, p, "admin", "admin-pw", "console")
	victim := p.conn(t, "application_name=victim")
	bystander := p.conn(t, "")
	rows, cols := show(t, admin, "SHOW CLIENTS")
	if len(cols) == 0 || cols[len(cols)-1] != "id" {
		t.Fatalf("SHOW CLIENTS columns %v", cols)
	}
	id := ""
	for _, r := range rows {
		if r["application_name"] == "victim" {
			id = r["id"]
		}
	}
	if id == "" {
		t.Fatalf("victim not in SHOW CLIENTS: %v", rows)
	}
	if err := consoleErr(t, admin, "KILL_CLIENT "+id); err != nil {
		t.Fatal(err)
	}
	if _, err := simple(ctx, victim, "SELECT 1"); err == nil {
		t.Errorf("killed client still works")
	}
	if got := one(t, ctx, bystander, "SELECT 1"); got != "1" {
		t.Errorf("bystander: %s", got)
	}
	wantCode(t, "KILL_CLIENT of nobody", consoleErr(t, admin, "KILL_CLIENT 999999"), "42704")

	// SHUTDOWN WAIT_FOR_CLIENTS: a client in a transaction finishes it,
	// new clients are refused, then the pooler stops.
	if _, err := simple(ctx, bystander, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if err := consoleErr(t, admin, "SHUTDOWN WAIT_FOR_CLIENTS"); err != nil {
		t.Fatal(err)
	}
	if _, err := connectOnce(ctx, p); err == nil {
		t.Errorf("a new client got in during SHUTDOWN WAIT_FOR_CLIENTS")
	}
	if got := one(t, ctx, bystander, "SELECT 2"); got != "2" {
		t.Errorf("in-transaction client during shutdown: %s", got)
	}
	if _, err := simple(ctx, bystander, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.inst.Done():
		t.Fatalf("pooler stopped while a client was still connected")
	case <-time.After(300 * time.Millisecond):
	}
	closeQuietly(bystander)
	select {
	case <-p.inst.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("pooler still running 30s after its last client left")
	}
}

// TestConsolePsql: psql, as operators use it.
func TestConsolePsql(t *testing.T) {
	p, _ := startConsolePooler(t, "console_srv", 4)
	run := func(args ...string) (string, error) {
		cmd := exec.Command(pgBin("psql"), append([]string{"-X", "-w", "-h", p.host, "-p", p.port, "-U", "admin", "-d", "console"}, args...)...)
		cmd.Env = append(os.Environ(), "PGPASSWORD=admin-pw", "PGSSLMODE=disable")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("-c", "SHOW HELP")
	if err != nil || !strings.Contains(out, "SHOW") {
		t.Errorf("SHOW HELP: %v\n%s", err, out)
	}
	out, err = run("-A", "-t", "-c", "SHOW VERSION")
	if err != nil || strings.TrimSpace(out) != instance.Version {
		t.Errorf("SHOW VERSION: %v\n%s", err, out)
	}
}
