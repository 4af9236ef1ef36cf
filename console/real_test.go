package console

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
)

// These tests serve the console on a loopback listener and talk to it with
// real clients: psql (libpq, simple protocol) and pgx (extended protocol).
// The accept loop below stands in for the pooler's: it skips
// authentication, sends AuthenticationOk and calls Serve.

// Protocol codes of the startup packet
// (https://www.postgresql.org/docs/current/protocol-message-formats.html).
const (
	codeSSLRequest    = 80877103
	codeGSSENCRequest = 80877104
	protocol30        = 3 << 16
	maxStartupLen     = 10000 // MAX_STARTUP_PACKET_LENGTH in PostgreSQL's source
	maxTestConns      = 200
)

// serveConsole serves the console for the test's lifetime and returns its
// address. User "stat" gets the stat role, anyone else admin.
func serveConsole(t *testing.T, src Source) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		cancel()
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range maxTestConns {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(time.Minute))
				params, err := startup(conn)
				if err != nil {
					return
				}
				role := RoleAdmin
				if params["user"] == "stat" {
					role = RoleStat
				}
				sess := Session{User: params["user"], Database: params["database"], Role: role, Params: params,
					ProcessID: 1, SecretKey: 2}
				if err := Serve(ctx, conn, conn, sess, src); err != nil && !errors.Is(err, net.ErrClosed) {
					t.Logf("Serve: %v", err)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// startup reads the startup packet (declining SSL and GSS encryption) and
// answers AuthenticationOk. It reads exactly the packet, so that nothing
// the client sends next is lost before Serve.
func startup(conn net.Conn) (map[string]string, error) {
	for range 3 {
		var hdr [8]byte
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return nil, err
		}
		n := int(binary.BigEndian.Uint32(hdr[:4]))
		if n < 8 || n > maxStartupLen {
			return nil, fmt.Errorf("startup packet of %d bytes", n)
		}
		body := make([]byte, n-4)
		copy(body, hdr[4:])
		if _, err := io.ReadFull(conn, body[4:]); err != nil {
			return nil, err
		}
		switch binary.BigEndian.Uint32(hdr[4:]) {
		case codeSSLRequest, codeGSSENCRequest:
			if _, err := conn.Write([]byte{'N'}); err != nil {
				return nil, err
			}
			continue
		case protocol30:
			var m pgproto3.StartupMessage
			if err := m.Decode(body); err != nil {
				return nil, err
			}
			ok, _ := (&pgproto3.AuthenticationOk{}).Encode(nil)
			_, err := conn.Write(ok)
			return m.Parameters, err
		}
		return nil, errors.New("unsupported startup code")
	}
	return nil, errors.New("too many startup packets")
}

// psqlPath finds psql: PostgreSQL's bin directory of the highest version,
// then PATH.
func psqlPath(t *testing.T) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/psql")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[j]))))
		return vi > vj
	})
	if len(dirs) > 0 {
		return dirs[0]
	}
	p, err := exec.LookPath("psql")
	if err != nil {
		t.Fatal("psql not found: install postgresql-client (scripts/deps.sh)")
	}
	return p
}

func TestPsql(t *testing.T) {
	addr := serveConsole(t, newFakeSource())
	host, port, _ := net.SplitHostPort(addr)
	psql := psqlPath(t)
	run := func(user string, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, psql, append([]string{"-X", "-h", host, "-p", port, "-U", user, "-d", "console"}, args...)...)
		// sslmode prefer (libpq's default) sends SSLRequest first: declined.
		cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=20", "PGAPPNAME=console_test", "PGSSLMODE=prefer", "PGPASSWORD=")
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			code = ee.ExitCode()
		case err != nil:
			t.Fatalf("psql: %v", err)
		}
		return out.String(), errb.String(), code
	}

	out, errOut, code := run("admin", "-A", "-t", "-c", "SHOW POOLS")
	if code != 0 || out != "app|alice|5|2|0|0|3|0|0|1|0|0|0|2|1500|transaction|\nconsole|admin|1|0|0|0|0|0|0|0|0|0|0|0|0|session|\n" {
		t.Errorf("psql SHOW POOLS: code %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run("admin", "-c", "SHOW POOLS")
	if code != 0 || !strings.Contains(out, " database | user  | cl_active | cl_waiting | cl_active_cancel_req |") || !strings.Contains(out, "(2 rows)") {
		t.Errorf("psql SHOW POOLS (aligned): code %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run("admin", "-c", "SHOW HELP")
	if code != 0 || !strings.Contains(errOut, "NOTICE:  Console usage") || !strings.Contains(errOut, "SHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS") {
		t.Errorf("psql SHOW HELP: code %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	out, errOut, code = run("admin", "-c", "bogus")
	if code != 1 || !strings.Contains(errOut, "ERROR:  invalid command 'bogus', use SHOW HELP;") {
		t.Errorf("psql bogus: code %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	out, errOut, code = run("admin", "-X", "-A", "-t", "-c", "show version; SHOW application_name; PAUSE app")
	if code != 0 || out != "Odyssey-Go 0.1.0\nconsole_test\nPAUSE\n" {
		t.Errorf("psql three statements: code %d\n%q\n%s", code, out, errOut)
	}
	out, errOut, code = run("stat", "-A", "-t", "-c", "SHOW STATS_TOTALS")
	if code != 0 || !strings.HasPrefix(out, "app|10|100|300|1099511627776|2199023255552|3000000|2000000|1000|4|3|9\n") {
		t.Errorf("psql stat SHOW STATS_TOTALS: code %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run("stat", "-c", "RELOAD")
	if code != 1 || !strings.Contains(errOut, "ERROR:  admin access needed") {
		t.Errorf("psql stat RELOAD: code %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	// A psql session: several commands, one connection.
	out, errOut, code = run("admin", "-A", "-t", "-c", "SHOW CLIENTS app", "-c", "SELECT 1", "-c", "SHOW IS_PAUSED")
	if code != 0 || !strings.HasPrefix(out, "C|alice|app|none|active|127.0.0.1|40000|127.0.0.1|6432|2025-03-04 05:06:07 UTC|") ||
		!strings.HasSuffix(out, "\n1\nf\n") {
		t.Errorf("psql session: code %d\n%s%s", code, out, errOut)
	}
}

func pgxConnect(t *testing.T, addr, user string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s@%s/console?sslmode=disable&application_name=pgxtest", user, addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestPgx(t *testing.T) {
	src := newFakeSource()
	addr := serveConsole(t, src)
	conn := pgxConnect(t, addr, "admin")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The default mode: the statement is prepared (Parse, Describe), then
	// bound with binary results for the types pgx knows.
	rows, err := conn.Query(ctx, "SHOW STATS")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range rows.FieldDescriptions() {
		names = append(names, f.Name)
	}
	var dbs []string
	var received []float64
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		dbs = append(dbs, vals[0].(string))
		n := vals[4].(pgtype.Numeric)
		f, _ := n.Float64Value()
		received = append(received, f.Float64)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(names) != 23 || names[4] != "total_received" || !slices.Equal(dbs, []string{"app", "other"}) ||
		received[0] != float64(1<<40) {
		t.Errorf("pgx SHOW STATS: columns %q, databases %q, total_received %v", names, dbs, received)
	}
	if tag := rows.CommandTag().String(); tag != "SHOW" {
		t.Errorf("tag %q", tag)
	}

	// Typed scans: int4, text, timestamps as text, NULL.
	type client struct {
		ID          int32
		State       string
		ConnectTime string
		RequestTime *string
	}
	rows, err = conn.Query(ctx, "SHOW CLIENTS")
	if err != nil {
		t.Fatal(err)
	}
	clients, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (client, error) {
		m, err := pgx.RowToMap(r)
		if err != nil {
			return client{}, err
		}
		c := client{ID: m["id"].(int32), State: m["state"].(string), ConnectTime: m["connect_time"].(string)}
		if s, ok := m["request_time"].(string); ok {
			c.RequestTime = &s
		}
		return c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(clients) != 2 || clients[0].ID != 1 || clients[1].State != "waiting" ||
		clients[0].ConnectTime != "2025-03-04 05:06:07 UTC" || clients[1].RequestTime != nil {
		t.Errorf("pgx SHOW CLIENTS: %+v", clients)
	}

	// Every other mode pgx has.
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheDescribe, pgx.QueryExecModeDescribeExec,
		pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol} {
		var items int32
		var list string
		if err := conn.QueryRow(ctx, "SHOW LISTS", mode).Scan(&list, &items); err != nil || list != "databases" || items != 2 {
			t.Errorf("mode %v: SHOW LISTS first row %q %d, %v", mode, list, items, err)
		}
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Errorf("SELECT 1: %d, %v", one, err)
	}
	var paused bool
	if err := conn.QueryRow(ctx, "SHOW IS_PAUSED").Scan(&paused); err != nil || paused {
		t.Errorf("SHOW IS_PAUSED: %v, %v", paused, err)
	}

	// Control verbs and errors; the connection survives an error.
	if tag, err := conn.Exec(ctx, "PAUSE app"); err != nil || tag.String() != "PAUSE" {
		t.Errorf("PAUSE app: %q, %v", tag, err)
	}
	_, err = conn.Exec(ctx, "bogus")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "08P01" || pgErr.Message != "invalid command 'bogus', use SHOW HELP;" {
		t.Errorf("bogus: %v", err)
	}
	_, err = conn.Exec(ctx, "RESUME app", pgx.QueryExecModeDescribeExec)
	if err != nil {
		t.Errorf("RESUME app (extended): %v", err)
	}
	rows, _ = conn.Query(ctx, "SHOW NOSUCH")
	rows.Close()
	if !errors.As(rows.Err(), &pgErr) || pgErr.Code != "08P01" {
		t.Errorf("SHOW NOSUCH: %v", rows.Err())
	}
	if err := conn.Ping(ctx); err != nil {
		t.Errorf("ping after errors: %v", err)
	}
	if calls := src.Calls(); !slices.Equal(calls, []string{`pause "app"`, `resume "app"`}) {
		t.Errorf("calls %q", calls)
	}

	// The stat role over the extended protocol.
	stat := pgxConnect(t, addr, "stat")
	if _, err := stat.Exec(ctx, "RELOAD"); !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Errorf("stat RELOAD: %v", err)
	}
}

// TestExporterScrape scrapes the console as the prometheus-community
// pgbouncer_exporter (v0.12, collector.go) does: lib/pq, which sends
// queries without arguments over the simple protocol, runs SHOW STATS to
// connect, then SHOW VERSION (exactly one column named version), SHOW LISTS
// and SHOW CONFIG (row-wise, values parsed as floats), and SHOW DATABASES,
// STATS_TOTALS and POOLS, whose columns it maps to labels and metrics by
// name. The exporter itself cannot be installed here (no Debian package;
// the module proxy does not serve it), so its column needs are transcribed.
// pgbouncer_up is 1 when none of these fails.
func TestExporterScrape(t *testing.T) {
	conn := pgxConnect(t, serveConsole(t, newFakeSource()), "stat")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	query := func(sql string) ([]string, [][]*string) {
		t.Helper()
		rows, err := conn.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		defer rows.Close()
		var cols []string
		for _, f := range rows.FieldDescriptions() {
			cols = append(cols, f.Name)
		}
		var out [][]*string
		for rows.Next() {
			row := make([]*string, len(cols))
			for i, raw := range rows.RawValues() {
				if raw != nil {
					s := string(raw)
					row[i] = &s
				}
			}
			out = append(out, row)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return cols, out
	}
	isFloat := func(s *string) bool {
		if s == nil {
			return true // NULL becomes NaN
		}
		_, err := strconv.ParseFloat(*s, 64)
		return err == nil
	}

	query("SHOW STATS")
	if cols, rows := query("SHOW VERSION;"); len(cols) != 1 || cols[0] != "version" || len(rows) != 1 {
		t.Errorf("SHOW VERSION: %q", cols)
	}
	cols, rows := query("SHOW LISTS;")
	lists := map[string]bool{}
	for _, r := range rows {
		lists[*r[0]] = true
		if len(cols) != 2 || !isFloat(r[1]) {
			t.Errorf("SHOW LISTS row %v", r)
		}
	}
	for _, l := range []string{"databases", "users", "pools", "free_clients", "used_clients", "login_clients",
		"free_servers", "used_servers", "dns_names", "dns_zones", "dns_queries"} {
		if !lists[l] {
			t.Errorf("SHOW LISTS lacks %s", l)
		}
	}
	cols, rows = query("SHOW CONFIG;")
	if len(cols) != 4 {
		t.Errorf("SHOW CONFIG has %d columns", len(cols))
	}
	for _, r := range rows {
		if (*r[0] == "max_client_conn" || *r[0] == "max_user_connections") && !isFloat(r[1]) {
			t.Errorf("SHOW CONFIG %s = %v", *r[0], *r[1])
		}
	}
	for sql, want := range map[string]struct{ labels, metrics []string }{
		"SHOW DATABASES;": {[]string{"name", "host", "port", "database", "force_user", "pool_mode"},
			[]string{"pool_size", "max_connections", "current_connections", "paused", "disabled"}},
		"SHOW STATS_TOTALS;": {[]string{"database"}, []string{"query_count", "query_time", "bytes_received", "bytes_sent",
			"wait_time", "xact_count", "xact_time", "client_parse_count", "server_parse_count", "bind_count"}},
		"SHOW POOLS;": {[]string{"database", "user"}, []string{"cl_active", "cl_active_cancel_req", "cl_waiting",
			"cl_waiting_cancel_req", "sv_active", "sv_active_cancel", "sv_being_canceled", "sv_idle", "sv_used",
			"sv_tested", "sv_login", "maxwait"}},
	} {
		cols, rows := query(sql)
		for _, name := range append(want.labels, want.metrics...) {
			i := slices.Index(cols, name)
			if i < 0 {
				t.Errorf("%s lacks column %s", sql, name)
				continue
			}
			for _, r := range rows {
				if slices.Contains(want.metrics, name) && !isFloat(r[i]) {
					t.Errorf("%s %s = %v: not a number", sql, name, *r[i])
				}
			}
		}
		if len(rows) == 0 {
			t.Errorf("%s: no rows", sql)
		}
	}
}
