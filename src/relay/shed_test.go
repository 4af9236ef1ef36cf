package relay

import (
	"testing"
	"time"

	"github.com/odyssey-go/odyssey/src/pgerr"
)

// idleAfter runs sql and waits until the server is back in the pool.
func idleAfter(t *testing.T, tc *testClient, p *watchedPool, sql string) {
	t.Helper()
	tc.exec(t, sql)
	eventually(t, "server back in the pool", func() bool { return p.Stats().Idle == 1 })
}

// parked waits until tc's client goroutine waits on the socket, where a
// Shed that declines cannot decline only because it came too early.
func parked(t *testing.T, tc *testClient) {
	t.Helper()
	eventually(t, "client goroutine parked", func() bool {
		tc.sess.mu.Lock()
		defer tc.sess.mu.Unlock()
		return tc.sess.parked
	})
}

// shed asks tc's session to move and waits until it has. Its client
// goroutine may still be on its way back to the socket wait, where Shed
// finds it.
func shed(t *testing.T, tc *testClient) {
	t.Helper()
	m := moves.Load()
	eventually(t, "Shed asks the idle session to move", func() bool { return tc.sess.Shed(0) })
	eventually(t, "client goroutine moved", func() bool { return moves.Load() > m })
}

// TestShedMovesAnIdleClient: an idle session started with Go moves to a
// new goroutine when asked, once per idle period, and goes on serving.
func TestShedMovesAnIdleClient(t *testing.T) {
	p := newPool(t, 1)
	tc := startSession(t, p, Options{Mode: TransactionMode}, true)
	idleAfter(t, tc, p, "SELECT 1")
	parked(t, tc)
	if tc.sess.Shed(time.Hour) {
		t.Error("Shed asked a session idle for less than it was given")
	}
	shed(t, tc)
	parked(t, tc)
	if tc.sess.Shed(0) {
		t.Error("Shed asked a session that has moved since it went idle")
	}
	idleAfter(t, tc, p, "SELECT 2")
	shed(t, tc)
	tc.exec(t, "BEGIN")
	parked(t, tc)
	if tc.sess.Shed(0) {
		t.Error("Shed asked a session inside a transaction")
	}
	tc.exec(t, "COMMIT")
	tc.close(t)
	if tc.sess.Shed(0) {
		t.Error("Shed asked a session that has ended")
	}
}

// TestShedNeedsGo: a session run by Run, or holding its server (session
// mode), stays where it is.
func TestShedNeedsGo(t *testing.T) {
	p := newPool(t, 2)
	tc := startSession(t, p, Options{Mode: TransactionMode}, false)
	idleAfter(t, tc, p, "SELECT 1")
	parked(t, tc)
	if tc.sess.Shed(0) {
		t.Error("Shed asked a session run by Run")
	}
	sm := startSession(t, p, Options{Mode: SessionMode}, true)
	sm.exec(t, "SELECT 1")
	parked(t, sm)
	if sm.sess.Shed(0) {
		t.Error("Shed asked a session-mode session, which holds its server")
	}
}

// TestShedKeepsTheIdleTimeout: the wake-up that moves the client goroutine
// is not an idle timeout, and the timeout, counted from the last query,
// still ends the session after the move.
func TestShedKeepsTheIdleTimeout(t *testing.T) {
	p := newPool(t, 1)
	tc := startSession(t, p, Options{Mode: TransactionMode, ClientIdleTimeout: 2 * time.Second}, true)
	idleAfter(t, tc, p, "SELECT 1")
	shed(t, tc)
	idleAfter(t, tc, p, "SELECT 2") // the move did not end the session
	shed(t, tc)
	if err := ended(t, tc); !isCode(err, pgerr.IdleSessionTimeout) {
		t.Fatalf("session ended with %v, want the idle-session timeout", err)
	}
}

// TestShedThenTerminate: Terminate ends a session that has moved.
func TestShedThenTerminate(t *testing.T) {
	p := newPool(t, 1)
	tc := startSession(t, p, Options{Mode: TransactionMode}, true)
	idleAfter(t, tc, p, "SELECT 1")
	shed(t, tc)
	tc.sess.Terminate(pgerr.Fatalf(pgerr.AdminShutdown, "terminating connection due to administrator command"))
	if err := ended(t, tc); !isCode(err, pgerr.AdminShutdown) {
		t.Fatalf("session ended with %v, want 57P01", err)
	}
}

// ended waits for tc's session to end by itself and returns its result;
// tc.close then finds it ended.
func ended(t *testing.T, tc *testClient) error {
	t.Helper()
	select {
	case err := <-tc.done:
		tc.done <- nil
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("session did not end")
		return nil
	}
}

func isCode(err error, code string) bool {
	pe, ok := pgerr.As(err)
	return ok && pe.Code == code
}

// TestShedLeavesAWaitingClient: a client whose request waits for a server
// is not parked on its socket, and Shed leaves it be: the deadline that
// moves a goroutine would fail the reads of the rest of its frame once the
// server comes.
func TestShedLeavesAWaitingClient(t *testing.T) {
	p := newPool(t, 1)
	holder := startSession(t, p, Options{Mode: TransactionMode}, true)
	waiter := startSession(t, p, Options{Mode: TransactionMode}, true) // logs in with the server
	holder.exec(t, "BEGIN")
	ctx := testCtx(t)
	done := make(chan error, 1)
	go func() {
		_, err := waiter.pg.Exec(ctx, "SELECT 1").ReadAll()
		done <- err
	}()
	eventually(t, "client waiting for a server", func() bool { return waiter.sess.info.waitSince.Load() != 0 })
	if waiter.sess.Shed(0) {
		t.Error("Shed asked a client that waits for a server")
	}
	holder.exec(t, "COMMIT")
	if err := <-done; err != nil {
		t.Fatalf("waiting client's query: %v", err)
	}
}
