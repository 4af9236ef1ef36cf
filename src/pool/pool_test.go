package pool

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/odyssey-go/odyssey/src/backend"
	"github.com/odyssey-go/odyssey/src/internal/wire"
	"github.com/odyssey-go/odyssey/src/pgerr"
)

// fakeConn is a net.Conn that swallows writes, reads EOF and counts Close.
type fakeConn struct {
	closed atomic.Bool
	open   *atomic.Int64 // the dialer's count of open servers
}

func (c *fakeConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (c *fakeConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *fakeConn) LocalAddr() net.Addr              { return fakeAddr{} }
func (c *fakeConn) RemoteAddr() net.Addr             { return fakeAddr{} }
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

type fakeAddr struct{}

func (fakeAddr) Network() string { return "fake" }
func (fakeAddr) String() string  { return "fake" }

func (c *fakeConn) Close() error {
	if c.closed.CompareAndSwap(false, true) && c.open != nil {
		c.open.Add(-1)
	}
	return nil
}

func fakeServer(id uint64, open *atomic.Int64) *backend.Server {
	return &backend.Server{
		ID:      id,
		Conn:    &fakeConn{open: open},
		R:       wire.NewReader(strings.NewReader(""), 16, 1024),
		W:       bufio.NewWriter(io.Discard),
		Created: time.Now(),
	}
}

func closed(s *backend.Server) bool { return s.Conn.(*fakeConn).closed.Load() }

// dialer makes fake servers and counts them. fail, if set, is consulted
// for each dial (numbered from 1) before a server is made.
type dialer struct {
	dials atomic.Int64
	open  atomic.Int64
	fail  func(ctx context.Context, n int64) error
}

func (d *dialer) Dial(ctx context.Context) (*backend.Server, error) {
	n := d.dials.Add(1)
	if d.fail != nil {
		if err := d.fail(ctx, n); err != nil {
			return nil, err
		}
	}
	d.open.Add(1)
	return fakeServer(uint64(n), &d.open), nil
}

func newPool(t testing.TB, d *dialer, opts Options) *Pool {
	t.Helper()
	opts.Dial = d.Dial
	p := New(opts)
	t.Cleanup(p.Close)
	return p
}

// eventually polls cond for up to 10 seconds: a bound for background work,
// not a timing assertion.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 10000 {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func mustAcquire(t *testing.T, p *Pool) *backend.Server {
	t.Helper()
	s, err := p.Acquire(context.Background())
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return s
}

// acquireAsync starts Acquire in a goroutine and waits until it is queued.
func acquireAsync(t *testing.T, ctx context.Context, p *Pool) <-chan result {
	t.Helper()
	before := p.Stats().Waiting
	ch := make(chan result, 1)
	go func() {
		s, err := p.Acquire(ctx)
		ch <- result{s, err}
	}()
	eventually(t, "a client to queue", func() bool { return p.Stats().Waiting == before+1 })
	return ch
}

// passes makes the maintenance goroutine run n more times.
func passes(t *testing.T, p *Pool, n int) {
	t.Helper()
	for range n {
		runs := p.runs.Load()
		p.poke()
		eventually(t, "a maintenance pass", func() bool { return p.runs.Load() > runs })
	}
}

type result struct {
	srv *backend.Server
	err error
}

func TestIdleServersReusedLastReleasedFirst(t *testing.T) {
	d := &dialer{}
	p := newPool(t, d, Options{Size: 3})
	a, b, c := mustAcquire(t, p), mustAcquire(t, p), mustAcquire(t, p)
	p.Release(a)
	p.Release(b)
	p.Release(c)
	for i, want := range []*backend.Server{c, b, a} {
		if got := mustAcquire(t, p); got != want {
			t.Fatalf("acquire %d: got server %d, want %d", i, got.ID, want.ID)
		}
	}
	if n := d.dials.Load(); n != 3 {
		t.Fatalf("dialled %d servers, want 3", n)
	}
	if st := p.Stats(); st.Active != 3 || st.Idle != 0 || st.Acquired != 6 {
		t.Fatalf("stats %+v, want 3 active, 0 idle, 6 acquired", st)
	}
}

func TestSizeRespectedUnderConcurrency(t *testing.T) {
	const size, clients, rounds = 5, 100, 50
	d := &dialer{}
	var overOpen atomic.Bool
	d.fail = func(context.Context, int64) error {
		if d.open.Load() >= size { // this dial would make one too many
			overOpen.Store(true)
		}
		return nil
	}
	p := newPool(t, d, Options{Size: size})
	var inUse, maxInUse atomic.Int64
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for r := range rounds {
				s, err := p.Acquire(context.Background())
				if err != nil {
					t.Errorf("Acquire: %v", err)
					return
				}
				n := inUse.Add(1)
				for m := maxInUse.Load(); n > m && !maxInUse.CompareAndSwap(m, n); m = maxInUse.Load() {
				}
				time.Sleep(time.Duration(c%3) * time.Microsecond)
				inUse.Add(-1)
				if (c+r)%7 == 0 {
					p.Discard(s)
				} else {
					p.Release(s)
				}
			}
		})
	}
	wg.Wait()
	if m := maxInUse.Load(); m > size {
		t.Fatalf("%d servers in use at once, pool_size is %d", m, size)
	}
	if overOpen.Load() {
		t.Fatalf("more than %d servers open at once", size)
	}
	st := p.Stats()
	if st.Active != 0 || st.Waiting != 0 || st.Connecting != 0 || st.Idle > size {
		t.Fatalf("stats after the storm: %+v", st)
	}
	if int64(st.Idle) != d.open.Load() {
		t.Fatalf("%d idle servers but %d open", st.Idle, d.open.Load())
	}
	if st.Acquired != clients*rounds {
		t.Fatalf("Acquired = %d, want %d", st.Acquired, clients*rounds)
	}
}

func TestWaitersServedInArrivalOrder(t *testing.T) {
	d := &dialer{}
	p := newPool(t, d, Options{Size: 1})
	held := mustAcquire(t, p)
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range 5 {
		before := p.Stats().Waiting
		wg.Go(func() {
			s, err := p.Acquire(context.Background())
			if err != nil {
				t.Errorf("waiter %d: %v", i, err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			if s != held {
				t.Errorf("waiter %d got server %d, want the released one", i, s.ID)
			}
			p.Release(s)
		})
		eventually(t, "waiter to queue", func() bool { return p.Stats().Waiting == before+1 })
	}
	p.Release(held)
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("served in order %v, want 0..4", order)
		}
	}
	if d.dials.Load() != 1 {
		t.Fatalf("dialled %d servers, want 1", d.dials.Load())
	}
	if st := p.Stats(); st.WaitTime <= 0 || st.Waiting != 0 {
		t.Fatalf("stats %+v: want wait time recorded and no one waiting", st)
	}
}

func TestTimeoutIs53300(t *testing.T) {
	d := &dialer{}
	p := newPool(t, d, Options{Size: 1, Timeout: 10 * time.Millisecond})
	held := mustAcquire(t, p)
	_, err := p.Acquire(context.Background())
	pe, ok := pgerr.As(err)
	if !ok || pe.Code != pgerr.TooManyConnections {
		t.Fatalf("Acquire at pool_size after pool_timeout: %v, want SQLSTATE 53300", err)
	}
	if st := p.Stats(); st.Waiting != 0 {
		t.Fatalf("%d still waiting after timeout", st.Waiting)
	}
	p.Release(held)
	if st := p.Stats(); st.Idle != 1 {
		t.Fatalf("released server not idle: %+v", st)
	}
}

func TestContextCancelLeavesQueue(t *testing.T) {
	d := &dialer{}
	p := newPool(t, d, Options{Size: 1})
	held := mustAcquire(t, p)
	ctx, cancel := context.WithCancel(context.Background())
	ch := acquireAsync(t, ctx, p)
	cancel()
	r := <-ch
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Acquire after cancel: %v, want context.Canceled", r.err)
	}
	if st := p.Stats(); st.Waiting != 0 {
		t.Fatalf("cancelled client still queued: %+v", st)
	}
	p.Release(held)
	if st := p.Stats(); st.Idle != 1 || st.Active != 0 {
		t.Fatalf("server lost to a gone waiter: %+v", st)
	}
}

// A grant that arrives as the waiter gives up must not be lost.
func TestGrantRacingCancelIsGivenBack(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	t.Run("server", func(t *testing.T) {
		p := newPool(t, &dialer{}, Options{Size: 1})
		held := mustAcquire(t, p)
		w := enqueue(p)
		p.Release(held) // handed to w
		if _, err := p.wait(cancelled, w, 0); !errors.Is(err, context.Canceled) {
			t.Fatalf("wait: %v", err)
		}
		if st := p.Stats(); st.Idle != 1 || st.Active != 0 {
			t.Fatalf("handed server not given back: %+v", st)
		}
		if got := mustAcquire(t, p); got != held {
			t.Fatalf("got server %d, want the given-back %d", got.ID, held.ID)
		}
	})
	t.Run("slot", func(t *testing.T) {
		d := &dialer{}
		p := newPool(t, d, Options{Size: 1})
		held := mustAcquire(t, p)
		w := enqueue(p)
		p.Discard(held) // w gets the slot
		if _, err := p.wait(cancelled, w, 0); !errors.Is(err, context.Canceled) {
			t.Fatalf("wait: %v", err)
		}
		if st := p.Stats(); st.Active != 0 || st.Connecting != 0 || st.Idle != 0 {
			t.Fatalf("slot not freed: %+v", st)
		}
		mustAcquire(t, p)
	})
	t.Run("timeout", func(t *testing.T) {
		p := newPool(t, &dialer{}, Options{Size: 1})
		held := mustAcquire(t, p)
		w := enqueue(p)
		p.Release(held)
		g, err := p.wait(context.Background(), w, time.Nanosecond)
		if err != nil || g.srv != held {
			t.Fatalf("wait with a grant at hand: %v, %v", g.srv, err)
		}
	})
}

func enqueue(p *Pool) *waiter {
	w := &waiter{ch: make(chan grant, 1), since: time.Now()}
	p.mu.Lock()
	p.waiters.push(w)
	p.mu.Unlock()
	return w
}

func TestDialFailureFreesSlot(t *testing.T) {
	boom := errors.New("boom")
	d := &dialer{}
	d.fail = func(_ context.Context, n int64) error {
		if n == 1 {
			return boom
		}
		return nil
	}
	p := newPool(t, d, Options{Size: 1})
	if _, err := p.Acquire(context.Background()); err != boom {
		t.Fatalf("Acquire: %v, want the dial error unchanged", err)
	}
	if st := p.Stats(); st.Active+st.Idle+st.Connecting != 0 {
		t.Fatalf("failed dial kept its slot: %+v", st)
	}
	mustAcquire(t, p)
}

func TestDialFailureWakesWaiter(t *testing.T) {
	boom := errors.New("boom")
	release := make(chan struct{})
	d := &dialer{}
	d.fail = func(_ context.Context, n int64) error {
		if n == 1 {
			<-release
			return boom
		}
		return nil
	}
	p := newPool(t, d, Options{Size: 1})
	first := make(chan error, 1)
	go func() {
		_, err := p.Acquire(context.Background())
		first <- err
	}()
	eventually(t, "first dial", func() bool { return p.Stats().Connecting == 1 })
	second := acquireAsync(t, context.Background(), p)
	close(release)
	if err := <-first; err != boom {
		t.Fatalf("first Acquire: %v, want boom", err)
	}
	r := <-second
	if r.err != nil {
		t.Fatalf("waiter after a failed dial: %v", r.err)
	}
	if d.dials.Load() != 2 {
		t.Fatalf("dials = %d, want 2", d.dials.Load())
	}
}

func TestDiscardWakesWaiter(t *testing.T) {
	d := &dialer{}
	p := newPool(t, d, Options{Size: 1})
	held := mustAcquire(t, p)
	ch := acquireAsync(t, context.Background(), p)
	p.Discard(held)
	r := <-ch
	if r.err != nil || r.srv == held {
		t.Fatalf("waiter after Discard: %v, %v", r.srv, r.err)
	}
	if !closed(held) {
		t.Fatal("discarded server not closed")
	}
	if st := p.Stats(); st.Active != 1 || st.Idle != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// tcpServer is a server over a real loopback connection so that Alive sees
// the peer go away; kill closes the peer.
func tcpServer(t *testing.T, ln net.Listener) (srv *backend.Server, kill func()) {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); peer.Close() })
	go io.Copy(io.Discard, peer) // swallows Terminate
	srv = &backend.Server{
		Conn:    c,
		R:       wire.NewReader(c, 64, 1024),
		W:       bufio.NewWriter(c),
		Created: time.Now(),
	}
	return srv, func() { peer.Close() }
}

func TestDeadIdleServerSkipped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var kills []func()
	var n atomic.Uint64
	p := New(Options{Dial: func(context.Context) (*backend.Server, error) {
		s, kill := tcpServer(t, ln)
		s.ID = n.Add(1)
		kills = append(kills, kill) // dials below are sequential
		return s, nil
	}})
	defer p.Close()
	a, b := mustAcquire(t, p), mustAcquire(t, p)
	p.Release(a)
	p.Release(b)
	kills[1]()
	eventually(t, "the peer's FIN", func() bool { return !b.Alive() })
	if got := mustAcquire(t, p); got != a {
		t.Fatalf("got server %d, want %d: the dead one must be skipped", got.ID, a.ID)
	}
	if _, err := b.Conn.Write([]byte{0}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("dead server not closed: write gave %v", err)
	}
	if st := p.Stats(); st.Active != 1 || st.Idle != 0 {
		t.Fatalf("dead server's slot not freed: %+v", st)
	}
}

func TestTTLClosesIdleServers(t *testing.T) {
	d := &dialer{}
	p := newPool(t, d, Options{TTL: 20 * time.Millisecond})
	a, b := mustAcquire(t, p), mustAcquire(t, p)
	p.Release(a)
	p.Release(b)
	// Fails by timing out if expired servers stay idle, open or counted.
	eventually(t, "idle servers to expire and close", func() bool {
		st := p.Stats()
		return st.Idle == 0 && st.Active == 0 && closed(a) && closed(b)
	})
}

func TestTTLKeepsMinSize(t *testing.T) {
	d := &dialer{}
	p := newPool(t, d, Options{MinSize: 1, TTL: 20 * time.Millisecond})
	a, b, c := mustAcquire(t, p), mustAcquire(t, p), mustAcquire(t, p)
	p.Release(a)
	p.Release(b)
	p.Release(c)
	eventually(t, "idle servers to expire down to min_pool_size", func() bool {
		st := p.Stats()
		return st.Idle == 1 && st.Active == 0
	})
	dials := d.dials.Load()
	p.mu.Lock()
	p.idle[0].Released = time.Now().Add(-time.Hour) // well past pool_ttl
	p.mu.Unlock()
	passes(t, p, 3)
	if st := p.Stats(); st.Idle != 1 || d.dials.Load() != dials {
		t.Fatalf("warm server churned: %+v, dials %d -> %d", st, dials, d.dials.Load())
	}
	// The warm server is past pool_ttl but is the minimum: Acquire uses it.
	s := mustAcquire(t, p)
	if closed(s) || d.dials.Load() != dials {
		t.Fatal("Acquire redialled instead of using the warm server")
	}
}

func TestMinSizeFilled(t *testing.T) {
	d := &dialer{}
	p := newPool(t, d, Options{Size: 5, MinSize: 3})
	eventually(t, "min_pool_size servers", func() bool { return p.Stats().Idle == 3 })
	passes(t, p, 2)
	if d.dials.Load() != 3 {
		t.Fatalf("dialled %d servers, want 3", d.dials.Load())
	}
	// Servers in use count toward the minimum too.
	s := mustAcquire(t, p)
	p.SetOptions(Options{Size: 5, MinSize: 4})
	eventually(t, "min_pool_size raised", func() bool { return p.Stats().Idle == 3 })
	if st := p.Stats(); st.Active != 1 || d.dials.Load() != 4 {
		t.Fatalf("stats %+v, dials %d", st, d.dials.Load())
	}
	p.Release(s)
}

func TestMinSizeNeverAboveSize(t *testing.T) {
	d := &dialer{}
	p := newPool(t, d, Options{Size: 2, MinSize: 5})
	eventually(t, "servers", func() bool { return p.Stats().Idle == 2 })
	passes(t, p, 2)
	if d.dials.Load() != 2 {
		t.Fatalf("dialled %d servers with pool_size 2", d.dials.Load())
	}
}

func TestLifetime(t *testing.T) {
	d := &dialer{}
	p := newPool(t, d, Options{Lifetime: time.Hour})

	old := mustAcquire(t, p)
	old.Created = time.Now().Add(-2 * time.Hour)
	p.Release(old)
	if !closed(old) || p.Stats().Idle != 0 {
		t.Fatal("server past server_lifetime went idle instead of closing")
	}

	s := mustAcquire(t, p)
	p.Release(s)
	p.mu.Lock()
	s.Created = time.Now().Add(-2 * time.Hour) // ages while idle
	p.mu.Unlock()
	if got := mustAcquire(t, p); got == s {
		t.Fatal("idle server past server_lifetime handed out")
	}
	// Closed by Acquire, or by the maintenance goroutine if it got there
	// first.
	eventually(t, "the old idle server to close", func() bool { return closed(s) })
}

func TestSetOptionsShrink(t *testing.T) {
	d := &dialer{}
	p := newPool(t, d, Options{Size: 4})
	a, b, c, e := mustAcquire(t, p), mustAcquire(t, p), mustAcquire(t, p), mustAcquire(t, p)
	p.Release(c)
	p.Release(e)
	p.SetOptions(Options{Size: 1})
	if !closed(c) || !closed(e) {
		t.Fatal("idle servers above the new size not closed")
	}
	if st := p.Stats(); st.Idle != 0 || st.Active != 2 {
		t.Fatalf("after shrink: %+v", st)
	}
	p.Release(a)
	if !closed(a) {
		t.Fatal("server released above the new size not closed")
	}
	p.Release(b)
	if closed(b) {
		t.Fatal("server within the new size closed")
	}
	if st := p.Stats(); st.Idle != 1 || st.Active != 0 {
		t.Fatalf("after releases: %+v", st)
	}
	if p.Options().Dial == nil {
		t.Fatal("SetOptions without Dial dropped the dialler")
	}
}

func TestSetOptionsGrowAdmitsWaiters(t *testing.T) {
	d := &dialer{}
	p := newPool(t, d, Options{Size: 1})
	mustAcquire(t, p)
	w1 := acquireAsync(t, context.Background(), p)
	w2 := acquireAsync(t, context.Background(), p)
	p.SetOptions(Options{Size: 3})
	for _, ch := range []<-chan result{w1, w2} {
		if r := <-ch; r.err != nil {
			t.Fatalf("waiter after grow: %v", r.err)
		}
	}
	if st := p.Stats(); st.Active != 3 || d.dials.Load() != 3 {
		t.Fatalf("after grow: %+v, dials %d", st, d.dials.Load())
	}
}

func TestCloseWakesWaitersAndClosesServers(t *testing.T) {
	d := &dialer{}
	p := New(Options{Size: 2, Dial: d.Dial})
	a, b := mustAcquire(t, p), mustAcquire(t, p)
	w := acquireAsync(t, context.Background(), p)
	p.Close()
	if r := <-w; !errors.Is(r.err, ErrClosed) {
		t.Fatalf("waiter at Close: %v, want ErrClosed", r.err)
	}
	if _, err := p.Acquire(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Acquire after Close: %v", err)
	}
	p.Release(a)
	p.Discard(b)
	if !closed(a) || !closed(b) {
		t.Fatal("servers returned after Close not closed")
	}
	if d.open.Load() != 0 {
		t.Fatalf("%d servers open after Close", d.open.Load())
	}
	p.Close() // twice is fine

	p = New(Options{Dial: d.Dial})
	s := mustAcquire(t, p)
	p.Release(s)
	p.Close()
	if !closed(s) {
		t.Fatal("idle server not closed by Close")
	}
}

func TestCloseCancelsBackgroundDial(t *testing.T) {
	d := &dialer{}
	d.fail = func(ctx context.Context, _ int64) error {
		<-ctx.Done()
		return ctx.Err()
	}
	p := New(Options{MinSize: 1, Dial: d.Dial})
	eventually(t, "background dial", func() bool { return p.Stats().Connecting == 1 })
	p.Close() // returns only once the maintenance goroutine is done
	if st := p.Stats(); st.Connecting != 0 {
		t.Fatalf("after Close: %+v", st)
	}
}

// BenchmarkAcquireRelease is the uncontended path of transaction pooling:
// an idle server is there every time. It must not allocate.
func BenchmarkAcquireRelease(b *testing.B) {
	p := newPool(b, &dialer{}, Options{Size: 10, TTL: time.Minute, Lifetime: time.Hour})
	ctx := context.Background()
	s, err := p.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	p.Release(s)
	b.ReportAllocs()
	for b.Loop() {
		s, err := p.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		p.Release(s)
	}
}

func TestAcquireReleaseDoesNotAllocate(t *testing.T) {
	p := newPool(t, &dialer{}, Options{Size: 10, TTL: time.Minute, Lifetime: time.Hour})
	ctx := context.Background()
	p.Release(mustAcquire(t, p))
	allocs := testing.AllocsPerRun(1000, func() {
		s, err := p.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p.Release(s)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Acquire/Release of an idle server", allocs)
	}
}
