package relay

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/odyssey-go/odyssey/src/backend"
)

// TestClientGoneServerReusable: a session-mode client leaves while its
// query runs; the query is cancelled, the server reset and put back in the
// pool while the client goroutine's cleanup goes on. The next client gets
// that server and can use it: neither the cancel request nor the deadline
// that wakes the server goroutine hit the reset or outlive it.
func TestClientGoneServerReusable(t *testing.T) {
	p := newPool(t, 1)
	opts := Options{Mode: SessionMode, Cancel: true}
	tc := startClient(t, p, opts)
	s := tc.sess
	answered := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.pending == 0
	}
	s.mu.Lock()
	s.cancel = func(ctx context.Context, srv *backend.Server) error {
		err := srv.Cancel(ctx)
		// Let the server goroutine see the cancelled query end before
		// finish goes on, so that it resets and releases the server while
		// finish wakes it: a wake that once cut the reset short or stayed
		// on the server in the pool.
		for !answered() && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		return err
	}
	s.mu.Unlock()

	ctx := testCtx(t)
	mon, err := pgconn.Connect(ctx, cluster.DSN(cluster.User, cluster.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close(context.Background())
	go func() { _, _ = tc.pg.Exec(ctx, "SELECT pg_sleep(30)").ReadAll() }()
	eventually(t, "query running", func() bool {
		res, err := mon.Exec(ctx, "SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query = 'SELECT pg_sleep(30)'").ReadAll()
		return err == nil && len(res) == 1 && len(res[0].Rows) == 1
	})
	_ = tc.wire.Close()
	if err := ended(t, tc); err != nil {
		t.Logf("first session ended with %v", err)
	}

	next := startClient(t, p, opts)
	next.exec(t, "SELECT 'usable'")
	p.mu.Lock()
	n := len(p.seen)
	p.mu.Unlock()
	if n != 1 {
		t.Errorf("%d servers used, want the one the first client left", n)
	}
}
