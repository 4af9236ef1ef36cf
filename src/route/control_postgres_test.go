package route

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/odyssey-go/odyssey/integration/pgtest"
	"github.com/odyssey-go/odyssey/src/backend"
	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/pool"
)

// TestControlOnPostgreSQL runs the console's verbs against a real
// PostgreSQL and checks, in pg_stat_activity, which server processes they
// leave running.
func TestControlOnPostgreSQL(t *testing.T) {
	cluster, err := pgtest.Start(pgtest.Options{})
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(func() { _ = cluster.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	c := &config.Config{
		BackendConnectTimeout: 10 * time.Second,
		Storages: map[string]*config.Storage{
			"pg":    {Name: "pg", Type: "remote", Endpoints: []config.Endpoint{{Host: cluster.Host, Port: cluster.Port}}},
			"local": {Name: "local", Type: "local"},
		},
		Rules: []*config.Rule{
			rule("postgres", "*", func(r *config.Rule) {
				r.Storage, r.StorageUser, r.StoragePassword = "pg", pgtest.SCRAMUser, pgtest.SCRAMPassword
				r.PoolSize, r.PoolTimeout = 2, 0
			}),
			rule("console", "*", func(r *config.Rule) { r.Storage = "local" }),
		},
	}
	r := newRouter(t, c)

	super, err := backend.Connect(ctx, backend.Options{Network: "tcp", Address: cluster.Addr(),
		Database: "postgres", User: pgtest.SuperUser, Password: pgtest.SuperPassword})
	if err != nil {
		t.Fatalf("connect as superuser: %v", err)
	}
	defer super.Close()
	// gone waits until PostgreSQL's process for srv has exited.
	gone := func(t *testing.T, srv *backend.Server) {
		t.Helper()
		for range 1000 {
			rows, err := super.QueryArgs(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1",
				strconv.FormatUint(uint64(srv.PID), 10))
			if err != nil {
				t.Fatalf("pg_stat_activity: %v", err)
			}
			if rows[0][0] == "0" {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("server process %d still running", srv.PID)
	}
	acquire := func(t *testing.T, p *pool.Pool) *backend.Server {
		t.Helper()
		srv, err := p.Acquire(ctx)
		if err != nil {
			t.Fatalf("Acquire: %v", err)
		}
		return srv
	}
	// works fails unless srv answers a query.
	works := func(t *testing.T, srv *backend.Server) {
		t.Helper()
		if _, err := srv.Query(ctx, "SELECT 1"); err != nil {
			t.Fatalf("server %d: %v", srv.PID, err)
		}
	}

	t.Run("PAUSE waits for a server in use, RESUME lets queued clients on", func(t *testing.T) {
		p := mustMatch(t, r, "postgres", "app").Pool()
		held, idle := acquire(t, p), acquire(t, p)
		p.Release(idle)
		paused := make(chan error, 1)
		go func() { paused <- r.Pause(ctx, "postgres") }()
		gone(t, idle)
		waiter := make(chan result, 1)
		go func() {
			s, err := p.Acquire(ctx)
			waiter <- result{s, err}
		}()
		for i := 0; p.Stats().Waiting == 0; i++ {
			if i == 10000 {
				t.Fatal("Acquire during PAUSE did not queue")
			}
			time.Sleep(time.Millisecond)
		}
		works(t, held) // its transaction goes on
		notDone(t, "PAUSE with a server in use", paused)

		p.Release(held)
		if err := <-paused; err != nil {
			t.Fatalf("PAUSE: %v", err)
		}
		gone(t, held)
		notDone(t, "Acquire during PAUSE", waiter)
		if err := r.Resume("postgres"); err != nil {
			t.Fatal(err)
		}
		w := <-waiter
		if w.err != nil {
			t.Fatalf("Acquire after RESUME: %v", w.err)
		}
		works(t, w.srv)
		p.Release(w.srv)
	})

	t.Run("RECONNECT closes servers as they are released", func(t *testing.T) {
		p := mustMatch(t, r, "postgres", "app").Pool()
		a, b := acquire(t, p), acquire(t, p)
		p.Release(b)
		if err := r.Reconnect("postgres"); err != nil {
			t.Fatal(err)
		}
		gone(t, b)
		works(t, a)
		waited := make(chan error, 1)
		go func() { waited <- r.WaitClose(ctx, "postgres") }()
		notDone(t, "WAIT_CLOSE with a close_needed server in use", waited)
		p.Release(a)
		if err := <-waited; err != nil {
			t.Fatalf("WAIT_CLOSE: %v", err)
		}
		gone(t, a)
		fresh := acquire(t, p)
		if fresh.PID == a.PID || fresh.PID == b.PID {
			t.Fatal("a reconnected server came back")
		}
		works(t, fresh)
		p.Release(fresh)
	})

	t.Run("KILL closes a server in use", func(t *testing.T) {
		p := mustMatch(t, r, "postgres", "app").Pool()
		a := acquire(t, p)
		if err := r.Kill("postgres"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Query(ctx, "SELECT 1"); err == nil {
			t.Fatal("killed server still answers")
		}
		gone(t, a)
		if !r.Paused("postgres") {
			t.Fatal("KILL did not pause")
		}
		p.Discard(a) // as the relay does once the server fails
		if err := r.Resume("postgres"); err != nil {
			t.Fatal(err)
		}
		s := acquire(t, p)
		works(t, s)
		p.Release(s)
	})

	t.Run("WAIT_CLOSE waits for the servers of a rule a RELOAD replaced", func(t *testing.T) {
		rt := mustMatch(t, r, "postgres", "app")
		if err := rt.AddClient(); err != nil {
			t.Fatal(err)
		}
		p := rt.Pool()
		s := acquire(t, p)
		if err := r.Reload(reparsed(c, func(n *config.Config) { n.Rules[0].PoolDiscard = true })); err != nil {
			t.Fatal(err)
		}
		if !rt.Obsolete() {
			t.Fatal("route not replaced")
		}
		waited := make(chan error, 1)
		go func() { waited <- r.WaitClose(ctx, "postgres") }()
		p.Release(s) // its client is still there: the server waits idle
		if list := p.Servers(); len(list) != 1 || list[0].State != "idle" || !list[0].CloseNeeded {
			t.Fatalf("servers of the replaced rule: %+v", list)
		}
		notDone(t, "WAIT_CLOSE with the old rule's client connected", waited)
		rt.RemoveClient() // the last client: the old pool closes
		if err := <-waited; err != nil {
			t.Fatalf("WAIT_CLOSE: %v", err)
		}
		gone(t, s)
	})
}

type result struct {
	srv *backend.Server
	err error
}

// notDone fails if ch already has a result: what must still be waiting.
func notDone[T any](t *testing.T, what string, ch <-chan T) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s returned early: %v", what, v)
	default:
	}
}
