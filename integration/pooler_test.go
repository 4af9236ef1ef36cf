// Package integration runs the pooler in-process in front of a real
// PostgreSQL started by integration/pgtest, with pgx, psql and pgbench as
// clients.
package integration

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/instance"
	"github.com/odyssey-go/odyssey/integration/pgtest"
)

var pg *pgtest.Cluster

func TestMain(m *testing.M) {
	var err error
	pg, err = pgtest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: cannot start PostgreSQL:", err)
		os.Exit(1)
	}
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

// startPooler runs a pooler in-process with one rule for every database
// and user; extra is added inside the user block.
func startPooler(t *testing.T, extra string) string {
	t.Helper()
	src := fmt.Sprintf(`
listen {
  host = "127.0.0.1"
  port = 0
}
storage "pg" {
  host = "%s"
  port = %d
}
database default {
  user default {
    storage = "pg"
    %s
  }
}
`, pg.Host, pg.Port, extra)
	cfg, err := config.Parse([]byte(src), "test.hcl")
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
	return inst.Addrs()[0].String()
}

func dsn(addr, extra string) string {
	return fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable&%s", addr, extra)
}

func direct(t *testing.T) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// serverCount counts backends other than the caller's: the pooler's.
func serverCount(t *testing.T, c *pgx.Conn, where string) int {
	t.Helper()
	var n int
	q := "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
	if where != "" {
		q += " AND " + where
	}
	if err := c.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPgbenchTransactionMode(t *testing.T) {
	addr := startPooler(t, `pool = "transaction"
    pool_size = 5`)
	host, port, _ := net.SplitHostPort(addr)
	pgbench := func(args ...string) string {
		cmd := exec.Command(pg.Bin("pgbench"), append([]string{"-h", host, "-p", port, "-U", "postgres"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("pgbench %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	pgbench("-i", "-s", "1", "-q", "postgres")

	mon := direct(t)
	var maxSeen atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			var n int64
			_ = mon.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()").Scan(&n)
			if n > maxSeen.Load() {
				maxSeen.Store(n)
			}
		}
	}()
	for _, mode := range []string{"simple", "extended"} {
		out := pgbench("-c", "50", "-j", "2", "-T", "5", "-M", mode, "postgres")
		if strings.Contains(out, "aborted") || !strings.Contains(out, "number of failed transactions: 0 ") {
			t.Errorf("pgbench -M %s:\n%s", mode, out)
		}
	}
	close(stop)
	wg.Wait()
	if n := maxSeen.Load(); n > 5 || n == 0 {
		t.Errorf("saw %d server connections, want 1..5 (pool_size 5)", n)
	}
}

func TestSetSeenOnlyByItsClient(t *testing.T) {
	addr := startPooler(t, `pool = "transaction"
    pool_size = 1`)
	ctx := context.Background()
	a, err := pgx.Connect(ctx, dsn(addr, "default_query_exec_mode=simple_protocol&application_name=client_a"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	b, err := pgx.Connect(ctx, dsn(addr, "default_query_exec_mode=simple_protocol&options=-c%20work_mem%3D7MB"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	show := func(c *pgx.Conn, name string) string {
		var v string
		if err := c.QueryRow(ctx, "SHOW "+name).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if _, err := a.Exec(ctx, "SET statement_timeout = '1234ms'"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Exec(ctx, "SET search_path = a, public"); err != nil {
		t.Fatal(err)
	}
	if v := show(b, "statement_timeout"); v != "0" {
		t.Errorf("client B sees statement_timeout %q set by client A", v)
	}
	if v := show(b, "work_mem"); v != "7MB" {
		t.Errorf("client B's startup option work_mem: %q", v)
	}
	if v := show(b, "application_name"); v == "client_a" {
		t.Errorf("client B sees client A's application_name")
	}
	if v := show(a, "statement_timeout"); v != "1234ms" {
		t.Errorf("client A lost its statement_timeout: %q", v)
	}
	if v := show(a, "search_path"); v != "a, public" {
		t.Errorf("client A's search_path: %q", v)
	}
	if v := show(a, "application_name"); v != "client_a" {
		t.Errorf("client A's application_name: %q", v)
	}
}

func TestClientKilledInsideTransaction(t *testing.T) {
	addr := startPooler(t, `pool = "transaction"
    pool_size = 1`)
	ctx := context.Background()
	mon := direct(t)
	if _, err := mon.Exec(ctx, "CREATE TABLE IF NOT EXISTS killed_tx (v int)"); err != nil {
		t.Fatal(err)
	}
	c, err := pgconn.Connect(ctx, dsn(addr, ""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "BEGIN; INSERT INTO killed_tx VALUES (42)").ReadAll(); err != nil {
		t.Fatal(err)
	}
	_ = c.Conn().Close() // vanish without Terminate
	deadline := time.Now().Add(20 * time.Second)
	for serverCount(t, mon, "state = 'idle in transaction'") > 0 {
		if time.Now().After(deadline) {
			t.Fatal("server still idle in transaction after its client left")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The single server must be usable by the next client, and the write gone.
	n, err := pgx.Connect(ctx, dsn(addr, "default_query_exec_mode=simple_protocol"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(ctx)
	var count int
	if err := n.QueryRow(ctx, "SELECT count(*) FROM killed_tx").Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != 0 {
		t.Fatalf("write of a client that left mid-transaction is visible: %d rows", count)
	}
}

func TestCancelThroughPooler(t *testing.T) {
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode, func(t *testing.T) {
			addr := startPooler(t, fmt.Sprintf(`pool = "%s"
    pool_size = 10`, mode))
			ctx := context.Background()
			victim, err := pgconn.Connect(ctx, dsn(addr, ""))
			if err != nil {
				t.Fatal(err)
			}
			defer victim.Close(ctx)
			if mode == "session" {
				r := victim.Exec(ctx, "SELECT pg_backend_pid()")
				res, err := r.ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				if got := string(res[0].Rows[0][0]); got != fmt.Sprint(victim.PID()) {
					t.Errorf("session mode BackendKeyData pid %d, server pid %s", victim.PID(), got)
				}
			}
			var others sync.WaitGroup
			var otherErr atomic.Value
			for i := 0; i < 4; i++ {
				others.Add(1)
				go func() {
					defer others.Done()
					c, err := pgconn.Connect(ctx, dsn(addr, ""))
					if err != nil {
						otherErr.Store(err)
						return
					}
					defer c.Close(ctx)
					for j := 0; j < 3; j++ {
						if _, err := c.Exec(ctx, "SELECT pg_sleep(0.3)").ReadAll(); err != nil {
							otherErr.Store(err)
						}
					}
				}()
			}
			go func() {
				time.Sleep(300 * time.Millisecond)
				_ = victim.CancelRequest(ctx)
			}()
			_, err = victim.Exec(ctx, "SELECT pg_sleep(30)").ReadAll()
			var pge *pgconn.PgError
			if !errors.As(err, &pge) || pge.Code != "57014" {
				t.Fatalf("cancelled query: got %v, want SQLSTATE 57014", err)
			}
			others.Wait()
			if e := otherErr.Load(); e != nil {
				t.Fatalf("another client's query failed: %v", e)
			}
		})
	}
}

func TestMalformedStartup(t *testing.T) {
	addr := startPooler(t, `pool = "transaction"`)
	cases := []struct {
		name string
		pkt  []byte
		code string
	}{
		{"length 3", []byte{0, 0, 0, 3}, "08P01"},
		{"too long", binary.BigEndian.AppendUint32(nil, 20000), "08P01"},
		{"protocol 2", append(binary.BigEndian.AppendUint32(nil, 16), 0, 2, 0, 0, 'u', 0, 'x', 0, 0, 0, 0, 0), "0A000"},
	}
	for _, c := range cases {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = conn.Write(c.pkt)
		fe := pgproto3.NewFrontend(conn, conn)
		msg, err := fe.Receive()
		er, ok := msg.(*pgproto3.ErrorResponse)
		if err != nil || !ok || er.Code != c.code || er.Severity != "FATAL" {
			t.Errorf("%s: got %#v %v, want FATAL %s", c.name, msg, err, c.code)
		}
		if _, err := fe.Receive(); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			t.Errorf("%s: socket not closed after FATAL: %v", c.name, err)
		}
		conn.Close()
	}
	// Still serving.
	c, err := pgconn.Connect(context.Background(), dsn(addr, ""))
	if err != nil {
		t.Fatal(err)
	}
	c.Close(context.Background())
}
