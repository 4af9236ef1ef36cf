package backend

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/odyssey-go/odyssey/integration/pgtest"
	"github.com/odyssey-go/odyssey/integration/testcert"
	"github.com/odyssey-go/odyssey/src/internal/tlsconf"
	"github.com/odyssey-go/odyssey/src/pgerr"
)

// TestTLSServer: a server connected with verify_full over a PostgreSQL
// with ssl on describes its TLS, runs queries, is cancelled over TLS, and
// Alive still tells an idle one from a terminated one by peeking under
// TLS. (The sslmode table is tested end to end in integration.)
func TestTLSServer(t *testing.T) {
	ca, err := testcert.NewCA("backend test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := pgtest.Start(pgtest.Options{SSL: &pgtest.SSL{Cert: cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop() })
	caFile, err := ca.WriteCA(t.TempDir(), "ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	tlsc, err := tlsconf.NewClient(tlsconf.VerifyFull, tlsconf.Files{CA: caFile})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Network: "tcp", Address: pg.Addr(), User: pgtest.SCRAMUser, Password: pgtest.SCRAMPassword,
		Database: "postgres", TLS: tlsc}
	s := connect(t, opts)
	if !regexp.MustCompile(`^TLSv1\.[23]/TLS_\w+/ECDH=\w+$`).MatchString(s.TLS) {
		t.Errorf("Server.TLS = %q, want PgBouncer's form", s.TLS)
	}
	if got := one(t, s, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"); got != "t" {
		t.Fatalf("pg_stat_ssl.ssl = %s", got)
	}

	ctx := testCtx(t)
	done := make(chan error, 1)
	go func() { done <- s.Exec(ctx, "SELECT pg_sleep(30)") }()
	admin := connect(t, Options{Network: "tcp", Address: pg.Addr(), User: pgtest.SuperUser, Password: pgtest.SuperPassword, Database: "postgres"})
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
	if err := s.Cancel(ctx); err != nil {
		t.Fatalf("Cancel over TLS: %v", err)
	}
	wantCode(t, <-done, pgerr.QueryCanceled)

	if !s.Alive() {
		t.Fatal("idle TLS server not alive")
	}
	if got := one(t, admin, "SELECT pg_terminate_backend("+strconv.Itoa(int(s.PID))+")"); got != "t" {
		t.Fatalf("pg_terminate_backend: %s", got)
	}
	alive := true
	for i := 0; i < 500 && alive; i++ {
		if alive = s.Alive(); alive {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if alive {
		t.Fatal("terminated TLS server still reported alive")
	}
}
