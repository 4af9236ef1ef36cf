package integration

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestPoolModes runs the same simple and extended protocol traffic through
// each pool mode: results, parameters, many rows, errors after which the
// session goes on.
func TestPoolModes(t *testing.T) {
	for _, mode := range []string{"session", "transaction", "statement"} {
		t.Run(mode, func(t *testing.T) {
			p := startPool(t, poolSpec{role: "pooled_modes", mode: mode, size: 2})
			ctx := testCtx(t)
			c := p.conn(t, "")

			if v := one(t, ctx, c, "SELECT 1"); v != "1" {
				t.Fatalf("SELECT 1 = %q", v)
			}
			rows, err := simple(ctx, c, "SELECT g FROM generate_series(1, 1000) g")
			if err != nil {
				t.Fatal(err)
			}
			checkSeries(t, "simple generate_series", rows, 1000, "")

			res, err := c.Exec(ctx, "SELECT 1; SELECT 2, 3").ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 2 || len(res[1].Rows) != 1 || string(res[1].Rows[0][1]) != "3" {
				t.Fatalf("multi-statement query: %d results", len(res))
			}

			if v, err := extended(ctx, c, "SELECT $1::int + $2::int", "2", "40"); err != nil || len(v) != 1 || v[0] != "42" {
				t.Fatalf("SELECT $1 + $2: %v %v", v, err)
			}
			rows, err = extended(ctx, c, "SELECT $1::text || g FROM generate_series(1, $2::int) g", "row-", "500")
			if err != nil {
				t.Fatal(err)
			}
			checkSeries(t, "extended generate_series", rows, 500, "row-")

			null := c.ExecParams(ctx, "SELECT $1::text IS NULL", [][]byte{nil}, nil, nil, nil).Read()
			if null.Err != nil || string(null.Rows[0][0]) != "t" {
				t.Fatalf("NULL parameter: %v %v", null.Rows, null.Err)
			}
			bin := c.ExecParams(ctx, "SELECT 7::int4", nil, nil, nil, []int16{1}).Read()
			if bin.Err != nil || !bytes.Equal(bin.Rows[0][0], []byte{0, 0, 0, 7}) {
				t.Fatalf("binary result: %v %v", bin.Rows, bin.Err)
			}

			// Errors: the session continues.
			_, err = simple(ctx, c, "SELECT 1/0")
			wantCode(t, "simple SELECT 1/0", err, "22012")
			if v := one(t, ctx, c, "SELECT 2"); v != "2" {
				t.Fatalf("after error: SELECT 2 = %q", v)
			}
			_, err = extended(ctx, c, "SELECT 1/$1::int", "0")
			wantCode(t, "extended SELECT 1/$1", err, "22012")
			if v, err := extended(ctx, c, "SELECT 3"); err != nil || v[0] != "3" {
				t.Fatalf("after extended error: %v %v", v, err)
			}
			_, err = extended(ctx, c, "SELEKT 1")
			wantCode(t, "Parse of a syntax error", err, "42601")
			_, err = simple(ctx, c, "SELECT 1; SELECT 1/0; SELECT 3")
			wantCode(t, "error inside a multi-statement query", err, "22012")
			if v := one(t, ctx, c, "SELECT 4"); v != "4" {
				t.Fatalf("after multi-statement error: SELECT 4 = %q", v)
			}
			if c.TxStatus() != 'I' {
				t.Fatalf("transaction status %q after the errors, want I", c.TxStatus())
			}

			if mode == "statement" {
				return
			}
			// Transactions, including a failed one.
			adminExec(t, "DROP TABLE IF EXISTS modes_"+mode+"; CREATE TABLE modes_"+mode+" (v int)")
			for _, q := range []string{"BEGIN", "INSERT INTO modes_" + mode + " VALUES (1)", "INSERT INTO modes_" + mode + " VALUES (2)"} {
				if _, err := simple(ctx, c, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if c.TxStatus() != 'T' {
				t.Fatalf("status %q inside a transaction", c.TxStatus())
			}
			if v := one(t, ctx, c, "SELECT sum(v) FROM modes_"+mode); v != "3" {
				t.Fatalf("own uncommitted rows: sum %s", v)
			}
			if _, err := simple(ctx, c, "COMMIT"); err != nil {
				t.Fatal(err)
			}
			if _, err := simple(ctx, c, "BEGIN"); err != nil {
				t.Fatal(err)
			}
			_, err = simple(ctx, c, "SELECT 1/0")
			wantCode(t, "error in a transaction", err, "22012")
			if c.TxStatus() != 'E' {
				t.Fatalf("status %q after an error in a transaction, want E", c.TxStatus())
			}
			_, err = simple(ctx, c, "SELECT 1")
			wantCode(t, "query in a failed transaction", err, "25P02")
			if _, err := simple(ctx, c, "ROLLBACK"); err != nil {
				t.Fatal(err)
			}
			if v := one(t, ctx, c, "SELECT count(*) FROM modes_"+mode); v != "2" {
				t.Fatalf("rows after commit and rollback: %s", v)
			}
		})
	}
}

func checkSeries(t *testing.T, what string, rows []string, n int, prefix string) {
	t.Helper()
	if len(rows) != n {
		t.Fatalf("%s: %d rows, want %d", what, len(rows), n)
	}
	for i, r := range rows {
		if want := prefix + strconv.Itoa(i+1); r != want {
			t.Fatalf("%s: row %d is %q, want %q", what, i, r, want)
		}
	}
}

// TestStatementModeRefusesTransactions: a transaction block cannot keep its
// server in statement mode; the client is told so, and the server is not
// left inside the transaction for the next client.
func TestStatementModeRefusesTransactions(t *testing.T) {
	const role = "pooled_stmt"
	p := startPool(t, poolSpec{role: role, mode: "statement", size: 1})
	ctx := testCtx(t)
	c := p.conn(t, "")
	_, err := simple(ctx, c, "BEGIN")
	wantCode(t, "BEGIN in statement mode", err, "0A000")
	waitServers(t, admin(t), role, "state LIKE 'idle in transaction%'", 0, "no server idle in transaction")
	d := p.conn(t, "")
	if v := one(t, ctx, d, "SELECT 5"); v != "5" {
		t.Fatalf("next client: %q", v)
	}
	if d.TxStatus() != 'I' {
		t.Fatalf("next client's transaction status %q, want I", d.TxStatus())
	}
}

// TestSessionModeKeepsServer: in session mode a client keeps one server,
// whose pid is the one in its BackendKeyData, and a second client cannot log
// in while the only server is taken.
func TestSessionModeKeepsServer(t *testing.T) {
	p := startPool(t, poolSpec{role: "pooled_session", mode: "session", size: 1, extra: `pool_timeout = "1s"`})
	ctx := testCtx(t)
	c := p.conn(t, "")
	pid := one(t, ctx, c, "SELECT pg_backend_pid()")
	if pid != strconv.Itoa(int(c.PID())) {
		t.Errorf("BackendKeyData pid %d, pg_backend_pid() %s", c.PID(), pid)
	}
	for i := 0; i < 3; i++ {
		if got := one(t, ctx, c, "SELECT pg_backend_pid()"); got != pid {
			t.Fatalf("session mode moved the client from server %s to %s", pid, got)
		}
	}
	_, err := pgconn.Connect(ctx, p.dsn(""))
	wantCode(t, "second client with the only server taken", err, "53300")
	closeQuietly(c)
	d := p.conn(t, "")
	if v := one(t, ctx, d, "SELECT 1"); v != "1" {
		t.Fatalf("client after the first left: %q", v)
	}
}

// TestTransactionModeSharesServer: three clients take turns on one server.
func TestTransactionModeSharesServer(t *testing.T) {
	p := startPool(t, poolSpec{role: "pooled_share", mode: "transaction", size: 1})
	ctx := testCtx(t)
	var cs []*pgconn.PgConn
	for i := 0; i < 3; i++ {
		cs = append(cs, p.conn(t, ""))
	}
	seen := map[string]bool{}
	for round := 0; round < 3; round++ {
		for _, c := range cs {
			seen[one(t, ctx, c, "SELECT pg_backend_pid()")] = true
			if v, err := extended(ctx, c, "SELECT $1::int", strconv.Itoa(round)); err != nil || v[0] != strconv.Itoa(round) {
				t.Fatalf("extended query: %v %v", v, err)
			}
		}
	}
	if len(seen) != 1 {
		t.Fatalf("pool_size 1 served clients from %d servers", len(seen))
	}
}

// TestManyClientsTransactionMode: 200 clients, 20 transactions each, over 5
// servers; every write lands exactly once and PostgreSQL never sees more
// than 5 of the pooler's connections.
func TestManyClientsTransactionMode(t *testing.T) {
	const (
		role    = "pooled_many"
		clients = 200
		rounds  = 20
		size    = 5
	)
	p := startPool(t, poolSpec{role: role, mode: "transaction", size: size})
	ctx := testCtx(t)
	adminExec(t, `DROP TABLE IF EXISTS many_counter, many_log;
CREATE TABLE many_counter (id int PRIMARY KEY, n int NOT NULL);
INSERT INTO many_counter VALUES (1, 0);
CREATE TABLE many_log (client int NOT NULL, i int NOT NULL, PRIMARY KEY (client, i))`)
	mon := startMonitor(t, role)

	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for k := 0; k < clients; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mode := "default_query_exec_mode=simple_protocol"
			if k%2 == 1 {
				mode = "default_query_exec_mode=exec"
			}
			c, err := pgx.Connect(ctx, p.dsn(mode))
			if err != nil {
				errs <- fmt.Errorf("client %d connect: %w", k, err)
				return
			}
			defer c.Close(context.Background())
			for i := 0; i < rounds; i++ {
				if err := manyClientRound(ctx, c, k, i); err != nil {
					errs <- fmt.Errorf("client %d round %d: %w", k, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed < 10 {
			t.Error(err)
		}
		failed++
	}
	if failed > 0 {
		t.Fatalf("%d of %d clients failed", failed, clients)
	}
	mon.check(t, size)

	a := admin(t)
	var n, logged, distinct int
	if err := a.QueryRow(ctx, "SELECT n FROM many_counter WHERE id = 1").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := a.QueryRow(ctx, "SELECT count(*), count(DISTINCT (client, i)) FROM many_log").Scan(&logged, &distinct); err != nil {
		t.Fatal(err)
	}
	if want := clients * rounds / 2; n != want {
		t.Errorf("counter = %d, want %d", n, want)
	}
	if logged != clients*rounds || distinct != clients*rounds {
		t.Errorf("many_log has %d rows (%d distinct), want %d", logged, distinct, clients*rounds)
	}
}

// manyClientRound is one client's i-th unit of work: a transaction on even
// rounds, a single statement on odd ones.
func manyClientRound(ctx context.Context, c *pgx.Conn, k, i int) error {
	if i%2 == 1 {
		_, err := c.Exec(ctx, "INSERT INTO many_log VALUES ($1, $2)", k, i)
		return err
	}
	tx, err := c.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "UPDATE many_counter SET n = n + 1 WHERE id = 1"); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO many_log VALUES ($1, $2)", k, i); err != nil {
		return err
	}
	var mine int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM many_log WHERE client = $1", k).Scan(&mine); err != nil {
		return err
	}
	if mine != i+1 {
		return fmt.Errorf("client sees %d of its own rows inside its transaction, want %d", mine, i+1)
	}
	return tx.Commit(ctx)
}

// TestPoolTimeout: with the only server held by an open transaction,
// another client's query waits pool_timeout and fails with 53300; its
// session continues and works once the server is free.
func TestPoolTimeout(t *testing.T) {
	p := startPool(t, poolSpec{role: "pooled_timeout", mode: "transaction", size: 1, extra: `pool_timeout = "1s"`})
	ctx := testCtx(t)
	b := p.conn(t, "") // logs in while the server is free
	a := p.conn(t, "")
	if _, err := simple(ctx, a, "BEGIN; SELECT 1"); err != nil {
		t.Fatal(err)
	}
	_, err := simple(ctx, b, "SELECT 1")
	wantCode(t, "simple query while the pool is exhausted", err, "53300")
	if b.IsClosed() || b.TxStatus() != 'I' {
		t.Fatalf("client after pool timeout: closed %v, status %q", b.IsClosed(), b.TxStatus())
	}
	_, err = extended(ctx, b, "SELECT $1::int", "1")
	wantCode(t, "extended query while the pool is exhausted", err, "53300")
	if _, err := simple(ctx, a, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if v := one(t, ctx, b, "SELECT 2"); v != "2" {
		t.Fatalf("after the server was freed: %q", v)
	}
	if v, err := extended(ctx, b, "SELECT $1::int", "3"); err != nil || v[0] != "3" {
		t.Fatalf("extended after the server was freed: %v %v", v, err)
	}
}

// TestLoginWhileEveryServerIsBusy: in transaction mode a client logs in
// while the only server is inside another client's transaction, as with
// PgBouncer. Its ParameterStatus set is the one a login with the same
// settings got from a server, normalised by PostgreSQL (DateStyle "iso, dmy"
// comes back "ISO, DMY"), and only its first query waits for the server.
func TestLoginWhileEveryServerIsBusy(t *testing.T) {
	p := startPool(t, poolSpec{role: "pooled_busy_login", mode: "transaction", size: 1, extra: `pool_timeout = "1s"`})
	ctx := testCtx(t)
	settings := "application_name=busy_login&options=-c%20DateStyle%3Diso,dmy"
	first := p.conn(t, settings) // the server tells the set
	holder := p.conn(t, "")
	if _, err := simple(ctx, holder, "BEGIN; SELECT 1"); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	second, err := pgconn.Connect(cctx, p.dsn(settings))
	if err != nil {
		t.Fatalf("login while the only server is in a transaction: %v", err)
	}
	t.Cleanup(func() { closeQuietly(second) })
	if got := second.ParameterStatus("DateStyle"); got != "ISO, DMY" {
		t.Errorf("DateStyle %q, want the server's normalised \"ISO, DMY\"", got)
	}
	for _, name := range []string{"server_version", "server_encoding", "client_encoding", "DateStyle", "IntervalStyle",
		"TimeZone", "integer_datetimes", "standard_conforming_strings", "application_name", "is_superuser", "session_authorization"} {
		if a, b := first.ParameterStatus(name), second.ParameterStatus(name); a != b || b == "" {
			t.Errorf("ParameterStatus %s: %q at the login through a server, %q at the login without one", name, a, b)
		}
	}
	_, err = simple(ctx, second, "SELECT 1")
	wantCode(t, "first query while the only server is in a transaction", err, "53300")
	if _, err := simple(ctx, holder, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if v := one(t, ctx, second, "SHOW DateStyle"); v != "ISO, DMY" {
		t.Fatalf("DateStyle on the server: %q", v)
	}
	if v := one(t, ctx, second, "SHOW application_name"); v != "busy_login" {
		t.Fatalf("application_name on the server: %q", v)
	}
}

// TestNamedPreparedStatements: pgx's default mode (named prepared
// statements, cached per connection) in transaction mode, where each
// statement may run on a server that never saw its Parse. A tiny statement
// cache makes pgx close and re-prepare statements all the time.
func TestNamedPreparedStatements(t *testing.T) {
	const role, size, clients = "pooled_named", 3, 12
	p := startPool(t, poolSpec{role: role, mode: "transaction", size: size})
	ctx := testCtx(t)
	mon := startMonitor(t, role)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for k := 0; k < clients; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := pgx.Connect(ctx, p.dsn("statement_cache_capacity=2"))
			if err != nil {
				errs <- err
				return
			}
			defer c.Close(context.Background())
			for i := 0; i < 60; i++ {
				// Five distinct statements, so the cache of 2 evicts.
				q := fmt.Sprintf("SELECT $1::int + %d", i%5)
				var v int
				if err := c.QueryRow(ctx, q, k).Scan(&v); err != nil {
					errs <- fmt.Errorf("client %d query %d (%s): %w", k, i, q, err)
					return
				}
				if v != k+i%5 {
					errs <- fmt.Errorf("client %d query %d: %d, want %d", k, i, v, k+i%5)
					return
				}
				if i%10 == 0 {
					tx, err := c.Begin(ctx)
					if err == nil {
						err = tx.QueryRow(ctx, "SELECT $1::text", "in tx").Scan(new(string))
					}
					if err == nil {
						err = tx.Commit(ctx)
					}
					if err != nil {
						errs <- fmt.Errorf("client %d transaction %d: %w", k, i, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mon.check(t, size)
}

// TestLargeMessages: rows and parameters much larger than any buffer.
func TestLargeMessages(t *testing.T) {
	p := startPool(t, poolSpec{role: "pooled_large", mode: "transaction", size: 1})
	ctx := testCtx(t)
	c := p.conn(t, "")
	const n = 16 << 20
	res, err := c.Exec(ctx, fmt.Sprintf("SELECT repeat('x', %d)", n)).ReadAll()
	if err != nil || len(res[0].Rows) != 1 || len(res[0].Rows[0][0]) != n {
		t.Fatalf("16 MB row (simple): %v", err)
	}
	r := c.ExecParams(ctx, "SELECT repeat($1, $2::int)", [][]byte{[]byte("y"), []byte(strconv.Itoa(n))}, nil, nil, nil).Read()
	if r.Err != nil || len(r.Rows) != 1 || len(r.Rows[0][0]) != n {
		t.Fatalf("16 MB row (extended): %v", r.Err)
	}
	big := make([]byte, 8<<20)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	r = c.ExecParams(ctx, "SELECT length($1::text), md5($1::text) = md5(repeat('abcdefghijklmnopqrstuvwxyz', $2::int) || left('abcdefghijklmnopqrstuvwxyz', $3::int))",
		[][]byte{big, []byte(strconv.Itoa(len(big) / 26)), []byte(strconv.Itoa(len(big) % 26))}, nil, nil, nil).Read()
	if r.Err != nil || string(r.Rows[0][0]) != strconv.Itoa(len(big)) || string(r.Rows[0][1]) != "t" {
		t.Fatalf("8 MB parameter: %v %q", r.Err, r.Rows)
	}
	if v := one(t, ctx, c, "SELECT 'small again'"); v != "small again" {
		t.Fatal(v)
	}
}
