package integration

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/odyssey-go/odyssey/integration/pgtest"
	"github.com/sirupsen/logrus"
)

// logCapture collects every log line of the in-process poolers, at debug
// level, so that tests can prove secrets never reach the log.
var logCapture struct {
	once sync.Once
	mu   sync.Mutex
	text strings.Builder
}

type captureHook struct{}

func (captureHook) Levels() []logrus.Level { return logrus.AllLevels }
func (captureHook) Fire(e *logrus.Entry) error {
	line, err := e.String()
	if err != nil {
		return err
	}
	logCapture.mu.Lock()
	logCapture.text.WriteString(line)
	logCapture.mu.Unlock()
	return nil
}

// captureLogs starts capturing (once per run) and, when the test ends,
// fails it if any of secrets appears in what was logged.
func captureLogs(t *testing.T, secrets ...string) {
	logCapture.once.Do(func() {
		logrus.AddHook(captureHook{})
		logrus.SetLevel(logrus.DebugLevel)
	})
	t.Cleanup(func() {
		logCapture.mu.Lock()
		text := logCapture.text.String()
		logCapture.mu.Unlock()
		if !strings.Contains(text, "authentication failed") {
			t.Errorf("the log capture saw no failed login: is it working?")
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("a secret (%.6s...) appears in the log", s)
			}
		}
	})
}

// md5Secret is PostgreSQL's stored md5 form of password for user.
func md5Secret(user, password string) string {
	h := md5.Sum([]byte(password + user))
	return "md5" + hex.EncodeToString(h[:])
}

// rolpassword reads a role's stored secret from PostgreSQL.
func rolpassword(t *testing.T, role string) string {
	t.Helper()
	var s string
	if err := admin(t).QueryRow(context.Background(), "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// scramSecretOf makes PostgreSQL compute a SCRAM secret for password.
func scramSecretOf(t *testing.T, password string) string {
	t.Helper()
	adminExec(t, "DROP ROLE IF EXISTS scram_secret_maker")
	adminExec(t, "SET password_encryption = 'scram-sha-256'; CREATE ROLE scram_secret_maker PASSWORD '"+password+"'")
	return rolpassword(t, "scram_secret_maker")
}

// loginAs connects as user with password and returns current_user as the
// server sees it, or the error.
func loginAs(ctx context.Context, p *pooler, user, password, db string) (string, error) {
	cfg, err := pgconn.ParseConfig(fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable&connect_timeout=15", user, p.addr, db))
	if err != nil {
		return "", err
	}
	cfg.Password = password
	c, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer closeQuietly(c)
	rows, err := simple(ctx, c, "SELECT current_user")
	if err != nil {
		return "", err
	}
	return rows[0], nil
}

// TestAuthMethodsAndSecretForms logs pgx clients in through every
// password method against every form a stored password may take.
func TestAuthMethodsAndSecretForms(t *testing.T) {
	ctx := testCtx(t)
	const pw = "right pass wörd"
	serverRole(t, "authsrv")
	scramSecret := scramSecretOf(t, pw)
	captureLogs(t, pw, scramSecret[30:])

	type tc struct{ method, form string }
	var cases []tc
	var rules strings.Builder
	for _, method := range []string{"clear_text", "md5", "scram-sha-256"} {
		for _, form := range []string{"plain", "md5", "scram"} {
			if method == "scram-sha-256" && form == "md5" {
				continue // a config error: an md5 hash cannot answer SCRAM
			}
			user := strings.ReplaceAll(method, "-", "_") + "_" + form
			stored := map[string]string{"plain": pw, "md5": md5Secret(user, pw), "scram": scramSecret}[form]
			fmt.Fprintf(&rules, `
  user %q {
    authentication   = %q
    password         = %q
    storage          = "postgres"
    storage_user     = "authsrv"
    storage_password = "authsrv_pw"
    pool             = "transaction"
  }`, user, method, stored)
			cases = append(cases, tc{method, form})
		}
	}
	p := startPoolerHCL(t, `
{{listen_and_storage}}
database "postgres" {`+rules.String()+`
}`)
	for _, c := range cases {
		user := strings.ReplaceAll(c.method, "-", "_") + "_" + c.form
		t.Run(user, func(t *testing.T) {
			got, err := loginAs(ctx, p, user, pw, "postgres")
			if err != nil || got != "authsrv" {
				t.Fatalf("right password: %q %v", got, err)
			}
			_, err = loginAs(ctx, p, user, "wrong", "postgres")
			wantCode(t, "wrong password", err, "28P01")
			if !strings.Contains(err.Error(), fmt.Sprintf(`password authentication failed for user "%s"`, user)) {
				t.Errorf("wrong password: %v, want PostgreSQL's message", err)
			}
		})
	}
	t.Run("psql", func(t *testing.T) {
		for _, user := range []string{"md5_scram", "scram_sha_256_plain", "clear_text_md5"} {
			cmd := exec.CommandContext(ctx, pgBin("psql"), "-X", "-A", "-t", "-w", "-h", p.host, "-p", p.port, "-U", user, "-d", "postgres", "-c", "SELECT current_user")
			cmd.Env = append(os.Environ(), "PGPASSWORD="+pw, "PGSSLMODE=disable")
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "authsrv" {
				t.Errorf("psql as %s: %v\n%s", user, err, out)
			}
			cmd = exec.CommandContext(ctx, pgBin("psql"), "-X", "-w", "-h", p.host, "-p", p.port, "-U", user, "-d", "postgres", "-c", "SELECT 1")
			cmd.Env = append(os.Environ(), "PGPASSWORD=wrong", "PGSSLMODE=disable")
			out, _ = cmd.CombinedOutput()
			if !strings.Contains(string(out), "password authentication failed") {
				t.Errorf("psql as %s with a wrong password: %s", user, out)
			}
		}
	})
}

// authQueryConfig is a pooler whose users are not in the config at all:
// their secrets come from pg_shadow, and their servers log in with what
// their logins reveal (md5 hash, SCRAM keys, or with passthrough the
// password).
const authQueryConfig = `
{{listen_and_storage}}
database default {
  user "postgres" {
    authentication   = "block"
    storage          = "postgres"
    storage_password = "postgres"
    pool             = "transaction"
    pool_size        = 2
  }
  user default {
    authentication  = "%s"
    auth_query      = "SELECT usename, passwd FROM pg_shadow WHERE usename = $1"
    auth_query_db   = "postgres"
    auth_query_user = "postgres"
    storage         = "postgres"
    pool            = "transaction"
    %s
  }
}`

func TestAuthQuery(t *testing.T) {
	ctx := testCtx(t)
	captureLogs(t, pgtest.MD5Password, pgtest.SCRAMPassword, rolpassword(t, pgtest.MD5User), rolpassword(t, pgtest.SCRAMUser)[30:])

	t.Run("md5", func(t *testing.T) {
		p := startPoolerHCL(t, fmt.Sprintf(authQueryConfig, "md5", ""))
		// md5 secret: md5 exchange, server login with the hash.
		if got, err := loginAs(ctx, p, pgtest.MD5User, pgtest.MD5Password, "postgres"); err != nil || got != pgtest.MD5User {
			t.Errorf("md5 user: %q %v", got, err)
		}
		// SCRAM secret under md5: SCRAM, as PostgreSQL does, and the
		// server login is SCRAM pass-through.
		if got, err := loginAs(ctx, p, pgtest.SCRAMUser, pgtest.SCRAMPassword, "postgres"); err != nil || got != pgtest.SCRAMUser {
			t.Errorf("scram user: %q %v", got, err)
		}
		for _, bad := range []struct{ user, pw string }{
			{pgtest.MD5User, "wrong"}, {pgtest.SCRAMUser, "wrong"}, {"no_such_user", "x"},
		} {
			_, err := loginAs(ctx, p, bad.user, bad.pw, "postgres")
			wantCode(t, bad.user+" with a wrong password", err, "28P01")
		}
		// PostgreSQL asks the cleartext user for a cleartext password,
		// which the pooler does not have without password_passthrough.
		_, err := loginAs(ctx, p, pgtest.CleartextUser, pgtest.CleartextPassword, "postgres")
		if err == nil {
			t.Errorf("cleartext user logged in to PostgreSQL without a password")
		}
		// The auth_query rule's own clients are blocked.
		_, err = loginAs(ctx, p, pgtest.SuperUser, pgtest.SuperPassword, "postgres")
		wantCode(t, "blocked user", err, "28000")
	})
	t.Run("scram-sha-256", func(t *testing.T) {
		p := startPoolerHCL(t, fmt.Sprintf(authQueryConfig, "scram-sha-256", ""))
		if got, err := loginAs(ctx, p, pgtest.SCRAMUser, pgtest.SCRAMPassword, "postgres"); err != nil || got != pgtest.SCRAMUser {
			t.Errorf("scram user: %q %v", got, err)
		}
		_, err := loginAs(ctx, p, pgtest.MD5User, pgtest.MD5Password, "postgres")
		wantCode(t, "md5 secret under scram-sha-256", err, "28P01")
		_, err = loginAs(ctx, p, "no_such_user", "x", "postgres")
		wantCode(t, "unknown user", err, "28P01")
	})
	t.Run("clear_text with password_passthrough", func(t *testing.T) {
		p := startPoolerHCL(t, fmt.Sprintf(authQueryConfig, "clear_text", "password_passthrough = true"))
		for _, u := range []struct{ user, pw string }{
			{pgtest.CleartextUser, pgtest.CleartextPassword}, {pgtest.MD5User, pgtest.MD5Password}, {pgtest.SCRAMUser, pgtest.SCRAMPassword},
		} {
			if got, err := loginAs(ctx, p, u.user, u.pw, "postgres"); err != nil || got != u.user {
				t.Errorf("%s: %q %v", u.user, got, err)
			}
		}
	})
}

// TestSCRAMPassThrough: the config holds only the SCRAM secret copied from
// pg_authid, no password anywhere, and clients still reach PostgreSQL.
func TestSCRAMPassThrough(t *testing.T) {
	ctx := testCtx(t)
	secret := rolpassword(t, pgtest.SCRAMUser)
	captureLogs(t, pgtest.SCRAMPassword, secret[30:])
	p := startPoolerHCL(t, fmt.Sprintf(`
{{listen_and_storage}}
database "postgres" {
  user %q {
    authentication = "scram-sha-256"
    password       = %q
    storage        = "postgres"
    pool           = "transaction"
    pool_size      = 2
  }
}`, pgtest.SCRAMUser, secret))
	// Several clients, more than the pool: servers are dialled after the
	// first login, each with the learned keys.
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := loginAs(ctx, p, pgtest.SCRAMUser, pgtest.SCRAMPassword, "postgres")
			if err == nil && got != pgtest.SCRAMUser {
				err = fmt.Errorf("current_user %q", got)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	_, err := loginAs(ctx, p, pgtest.SCRAMUser, "wrong", "postgres")
	wantCode(t, "wrong password", err, "28P01")
	n, err := countServers(ctx, admin(t), pgtest.SCRAMUser, "")
	if err != nil || n == 0 {
		t.Errorf("no server logged in as %s: %d %v", pgtest.SCRAMUser, n, err)
	}
}

// TestLoginTimeout: a client that never answers the password request is
// disconnected after client_login_timeout.
func TestLoginTimeout(t *testing.T) {
	p := startPoolerHCL(t, `
listen {
  host = "127.0.0.1"
  port = 0
  client_login_timeout = "500ms"
}
storage "postgres" {
  type = "remote"
  host = "{{pg_host}}"
  port = {{pg_port}}
}
database default {
  user default {
    authentication = "md5"
    password       = "pw"
    storage        = "postgres"
  }
}`)
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	f := pgproto3.NewFrontend(conn, conn)
	f.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "u", "database": "d"}})
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	m, err := f.Receive()
	if _, ok := m.(*pgproto3.AuthenticationMD5Password); !ok {
		t.Fatalf("first answer %T %v, want AuthenticationMD5Password", m, err)
	}
	// Say nothing: the pooler must close the connection on its own.
	for {
		m, err = f.Receive()
		if err != nil {
			break
		}
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the pooler kept a silent login open for 30s")
	}
	if err != io.ErrUnexpectedEOF && err != io.EOF && !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
		t.Logf("connection ended with %v", err)
	}
}

// TestHBA: hba_file lines allow and reject by user, database and address,
// and a reload replaces them.
func TestHBA(t *testing.T) {
	ctx := testCtx(t)
	serverRole(t, "hbasrv")
	dir := t.TempDir()
	hbaPath := filepath.Join(dir, "hba.conf")
	write := func(s string) {
		if err := os.WriteFile(hbaPath, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`
# TYPE  DATABASE  USER      ADDRESS       METHOD
host    all       banned    127.0.0.1/32  reject
host    secret    all       0.0.0.0/0     deny
host    all       all       127.0.0.1/32  trust
`)
	p := startPoolerHCL(t, fmt.Sprintf(`
hba_file = %q
{{listen_and_storage}}
database default {
  user default {
    authentication   = "none"
    storage          = "postgres"
    storage_db       = "postgres"
    storage_user     = "hbasrv"
    storage_password = "hbasrv_pw"
  }
}`, hbaPath))
	if got, err := loginAs(ctx, p, "anyone", "", "postgres"); err != nil || got != "hbasrv" {
		t.Fatalf("allowed client: %q %v", got, err)
	}
	_, err := loginAs(ctx, p, "banned", "", "postgres")
	wantCode(t, "rejected user", err, "28000")
	if !strings.Contains(err.Error(), "pg_hba.conf rejects connection") {
		t.Errorf("rejected user: %v", err)
	}
	_, err = loginAs(ctx, p, "anyone", "", "secret")
	wantCode(t, "rejected database", err, "28000")

	kept, err := pgconn.Connect(ctx, fmt.Sprintf("postgres://anyone@%s/postgres?sslmode=disable", p.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer closeQuietly(kept)

	// A reload with a file that does not parse changes nothing.
	write("host all all 127.0.0.1/32 md5\n")
	if err := p.inst.Reload(p.inst.Config()); err == nil {
		t.Errorf("reload with an hba method the pooler cannot use succeeded")
	}
	if _, err := loginAs(ctx, p, "anyone", "", "postgres"); err != nil {
		t.Errorf("after a failed reload: %v", err)
	}
	// A good file takes effect for new clients only.
	write("host all all ::1/128 trust\n")
	if err := p.inst.Reload(p.inst.Config()); err != nil {
		t.Fatal(err)
	}
	_, err = loginAs(ctx, p, "anyone", "", "postgres")
	wantCode(t, "no matching line", err, "28000")
	if !strings.Contains(err.Error(), "no pg_hba.conf entry") {
		t.Errorf("no matching line: %v", err)
	}
	if _, err := simple(ctx, kept, "SELECT 1"); err != nil {
		t.Errorf("a client logged in before the reload: %v", err)
	}
}
