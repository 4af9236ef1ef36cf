package integration

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/odyssey-go/odyssey/src/config"
)

// TestClientKilledInsideTransaction: a client whose TCP connection drops in
// the middle of a transaction leaves no open transaction behind, its write
// is rolled back, and the next client gets a clean server.
func TestClientKilledInsideTransaction(t *testing.T) {
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode, func(t *testing.T) {
			role := "pooled_killed_" + mode
			table := "killed_" + mode
			p := startPool(t, poolSpec{role: role, mode: mode, size: 1})
			ctx := testCtx(t)
			mon := admin(t)
			adminExec(t, "DROP TABLE IF EXISTS "+table+"; CREATE TABLE "+table+" (v int)")

			c := p.conn(t, "")
			if _, err := simple(ctx, c, "BEGIN; INSERT INTO "+table+" VALUES (42)"); err != nil {
				t.Fatal(err)
			}
			waitServers(t, mon, role, "state = 'idle in transaction'", 1, "server idle in transaction")
			_ = c.Conn().Close() // vanish without Terminate
			waitServers(t, mon, role, "state LIKE 'idle in transaction%'", 0, "no server idle in transaction after the client left")

			var n int
			if err := mon.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Fatalf("the write of a client that left mid-transaction is visible: %d rows", n)
			}
			d := p.conn(t, "")
			if v := one(t, ctx, d, "SELECT count(*) FROM "+table); v != "0" {
				t.Fatalf("next client sees %s rows", v)
			}
			if d.TxStatus() != 'I' {
				t.Fatalf("next client's server is in transaction state %q", d.TxStatus())
			}
		})
	}
}

// TestPsqlKilledInsideTransaction: the same with a real psql killed by
// SIGKILL.
func TestPsqlKilledInsideTransaction(t *testing.T) {
	const role, table = "pooled_psql_killed", "psql_killed"
	p := startPool(t, poolSpec{role: role, mode: "transaction", size: 1})
	ctx := testCtx(t)
	mon := admin(t)
	adminExec(t, "DROP TABLE IF EXISTS "+table+"; CREATE TABLE "+table+" (v int)")

	cmd := exec.Command(pgBin("psql"), "-X", "-q", "-h", p.host, "-p", p.port, "-U", superUser, "-d", "postgres", "-v", "ON_ERROR_STOP=1")
	cmd.Env = append(cmd.Environ(), "PGCONNECT_TIMEOUT=15")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if _, err := io.WriteString(stdin, "BEGIN;\nINSERT INTO "+table+" VALUES (7);\n"); err != nil {
		t.Fatal(err)
	}
	waitServers(t, mon, role, "state = 'idle in transaction'", 1, "psql's transaction open")
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitServers(t, mon, role, "state LIKE 'idle in transaction%'", 0, "no server idle in transaction after psql was killed")
	var n int
	if err := mon.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("killed psql's insert is visible: %d rows", n)
	}
	d := p.conn(t, "")
	if v := one(t, ctx, d, "SELECT 'next'"); v != "next" || d.TxStatus() != 'I' {
		t.Fatalf("next client: %q, status %q", v, d.TxStatus())
	}
}

// TestClientGoneDuringQuery: a client that disconnects while its query runs
// gets the query cancelled, and the single server is usable again.
func TestClientGoneDuringQuery(t *testing.T) {
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode, func(t *testing.T) {
			role := "pooled_gone_" + mode
			p := startPool(t, poolSpec{role: role, mode: mode, size: 1})
			ctx := testCtx(t)
			mon := admin(t)
			c := p.conn(t, "")
			go func() { _, _ = simple(ctx, c, "SELECT pg_sleep(30)") }()
			const running = "state = 'active' AND query = 'SELECT pg_sleep(30)'"
			waitServers(t, mon, role, running, 1, "query running")
			_ = c.Conn().Close()
			waitServers(t, mon, role, running, 0, "query cancelled after its client left")
			d := p.conn(t, "")
			if v := one(t, ctx, d, "SELECT 'usable'"); v != "usable" || d.TxStatus() != 'I' {
				t.Fatalf("next client: %q, status %q", v, d.TxStatus())
			}
		})
	}
}

// TestServerTerminated: pg_terminate_backend on a pooler's server. A client
// attached to it (session mode, or inside a transaction) loses its session;
// a client that was not using it does not notice; the pool recovers.
func TestServerTerminated(t *testing.T) {
	t.Run("session", func(t *testing.T) {
		const role = "pooled_term_session"
		p := startPool(t, poolSpec{role: role, mode: "session", size: 1, extra: `pool_timeout = "10s"`})
		ctx := testCtx(t)
		mon := admin(t)
		c := p.conn(t, "")
		pid := one(t, ctx, c, "SELECT pg_backend_pid()")
		terminate(t, mon, role)
		if _, err := simple(ctx, c, "SELECT 1"); err == nil {
			t.Fatal("query on a terminated session-mode server succeeded")
		}
		d := p.conn(t, "")
		if got := one(t, ctx, d, "SELECT pg_backend_pid()"); got == pid {
			t.Fatalf("new client got the terminated server %s", pid)
		}
	})
	t.Run("transaction-idle", func(t *testing.T) {
		const role = "pooled_term_idle"
		p := startPool(t, poolSpec{role: role, mode: "transaction", size: 1})
		ctx := testCtx(t)
		mon := admin(t)
		c := p.conn(t, "")
		pid := one(t, ctx, c, "SELECT pg_backend_pid()")
		terminate(t, mon, role)
		got, err := simple(ctx, c, "SELECT pg_backend_pid()")
		if err != nil {
			t.Fatalf("client idle between transactions lost its session when an idle pooled server was terminated: %v", err)
		}
		if got[0] == pid {
			t.Fatalf("client got the terminated server %s", pid)
		}
		d := p.conn(t, "")
		one(t, ctx, d, "SELECT 1")
	})
	t.Run("transaction-in-tx", func(t *testing.T) {
		const role = "pooled_term_tx"
		p := startPool(t, poolSpec{role: role, mode: "transaction", size: 1, extra: `pool_timeout = "10s"`})
		ctx := testCtx(t)
		mon := admin(t)
		c := p.conn(t, "")
		if _, err := simple(ctx, c, "BEGIN; SELECT 1"); err != nil {
			t.Fatal(err)
		}
		terminate(t, mon, role)
		if _, err := simple(ctx, c, "SELECT 1"); err == nil {
			t.Fatal("query inside a transaction whose server was terminated succeeded")
		}
		d := p.conn(t, "")
		if v := one(t, ctx, d, "SELECT 'recovered'"); v != "recovered" || d.TxStatus() != 'I' {
			t.Fatalf("new client: %q, status %q", v, d.TxStatus())
		}
	})
}

// terminate kills every server of role and waits until they are gone.
func terminate(t *testing.T, mon *pgx.Conn, role string) {
	t.Helper()
	var n int
	err := mon.QueryRow(context.Background(),
		"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()", role).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("no server of %s to terminate", role)
	}
	waitServers(t, mon, role, "", 0, "terminated servers gone")
}

// TestPostgresRestart: clients attached to servers when PostgreSQL restarts
// get errors; clients between transactions and new clients are served by
// new servers once it is back.
func TestPostgresRestart(t *testing.T) {
	if cluster.Dir == "" {
		t.Skip("ODYSSEY_TEST_PG: an external server is not restarted")
	}
	sp := startPool(t, poolSpec{role: "pooled_restart_s", mode: "session", size: 2})
	tp := startPool(t, poolSpec{role: "pooled_restart_t", mode: "transaction", size: 2})
	ctx := testCtx(t)
	s := sp.conn(t, "")
	tc := tp.conn(t, "")
	one(t, ctx, s, "SELECT 1")
	one(t, ctx, tc, "SELECT 1")

	if err := cluster.Restart(); err != nil {
		t.Fatalf("restart PostgreSQL: %v", err)
	}
	if _, err := simple(ctx, s, "SELECT 1"); err == nil {
		t.Error("session-mode client's query after a PostgreSQL restart succeeded on a dead server")
	}
	for _, p := range []*pooler{sp, tp} {
		var last error
		ok := false
		for attempt := 0; attempt < 50 && !ok; attempt++ {
			c, err := connectOnce(ctx, p)
			if err == nil {
				_, err = simple(ctx, c, "SELECT 1")
				closeQuietly(c)
			}
			ok, last = err == nil, err
			if !ok {
				time.Sleep(200 * time.Millisecond)
			}
		}
		if !ok {
			t.Fatalf("no new client served after the restart: %v", last)
		}
	}
	// The transaction-mode client was between transactions: its next
	// query gets a new server.
	if _, err := simple(ctx, tc, "SELECT 1"); err != nil {
		t.Errorf("transaction-mode client idle across the restart: %v", err)
	}
}

// TestTerminateInsideTransaction: a client that says goodbye (Terminate)
// inside a transaction has it rolled back, and the server is reused clean.
func TestTerminateInsideTransaction(t *testing.T) {
	const role, table = "pooled_terminate_tx", "terminate_tx"
	p := startPool(t, poolSpec{role: role, mode: "transaction", size: 1})
	ctx := testCtx(t)
	mon := admin(t)
	adminExec(t, "DROP TABLE IF EXISTS "+table+"; CREATE TABLE "+table+" (v int)")
	c := p.conn(t, "")
	if _, err := simple(ctx, c, "BEGIN; INSERT INTO "+table+" VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	closeQuietly(c) // sends Terminate
	waitServers(t, mon, role, "state LIKE 'idle in transaction%'", 0, "no server idle in transaction")
	d := p.conn(t, "")
	if v := one(t, ctx, d, "SELECT count(*) FROM "+table); v != "0" || d.TxStatus() != 'I' {
		t.Fatalf("next client: %s rows, status %q", v, d.TxStatus())
	}
}

// TestGracefulShutdown: Shutdown lets a transaction in progress finish,
// then ends its session with 57P01, and refuses new clients.
func TestGracefulShutdown(t *testing.T) {
	const table = "graceful"
	p := startPool(t, poolSpec{role: "pooled_graceful", mode: "transaction", size: 2})
	ctx := testCtx(t)
	adminExec(t, "DROP TABLE IF EXISTS "+table+"; CREATE TABLE "+table+" (v int)")
	busy := p.conn(t, "")
	idle := p.conn(t, "")
	if _, err := simple(ctx, busy, "BEGIN; INSERT INTO "+table+" VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done <- p.inst.Shutdown(sctx)
	}()
	// New clients are refused once shutdown has begun.
	eventually(t, 10*time.Second, "new clients refused", func() (bool, error) {
		c, err := connectOnce(ctx, p)
		if err == nil {
			closeQuietly(c)
		}
		return err != nil, nil
	})
	if _, err := simple(ctx, busy, "INSERT INTO "+table+" VALUES (2); COMMIT"); err != nil {
		t.Fatalf("transaction in progress at shutdown: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown did not return after the last transaction ended")
	}
	_, err := simple(ctx, idle, "SELECT 1")
	if err == nil {
		t.Fatal("idle client served after shutdown")
	}
	if code := sqlstate(err); code != "" && code != "57P01" {
		t.Errorf("idle client after shutdown: %v, want 57P01 or a closed connection", err)
	}
	var n int
	if err := admin(t).QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows committed during shutdown: %d %v", n, err)
	}
}

// TestReloadKeepsUnchangedPools: a reload that adds a rule leaves the
// pool of an unchanged rule (and its server connections) alone, and the new
// rule takes effect for new clients.
func TestReloadKeepsUnchangedPools(t *testing.T) {
	const role = "pooled_reload"
	spec := poolSpec{role: role, mode: "transaction", size: 1}
	serverRole(t, role)
	p := startPoolerHCL(t, configFor(spec))
	ctx := testCtx(t)
	c := p.conn(t, "")
	pid := one(t, ctx, c, "SELECT pg_backend_pid()")

	// Before the reload the default rule sends database blocked to
	// PostgreSQL, which does not have it.
	_, err := pgconn.Connect(ctx, strings.Replace(p.dsn(""), "/postgres?", "/blocked?", 1))
	wantCode(t, "database blocked before reload", err, "3D000")
	next := configFor(spec) + `
database "blocked" {
  user default {
    authentication = "block"
    storage        = "postgres"
  }
}
`
	cfg, err := config.Parse([]byte(hcl(next)), "test.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.inst.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	_, err = pgconn.Connect(ctx, strings.Replace(p.dsn(""), "/postgres?", "/blocked?", 1))
	wantCode(t, "database blocked after reload", err, "28000")
	if got := one(t, ctx, c, "SELECT pg_backend_pid()"); got != pid {
		t.Errorf("existing client moved from server %s to %s by a reload that did not change its rule", pid, got)
	}
	d := p.conn(t, "")
	if got := one(t, ctx, d, "SELECT pg_backend_pid()"); got != pid {
		t.Errorf("new client of the unchanged rule got server %s, not the pooled %s", got, pid)
	}
}

// TestIdleTimeouts: pool_client_idle_timeout ends an idle client's session
// with 57P05, pool_idle_in_transaction_timeout one idle inside a
// transaction with 25P03 (its transaction rolled back); a client whose
// query runs longer than both is not idle.
func TestIdleTimeouts(t *testing.T) {
	const role, table = "pooled_idle", "idle_tx"
	p := startPool(t, poolSpec{role: role, mode: "transaction", size: 2,
		extra: `pool_client_idle_timeout = "1s"
    pool_idle_in_transaction_timeout = "1s"`})
	ctx := testCtx(t)
	mon := admin(t)
	adminExec(t, "DROP TABLE IF EXISTS "+table+"; CREATE TABLE "+table+" (v int)")

	busy := p.conn(t, "")
	if _, err := simple(ctx, busy, "SELECT pg_sleep(2.5)"); err != nil {
		t.Fatalf("a query longer than the idle timeouts: %v", err)
	}

	// Raw connections: the pooler's FATAL arrives unasked.
	inTx := rawConn(t, p.addr)
	fe, _ := login(t, inTx, nil)
	fe.Send(&pgproto3.Query{String: "BEGIN; INSERT INTO " + table + " VALUES (1)"})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if z, ok := msg.(*pgproto3.ReadyForQuery); ok {
			if z.TxStatus != 'T' {
				t.Fatalf("status %q after BEGIN", z.TxStatus)
			}
			break
		}
	}
	wantFatal(t, "client idle in transaction", inTx, "25P03")

	idle := rawConn(t, p.addr)
	login(t, idle, nil)
	wantFatal(t, "idle client", idle, "57P05")

	waitServers(t, mon, role, "state LIKE 'idle in transaction%'", 0, "timed-out transaction ended")
	var n int
	if err := mon.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows of the timed-out transaction: %d %v", n, err)
	}
}

// TestClientFwdError: when PostgreSQL refuses the pooler's login, the client
// sees PostgreSQL's error with client_fwd_error = true and 08006 without it.
func TestClientFwdError(t *testing.T) {
	role := "pooled_fwd"
	serverRole(t, role)
	for _, c := range []struct {
		fwd  bool
		code string
	}{{true, "28P01"}, {false, "08006"}} {
		t.Run(fmt.Sprint(c.fwd), func(t *testing.T) {
			p := startPoolerHCL(t, fmt.Sprintf(`
listen {
  host = "127.0.0.1"
  port = 0
}
storage "postgres" {
  host = "{{pg_host}}"
  port = {{pg_port}}
}
database default {
  user default {
    storage          = "postgres"
    storage_user     = "%s"
    storage_password = "wrong"
    client_fwd_error = %v
  }
}
`, role, c.fwd))
			_, err := connectOnce(testCtx(t), p)
			wantCode(t, "login with a server password PostgreSQL refuses", err, c.code)
		})
	}
}
