package integration

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/odyssey-go/odyssey/integration/pgtest"
)

// TestSettingsStayWithTheirClient: in transaction mode two clients share
// one server, yet each sees only its own session settings: startup
// parameters, SET, RESET, SET LOCAL, set_config, and the ParameterStatus
// values the driver tracks.
func TestSettingsStayWithTheirClient(t *testing.T) {
	p := startPool(t, poolSpec{role: "pooled_params", mode: "transaction", size: 1})
	ctx := testCtx(t)
	a := p.conn(t, "application_name=client_a")
	b := p.conn(t, "application_name=client_b&options=-c%20work_mem%3D7MB")

	show := func(c *pgconn.PgConn, name string) string {
		t.Helper()
		return one(t, ctx, c, "SHOW "+name)
	}
	expect := func(who string, c *pgconn.PgConn, name, want string) {
		t.Helper()
		if got := show(c, name); got != want {
			t.Errorf("client %s: SHOW %s = %q, want %q", who, name, got, want)
		}
	}
	// B's driver must never be told A's application_name.
	bStatus := func() {
		t.Helper()
		if got := b.ParameterStatus("application_name"); got != "client_b" {
			t.Errorf("client B's ParameterStatus application_name = %q, want client_b", got)
		}
	}
	exec := func(c *pgconn.PgConn, sql string) {
		t.Helper()
		if _, err := c.Exec(ctx, sql).ReadAll(); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}

	defaultWorkMem := show(a, "work_mem")
	defaultTimeZone := show(a, "TimeZone")
	defaultSearchPath := show(a, "search_path")
	if defaultWorkMem == "7MB" {
		t.Fatal("client A sees client B's startup option work_mem=7MB")
	}
	expect("A", a, "application_name", "client_a")
	expect("B", b, "application_name", "client_b")
	expect("B", b, "work_mem", "7MB")
	if got := a.ParameterStatus("application_name"); got != "client_a" {
		t.Errorf("client A's ParameterStatus application_name = %q", got)
	}
	bStatus()

	exec(a, "SET statement_timeout = '1234ms'")
	exec(a, "SET application_name = 'a'")
	if got := a.ParameterStatus("application_name"); got != "a" {
		t.Errorf("client A's ParameterStatus application_name after SET = %q, want a", got)
	}
	expect("B", b, "statement_timeout", "0")
	expect("B", b, "application_name", "client_b")
	bStatus()
	expect("A", a, "statement_timeout", "1234ms")
	expect("A", a, "application_name", "a")

	exec(a, `SET search_path = a, public`)
	expect("B", b, "search_path", defaultSearchPath)
	expect("A", a, "search_path", "a, public")
	exec(a, `SET search_path = "My Schema", public`)
	expect("B", b, "search_path", defaultSearchPath)
	expect("A", a, "search_path", `"My Schema", public`)

	exec(a, "SET TimeZone = 'Asia/Tokyo'")
	if got := a.ParameterStatus("TimeZone"); got != "Asia/Tokyo" {
		t.Errorf("client A's ParameterStatus TimeZone = %q", got)
	}
	expect("B", b, "TimeZone", defaultTimeZone)
	if got := b.ParameterStatus("TimeZone"); got != defaultTimeZone {
		t.Errorf("client B's ParameterStatus TimeZone = %q, want %q", got, defaultTimeZone)
	}
	expect("A", a, "TimeZone", "Asia/Tokyo")

	// SET LOCAL ends with its transaction.
	exec(a, "BEGIN; SET LOCAL statement_timeout = '5s'")
	expect("A", a, "statement_timeout", "5s")
	exec(a, "COMMIT")
	expect("A", a, "statement_timeout", "1234ms")

	// SET through the extended protocol, and set_config.
	if _, err := extended(ctx, a, "SET statement_timeout = '777ms'"); err != nil {
		t.Fatal(err)
	}
	if _, err := extended(ctx, a, "SELECT set_config('work_mem', '3MB', false)"); err != nil {
		t.Fatal(err)
	}
	expect("B", b, "statement_timeout", "0")
	expect("B", b, "work_mem", "7MB")
	expect("A", a, "statement_timeout", "777ms")
	expect("A", a, "work_mem", "3MB")

	exec(a, "RESET statement_timeout")
	expect("A", a, "statement_timeout", "0")
	exec(b, "SET statement_timeout = '42s'")
	expect("A", a, "statement_timeout", "0")
	expect("B", b, "statement_timeout", "42s")
	exec(a, "RESET ALL")
	expect("A", a, "work_mem", defaultWorkMem)
	expect("B", b, "work_mem", "7MB")
	bStatus()

	// A new client sees none of it.
	c := p.conn(t, "")
	for name, want := range map[string]string{
		"statement_timeout": "0", "work_mem": defaultWorkMem, "search_path": defaultSearchPath, "TimeZone": defaultTimeZone,
	} {
		expect("C", c, name, want)
	}
}

// TestSettingsAfterClientLeaves: settings of a client that disconnects do
// not reach the next client of its server.
func TestSettingsAfterClientLeaves(t *testing.T) {
	for _, mode := range []string{"session", "transaction"} {
		t.Run(mode, func(t *testing.T) {
			p := startPool(t, poolSpec{role: "pooled_params_left", mode: mode, size: 1})
			ctx := testCtx(t)
			a := p.conn(t, "")
			pid := one(t, ctx, a, "SELECT pg_backend_pid()")
			if _, err := simple(ctx, a, "SET statement_timeout = '4321ms'; SET work_mem = '5MB'"); err != nil {
				t.Fatal(err)
			}
			closeQuietly(a)
			b := p.conn(t, "")
			if got := one(t, ctx, b, "SELECT pg_backend_pid()"); got != pid {
				t.Fatalf("pool_size 1: the next client got server %s, want the same server %s (was it closed instead of reset?)", got, pid)
			}
			if v := one(t, ctx, b, "SHOW statement_timeout"); v != "0" {
				t.Errorf("next client inherits statement_timeout %q", v)
			}
			if v := one(t, ctx, b, "SHOW work_mem"); v == "5MB" {
				t.Errorf("next client inherits work_mem %q", v)
			}
		})
	}
}

// TestSettingsChangedLateInLongQueries: a SET that the pooler can only see
// past the first kilobytes of a query (after a long comment, or after a
// long statement in the same simple query) is still the client's own.
func TestSettingsChangedLateInLongQueries(t *testing.T) {
	p := startPool(t, poolSpec{role: "pooled_params_long", mode: "transaction", size: 1})
	ctx := testCtx(t)
	a := p.conn(t, "")
	b := p.conn(t, "")
	pad := strings.Repeat("x", 20_000)
	cases := []struct{ sql, name, want string }{
		{"/* " + pad + " */ SET statement_timeout = '2222ms'", "statement_timeout", "2222ms"},
		{"SELECT length('" + pad + "'); SET work_mem = '6MB'", "work_mem", "6MB"},
		{"SELECT '" + pad + "' AS pad, set_config('lock_timeout', '3333ms', false)", "lock_timeout", "3333ms"},
	}
	for _, c := range cases {
		before := one(t, ctx, b, "SHOW "+c.name)
		if _, err := a.Exec(ctx, c.sql).ReadAll(); err != nil {
			t.Fatalf("%.60s: %v", c.sql, err)
		}
		if got := one(t, ctx, b, "SHOW "+c.name); got != before {
			t.Errorf("client B sees %s = %q set by client A late in a %d-byte query (was %q)", c.name, got, len(c.sql), before)
		}
		if got := one(t, ctx, a, "SHOW "+c.name); got != c.want {
			t.Errorf("client A lost %s = %q set late in a %d-byte query: %q", c.name, c.want, len(c.sql), got)
		}
	}
}

// TestSettingsInTransactions: SET inside a transaction lasts when it
// commits and is undone when it rolls back, for that client only.
func TestSettingsInTransactions(t *testing.T) {
	p := startPool(t, poolSpec{role: "pooled_params_tx", mode: "transaction", size: 1})
	ctx := testCtx(t)
	a := p.conn(t, "")
	b := p.conn(t, "")
	run := func(c *pgconn.PgConn, sql string) {
		t.Helper()
		if _, err := c.Exec(ctx, sql).ReadAll(); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	run(a, "BEGIN")
	run(a, "SET statement_timeout = '3s'")
	run(a, "COMMIT")
	if v := one(t, ctx, b, "SHOW statement_timeout"); v != "0" {
		t.Errorf("client B sees client A's committed SET: %q", v)
	}
	if v := one(t, ctx, a, "SHOW statement_timeout"); v != "3s" {
		t.Errorf("client A after COMMIT of its SET: %q, want 3s", v)
	}
	run(a, "BEGIN; SET statement_timeout = '9s'; ROLLBACK")
	if v := one(t, ctx, a, "SHOW statement_timeout"); v != "3s" {
		t.Errorf("client A after ROLLBACK of its SET: %q, want 3s", v)
	}
	run(a, "DISCARD ALL")
	if v := one(t, ctx, a, "SHOW statement_timeout"); v != "0" {
		t.Errorf("client A after DISCARD ALL: %q, want 0", v)
	}
	run(b, "SET statement_timeout = '8s'")
	run(a, "RESET ALL")
	if v := one(t, ctx, b, "SHOW statement_timeout"); v != "8s" {
		t.Errorf("client B after client A's RESET ALL: %q, want 8s", v)
	}
}

// TestPoolDiscard: with pool_discard = true, session state a client leaves
// behind (a temporary table, an SQL-level prepared statement, an advisory
// lock, a LISTEN, a setting) is gone before its server serves the next
// client: in session mode when the client disconnects, in transaction mode
// at the latest then (DESIGN: DISCARD ALL on release).
func TestPoolDiscard(t *testing.T) {
	for i, mode := range []string{"session", "transaction"} {
		t.Run(mode, func(t *testing.T) {
			role := "pooled_discard_" + mode
			lock := strconv.Itoa(9100 + i)
			p := startPool(t, poolSpec{role: role, mode: mode, size: 1, extra: "pool_discard = true"})
			ctx := testCtx(t)
			a := p.conn(t, "")
			pid := one(t, ctx, a, "SELECT pg_backend_pid()")
			if _, err := simple(ctx, a, "CREATE TEMP TABLE discard_tmp (v int); PREPARE discard_stmt AS SELECT 1; "+
				"SELECT pg_advisory_lock("+lock+"); LISTEN discard_chan; SET work_mem = '5MB'"); err != nil {
				t.Fatal(err)
			}
			closeQuietly(a)
			b := p.conn(t, "")
			if got := one(t, ctx, b, "SELECT pg_backend_pid()"); got != pid {
				t.Fatalf("pool_size 1: the next client got server %s, want the same server %s (was it closed instead of reset?)", got, pid)
			}
			for what, sql := range map[string]string{
				"temporary table":  "SELECT count(*) FROM pg_class WHERE relname = 'discard_tmp' AND relpersistence = 't'",
				"prepared stmt":    "SELECT count(*) FROM pg_prepared_statements WHERE name = 'discard_stmt'",
				"advisory lock":    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
				"LISTEN":           "SELECT count(*) FROM pg_listening_channels()",
				"work_mem = '5MB'": "SELECT count(*) FROM pg_settings WHERE name = 'work_mem' AND setting = '5120'",
			} {
				if v := one(t, ctx, b, sql); v != "0" {
					t.Errorf("next client on the same server inherits the %s of the client that left", what)
				}
			}
		})
	}
}

// TestLoginAfterServerWideChange: a reload that changes a reported default
// (default_transaction_read_only, which failover tooling turns on for a
// demoted primary and libpq's target_session_attrs reads) reaches logins in
// transaction mode. The server reports it unasked at its next command, and
// the pool forgets the ParameterStatus set it had learned, so the next login
// asks a server again. A cluster of its own: ALTER SYSTEM changes it all.
func TestLoginAfterServerWideChange(t *testing.T) {
	pg, err := pgtest.Start(pgtest.Options{Private: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Error(err)
		}
	})
	const role = "pooled_reload"
	if err := pg.Exec("CREATE ROLE " + role + " LOGIN PASSWORD '" + role + "_pw'"); err != nil {
		t.Fatal(err)
	}
	// configFor's storage, moved to this cluster.
	src := strings.NewReplacer("{{pg_host}}", pg.Host, "{{pg_port}}", strconv.Itoa(pg.Port)).
		Replace(configFor(poolSpec{role: role, mode: "transaction", size: 1}))
	p := startPoolerHCL(t, src)
	ctx := testCtx(t)
	a := p.conn(t, "") // learns the set: read-only off
	if got := a.ParameterStatus("default_transaction_read_only"); got != "off" {
		t.Fatalf("default_transaction_read_only at the first login: %q", got)
	}
	if err := pg.Exec("ALTER SYSTEM SET default_transaction_read_only = on"); err != nil {
		t.Fatal(err)
	}
	if err := pg.Exec("SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	// The server's backend rereads its configuration when the signal has
	// come and it starts a command: bounded polling, not a timing claim.
	for i := 0; a.ParameterStatus("default_transaction_read_only") != "on"; i++ {
		if i == 1000 {
			t.Fatal("the server never reported the reloaded default")
		}
		if _, err := simple(ctx, a, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b := p.conn(t, "")
	if got := b.ParameterStatus("default_transaction_read_only"); got != "on" {
		t.Fatalf("a login after the reload was told default_transaction_read_only %q", got)
	}
}
