package integration

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pgbenchAsync starts pgbench against p and returns a function that waits
// for it and returns its output.
func pgbenchAsync(t *testing.T, p *pooler, args ...string) func() string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pgbenchTimeout)
	all := append([]string{"-h", p.host, "-p", p.port, "-U", superUser}, args...)
	cmd := exec.CommandContext(ctx, pgBin("pgbench"), append(all, "postgres")...)
	cmd.Env = append(cmd.Environ(), "PGCONNECT_TIMEOUT=15")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	return func() string {
		defer cancel()
		err := cmd.Wait()
		if ctx.Err() != nil {
			t.Fatalf("pgbench %v did not finish in %v:\n%s", args, pgbenchTimeout, out.String())
		}
		if err != nil {
			t.Fatalf("pgbench %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// poolRow is SHOW POOLS' row for database postgres (the pgbench clients').
func poolRow(t *testing.T, rows []map[string]string) map[string]string {
	t.Helper()
	for _, r := range rows {
		if r["database"] == "postgres" {
			return r
		}
	}
	t.Fatalf("no pool for database postgres in %v", rows)
	return nil
}

// TestConsolePauseResumeUnderLoad: PAUSE while pgbench runs in
// transaction mode returns once every server is released, new
// transactions wait, RESUME lets them through, and pgbench sees no failed
// transaction.
func TestConsolePauseResumeUnderLoad(t *testing.T) {
	p, _ := startConsolePooler(t, "console_pause", 4)
	pgbench(t, p, "-i", "-s", "1", "-q")
	admin := consoleConn(t, p, "admin", "admin-pw", "console")
	wait := pgbenchAsync(t, p, "-c", "8", "-j", "2", "-T", "6", "-M", "extended")
	time.Sleep(time.Second) // let pgbench get going: a PAUSE of an idle pool proves little
	if err := consoleErr(t, admin, "PAUSE postgres"); err != nil {
		t.Fatal(err)
	}
	rows, _ := show(t, admin, "SHOW POOLS")
	r := poolRow(t, rows)
	if r["sv_active"] != "0" {
		t.Errorf("after PAUSE returned: sv_active %s, want 0", r["sv_active"])
	}
	dbs, _ := show(t, admin, "SHOW DATABASES")
	for _, d := range dbs {
		if d["name"] == "postgres" && d["paused"] != "1" {
			t.Errorf("SHOW DATABASES paused = %q while paused", d["paused"])
		}
	}
	time.Sleep(500 * time.Millisecond)
	rows, _ = show(t, admin, "SHOW POOLS")
	if r := poolRow(t, rows); atoi(t, r["cl_waiting"]) == 0 || r["sv_active"] != "0" {
		t.Errorf("paused pool under load: cl_waiting %s sv_active %s, want waiting clients and no active server", r["cl_waiting"], r["sv_active"])
	}
	if err := consoleErr(t, admin, "RESUME postgres"); err != nil {
		t.Fatal(err)
	}
	checkPgbench(t, "pgbench across PAUSE/RESUME", wait())
}

// TestConsoleReloadPoolSizeUnderLoad: RELOAD raising and lowering
// pool_size while pgbench runs: no failed transaction, and the server
// count follows the new size.
func TestConsoleReloadPoolSizeUnderLoad(t *testing.T) {
	const role = "console_resize"
	p, path := startConsolePooler(t, role, 3)
	pgbench(t, p, "-i", "-s", "1", "-q")
	con := consoleConn(t, p, "admin", "admin-pw", "console")
	mon := startMonitor(t, role)
	wait := pgbenchAsync(t, p, "-c", "10", "-j", "2", "-T", "6")
	setSize := func(n int) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		i := strings.Index(s, "pool_size        = ")
		j := strings.Index(s[i:], "\n")
		s = s[:i] + "pool_size        = " + strconv.Itoa(n) + s[i+j:]
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := consoleErr(t, con, "RELOAD"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second)
	setSize(8)
	time.Sleep(1500 * time.Millisecond)
	setSize(2)
	checkPgbench(t, "pgbench across RELOADs", wait())
	mon.halt()
	mon.check(t, 8)
	db := admin(t)
	eventually(t, 20*time.Second, "servers down to the lowered pool_size", func() (bool, error) {
		n, err := countServers(context.Background(), db, role, "")
		return err == nil && n <= 2, err
	})
}

// pgbouncerColumns are DESIGN §6's columns (PgBouncer 1.24/1.25), which
// exporters and scripts read by name.
var pgbouncerColumns = map[string]string{
	"SHOW STATS":          "database total_server_assignment_count total_xact_count total_query_count total_received total_sent total_xact_time total_query_time total_wait_time total_client_parse_count total_server_parse_count total_bind_count avg_server_assignment_count avg_xact_count avg_query_count avg_recv avg_sent avg_xact_time avg_query_time avg_wait_time avg_client_parse_count avg_server_parse_count avg_bind_count",
	"SHOW STATS_TOTALS":   "database server_assignment_count xact_count query_count bytes_received bytes_sent xact_time query_time wait_time client_parse_count server_parse_count bind_count",
	"SHOW STATS_AVERAGES": "database server_assignment_count xact_count query_count bytes_received bytes_sent xact_time query_time wait_time avg_client_parse_count avg_server_parse_count avg_bind_count",
	"SHOW TOTALS":         "name value",
	"SHOW POOLS":          "database user cl_active cl_waiting cl_active_cancel_req cl_waiting_cancel_req sv_active sv_active_cancel sv_being_canceled sv_idle sv_used sv_tested sv_login maxwait maxwait_us pool_mode load_balance_hosts",
	"SHOW CLIENTS":        "type user database replication state addr port local_addr local_port connect_time request_time wait wait_us close_needed ptr link remote_pid tls application_name prepared_statements id",
	"SHOW SERVERS":        "type user database replication state addr port local_addr local_port connect_time request_time wait wait_us close_needed ptr link remote_pid tls application_name prepared_statements id",
	"SHOW DATABASES":      "name host port database force_user pool_size min_pool_size reserve_pool_size server_lifetime pool_mode load_balance_hosts max_connections current_connections max_client_connections current_client_connections paused disabled",
	"SHOW USERS":          "name pool_size reserve_pool_size pool_mode max_user_connections current_connections max_user_client_connections current_client_connections",
	"SHOW LISTS":          "list items",
	"SHOW CONFIG":         "key value default changeable",
	"SHOW VERSION":        "version",
	"SHOW STATE":          "key value",
}

// TestConsoleShows reads every SHOW by column name after pgbench traffic:
// PgBouncer's columns in its order, and counters that moved.
func TestConsoleShows(t *testing.T) {
	p, _ := startConsolePooler(t, "console_shows", 4)
	pgbench(t, p, "-i", "-s", "1", "-q")
	admin := consoleConn(t, p, "admin", "admin-pw", "console")
	held := p.conn(t, "application_name=holder")
	if _, err := simple(testCtx(t), held, "BEGIN; SELECT 1"); err != nil {
		t.Fatal(err)
	}
	checkPgbench(t, "traffic", pgbench(t, p, "-c", "4", "-j", "2", "-t", "50", "-M", "extended"))

	for cmd, want := range pgbouncerColumns {
		_, cols := show(t, admin, cmd)
		if got := strings.Join(cols, " "); got != want {
			t.Errorf("%s columns:\n got %s\nwant %s", cmd, got, want)
		}
	}
	for _, cmd := range []string{"SHOW MEM", "SHOW FDS", "SHOW SOCKETS", "SHOW DNS_HOSTS", "SHOW DNS_ZONES", "SHOW PEERS",
		"SHOW PEER_POOLS", "SHOW ERRORS", "SHOW POOLS_EXTENDED", "SHOW STORAGES", "SHOW LISTEN", "SHOW RULES",
		"SHOW IS_PAUSED", "SHOW SERVER_PREP_STMTS", "SHOW CLIENTS postgres", "SHOW SERVERS postgres"} {
		if _, cols := show(t, admin, cmd); len(cols) == 0 {
			t.Errorf("%s: no columns", cmd)
		}
	}

	stats, _ := show(t, admin, "SHOW STATS")
	var st map[string]string
	for _, r := range stats {
		if r["database"] == "postgres" {
			st = r
		}
	}
	if st == nil {
		t.Fatalf("SHOW STATS has no row for postgres: %v", stats)
	}
	for _, col := range []string{"total_xact_count", "total_query_count", "total_received", "total_sent", "total_xact_time",
		"total_query_time", "total_server_assignment_count", "total_client_parse_count", "total_bind_count"} {
		if atoi(t, st[col]) == 0 {
			t.Errorf("SHOW STATS %s = %s after pgbench", col, st[col])
		}
	}
	if n := atoi(t, st["total_xact_count"]); n < 200 {
		t.Errorf("total_xact_count %d, want at least pgbench's 200", n)
	}

	pools, _ := show(t, admin, "SHOW POOLS")
	if r := poolRow(t, pools); r["sv_active"] != "1" || r["pool_mode"] != "transaction" {
		t.Errorf("SHOW POOLS with one client inside a transaction: %v", r)
	}
	servers, _ := show(t, admin, "SHOW SERVERS")
	clients, _ := show(t, admin, "SHOW CLIENTS postgres")
	var holder map[string]string
	for _, c := range clients {
		if c["application_name"] == "holder" {
			holder = c
		}
		if c["database"] != "postgres" {
			t.Errorf("SHOW CLIENTS postgres lists %v", c)
		}
	}
	if holder == nil || holder["state"] != "active" || holder["link"] == "" {
		t.Fatalf("the client inside a transaction: %v", holder)
	}
	// link holds the peer's ptr, as in PgBouncer.
	found := false
	for _, s := range servers {
		if s["ptr"] == holder["link"] {
			found = s["state"] == "active" && s["link"] == holder["ptr"] && s["remote_pid"] != "0"
		}
	}
	if !found {
		t.Errorf("the holder's server (id %s) is not active and linked back in SHOW SERVERS: %v", holder["link"], servers)
	}
}

// TestConsoleDatabaseControls: DISABLE/ENABLE, RECONNECT + WAIT_CLOSE and
// KILL of one database, through the console.
func TestConsoleDatabaseControls(t *testing.T) {
	ctx := testCtx(t)
	const role = "console_ctl"
	p, _ := startConsolePooler(t, role, 4)
	admin := consoleConn(t, p, "admin", "admin-pw", "console")

	if err := consoleErr(t, admin, "DISABLE postgres"); err != nil {
		t.Fatal(err)
	}
	_, err := connectOnce(ctx, p)
	wantCode(t, "client of a disabled database", err, "57P03")
	if err := consoleErr(t, admin, "ENABLE postgres"); err != nil {
		t.Fatal(err)
	}
	c := p.conn(t, "")
	pid := one(t, ctx, c, "SELECT pg_backend_pid()")

	// RECONNECT: the server is replaced once released; WAIT_CLOSE returns
	// when the old one is gone.
	if err := consoleErr(t, admin, "RECONNECT postgres"); err != nil {
		t.Fatal(err)
	}
	if err := consoleErr(t, admin, "WAIT_CLOSE postgres"); err != nil {
		t.Fatal(err)
	}
	if got := one(t, ctx, c, "SELECT pg_backend_pid()"); got == pid {
		t.Errorf("same server %s after RECONNECT and WAIT_CLOSE", got)
	}

	// KILL drops the database's clients and pauses it; RESUME reopens.
	if _, err := simple(ctx, c, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if err := consoleErr(t, admin, "KILL postgres"); err != nil {
		t.Fatal(err)
	}
	if _, err := simple(ctx, c, "SELECT 1"); err == nil {
		t.Errorf("a client of a killed database still works")
	}
	st, _ := show(t, admin, "SHOW DATABASES")
	for _, d := range st {
		if d["name"] == "postgres" && d["paused"] != "1" {
			t.Errorf("killed database not paused: %v", d)
		}
	}
	if err := consoleErr(t, admin, "RESUME postgres"); err != nil {
		t.Fatal(err)
	}
	c2 := p.conn(t, "")
	if got := one(t, ctx, c2, "SELECT 1"); got != "1" {
		t.Errorf("after RESUME: %s", got)
	}
	wantCode(t, "DISABLE without a database", consoleErr(t, admin, "DISABLE"), "42601")
	// Under `database default` every name is a database the pooler
	// serves (the route tests cover 3D000 without one).
	if err := consoleErr(t, admin, "PAUSE otherdb"); err != nil {
		t.Fatal(err)
	}
	if err := consoleErr(t, admin, "RESUME otherdb"); err != nil {
		t.Fatal(err)
	}
}
