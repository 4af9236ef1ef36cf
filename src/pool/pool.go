package pool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/odyssey-go/odyssey/src/backend"
	"github.com/odyssey-go/odyssey/src/log"
	"github.com/odyssey-go/odyssey/src/pgerr"
)

// Options are a pool's limits and how it makes a server.
type Options struct {
	Name     string        // for logs, e.g. "db.user@host:5432"
	Size     int           // pool_size: max servers, idle, in use and connecting; 0: unlimited
	MinSize  int           // min_pool_size: servers kept open even when idle
	Timeout  time.Duration // pool_timeout: max wait for a server at Size; 0: forever (ctx still applies)
	TTL      time.Duration // pool_ttl: close servers idle this long; 0: never
	Lifetime time.Duration // server_lifetime: close servers this old when idle; 0: never
	// Dial opens and logs in a new server. Its errors reach the caller of
	// Acquire unchanged.
	Dial func(ctx context.Context) (*backend.Server, error)
	// Paused makes New start the pool paused, for a database paused
	// before its pool was made. Only New reads it: later, Pause and
	// Resume say whether the pool is paused, and SetOptions ignores it.
	Paused bool
}

// ErrClosed is returned by Acquire once Close has been called, including to
// clients that were waiting.
var ErrClosed = errors.New("pool closed")

// Stats is a snapshot of a pool, for the console and metrics.
type Stats struct {
	Active     int           // servers handed out (sv_active)
	Idle       int           // servers waiting in the pool (sv_idle)
	Waiting    int           // clients waiting for a server (cl_waiting)
	Connecting int           // servers being dialled (sv_login)
	MaxWait    time.Duration // how long the oldest waiting client has waited (maxwait)
	Acquired   uint64        // servers handed to clients so far (server_assignment_count)
	WaitTime   time.Duration // total time clients spent waiting (total_wait_time)
	Opened     uint64        // servers dialled successfully so far (Odyssey's tcp_connections)
}

// probeAfter: a server that Release handed straight to a waiter less than
// this long ago is used without Alive's probe. Under pgbench -S with 100
// clients on 20 servers nearly every Acquire waits and gets a server that
// said ReadyForQuery microseconds before; the probe (one recvfrom syscall)
// was one of 6.5 syscalls per transaction, 2.8% of the pooler's CPU. A
// server that dies within this window is no different from one that dies
// just after a probe: the client's request fails with 08006 either way.
// Idle servers taken from the pool are always probed.
const probeAfter = time.Millisecond

// maintenanceEvery is how often the background goroutine looks at idle
// servers and MinSize, unless TTL or Lifetime call for a shorter period.
const (
	maintenanceEvery   = time.Second
	maintenanceAtLeast = 10 * time.Millisecond
)

// Pool is safe for concurrent use.
type Pool struct {
	mu         sync.Mutex
	opts       Options
	idle       []*backend.Server // LIFO: the last one was released most recently
	total      int               // slots held: idle, in use, connecting and being closed
	connecting int               // slots whose server is being dialled
	waiters    queue
	closed     bool

	// servers holds every server the pool owns, idle or handed out, and
	// whether it is to be closed when released (close_needed, after
	// Reconnect or Kill). It changes only when a dial succeeds and when a
	// server is closed, so taking and giving back an idle server never
	// touches it; Release looks a server up only while closeNeeded > 0.
	servers     map[*backend.Server]bool
	closeNeeded int    // servers marked in servers
	gen         uint64 // bumped by Reconnect and Kill: dials started before come out close_needed
	paused      bool
	resumed     chan struct{} // closed by Resume; nil while not paused
	retired     bool          // Retire: every server counts as close_needed
	// changed is closed, and set to nil, at the next change of what Pause
	// and WaitClose wait for: slots freed, servers forgotten, a Resume.
	// nil while nobody waits, so the paths that free slots do not
	// allocate for it.
	changed chan struct{}

	hellos hellos // login answers (hellos.go)

	acquired  atomic.Uint64
	waitNanos atomic.Int64
	opened    atomic.Uint64
	runs      atomic.Uint64 // maintenance passes, for tests

	ctx    context.Context // ends at Close; bounds background dials
	cancel context.CancelFunc
	kick   chan struct{} // wakes the maintenance goroutine early
	done   chan struct{} // closed when the maintenance goroutine returns
}

// New returns a pool and starts its maintenance goroutine; Close stops it.
// No server is dialled here: MinSize servers are dialled in the background.
func New(opts Options) *Pool {
	if opts.Dial == nil {
		panic("pool: Options.Dial is nil")
	}
	p := &Pool{
		opts:    opts,
		servers: map[*backend.Server]bool{},
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	if opts.Paused {
		p.pauseLocked() // nobody else has p yet
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	go p.maintain()
	return p
}

// Acquire returns a server for the caller's exclusive use until Release or
// Discard. An idle server is preferred; below Size a new one is dialled;
// otherwise the caller waits in arrival order, up to Timeout (then an ERROR
// with SQLSTATE 53300) or until ctx ends. While the pool is paused every
// caller waits, and Timeout does not run out (see Pause). Dial errors are
// returned as the dialler made them.
func (p *Pool) Acquire(ctx context.Context) (*backend.Server, error) {
	p.mu.Lock()
	for !p.paused {
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		n := len(p.idle)
		if n == 0 {
			if p.opts.Size == 0 || p.total < p.opts.Size {
				p.total++
				p.connecting++
				dial, gen := p.opts.Dial, p.gen
				p.mu.Unlock()
				return p.dial(ctx, dial, gen)
			}
			break
		}
		srv := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		stale := p.stale(srv)
		p.mu.Unlock()
		if !stale && srv.Alive() {
			p.acquired.Add(1)
			return srv, nil
		}
		_ = srv.Close()
		p.mu.Lock()
		p.forgetLocked(srv)
		p.freeLocked(1) // someone may have queued meanwhile; they come first
	}
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	w := newWaiter()
	p.waiters.push(w)
	timeout := p.opts.Timeout
	p.mu.Unlock()

	g, err := p.wait(ctx, w, timeout)
	freeWaiter(w)
	if err != nil {
		return nil, err
	}
	// Released is read after the grant came through the channel, which
	// orders it after Release wrote it.
	if g.srv != nil && (time.Since(g.srv.Released) < probeAfter || g.srv.Alive()) {
		p.acquired.Add(1)
		return g.srv, nil
	}
	if g.srv != nil {
		// Died between release and hand-over: dial a replacement in
		// its slot rather than queue again.
		_ = g.srv.Close()
	}
	p.mu.Lock()
	if g.srv != nil {
		p.forgetLocked(g.srv)
		p.connecting++
	}
	dial, gen := p.opts.Dial, p.gen
	p.mu.Unlock()
	return p.dial(ctx, dial, gen)
}

// stale reports whether an idle server must be closed instead of reused.
// Called with p.mu held.
func (p *Pool) stale(srv *backend.Server) bool {
	if p.opts.Lifetime == 0 && p.opts.TTL == 0 {
		return false
	}
	now := time.Now()
	if p.opts.Lifetime > 0 && now.Sub(srv.Created) > p.opts.Lifetime {
		return true
	}
	return p.opts.TTL > 0 && now.Sub(srv.Released) > p.opts.TTL && p.total > p.opts.MinSize
}

// dial fills a slot the caller reserved (total and connecting counted) for
// a client.
func (p *Pool) dial(ctx context.Context, dial func(context.Context) (*backend.Server, error), gen uint64) (*backend.Server, error) {
	srv, err := p.connect(ctx, dial, gen)
	if err != nil {
		return nil, err
	}
	p.acquired.Add(1)
	return srv, nil
}

// connect dials into a reserved slot, giving the slot back on failure or
// when the pool closed meanwhile. gen is p.gen when the slot was reserved:
// a server whose dial began before a Reconnect or Kill comes out
// close_needed.
func (p *Pool) connect(ctx context.Context, dial func(context.Context) (*backend.Server, error), gen uint64) (*backend.Server, error) {
	srv, err := dial(ctx)
	if err == nil && srv == nil {
		err = errors.New("pool: Dial returned no server and no error")
	}
	p.mu.Lock()
	p.connecting--
	if err != nil {
		p.freeLocked(1)
		p.mu.Unlock()
		return nil, err
	}
	if p.closed {
		p.mu.Unlock()
		_ = srv.Close()
		p.mu.Lock()
		p.freeLocked(1)
		p.mu.Unlock()
		return nil, ErrClosed
	}
	stale := gen != p.gen
	p.servers[srv] = stale
	if stale {
		p.closeNeeded++
	}
	p.mu.Unlock()
	p.opened.Add(1)
	p.hellos.forget()
	return srv, nil
}

// wait blocks until w is granted a server or a slot, or gives up. A
// timeout that runs out while the pool is paused is put off: the client
// waits for Resume and then gets the whole timeout again.
func (p *Pool) wait(ctx context.Context, w *waiter, timeout time.Duration) (grant, error) {
	defer func() { p.waitNanos.Add(int64(time.Since(w.since))) }()
	var expired <-chan time.Time
	var t *time.Timer
	if timeout > 0 {
		t = time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	var resumed <-chan struct{} // set while a run-out timeout waits for Resume
wait:
	for {
		select {
		case g := <-w.ch:
			if g.err == nil && ctx.Err() != nil {
				// Both ready at once: the client is leaving anyway.
				p.giveBack(g)
				return grant{}, fmt.Errorf("wait for a server: %w", context.Cause(ctx))
			}
			return g, g.err
		case <-expired:
			p.mu.Lock()
			resumed = p.resumed // nil unless paused
			p.mu.Unlock()
			if resumed == nil {
				break wait
			}
			expired = nil
		case <-resumed:
			resumed = nil
			t.Reset(timeout)
			expired = t.C
		case <-ctx.Done():
			break wait
		}
	}
	p.mu.Lock()
	if w.queued {
		p.waiters.remove(w)
		p.mu.Unlock()
		if ctx.Err() != nil {
			return grant{}, fmt.Errorf("wait for a server: %w", context.Cause(ctx))
		}
		return grant{}, pgerr.Errorf(pgerr.TooManyConnections,
			"no server connection available within pool_timeout (%s)", timeout)
	}
	p.mu.Unlock()
	// A grant was sent while we gave up: it is in the channel already.
	g := <-w.ch
	if g.err != nil {
		return g, g.err
	}
	if ctx.Err() != nil {
		p.giveBack(g)
		return grant{}, fmt.Errorf("wait for a server: %w", context.Cause(ctx))
	}
	return g, nil // timed out at the very moment a server came: use it
}

// giveBack returns a grant its waiter can no longer use.
func (p *Pool) giveBack(g grant) {
	if g.srv != nil {
		p.Release(g.srv)
		return
	}
	p.mu.Lock()
	p.connecting--
	p.freeLocked(1)
	p.mu.Unlock()
}

// freeLocked gives back n slots: waiters may dial into them, and Pause
// may be done. Called with p.mu held.
func (p *Pool) freeLocked(n int) {
	p.total -= n
	p.wake()
	p.notifyLocked()
}

// wake gives free slots to waiters, first come first served; each dials
// for itself. None while paused. Called with p.mu held.
func (p *Pool) wake() {
	for !p.closed && !p.paused && p.waiters.n > 0 && (p.opts.Size == 0 || p.total < p.opts.Size) {
		w := p.waiters.pop()
		p.total++
		p.connecting++
		w.ch <- grant{} // buffered, and each waiter gets one grant: never blocks
	}
}

// Release gives back a clean server: ReadyForQuery 'I' was the last thing it
// said and nothing is outstanding. It goes to the first waiter, or becomes
// the most recently used idle server. It is closed instead when the pool is
// closed or paused, the server is older than Lifetime or close_needed
// (Reconnect, Kill), or the pool is over Size after SetOptions made it
// smaller.
func (p *Pool) Release(srv *backend.Server) {
	now := time.Now()
	p.mu.Lock()
	srv.Released = now // under p.mu: Servers reads it
	if p.closed || p.paused || (p.opts.Size > 0 && p.total > p.opts.Size) ||
		(p.opts.Lifetime > 0 && now.Sub(srv.Created) > p.opts.Lifetime) ||
		(p.closeNeeded > 0 && p.servers[srv]) {
		p.mu.Unlock()
		p.closeServers(srv)
		return
	}
	if w := p.waiters.pop(); w != nil {
		w.ch <- grant{srv: srv}
		p.mu.Unlock()
		return
	}
	p.idle = append(p.idle, srv)
	p.mu.Unlock()
}

// Discard closes a broken server, or one whose state is unknown, and gives
// its slot to the first waiter.
func (p *Pool) Discard(srv *backend.Server) {
	p.closeServers(srv)
}

// closeServers closes servers that hold slots, then frees the slots, so that
// PostgreSQL never sees more than Size connections from this pool.
func (p *Pool) closeServers(srvs ...*backend.Server) {
	if len(srvs) == 0 {
		return
	}
	for _, s := range srvs {
		_ = s.Close()
	}
	p.mu.Lock()
	for _, s := range srvs {
		p.forgetLocked(s)
	}
	p.freeLocked(len(srvs))
	p.mu.Unlock()
}

// forgetLocked drops a closed server from the registry. Called with p.mu
// held.
func (p *Pool) forgetLocked(srv *backend.Server) {
	if need, ok := p.servers[srv]; ok {
		delete(p.servers, srv)
		if need {
			p.closeNeeded--
			p.notifyLocked()
		}
	}
}

// Options returns the pool's current options.
func (p *Pool) Options() Options {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.opts
}

// SetOptions changes the pool's limits while it runs (RELOAD, console SET).
// A nil Dial keeps the current one. A smaller Size closes idle servers above
// it now, least recently used first, and servers in use as they are
// released; a larger one lets waiters dial. A new Timeout applies to clients
// that start waiting afterwards.
func (p *Pool) SetOptions(opts Options) {
	p.mu.Lock()
	if opts.Dial == nil {
		opts.Dial = p.opts.Dial
	}
	p.opts = opts
	var drop []*backend.Server
	if excess := p.total - opts.Size; opts.Size > 0 && excess > 0 && len(p.idle) > 0 {
		k := min(excess, len(p.idle))
		drop = append(drop, p.idle[:k]...)
		n := copy(p.idle, p.idle[k:])
		clear(p.idle[n:])
		p.idle = p.idle[:n]
	}
	p.wake()
	p.mu.Unlock()
	p.closeServers(drop...)
	p.poke()
}

// Stats returns a snapshot.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	st := Stats{
		Idle:       len(p.idle),
		Connecting: p.connecting,
		Active:     p.total - len(p.idle) - p.connecting,
		Waiting:    p.waiters.n,
	}
	if w := p.waiters.head; w != nil {
		st.MaxWait = time.Since(w.since)
	}
	p.mu.Unlock()
	st.Acquired = p.acquired.Load()
	st.WaitTime = time.Duration(p.waitNanos.Load())
	st.Opened = p.opened.Load()
	return st
}

// Close closes the idle servers, fails waiting clients and later Acquires
// with ErrClosed, and makes Release close the servers still in use. It
// stops the maintenance goroutine and waits for it. Safe to call twice.
func (p *Pool) Close() {
	p.mu.Lock()
	var idle []*backend.Server
	if !p.closed {
		p.closed = true
		idle, p.idle = p.idle, nil
		for w := p.waiters.pop(); w != nil; w = p.waiters.pop() {
			w.ch <- grant{err: ErrClosed}
		}
	}
	p.mu.Unlock()
	p.cancel()
	<-p.done
	p.closeServers(idle...)
}

// poke makes the maintenance goroutine run now.
func (p *Pool) poke() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// maintain runs at once and then periodically until Close: it closes
// expired idle servers and dials up to MinSize.
func (p *Pool) maintain() {
	defer close(p.done)
	t := time.NewTimer(0)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		case <-p.kick:
		}
		p.expire()
		if err := p.fill(); err != nil {
			// Once per failure streak: PostgreSQL being down is
			// reported by every client that tries anyway.
			l := log.L.WithField("pool", p.Options().Name).WithError(err)
			if !failing && p.ctx.Err() == nil {
				l.Warn("cannot dial servers for min_pool_size")
			} else {
				l.Debug("cannot dial servers for min_pool_size")
			}
			failing = true
		} else {
			failing = false
		}
		p.runs.Add(1)
		t.Reset(p.interval())
	}
}

// interval is the maintenance period: a second, or half of TTL or Lifetime
// when that is shorter, so that expiry is not late by more than half.
func (p *Pool) interval() time.Duration {
	p.mu.Lock()
	ttl, life := p.opts.TTL, p.opts.Lifetime
	p.mu.Unlock()
	d := maintenanceEvery
	for _, x := range [...]time.Duration{ttl / 2, life / 2} {
		if x > 0 && x < d {
			d = x
		}
	}
	return max(d, maintenanceAtLeast)
}

// expire closes idle servers older than Lifetime, and those idle longer
// than TTL as long as MinSize servers remain.
func (p *Pool) expire() {
	p.mu.Lock()
	if p.closed || len(p.idle) == 0 || (p.opts.TTL == 0 && p.opts.Lifetime == 0) {
		p.mu.Unlock()
		return
	}
	now := time.Now()
	var drop []*backend.Server
	keep := p.idle[:0]
	remaining := p.total
	for _, s := range p.idle { // least recently released first
		old := p.opts.Lifetime > 0 && now.Sub(s.Created) > p.opts.Lifetime
		stale := p.opts.TTL > 0 && now.Sub(s.Released) > p.opts.TTL && remaining > p.opts.MinSize
		if old || stale {
			drop = append(drop, s)
			remaining--
			continue
		}
		keep = append(keep, s)
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.mu.Unlock()
	p.closeServers(drop...)
}

// fill dials servers one by one until MinSize are open (never above Size),
// unless the pool is paused. New servers go to waiting clients first, like
// released ones.
func (p *Pool) fill() error {
	for {
		p.mu.Lock()
		if p.closed || p.paused || p.total >= p.opts.MinSize || (p.opts.Size > 0 && p.total >= p.opts.Size) {
			p.mu.Unlock()
			return nil
		}
		p.total++
		p.connecting++
		dial, gen := p.opts.Dial, p.gen
		p.mu.Unlock()
		srv, err := p.connect(p.ctx, dial, gen)
		if err != nil {
			return err
		}
		p.Release(srv)
	}
}
