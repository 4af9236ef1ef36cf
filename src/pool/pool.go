// Package pool keeps the server connections of one route and endpoint:
// idle servers reused most-recently-released first, clients waiting in
// arrival order with a timeout, a size limit, and idle (pool_ttl) and age
// (server_lifetime) expiry with a warm minimum (min_pool_size).
//
// The mutex guards bookkeeping only; dialling, closing and the liveness
// probe happen outside it.
package pool

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/odyssey-go/odyssey/src/backend"
	"github.com/odyssey-go/odyssey/src/pgerr"
)

// Options are a pool's limits and how to make a server.
type Options struct {
	Size     int           // max servers, idle and active; 0: unlimited
	MinSize  int           // servers kept open even when idle
	Timeout  time.Duration // max wait for a server at Size; 0: forever
	TTL      time.Duration // close servers idle this long; 0: never
	Lifetime time.Duration // close servers this old; 0: never
	Dial     func(ctx context.Context) (*backend.Server, error)
}

// ErrClosed is returned by Acquire on a closed pool.
var ErrClosed = errors.New("pool closed")

// Stats is a snapshot of a pool.
type Stats struct {
	Active, Idle, Waiting, Connecting int
	MaxWait                           time.Duration // oldest waiter's wait so far
	Assignments                       uint64        // servers handed to clients
	WaitTime                          time.Duration // total time clients waited
}

type waiter struct {
	ch    chan *backend.Server // buffered 1; nil server: a slot to dial
	since time.Time
}

// Pool is safe for concurrent use.
type Pool struct {
	mu      sync.Mutex
	opts    Options
	idle    []*backend.Server // LIFO: the last one is the most recently released
	total   int               // idle + active + connecting
	dialing int
	waiters list.List // of *waiter, FIFO
	closed  bool
	stats   Stats

	stop chan struct{}
	done chan struct{}
}

// New starts a pool and its maintenance goroutine; Close stops it.
func New(opts Options) *Pool {
	p := &Pool{opts: opts, stop: make(chan struct{}), done: make(chan struct{})}
	go p.maintain()
	return p
}

// Acquire returns a server for the caller's exclusive use until Release or
// Discard. It waits in arrival order when the pool is at its size, up to the
// pool's timeout (then 53300) or ctx.
func (p *Pool) Acquire(ctx context.Context) (*backend.Server, error) {
	for {
		srv, w, err := p.take()
		if err != nil {
			return nil, err
		}
		if w != nil {
			srv, err = p.wait(ctx, w)
			if err != nil {
				return nil, err
			}
		}
		if srv == nil {
			// A slot is reserved for us: dial, unless the pool closed.
			if p.isClosed() {
				p.mu.Lock()
				p.total--
				p.dialing--
				p.mu.Unlock()
				return nil, ErrClosed
			}
			return p.dial(ctx)
		}
		if p.usable(srv) {
			return srv, nil
		}
		p.Discard(srv)
	}
}

// take pops an idle server, reserves a slot to dial (nil, nil, nil), or
// enqueues a waiter.
func (p *Pool) take() (*backend.Server, *waiter, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, nil, ErrClosed
	}
	if n := len(p.idle); n > 0 {
		srv := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.stats.Assignments++
		return srv, nil, nil
	}
	if p.opts.Size == 0 || p.total < p.opts.Size {
		p.total++
		p.dialing++
		p.stats.Assignments++
		return nil, nil, nil
	}
	w := &waiter{ch: make(chan *backend.Server, 1), since: time.Now()}
	p.waiters.PushBack(w)
	return nil, w, nil
}

func (p *Pool) wait(ctx context.Context, w *waiter) (*backend.Server, error) {
	var timeout <-chan time.Time
	if p.opts.Timeout > 0 {
		t := time.NewTimer(p.opts.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case srv := <-w.ch:
		p.waited(w)
		return srv, nil
	case <-timeout:
	case <-ctx.Done():
	}
	p.mu.Lock()
	removed := p.removeWaiter(w)
	p.mu.Unlock()
	if !removed {
		// Handed a server (or a slot) just as we gave up: take it anyway.
		p.waited(w)
		return <-w.ch, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if p.isClosed() {
		return nil, ErrClosed
	}
	return nil, pgerr.Errorf(pgerr.TooManyConnections, "pool timeout: no server connection available within %s", p.opts.Timeout)
}

func (p *Pool) waited(w *waiter) {
	p.mu.Lock()
	p.stats.WaitTime += time.Since(w.since)
	p.mu.Unlock()
}

func (p *Pool) removeWaiter(w *waiter) bool {
	for e := p.waiters.Front(); e != nil; e = e.Next() {
		if e.Value.(*waiter) == w {
			p.waiters.Remove(e)
			return true
		}
	}
	return false
}

func (p *Pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *Pool) dial(ctx context.Context) (*backend.Server, error) {
	srv, err := p.opts.Dial(ctx)
	p.mu.Lock()
	p.dialing--
	if err != nil {
		p.total--
		p.mu.Unlock()
		p.handOff() // the slot is free: let a waiter try
		return nil, err
	}
	p.mu.Unlock()
	return srv, nil
}

// usable checks a server taken from the idle list.
func (p *Pool) usable(srv *backend.Server) bool {
	now := time.Now()
	p.mu.Lock()
	ttl, life := p.opts.TTL, p.opts.Lifetime
	p.mu.Unlock()
	if life > 0 && now.Sub(srv.Created) > life {
		return false
	}
	if ttl > 0 && !srv.Released.IsZero() && now.Sub(srv.Released) > ttl {
		return false
	}
	return srv.Alive()
}

// Release returns a clean server (ReadyForQuery 'I', nothing outstanding).
func (p *Pool) Release(srv *backend.Server) {
	srv.Released = time.Now()
	p.mu.Lock()
	tooOld := p.opts.Lifetime > 0 && srv.Released.Sub(srv.Created) > p.opts.Lifetime
	over := p.opts.Size > 0 && p.total > p.opts.Size
	if p.closed || tooOld || over {
		p.total--
		p.mu.Unlock()
		_ = srv.Close()
		p.handOff()
		return
	}
	if e := p.waiters.Front(); e != nil {
		w := p.waiters.Remove(e).(*waiter)
		p.mu.Unlock()
		w.ch <- srv
		return
	}
	p.idle = append(p.idle, srv)
	p.mu.Unlock()
}

// Discard closes a broken or dirty server and frees its slot.
func (p *Pool) Discard(srv *backend.Server) {
	_ = srv.Close()
	p.mu.Lock()
	p.total--
	p.mu.Unlock()
	p.handOff()
}

// handOff gives a free slot to the first waiter, who will dial.
func (p *Pool) handOff() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || (p.opts.Size > 0 && p.total >= p.opts.Size) {
		return
	}
	if e := p.waiters.Front(); e != nil {
		w := p.waiters.Remove(e).(*waiter)
		p.total++
		p.dialing++
		w.ch <- nil
	}
}

// SetOptions changes limits at run time. A smaller size closes idle servers
// now and active ones as they are released.
func (p *Pool) SetOptions(opts Options) {
	p.mu.Lock()
	if opts.Dial == nil {
		opts.Dial = p.opts.Dial
	}
	p.opts = opts
	var drop []*backend.Server
	for opts.Size > 0 && p.total > opts.Size && len(p.idle) > 0 {
		drop = append(drop, p.idle[0])
		p.idle = p.idle[1:]
		p.total--
	}
	p.mu.Unlock()
	for _, s := range drop {
		_ = s.Close()
	}
	for range 8 { // a larger size may admit waiters
		p.handOff()
	}
}

// Stats returns a snapshot.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.stats
	st.Idle = len(p.idle)
	st.Connecting = p.dialing
	st.Active = p.total - len(p.idle) - p.dialing
	st.Waiting = p.waiters.Len()
	if e := p.waiters.Front(); e != nil {
		st.MaxWait = time.Since(e.Value.(*waiter).since)
	}
	return st
}

// Close closes idle servers, fails waiters, and makes later Releases close
// their servers. It waits for the maintenance goroutine.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.total -= len(idle)
	var ws []*waiter
	for e := p.waiters.Front(); e != nil; e = e.Next() {
		ws = append(ws, e.Value.(*waiter))
	}
	p.waiters.Init()
	p.mu.Unlock()
	for _, w := range ws {
		// A nil server is a dial slot; with the pool closed the dial
		// is refused below through ErrClosed on the next Acquire.
		p.mu.Lock()
		p.total++
		p.dialing++
		p.mu.Unlock()
		w.ch <- nil
	}
	close(p.stop)
	<-p.done
	for _, s := range idle {
		_ = s.Close()
	}
}

// maintain expires idle servers and keeps MinSize open.
func (p *Pool) maintain() {
	defer close(p.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		p.expire()
		p.fill()
	}
}

func (p *Pool) expire() {
	now := time.Now()
	p.mu.Lock()
	var drop []*backend.Server
	keep := p.idle[:0]
	for _, s := range p.idle {
		old := p.opts.Lifetime > 0 && now.Sub(s.Created) > p.opts.Lifetime
		stale := p.opts.TTL > 0 && now.Sub(s.Released) > p.opts.TTL && p.total-len(drop) > p.opts.MinSize
		if old || stale {
			drop = append(drop, s)
			continue
		}
		keep = append(keep, s)
	}
	for i := len(keep); i < len(p.idle); i++ {
		p.idle[i] = nil
	}
	p.idle = keep
	p.total -= len(drop)
	p.mu.Unlock()
	for _, s := range drop {
		_ = s.Close()
	}
}

func (p *Pool) fill() {
	for {
		p.mu.Lock()
		if p.closed || p.total >= p.opts.MinSize || (p.opts.Size > 0 && p.total >= p.opts.Size) {
			p.mu.Unlock()
			return
		}
		p.total++
		p.dialing++
		dial := p.opts.Dial
		p.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		srv, err := dial(ctx)
		cancel()
		p.mu.Lock()
		p.dialing--
		if err != nil {
			p.total--
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		p.Release(srv)
	}
}
