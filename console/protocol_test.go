package console

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
)

func admin() Session { return Session{User: "admin", Database: "console", Role: RoleAdmin} }

func TestGreeting(t *testing.T) {
	sess := admin()
	sess.ProcessID, sess.SecretKey = 77, 0xdeadbeef
	sess.Params = map[string]string{"application_name": "psql", "client_encoding": "LATIN1", "extra_float_digits": "3"}
	c := startScripted(t, sess, newFakeSource())
	params := map[string]string{}
	var key reply
	for _, r := range c.hello {
		switch r.kind {
		case "ParameterStatus":
			params[r.param[0]] = r.param[1]
		case "BackendKeyData":
			key = r
		}
	}
	for name, want := range map[string]string{
		"server_version": DefaultServerVersion, "client_encoding": "UTF8", "server_encoding": "UTF8",
		"standard_conforming_strings": "on", "DateStyle": "ISO, MDY", "integer_datetimes": "on",
		"application_name": "psql", "is_superuser": "on", "session_authorization": "admin",
	} {
		if params[name] != want {
			t.Errorf("ParameterStatus %s = %q, want %q", name, params[name], want)
		}
	}
	if key.kind != "BackendKeyData" {
		t.Errorf("greeting %s has no BackendKeyData", summary(c.hello))
	}
	if got := c.hello[len(c.hello)-1]; got.kind != "ReadyForQuery" || got.status != 'I' {
		t.Errorf("greeting ends with %v", got)
	}
	// SHOW of a session setting answers what the client sent, or what was reported.
	for q, want := range map[string]string{"SHOW extra_float_digits": "3", "SHOW application_name": "psql",
		"SHOW client_encoding": "UTF8", "SHOW TIME ZONE": "UTC", "show DateStyle": "ISO, MDY",
		"SHOW default_transaction_isolation": "read committed", "SHOW server_version": DefaultServerVersion} {
		rs := c.query(q)
		if got := dataRows(rs); len(got) != 1 || got[0][0] != want {
			t.Errorf("%s = %s, want %q", q, summary(rs), want)
		}
	}
}

func TestNoCancelKey(t *testing.T) {
	c := startScripted(t, Session{User: "s", Role: RoleStat}, newFakeSource())
	for _, r := range c.hello {
		if r.kind == "BackendKeyData" {
			t.Error("BackendKeyData sent without a key")
		}
		if r.kind == "ParameterStatus" && r.param[0] == "is_superuser" && r.param[1] != "off" {
			t.Errorf("stat user: is_superuser %s", r.param[1])
		}
	}
}

func TestInvalidCommands(t *testing.T) {
	c := startScripted(t, admin(), newFakeSource())
	for q, want := range map[string]string{
		"bogus":                            "E 08P01 invalid command 'bogus', use SHOW HELP; | Z I",
		"SHOW":                             "E 08P01 invalid command 'SHOW', use SHOW HELP; | Z I",
		"SHOW NOSUCH":                      "E 08P01 invalid command 'SHOW NOSUCH', use SHOW HELP; | Z I",
		"SHOW VERSION extra":               "E 08P01 invalid command 'SHOW VERSION extra', use SHOW HELP; | Z I",
		"SELECT version()":                 "E 08P01 invalid command 'SELECT version()', use SHOW HELP; | Z I",
		"SHOW POOLS; bogus":                "E 08P01 invalid command 'bogus', use SHOW HELP; | Z I",
		"RELOAD now":                       "E 08P01 invalid command 'RELOAD now', use SHOW HELP; | Z I",
		"   ":                              "EmptyQueryResponse | Z I",
		"-- only a comment\n ; ":           "EmptyQueryResponse | Z I",
		"DISABLE":                          "E 42601 a database is required | Z I",
		"KILL_CLIENT 99999999999999999999": "E 08P01 invalid command 'KILL_CLIENT 99999999999999999999', use SHOW HELP; | Z I",
	} {
		if got := summary(c.query(q)); got != want {
			t.Errorf("%q:\n got %s\nwant %s", q, got, want)
		}
	}
	// The session goes on.
	if got := summary(c.query("SHOW VERSION")); got != "T 1 | D 1 | C SHOW | Z I" {
		t.Errorf("after errors: %s", got)
	}
}

func TestMultipleStatements(t *testing.T) {
	src := newFakeSource()
	c := startScripted(t, admin(), src)
	rs := c.query("SHOW VERSION; show state; PAUSE app")
	if got := summary(rs); got != "T 1 | D 1 | C SHOW | T 2 | D 2 | D 2 | D 2 | C SHOW | C PAUSE | Z I" {
		t.Errorf("three statements: %s", got)
	}
	// The first error ends the rest.
	rs = c.query("KILL_CLIENT 5; RESUME app")
	if got := summary(rs); got != "E 42704 client not found: 5 | Z I" {
		t.Errorf("error first: %s", got)
	}
	if calls := src.Calls(); !slices.Equal(calls, []string{`pause "app"`, "kill_client 5"}) {
		t.Errorf("calls = %q", calls)
	}
}

func TestStatRole(t *testing.T) {
	src := newFakeSource()
	c := startScripted(t, Session{User: "watcher", Role: RoleStat}, src)
	for q, want := range map[string]string{
		"PAUSE":                      "E 42501 admin access needed | Z I",
		"RELOAD":                     "E 42501 admin access needed | Z I",
		"KILL_CLIENT 1":              "E 42501 admin access needed | Z I",
		"SHUTDOWN":                   "E 42501 admin access needed | Z I",
		"SET log_level = debug":      "E 42501 admin access needed | Z I",
		"SHOW FDS":                   "E 42501 admin access needed | Z I",
		"SET extra_float_digits = 3": "N SET ignored | C SET | Z I",
		"set application_name = 'x'": "N SET ignored | C SET | Z I",
		"SHOW HELP":                  "N Console usage | C SHOW | Z I",
		"SELECT 1":                   "T 1 | D 1 | C SELECT 1 | Z I",
		"SHOW IS_PAUSED":             "T 1 | D 1 | C SHOW | Z I",
		"SHOW POOLS":                 "T 17 | D 17 | D 17 | C SHOW | Z I",
	} {
		if got := summary(c.query(q)); got != want {
			t.Errorf("stat %q:\n got %s\nwant %s", q, got, want)
		}
	}
	if calls := src.Calls(); len(calls) != 0 {
		t.Errorf("a stat user's commands reached the Source: %q", calls)
	}
	// An unknown role has the stat role's rights.
	c = startScripted(t, Session{User: "x", Role: "superuser"}, src)
	if got := summary(c.query("RELOAD")); got != "E 42501 admin access needed | Z I" {
		t.Errorf("unknown role: %s", got)
	}
}

func TestControlVerbs(t *testing.T) {
	src := newFakeSource()
	c := startScripted(t, admin(), src)
	for q, want := range map[string]string{
		"PAUSE app":                 "C PAUSE | Z I",
		"PAUSE nosuch":              "E 3D000 no such database: nosuch | Z I",
		`RESUME "app"`:              "C RESUME | Z I",
		"DISABLE app":               "C DISABLE | Z I",
		"ENABLE app":                "C ENABLE | Z I",
		"RECONNECT":                 "C RECONNECT | Z I",
		"KILL app":                  "C KILL | Z I",
		"KILL_CLIENT 1":             "C KILL_CLIENT | Z I",
		"SUSPEND":                   "C SUSPEND | Z I",
		"WAIT_CLOSE app":            "C WAIT_CLOSE | Z I",
		"SHUTDOWN WAIT_FOR_CLIENTS": "C SHUTDOWN | Z I",
		"RELOAD":                    "C RELOAD | Z I",
		"SET log_level = debug":     "C SET log_level=debug | Z I",
		"SET nosuch TO 1":           `E 42704 unrecognized configuration parameter "nosuch" | Z I`,
		"SET client_max = ' '":      "E 22023 empty value | Z I",
	} {
		if got := summary(c.query(q)); got != want {
			t.Errorf("%q:\n got %s\nwant %s", q, got, want)
		}
	}
	if got := columnValues(t, c.query("SHOW CONFIG log_level"), "value"); !slices.Equal(got, []string{"debug"}) {
		t.Errorf("SHOW CONFIG log_level after SET = %q", got)
	}
	src.reloadErr = errors.New("odyssey.hcl:3,5: Unsupported argument")
	rs := c.query("RELOAD")
	if e := first(t, rs, "ErrorResponse"); e.err.Code != "F0000" || e.err.Message != "odyssey.hcl:3,5: Unsupported argument" {
		t.Errorf("failed RELOAD: %s", summary(rs))
	}
	calls := src.Calls()
	for _, want := range []string{`pause "app"`, `resume "app"`, `disable "app"`, `enable "app"`, `reconnect ""`,
		`kill "app"`, "kill_client 1", "suspend", `wait_close "app"`, "shutdown WAIT_FOR_CLIENTS", "reload",
		"set log_level=debug"} {
		if !slices.Contains(calls, want) {
			t.Errorf("Source was not asked to %s; calls %q", want, calls)
		}
	}
}

func TestSuspendEndsWithSession(t *testing.T) {
	src := newFakeSource()
	c := startScripted(t, admin(), src)
	c.query("SUSPEND")
	c.send(&pgproto3.Terminate{})
	c.flushed()
	if err := <-c.done; err != nil {
		t.Fatalf("Serve after Terminate: %v", err)
	}
	c.done <- nil // for the cleanup
	if calls := src.Calls(); !slices.Equal(calls, []string{"suspend", `resume ""`}) {
		t.Errorf("calls = %q, want the suspend resumed when its session ended", calls)
	}
}

func TestCancelPause(t *testing.T) {
	src := newFakeSource()
	src.pauseRelease, src.pauseStarted = make(chan struct{}), make(chan struct{})
	cancel := make(chan struct{}, 1)
	sess := admin()
	sess.Cancel = cancel
	cancel <- struct{}{} // a stale cancel, from before PAUSE: ignored
	c := startScripted(t, sess, src)
	c.send(&pgproto3.Query{String: "PAUSE"})
	<-src.pauseStarted
	cancel <- struct{}{}
	rs := c.untilReady()
	if got := summary(rs); got != "E 57014 canceling statement due to user request | Z I" {
		t.Errorf("canceled PAUSE: %s", got)
	}
	if calls := src.Calls(); !slices.Equal(calls, []string{`pause ""`, `resume ""`}) {
		t.Errorf("calls = %q, want the pause resumed", calls)
	}
}

func TestShutdownEndsSession(t *testing.T) {
	c := startScripted(t, admin(), newFakeSource())
	if got := summary(c.query("SHUTDOWN")); got != "C SHUTDOWN | Z I" {
		t.Errorf("SHUTDOWN: %s", got)
	}
	if err := <-c.done; err != nil {
		t.Errorf("Serve after SHUTDOWN: %v", err)
	}
	c.done <- nil
}

func TestShowValues(t *testing.T) {
	c := startScripted(t, admin(), newFakeSource())
	check := func(q, col string, want ...string) {
		t.Helper()
		if got := columnValues(t, c.query(q), col); !slices.Equal(got, want) {
			t.Errorf("%s %s = %q, want %q", q, col, got, want)
		}
	}
	check("SHOW POOLS", "maxwait", "2", "0")
	check("SHOW POOLS", "maxwait_us", "1500", "0")
	check("SHOW POOLS", "load_balance_hosts", "<null>", "<null>")
	check("SHOW POOLS app", "user", "alice")
	check("SHOW CLIENTS", "ptr", "c1", "c2")
	check("SHOW CLIENTS", "link", "s7", "")
	check("SHOW CLIENTS", "connect_time", "2025-03-04 05:06:07 UTC", "2025-03-04 05:06:07 UTC")
	check("SHOW CLIENTS", "request_time", "2025-03-04 05:06:08 UTC", "<null>")
	check("SHOW CLIENTS", "wait_us", "0", "500000")
	check("SHOW CLIENTS", "replication", "none", "none")
	check("SHOW CLIENTS 2", "id", "2")
	check("SHOW CLIENTS other", "id", "2")
	check("SHOW CLIENTS nosuch", "id")
	check("SHOW SERVERS", "link", "c1")
	check("SHOW SERVERS", "remote_pid", "4242")
	check("SHOW SOCKETS", "state", "cl_active", "cl_waiting", "sv_active")
	check("SHOW ACTIVE_SOCKETS", "id", "1", "7")
	check("SHOW DATABASES", "force_user", "<null>", "<null>")
	check("SHOW DATABASES", "server_lifetime", "3600", "0")
	check("SHOW DATABASES console", "pool_mode", "session")
	check("SHOW USERS", "pool_size", "<null>", "5")
	check("SHOW STATS", "total_received", "1099511627776", "0")
	check("SHOW STATS", "total_xact_time", "3000000", "0")
	check("SHOW STATS other", "avg_wait_time", "50")
	check("SHOW STATS_TOTALS", "bytes_sent", "2199023255552", "0")
	check("SHOW STATS_AVERAGES", "xact_count", "10", "30")
	check("SHOW LISTS", "list", "databases", "users", "peers", "pools", "peer_pools", "free_clients", "used_clients",
		"login_clients", "free_servers", "used_servers", "dns_names", "dns_zones", "dns_queries", "dns_pending")
	check("SHOW STATE", "value", "yes", "no", "no")
	check("SHOW IS_PAUSED", "is_paused", "f")
	check("SHOW MEM", "used", "3", "2147483647") // int4 saturates
	check("SHOW MEM heap", "name", "heap")
	check("SHOW FDS", "password", "<null>", "<null>")
	check("SHOW FDS", "cancel", "0", "123456789")
	check("SHOW CONFIG", "changeable", "yes", "yes", "yes", "yes", "no")
	check("SHOW ERRORS", "count", "2", "0")
	check("SHOW LISTEN", "tls_cert_file", "<null>")
	check("SHOW STORAGES", "name", "postgres", "local")
	check("SHOW RULES", "pool_timeout", "0s", "1.5s")
	check("SHOW RULES", "pool_ttl", "0s", "1m")
	check("SHOW RULES", "server_lifetime", "0s", "1h")
	check("SHOW RULES", "user_role", "admin", "<null>")
	check("SHOW SERVER_PREP_STMTS", "sid", "s7")
	check("SHOW POOLS_EXTENDED", "database", "app", "console", "aggregated")
	check("SHOW POOLS_EXTENDED", "bytes_recieved", "5000000000", "0", "<null>")
	check("SHOW POOLS_EXTENDED", "query_0.99", "5000", "0", "5000")
	check("SHOW POOLS_EXTENDED", "transaction_0.5", "2000", "0", "2000")
	check("SELECT 1 AS one, 'x', NULL, 5000000000", "one", "1")

	// SHOW TOTALS: sums, and mean times weighted by rates: avg xact time
	// (300µs*10 + 100µs*30) / 40 = 150µs, query time (100µs*30 + 500µs*10) /
	// 40 = 200µs, wait time (10µs*1 + 50µs*3) / 4 = 40µs.
	rs := c.query("SHOW TOTALS")
	totals := map[string]string{}
	for _, row := range dataRows(rs) {
		totals[row[0]] = row[1]
	}
	for name, want := range map[string]string{"total_xact_count": "101", "total_client_bytes": "1099511627776",
		"avg_xact_count": "40", "avg_xact_time": "150", "avg_query_time": "200", "avg_wait_time": "40",
		"total_ps_bind_count": "9"} {
		if totals[name] != want {
			t.Errorf("SHOW TOTALS %s = %q, want %q", name, totals[name], want)
		}
	}
	if len(totals) != 22 {
		t.Errorf("SHOW TOTALS has %d rows, want 22", len(totals))
	}
	rs = c.query("SELECT 1 AS one, 'x', NULL, true, 5000000000")
	var types []uint32
	for _, f := range first(t, rs, "RowDescription").fields {
		types = append(types, f.DataTypeOID)
	}
	if !slices.Equal(types, []uint32{23, 25, 25, 16, 20}) {
		t.Errorf("SELECT constants types %v", types)
	}
}

func TestHelp(t *testing.T) {
	c := startScripted(t, admin(), newFakeSource())
	rs := c.query("show help;")
	n := first(t, rs, "NoticeResponse").notice
	if n.Severity != "NOTICE" || n.Code != "00000" || !strings.Contains(n.Detail, "SHOW HELP|CONFIG|DATABASES") ||
		!strings.Contains(n.Detail, "KILL_CLIENT <client_id>") || !strings.Contains(n.Detail, "POOLS_EXTENDED") {
		t.Errorf("SHOW HELP notice %+v", n)
	}
}

// TestExtendedProtocol walks pgx's default flow: Parse+Describe+Sync to
// prepare, then Bind (binary results) + Execute + Sync.
func TestExtendedProtocol(t *testing.T) {
	c := startScripted(t, admin(), newFakeSource())
	c.send(&pgproto3.Parse{Name: "s1", Query: "SHOW STATS"}, &pgproto3.Describe{ObjectType: 'S', Name: "s1"}, &pgproto3.Sync{})
	rs := c.untilReady()
	if got := summary(rs); got != "ParseComplete | ParameterDescription | T 23 | Z I" {
		t.Fatalf("prepare: %s", got)
	}
	c.send(&pgproto3.Bind{PreparedStatement: "s1", ResultFormatCodes: []int16{1}},
		&pgproto3.Execute{}, &pgproto3.Sync{})
	rs = c.untilReady()
	if got := summary(rs); got != "BindComplete | D 23 | D 23 | C SHOW | Z I" {
		t.Fatalf("execute: %s", got)
	}
	// Binary numeric, decoded by pgx's own codec.
	var n pgtype.Numeric
	m := pgtype.NewMap()
	if err := m.Scan(pgtype.NumericOID, pgtype.BinaryFormatCode, rs[1].values[4], &n); err != nil {
		t.Fatal(err)
	}
	if n.Int.Int64() != 1<<40 || n.Exp != 0 {
		t.Errorf("total_received = %v e%d, want 2^40", n.Int, n.Exp)
	}
	if string(rs[1].values[0]) != "app" {
		t.Errorf("database in binary = %q", rs[1].values[0])
	}

	// Per-column formats, Describe of the portal, int4 in binary.
	c.send(&pgproto3.Parse{Query: "SHOW LISTS"},
		&pgproto3.Bind{ResultFormatCodes: []int16{0, 1}},
		&pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}, &pgproto3.Sync{})
	rs = c.untilReady()
	desc := first(t, rs, "RowDescription")
	if desc.fields[0].Format != 0 || desc.fields[1].Format != 1 {
		t.Errorf("portal formats %d %d", desc.fields[0].Format, desc.fields[1].Format)
	}
	row := first(t, rs, "DataRow")
	if string(row.values[0]) != "databases" || binary.BigEndian.Uint32(row.values[1]) != 2 {
		t.Errorf("SHOW LISTS first row %q", row.values)
	}

	// A row limit suspends the portal; the next Execute goes on.
	c.send(&pgproto3.Parse{Query: "SHOW CLIENTS"}, &pgproto3.Bind{},
		&pgproto3.Execute{MaxRows: 1}, &pgproto3.Execute{MaxRows: 1}, &pgproto3.Execute{}, &pgproto3.Sync{})
	if got := summary(c.untilReady()); got != "ParseComplete | BindComplete | D 21 | PortalSuspended | D 21 | PortalSuspended | C SHOW | Z I" {
		t.Errorf("row limit: %s", got)
	}

	// Parameters are accepted and ignored; commands without rows describe as NoData.
	c.send(&pgproto3.Parse{Query: "PAUSE app", ParameterOIDs: []uint32{25}},
		&pgproto3.Bind{Parameters: [][]byte{[]byte("x")}},
		&pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}, &pgproto3.Sync{})
	if got := summary(c.untilReady()); got != "ParseComplete | BindComplete | NoData | C PAUSE | Z I" {
		t.Errorf("control verb: %s", got)
	}

	// After an error, everything up to Sync is ignored.
	c.send(&pgproto3.Parse{Query: "bogus"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{},
		&pgproto3.Parse{Query: "SHOW VERSION; SHOW STATE"}, &pgproto3.Sync{})
	if got := summary(c.untilReady()); got != "E 08P01 invalid command 'bogus', use SHOW HELP; | Z I" {
		t.Errorf("error skip: %s", got)
	}
	if got := summary(c.untilReady()); got != "E 42601 cannot insert multiple commands into a prepared statement | Z I" {
		t.Errorf("two statements: %s", got)
	}

	// Unknown statement and portal, duplicate name, bad format count, empty query, Close.
	for _, tc := range []struct {
		msgs []pgproto3.FrontendMessage
		want string
	}{
		{[]pgproto3.FrontendMessage{&pgproto3.Bind{PreparedStatement: "nope"}}, `E 26000 prepared statement "nope" does not exist`},
		{[]pgproto3.FrontendMessage{&pgproto3.Execute{Portal: "nope"}}, `E 34000 portal "nope" does not exist`},
		{[]pgproto3.FrontendMessage{&pgproto3.Parse{Name: "s1", Query: "SHOW STATE"}}, `E 42P05 prepared statement "s1" already exists`},
		{[]pgproto3.FrontendMessage{&pgproto3.Bind{PreparedStatement: "s1", ResultFormatCodes: []int16{0, 1}}, &pgproto3.Execute{}},
			"BindComplete | E 08P01 bind message has 2 result formats but query has 23 columns"},
		{[]pgproto3.FrontendMessage{&pgproto3.Bind{PreparedStatement: "s1", ResultFormatCodes: []int16{7}}}, "E 08P01 unsupported format code: 7"},
		{[]pgproto3.FrontendMessage{&pgproto3.Parse{Query: " "}, &pgproto3.Bind{}, &pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}},
			"ParseComplete | BindComplete | NoData | EmptyQueryResponse"},
		{[]pgproto3.FrontendMessage{&pgproto3.Close{ObjectType: 'S', Name: "s1"}, &pgproto3.Describe{ObjectType: 'S', Name: "s1"}},
			`CloseComplete | E 26000 prepared statement "s1" does not exist`},
		{[]pgproto3.FrontendMessage{&pgproto3.Parse{Query: "SHOW NOSUCH"}, &pgproto3.Describe{ObjectType: 'S'}},
			"ParseComplete | E 08P01 invalid command 'SHOW NOSUCH', use SHOW HELP;"},
	} {
		c.send(append(tc.msgs, &pgproto3.Sync{})...)
		if got := summary(c.untilReady()); got != tc.want+" | Z I" {
			t.Errorf("%T...:\n got %s\nwant %s | Z I", tc.msgs[0], got, tc.want)
		}
	}
}

func TestProtocolViolations(t *testing.T) {
	t.Run("oversized", func(t *testing.T) {
		c := startScripted(t, admin(), newFakeSource())
		c.send(&pgproto3.Query{String: strings.Repeat("x", maxMessageLen+1)})
		r := c.receive()
		if r.kind != "ErrorResponse" || r.err.Severity != "FATAL" || r.err.Code != "08P01" {
			t.Errorf("oversized message: %v", r)
		}
		if err := <-c.done; err == nil {
			t.Error("Serve returned nil after a protocol violation")
		}
		c.done <- nil
	})
	t.Run("unknown type", func(t *testing.T) {
		c := startScripted(t, admin(), newFakeSource())
		c.conn.Write([]byte{'y', 0, 0, 0, 4})
		r := c.receive()
		if r.kind != "ErrorResponse" || r.err.Severity != "FATAL" || r.err.Code != "08P01" {
			t.Errorf("unknown message: %v", r)
		}
		if err := <-c.done; err == nil {
			t.Error("Serve returned nil after a protocol violation")
		}
		c.done <- nil
	})
	t.Run("function call", func(t *testing.T) {
		c := startScripted(t, admin(), newFakeSource())
		c.send(&pgproto3.FunctionCall{Function: 1})
		if got := summary(c.untilReady()); got != "E 08P01 function calls are not supported by the console | Z I" {
			t.Errorf("FunctionCall: %s", got)
		}
	})
	t.Run("eof", func(t *testing.T) {
		c := startScripted(t, admin(), newFakeSource())
		c.conn.Close()
		if err := <-c.done; err != nil {
			t.Errorf("Serve at EOF: %v", err)
		}
		c.done <- nil
	})
}

// pgerrLike stands for src/pgerr.Error: an error with a Response method.
type pgerrLike struct{ code string }

func (e *pgerrLike) Error() string { return "too many connections" }
func (e *pgerrLike) Response() *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{Severity: "FATAL", Code: e.code, Message: e.Error()}
}

func TestErrorResponseKeepsSQLSTATE(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
	}{
		{UnknownDatabase("x"), "3D000"},
		{fmt.Errorf("wrapped: %w", &pgerrLike{code: "53300"}), "53300"},
		{errors.New("boom\x00"), "XX000"},
	} {
		r := errorResponse(tc.err, "XX000")
		if r.Code != tc.code || r.Severity != "ERROR" || strings.Contains(r.Message, "\x00") {
			t.Errorf("errorResponse(%v) = %+v", tc.err, r)
		}
	}
	if !reflect.DeepEqual(InvalidValue("k", "why").Detail, "why") {
		t.Error("InvalidValue detail")
	}
}

// TestTransactionStatus follows a driver outside autocommit mode (psycopg's
// default): BEGIN before the queries, COMMIT or ROLLBACK after, with the
// transaction status PostgreSQL would report.
func TestTransactionStatus(t *testing.T) {
	c := startScripted(t, Session{User: "watcher", Role: RoleStat}, newFakeSource())
	for _, step := range []struct{ q, want string }{
		{"BEGIN", "C BEGIN | Z T"},
		{"SHOW VERSION", "T 1 | D 1 | C SHOW | Z T"},
		{"bogus", "E 08P01 invalid command 'bogus', use SHOW HELP; | Z E"},
		{"SHOW VERSION", "E 25P02 current transaction is aborted, commands ignored until end of transaction block | Z E"},
		{"COMMIT", "C ROLLBACK | Z I"},
		{"COMMIT", "N there is no transaction in progress | C COMMIT | Z I"},
		{"BEGIN; START TRANSACTION", "C BEGIN | N there is already a transaction in progress | C BEGIN | Z T"},
		{"ROLLBACK", "C ROLLBACK | Z I"},
	} {
		if got := summary(c.query(step.q)); got != step.want {
			t.Errorf("%q:\n got %s\nwant %s", step.q, got, step.want)
		}
	}
	// The extended protocol reports it at Sync.
	c.send(&pgproto3.Parse{Query: "BEGIN"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{})
	if got := summary(c.untilReady()); got != "ParseComplete | BindComplete | C BEGIN | Z T" {
		t.Errorf("extended BEGIN: %s", got)
	}
	c.send(&pgproto3.Parse{Query: "bogus"}, &pgproto3.Sync{})
	if got := summary(c.untilReady()); got != "E 08P01 invalid command 'bogus', use SHOW HELP; | Z E" {
		t.Errorf("extended error in a block: %s", got)
	}
}

func TestContextEndsSession(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	err := Serve(ctx, bytes.NewReader(nil), &out, admin(), newFakeSource())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Serve with an ended context: %v", err)
	}
	fe := pgproto3.NewFrontend(&out, io.Discard)
	var last reply
	for range 100 {
		m, err := fe.Receive()
		if err != nil {
			break
		}
		last = copyReply(m)
	}
	if last.kind != "ErrorResponse" || last.err.Severity != "FATAL" || last.err.Code != "57P01" {
		t.Errorf("last message %v, want FATAL 57P01", last)
	}
}
