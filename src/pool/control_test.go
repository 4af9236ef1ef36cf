package pool

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/odyssey-go/odyssey/src/pgerr"
)

// notDone fails if ch already has a result: what must still be waiting.
func notDone[T any](t *testing.T, what string, ch <-chan T) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s returned early: %v", what, v)
	default:
	}
}

func TestPauseWaitsForServersInUse(t *testing.T) {
	d := &dialer{}
	p := newPool(t, d, Options{Size: 2})
	a, b := mustAcquire(t, p), mustAcquire(t, p)
	p.Release(b)

	paused := make(chan error, 1)
	go func() { paused <- p.Pause(context.Background()) }()
	eventually(t, "the idle server to close", func() bool { return closed(b) })
	// A slot is free, yet a new client waits.
	waiter := acquireAsync(t, context.Background(), p)
	notDone(t, "Pause with a server in use", paused)

	p.Release(a)
	if err := <-paused; err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if !closed(a) {
		t.Fatal("server released during a pause was kept")
	}
	if st := p.Stats(); st.Active != 0 || st.Idle != 0 || st.Waiting != 1 {
		t.Fatalf("paused pool: %+v, want nothing open and one waiter", st)
	}
	notDone(t, "Acquire while paused", waiter)

	p.Resume()
	r := <-waiter
	if r.err != nil {
		t.Fatalf("Acquire after Resume: %v", r.err)
	}
	if r.srv == a || r.srv == b || d.dials.Load() != 3 {
		t.Fatalf("got server %d after %d dials, want a third, new one", r.srv.ID, d.dials.Load())
	}
	p.Release(r.srv)
	if closed(r.srv) || p.Stats().Idle != 1 {
		t.Fatal("server released after Resume not kept idle")
	}
}

func TestPauseContextEndKeepsPause(t *testing.T) {
	p := newPool(t, &dialer{}, Options{Size: 1})
	a := mustAcquire(t, p)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Pause(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Pause with a server in use and ctx done: %v", err)
	}
	if !p.Paused() {
		t.Fatal("pause lifted when Pause gave up waiting")
	}
	resumed := make(chan error, 1)
	go func() { resumed <- p.WaitPaused(context.Background()) }()
	eventually(t, "WaitPaused to wait", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.changed != nil
	})
	p.Resume()
	if err := <-resumed; !errors.Is(err, ErrResumed) {
		t.Fatalf("WaitPaused across Resume: %v, want ErrResumed", err)
	}
	p.Release(a)
	if closed(a) {
		t.Fatal("server released after Resume closed")
	}
}

// pool_timeout does not run out during a pause; after Resume it applies
// again, in full.
func TestPauseSuspendsPoolTimeout(t *testing.T) {
	p := newPool(t, &dialer{}, Options{Size: 1, Timeout: time.Millisecond})
	held := mustAcquire(t, p)
	p.StartPause()
	waiter := acquireAsync(t, context.Background(), p)
	// Twenty times pool_timeout: a waiter that timed out would have
	// answered by now. (Not a timing assertion: with the pause honoured
	// this passes however slow the machine is.)
	time.Sleep(20 * time.Millisecond)
	notDone(t, "Acquire during a pause", waiter)
	if p.Stats().Waiting != 1 {
		t.Fatal("waiter left the queue during a pause")
	}
	p.Resume() // held is still out: the waiter times out now
	r := <-waiter
	if pe, ok := pgerr.As(r.err); !ok || pe.Code != pgerr.TooManyConnections {
		t.Fatalf("Acquire after Resume with the pool full: %v, want 53300", r.err)
	}
	p.Release(held)
}

func TestPausedPoolDialsNoMinSize(t *testing.T) {
	d := &dialer{}
	p := newPool(t, d, Options{Size: 5, MinSize: 2, Paused: true})
	passes(t, p, 3)
	if n := d.dials.Load(); n != 0 {
		t.Fatalf("paused pool dialled %d servers", n)
	}
	p.Resume()
	eventually(t, "min_pool_size after Resume", func() bool { return p.Stats().Idle == 2 })
	if err := p.Pause(context.Background()); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	passes(t, p, 3)
	if st := p.Stats(); st.Idle != 0 || d.dials.Load() != 2 || d.open.Load() != 0 {
		t.Fatalf("paused pool %+v, %d dials, %d open: want min_pool_size closed and not redialled",
			st, d.dials.Load(), d.open.Load())
	}
}

func TestReconnect(t *testing.T) {
	d := &dialer{}
	p := newPool(t, d, Options{Size: 3})
	a, b := mustAcquire(t, p), mustAcquire(t, p)
	p.Release(b)
	p.Reconnect()
	if !closed(b) || closed(a) {
		t.Fatal("Reconnect must close idle servers now and leave servers in use open")
	}
	if s := p.Servers(); len(s) != 1 || s[0].ID != a.ID || !s[0].CloseNeeded || s[0].State != "active" {
		t.Fatalf("servers after Reconnect: %+v", s)
	}
	waited := make(chan error, 1)
	go func() { waited <- p.WaitClose(context.Background()) }()

	c := mustAcquire(t, p)
	if c == a || c == b {
		t.Fatal("a close_needed server was handed out")
	}
	notDone(t, "WaitClose with a close_needed server in use", waited)
	p.Release(a)
	if !closed(a) {
		t.Fatal("close_needed server kept at release")
	}
	if err := <-waited; err != nil {
		t.Fatalf("WaitClose: %v", err)
	}
	p.Release(c)
	if s := p.Servers(); len(s) != 1 || s[0].ID != c.ID || s[0].CloseNeeded || s[0].State != "idle" {
		t.Fatalf("servers at the end: %+v", s)
	}
}

// A server whose dial began before RECONNECT is close_needed too.
func TestReconnectDuringDial(t *testing.T) {
	d := &dialer{}
	release := make(chan struct{})
	d.fail = func(context.Context, int64) error { <-release; return nil }
	p := newPool(t, d, Options{Size: 1})
	got := make(chan result, 1)
	go func() {
		s, err := p.Acquire(context.Background())
		got <- result{s, err}
	}()
	eventually(t, "the dial", func() bool { return p.Stats().Connecting == 1 })
	p.Reconnect()
	close(release)
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	if s := p.Servers(); len(s) != 1 || !s[0].CloseNeeded {
		t.Fatalf("server dialled across Reconnect: %+v", s)
	}
	p.Release(r.srv)
	if !closed(r.srv) {
		t.Fatal("server dialled across Reconnect kept")
	}
	if err := p.WaitClose(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestKill(t *testing.T) {
	d := &dialer{}
	p := newPool(t, d, Options{Size: 3})
	a, b := mustAcquire(t, p), mustAcquire(t, p)
	p.Release(b)
	p.Kill()
	if !closed(a) || !closed(b) {
		t.Fatal("Kill left a server open")
	}
	if !p.Paused() {
		t.Fatal("Kill did not pause")
	}
	if st := p.Stats(); st.Active != 1 || st.Idle != 0 {
		t.Fatalf("after Kill: %+v, want the killed server's slot held until it comes back", st)
	}
	p.Discard(a) // what its holder does once the socket fails
	if s := p.Servers(); len(s) != 0 {
		t.Fatalf("servers after Kill: %+v", s)
	}
	if err := p.Pause(context.Background()); err != nil {
		t.Fatalf("Pause after Kill: %v", err)
	}
	waiter := acquireAsync(t, context.Background(), p)
	p.Resume()
	if r := <-waiter; r.err != nil || closed(r.srv) {
		t.Fatalf("Acquire after Resume: %v", r.err)
	}
}

func TestServers(t *testing.T) {
	d := &dialer{}
	p := newPool(t, d, Options{Size: 3})
	a, b := mustAcquire(t, p), mustAcquire(t, p)
	a.Client.Store(42)
	p.Release(b)
	s := p.Servers()
	if len(s) != 2 || s[0].ID != a.ID || s[1].ID != b.ID {
		t.Fatalf("servers %+v, want a and b by ID", s)
	}
	if s[0].State != "active" || s[0].Client != 42 || !s[0].Released.IsZero() || s[0].CloseNeeded {
		t.Fatalf("server in use: %+v", s[0])
	}
	if s[1].State != "idle" || s[1].Client != 0 || s[1].Released.IsZero() || s[1].LocalAddr == nil {
		t.Fatalf("idle server: %+v", s[1])
	}
	if st := p.Stats(); st.Opened != 2 {
		t.Fatalf("Opened = %d, want 2", st.Opened)
	}
	p.Discard(a)
	if s := p.Servers(); len(s) != 1 || s[0].ID != b.ID {
		t.Fatalf("servers after Discard: %+v", s)
	}
}

// A retired pool's servers are all close_needed: WaitClose waits until the
// pool closes and its servers come back.
func TestRetire(t *testing.T) {
	p := New(Options{Size: 2, Dial: (&dialer{}).Dial})
	a := mustAcquire(t, p)
	p.Retire()
	if s := p.Servers(); len(s) != 1 || !s[0].CloseNeeded {
		t.Fatalf("servers of a retired pool: %+v", s)
	}
	waited := make(chan error, 1)
	go func() { waited <- p.WaitClose(context.Background()) }()
	p.Close()
	notDone(t, "WaitClose with a server out", waited)
	p.Release(a)
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
}

// Clients come and go while the console pauses, resumes, reconnects and
// kills. Afterwards every slot is accounted for and the registry holds
// exactly the open servers.
func TestControlUnderLoad(t *testing.T) {
	const clients, rounds, cycles = 20, 100, 20
	d := &dialer{}
	p := newPool(t, d, Options{Size: 4, MinSize: 1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for r := range rounds {
				s, err := p.Acquire(ctx)
				if err != nil {
					t.Errorf("Acquire: %v", err)
					return
				}
				if (c+r)%5 == 0 {
					p.Discard(s)
				} else {
					p.Release(s)
				}
			}
		})
	}
	for i := range cycles {
		switch i % 4 {
		case 0:
			if err := p.Pause(ctx); err != nil {
				t.Fatalf("Pause: %v", err)
			}
			if st := p.Stats(); st.Active+st.Idle+st.Connecting != 0 {
				t.Fatalf("paused with servers left: %+v", st)
			}
			p.Resume()
		case 1:
			p.Reconnect()
		case 2:
			if err := p.WaitClose(ctx); err != nil {
				t.Fatalf("WaitClose: %v", err)
			}
		case 3:
			p.Kill()
			p.Resume()
		}
	}
	wg.Wait()
	if err := p.WaitClose(ctx); err != nil {
		t.Fatal(err)
	}
	// min_pool_size may be dialling in the background: wait for it.
	eventually(t, "every server idle, listed and open", func() bool {
		st := p.Stats()
		n := len(p.Servers())
		return st.Active == 0 && st.Connecting == 0 && st.Waiting == 0 &&
			n == st.Idle && int64(n) == d.open.Load()
	})
}

// The registry must not cost the hot path: see also
// TestAcquireReleaseDoesNotAllocate.
func TestReleaseAfterReconnectDoesNotAllocate(t *testing.T) {
	p := newPool(t, &dialer{}, Options{Size: 10})
	ctx := context.Background()
	held := mustAcquire(t, p)
	p.Release(mustAcquire(t, p))
	p.Reconnect() // one close_needed server out: Release looks servers up
	p.Release(mustAcquire(t, p))
	allocs := testing.AllocsPerRun(1000, func() {
		s, err := p.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p.Release(s)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Acquire/Release with a close_needed server out", allocs)
	}
	p.Release(held)
}
