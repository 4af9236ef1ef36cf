package backend

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/odyssey-go/odyssey/integration/pgtest"
	"github.com/odyssey-go/odyssey/src/pgerr"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }

// testCtx bounds one test; a hung exchange fails it instead of the run.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func tcpOptions(user, password, db string) Options {
	return Options{Network: "tcp", Address: cluster.Addr(), User: user, Password: password, Database: db}
}

// connect logs in over TCP and closes the server when the test ends.
func connect(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Connect(testCtx(t), opts)
	if err != nil {
		t.Fatalf("Connect as %s: %v", opts.User, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// one runs sql and returns the single value it selects.
func one(t *testing.T, s *Server, sql string) string {
	t.Helper()
	rows, err := s.Query(testCtx(t), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		t.Fatalf("%s: rows %q, want one value", sql, rows)
	}
	return rows[0][0]
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	e, ok := err.(*pgerr.Error)
	if !ok {
		t.Fatalf("error %v (%T), want *pgerr.Error with SQLSTATE %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("SQLSTATE %s (%v), want %s", e.Code, e, code)
	}
}

func TestConnectAuthMethods(t *testing.T) {
	unix := cluster.SocketPath()
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"trust over unix socket", Options{Network: "unix", Address: unix, User: pgtest.SuperUser, Database: "postgres"}},
		{"cleartext", tcpOptions(pgtest.CleartextUser, pgtest.CleartextPassword, "postgres")},
		{"md5", tcpOptions(pgtest.MD5User, pgtest.MD5Password, "postgres")},
		{"scram-sha-256", tcpOptions(pgtest.SCRAMUser, pgtest.SCRAMPassword, "postgres")},
		{"superuser scram-sha-256", tcpOptions(pgtest.SuperUser, pgtest.SuperPassword, "postgres")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opts.Network == "unix" && unix == "" {
				t.Skip("no unix socket for an external server")
			}
			s := connect(t, tc.opts)
			if got := one(t, s, "SELECT current_user"); got != tc.opts.User {
				t.Errorf("current_user = %q, want %q", got, tc.opts.User)
			}
			if s.TxStatus != 'I' {
				t.Errorf("TxStatus %q after login, want 'I'", s.TxStatus)
			}
			if s.ID == 0 || s.Created.IsZero() || s.Vars == nil || s.Prepared == nil {
				t.Errorf("server not filled in: %+v", s)
			}
		})
	}
}

func TestConnectWrongPassword(t *testing.T) {
	for _, user := range []string{pgtest.CleartextUser, pgtest.MD5User, pgtest.SCRAMUser} {
		t.Run(user, func(t *testing.T) {
			const wrong = "not-the-password-XYZ"
			_, err := Connect(testCtx(t), tcpOptions(user, wrong, "postgres"))
			wantCode(t, err, pgerr.InvalidPassword)
			if strings.Contains(err.Error(), wrong) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestConnectUnknownDatabase(t *testing.T) {
	_, err := Connect(testCtx(t), tcpOptions(pgtest.SCRAMUser, pgtest.SCRAMPassword, "no_such_db"))
	wantCode(t, err, pgerr.InvalidCatalogName)
}

func TestConnectUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Connect(testCtx(t), Options{Network: "tcp", Address: addr, User: "u", Database: "d"})
	if err == nil {
		t.Fatal("connected to a closed port")
	}
	if _, ok := pgerr.As(err); ok {
		t.Errorf("network failure reported as a PostgreSQL error: %v", err)
	}
}

func TestConnectTimeout(t *testing.T) {
	// A peer that accepts and never answers the StartupMessage.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	opts := Options{Network: "tcp", Address: l.Addr().String(), User: "u", Database: "d", ConnectTimeout: 100 * time.Millisecond}
	_, err = Connect(testCtx(t), opts)
	if err == nil {
		t.Fatal("login to a silent peer succeeded")
	}
	if _, ok := pgerr.As(err); ok || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want a wrapped context.DeadlineExceeded", err)
	}
}

func TestParamsAndKey(t *testing.T) {
	opts := tcpOptions(pgtest.SCRAMUser, pgtest.SCRAMPassword, "postgres")
	opts.Params = map[string]string{"application_name": "backend_test", "user": "ignored"}
	s := connect(t, opts)
	for _, name := range []string{"server_version", "client_encoding", "DateStyle", "TimeZone",
		"integer_datetimes", "standard_conforming_strings"} {
		if s.Params[name] == "" {
			t.Errorf("ParameterStatus %s missing: %v", name, s.Params)
		}
	}
	if got := s.Params["application_name"]; got != "backend_test" {
		t.Errorf("application_name = %q from startup parameter", got)
	}
	if got := one(t, s, "SELECT pg_backend_pid()"); got != strconv.FormatUint(uint64(s.PID), 10) {
		t.Errorf("pg_backend_pid() = %s, BackendKeyData said %d", got, s.PID)
	}
	if s.Secret == 0 {
		t.Error("no secret key")
	}
	if err := s.Exec(testCtx(t), "SET application_name = 'changed'"); err != nil {
		t.Fatal(err)
	}
	if got := s.Params["application_name"]; got != "changed" {
		t.Errorf("ParameterStatus after SET not applied: %q", got)
	}
	other := connect(t, opts)
	if other.ID == s.ID {
		t.Errorf("two servers share ID %d", s.ID)
	}
}

func TestExecErrorKeepsConnection(t *testing.T) {
	ctx := testCtx(t)
	s := connect(t, tcpOptions(pgtest.SCRAMUser, pgtest.SCRAMPassword, "postgres"))
	wantCode(t, s.Exec(ctx, "SELECT * FROM no_such_table"), "42P01")
	if s.TxStatus != 'I' {
		t.Errorf("TxStatus %q", s.TxStatus)
	}
	if got := one(t, s, "SELECT 41 + 1"); got != "42" {
		t.Errorf("after an error: %q", got)
	}

	if err := s.Exec(ctx, "BEGIN"); err != nil || s.TxStatus != 'T' {
		t.Fatalf("BEGIN: %v, TxStatus %q", err, s.TxStatus)
	}
	wantCode(t, s.Exec(ctx, "SELECT 1/0"), "22012")
	if s.TxStatus != 'E' {
		t.Errorf("TxStatus %q in a failed transaction, want 'E'", s.TxStatus)
	}
	if err := s.Exec(ctx, "ROLLBACK"); err != nil || s.TxStatus != 'I' {
		t.Fatalf("ROLLBACK: %v, TxStatus %q", err, s.TxStatus)
	}

	// Several statements, rows from each; NULL as "".
	rows, err := s.Query(ctx, "SELECT 1, NULL::text; SELECT 'two', 'x'")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0][0] != "1" || rows[0][1] != "" || rows[1][0] != "two" {
		t.Errorf("rows %q", rows)
	}
	// A row larger than the read buffer.
	if got := one(t, s, "SELECT repeat('x', 100000)"); got != strings.Repeat("x", 100000) {
		t.Errorf("wide row: %d bytes", len(got))
	}
	// COPY FROM STDIN has no data source: refused, connection kept.
	if err := s.Exec(ctx, "CREATE TEMP TABLE c (i int)"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.Exec(ctx, "COPY c FROM STDIN"), pgerr.QueryCanceled)
	if err := s.Exec(ctx, "COPY (SELECT 1) TO STDOUT"); err != nil {
		t.Errorf("COPY TO STDOUT: %v", err)
	}
	if got := one(t, s, "SELECT 'still here'"); got != "still here" {
		t.Errorf("after COPY: %q", got)
	}
}

func TestAliveAfterTerminate(t *testing.T) {
	opts := tcpOptions(pgtest.SCRAMUser, pgtest.SCRAMPassword, "postgres")
	s := connect(t, opts)
	if !s.Alive() {
		t.Fatal("fresh server not alive")
	}
	if !s.Alive() {
		t.Fatal("Alive changed the server")
	}
	admin := connect(t, tcpOptions(pgtest.SuperUser, pgtest.SuperPassword, "postgres"))
	if got := one(t, admin, "SELECT pg_terminate_backend("+strconv.Itoa(int(s.PID))+")"); got != "t" {
		t.Fatalf("pg_terminate_backend: %s", got)
	}
	// Termination is asynchronous: wait for the FATAL to arrive.
	alive := true
	for i := 0; i < 500 && alive; i++ {
		if alive = s.Alive(); alive {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if alive {
		t.Fatal("terminated server still reported alive")
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if s.Alive() {
		t.Error("closed server reported alive")
	}
}

func TestCancel(t *testing.T) {
	ctx := testCtx(t)
	opts := tcpOptions(pgtest.SCRAMUser, pgtest.SCRAMPassword, "postgres")
	s := connect(t, opts)
	done := make(chan error, 1)
	go func() { done <- s.Exec(ctx, "SELECT pg_sleep(30)") }()

	// Cancel only once the sleep is running; an earlier cancel is lost.
	admin := connect(t, tcpOptions(pgtest.SuperUser, pgtest.SuperPassword, "postgres"))
	q := "SELECT count(*) FROM pg_stat_activity WHERE pid = " + strconv.Itoa(int(s.PID)) + " AND state = 'active'"
	running := false
	for i := 0; i < 500 && !running; i++ {
		if running = one(t, admin, q) == "1"; !running {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !running {
		t.Fatal("pg_sleep never showed up in pg_stat_activity")
	}
	if err := Cancel(ctx, s.Network, s.Address, s.PID, s.Secret^1); err != nil {
		t.Fatalf("Cancel with a wrong key: %v", err)
	}
	select {
	case err := <-done:
		t.Fatalf("a cancel with a wrong key stopped the query: %v", err)
	default:
	}
	if err := Cancel(ctx, s.Network, s.Address, s.PID, s.Secret); err != nil {
		t.Fatal(err)
	}
	wantCode(t, <-done, pgerr.QueryCanceled)
	if got := one(t, s, "SELECT 'after cancel'"); got != "after cancel" {
		t.Errorf("after cancel: %q", got)
	}
}

func TestExecContextInterrupts(t *testing.T) {
	s := connect(t, tcpOptions(pgtest.SCRAMUser, pgtest.SCRAMPassword, "postgres"))
	ctx, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
	defer cancel()
	err := s.Exec(ctx, "SELECT pg_sleep(30)")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want context.DeadlineExceeded", err)
	}
	if _, ok := pgerr.As(err); ok {
		t.Errorf("interrupted Exec reported as a PostgreSQL error: %v", err)
	}
	if err := s.Exec(ctx, "SELECT 1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Exec with an ended ctx: %v", err)
	}
}

func TestCloseTwice(t *testing.T) {
	s, err := Connect(testCtx(t), tcpOptions(pgtest.SCRAMUser, pgtest.SCRAMPassword, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("first Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Exec(testCtx(t), "SELECT 1"); err == nil {
		t.Error("Exec on a closed server succeeded")
	}
}

// fakeServer accepts one connection, reads the StartupMessage and then
// plays script with it. It returns the address to connect to.
func fakeServer(t *testing.T, script func(*pgproto3.Backend) error) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		toClient := pgproto3.NewBackend(c, c)
		if _, err := toClient.ReceiveStartupMessage(); err != nil {
			t.Errorf("fake server: %v", err)
			return
		}
		if err := script(toClient); err != nil {
			t.Errorf("fake server: %v", err)
		}
	}()
	return l.Addr().String()
}

func TestConnectUnsupportedAuth(t *testing.T) {
	addr := fakeServer(t, func(b *pgproto3.Backend) error {
		b.Send(&pgproto3.AuthenticationGSS{})
		return b.Flush()
	})
	_, err := Connect(testCtx(t), Options{Network: "tcp", Address: addr, User: "u", Password: "secret-pw", Database: "d"})
	if err == nil || !strings.Contains(err.Error(), "GSSAPI") {
		t.Fatalf("error %v, want one naming GSSAPI", err)
	}
	if _, ok := pgerr.As(err); ok || strings.Contains(err.Error(), "secret-pw") {
		t.Errorf("error %v", err)
	}
}

// A server that answers SCRAM with AuthenticationOk before proving it knows
// the password must not be trusted.
func TestConnectSCRAMServerMustProve(t *testing.T) {
	addr := fakeServer(t, func(b *pgproto3.Backend) error {
		b.Send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}})
		if err := b.Flush(); err != nil {
			return err
		}
		if err := b.SetAuthType(pgproto3.AuthTypeSASL); err != nil {
			return err
		}
		if _, err := b.Receive(); err != nil {
			return err
		}
		b.Send(&pgproto3.AuthenticationOk{})
		b.Send(&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{0, 0, 0, 1}})
		b.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		_ = b.Flush()
		return nil
	})
	_, err := Connect(testCtx(t), Options{Network: "tcp", Address: addr, User: "u", Password: "secret-pw", Database: "d"})
	if err == nil || !strings.Contains(err.Error(), "proving") {
		t.Fatalf("error %v, want a refusal of the unproven server", err)
	}
}

// Close from another goroutine interrupts a reader without a data race.
func TestCloseWhileReading(t *testing.T) {
	s, err := Connect(testCtx(t), tcpOptions(pgtest.SCRAMUser, pgtest.SCRAMPassword, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	done := make(chan error, 1)
	go func() { done <- s.Exec(ctx, "SELECT pg_sleep(30)") }()
	// Whether Close lands before or after the query is sent, the Exec
	// must end with an error, and the race detector must stay quiet.
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-done; err == nil {
		t.Error("Exec survived Close")
	}
}
