package pool

import (
	"context"
	"errors"
	"net"
	"slices"
	"time"

	"github.com/odyssey-go/odyssey/src/backend"
)

// This file has what the admin console steers a pool with, following
// PgBouncer's commands (https://www.pgbouncer.org/usage.html): PAUSE,
// RESUME, RECONNECT, KILL and WAIT_CLOSE, and the server list behind SHOW
// SERVERS.

// ErrResumed is returned by Pause and WaitPaused when Resume ended the
// pause before the servers were gone.
var ErrResumed = errors.New("pool resumed before its servers were released")

// ServerInfo describes one server of a pool, for SHOW SERVERS.
type ServerInfo struct {
	ID uint64
	// State is PgBouncer's: "active" (handed out, to a client or to the
	// pooler's own work) or "idle". The pool never reports "used" or
	// "tested": it runs no server_check_query, because every idle server
	// is probed (backend.Server.Alive) as it is handed out, and it
	// resets nothing itself. Dials in progress ("new") are not servers
	// yet; Stats.Connecting counts them.
	State            string
	Network, Address string   // the remote end, as dialled
	LocalAddr        net.Addr // nil when the connection has none
	Created          time.Time
	Released         time.Time // the last time it went idle; zero if never
	PID              uint32    // the backend's process id
	TLS              string    // "" for plaintext
	// CloseNeeded: closed when released rather than reused, after
	// Reconnect or Kill, or because the pool is retired or closed.
	CloseNeeded bool
	Client      uint64 // the attached client's id (backend.Server.Client), 0 when none
}

// Servers lists the pool's servers, idle and handed out, ordered by ID.
// It does not block on I/O.
func (p *Pool) Servers() []ServerInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	idle := make(map[*backend.Server]bool, len(p.idle))
	for _, s := range p.idle {
		idle[s] = true
	}
	out := make([]ServerInfo, 0, len(p.servers))
	for s, need := range p.servers {
		info := ServerInfo{
			ID:          s.ID,
			State:       "active",
			Network:     s.Network,
			Address:     s.Address,
			Created:     s.Created,
			Released:    s.Released,
			PID:         s.PID,
			TLS:         s.TLS,
			CloseNeeded: need || p.retired || p.closed,
			Client:      s.Client.Load(),
		}
		if idle[s] {
			info.State = "idle"
		}
		if s.Conn != nil {
			info.LocalAddr = s.Conn.LocalAddr()
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b ServerInfo) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// Pause is StartPause followed by WaitPaused: it returns once no server of
// the pool is left, or with ctx.Err() (the pause stays in force), or with
// ErrResumed.
func (p *Pool) Pause(ctx context.Context) error {
	p.StartPause()
	return p.WaitPaused(ctx)
}

// StartPause pauses the pool without waiting, as PgBouncer's PAUSE does:
// idle servers are closed now, servers in use are closed as they are
// released (in transaction mode when their transaction ends, in session
// mode when their client leaves), Acquire queues every caller, and
// min_pool_size is not dialled. A client that was already dialling keeps
// its server until it releases it.
//
// pool_timeout does not run out while the pool is paused: PgBouncer's
// clients wait through a PAUSE for as long as it lasts, and an operator who
// pauses for a PostgreSQL restart wants no errors. A client still waiting
// when Resume comes gets the whole pool_timeout again from then.
func (p *Pool) StartPause() {
	p.mu.Lock()
	p.pauseLocked()
	idle := p.takeIdleLocked()
	p.mu.Unlock()
	p.closeServers(idle...)
}

func (p *Pool) pauseLocked() {
	if !p.paused {
		p.paused = true
		p.resumed = make(chan struct{})
	}
}

// WaitPaused returns once the paused pool has no server left (none in use,
// idle or being dialled), with ctx.Err() when ctx ends first, or with
// ErrResumed when the pool is not paused or Resume comes first.
func (p *Pool) WaitPaused(ctx context.Context) error {
	return p.waitFor(ctx, func() (bool, error) {
		if !p.paused {
			return true, ErrResumed
		}
		return p.total == 0, nil
	})
}

// Resume ends a pause (Pause or Kill): waiting clients get slots to dial
// into, first come first served, and min_pool_size is dialled again.
func (p *Pool) Resume() {
	p.mu.Lock()
	if !p.paused {
		p.mu.Unlock()
		return
	}
	p.paused = false
	close(p.resumed)
	p.resumed = nil
	p.wake()
	p.notifyLocked()
	p.mu.Unlock()
	p.poke()
}

// Paused reports whether the pool is paused.
func (p *Pool) Paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

// Reconnect marks every server close_needed, as PgBouncer's RECONNECT
// does: idle servers are closed now, servers in use when they are
// released, and servers being dialled when their client releases them.
// Servers dialled afterwards are not affected.
func (p *Pool) Reconnect() {
	p.mu.Lock()
	p.gen++
	p.markAllLocked()
	idle := p.takeIdleLocked()
	p.mu.Unlock()
	p.closeServers(idle...)
}

// WaitClose returns once no close_needed server is left (see Reconnect,
// Retire), or with ctx.Err().
func (p *Pool) WaitClose(ctx context.Context) error {
	return p.waitFor(ctx, func() (bool, error) {
		drained := len(p.servers) == 0 || !(p.retired || p.closed)
		return p.closeNeeded == 0 && drained, nil
	})
}

// Kill closes every server now, idle and in use, and pauses the pool, as
// PgBouncer's KILL does. A server in use has its socket closed under its
// holder, whose next read or write fails; the holder then gives it back
// with Discard (or Release), which frees its slot. Waiting clients stay
// queued until Resume: ending them is up to whoever owns them.
func (p *Pool) Kill() {
	p.StartPause() // closes the idle servers
	p.mu.Lock()
	p.gen++
	p.markAllLocked()
	busy := make([]*backend.Server, 0, len(p.servers))
	for s := range p.servers {
		busy = append(busy, s)
	}
	p.mu.Unlock()
	for _, s := range busy {
		_ = s.Close() // safe while another goroutine uses s
	}
}

// Retire says that the pool's route was replaced by a reload: its servers
// carry on serving the route's remaining clients, and the pool closes when
// the last one leaves. Until then every server counts as close_needed, so
// that WaitClose waits for the pool to empty.
func (p *Pool) Retire() {
	p.mu.Lock()
	p.retired = true
	p.mu.Unlock()
}

// markAllLocked marks every server close_needed. Called with p.mu held.
func (p *Pool) markAllLocked() {
	for s, need := range p.servers {
		if !need {
			p.servers[s] = true
			p.closeNeeded++
		}
	}
}

// takeIdleLocked empties the idle list and returns what it held, for the
// caller to close. Called with p.mu held.
func (p *Pool) takeIdleLocked() []*backend.Server {
	if len(p.idle) == 0 {
		return nil
	}
	idle := slices.Clone(p.idle)
	clear(p.idle)
	p.idle = p.idle[:0]
	return idle
}

// waitFor waits until cond, called with p.mu held, reports done, and
// returns its error; or until ctx ends.
func (p *Pool) waitFor(ctx context.Context, cond func() (bool, error)) error {
	for {
		p.mu.Lock()
		done, err := cond()
		var changed <-chan struct{}
		if !done {
			if p.changed == nil {
				p.changed = make(chan struct{})
			}
			changed = p.changed
		}
		p.mu.Unlock()
		if done {
			return err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// notifyLocked wakes the callers of waitFor. Called with p.mu held.
func (p *Pool) notifyLocked() {
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
}
