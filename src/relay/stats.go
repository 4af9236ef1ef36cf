package relay

import (
	"sync/atomic"
	"time"

	"github.com/odyssey-go/odyssey/src/backend"
	"github.com/odyssey-go/odyssey/src/stats"
)

// Traffic figures and the client's state for the console.
//
// The session gathers its route's figures (Options.Stats) in s.batch under
// s.mu, which both goroutines take anyway on every frame, and flushes them
// to the shared atomics at most once per transaction: at a ReadyForQuery
// that leaves nothing outstanding after one or more transactions ended (a
// pipeline of them is flushed once), before forwarding it, so that a
// client holding its answers sees them counted; and when the session ends.
// The meanings are PgBouncer's
// (https://www.pgbouncer.org/usage.html#show-stats):
//
//   - a query is a request answered by ReadyForQuery: a Query, a
//     FunctionCall, or an extended-protocol batch closed by Sync. Its time
//     runs from when it reached a server (after any wait for one) to its
//     ReadyForQuery. Pipelined requests run one after the other, so a
//     request sent while another is outstanding starts when the one before
//     is answered.
//   - a transaction ends at each ReadyForQuery 'I' that answers the
//     client: a COMMIT or ROLLBACK, or a request outside a transaction block
//     (an implicit one). In transaction and statement modes that is when
//     the server is released, unless more requests are queued behind it.
//     Its time runs from its first request reaching a server, idle in
//     transaction included.
//   - wait time is the time spent in Pool.Acquire; each server attached to
//     the client (from the pool, or the server it is pinned to) is an
//     assignment.
//   - bytes are whole frames from and to the client, the pooler's own
//     answers excluded; parses are Parse messages from the client
//     (ClientParses) and all Parses reaching a server, the ones the pooler
//     adds to prepare a renamed statement included (ServerParses); binds are
//     Bind messages.
//
// Clock reads: one when a request reaches a server, one at its
// ReadyForQuery; an attach reads the clock before Acquire and reuses the
// reading after it as the request's.

// Client states of SHOW CLIENTS.
const (
	StateActive  = "active"  // linked to a server
	StateIdle    = "idle"    // logged in, no server, nothing waiting to be processed
	StateWaiting = "waiting" // has sent a request and is waiting for a server
)

// ClientInfo is a client as SHOW CLIENTS shows it.
type ClientInfo struct {
	State       string    // StateActive, StateIdle or StateWaiting
	ConnectTime time.Time // when the session was made (after authentication)
	// RequestTime is when the latest request reached a server; zero
	// before the first. Requests pipelined behind another keep the first
	// one's time.
	RequestTime time.Time
	Wait        time.Duration // how long the client has been waiting for a server; 0 unless waiting
	// Server is the ID of the attached server, or of the server the client
	// is pinned to between transactions; 0 when none.
	Server uint64
	// Prepared counts the named prepared statements the client has, as
	// tracked in transaction and statement modes with prepared statement
	// support; 0 otherwise.
	Prepared int
	Pinned   bool // the client keeps its server between transactions (see pin.go)
}

// info is what Info reads without s.mu.
type info struct {
	connected time.Time     // set by New
	server    atomic.Uint64 // the attached server's ID, 0 none
	pinned    atomic.Uint64 // the pinned server's ID, 0 none
	waitSince atomic.Int64  // Unix ns when the current Acquire began, 0 when not waiting
	request   atomic.Int64  // Unix ns of the latest request
	prepared  atomic.Int64  // len(s.stmts)
}

// Info describes the client for SHOW CLIENTS. Safe to call from any
// goroutine at any time; it reads a few atomics.
func (s *Session) Info() ClientInfo {
	ci := ClientInfo{
		State:       StateIdle,
		ConnectTime: s.info.connected,
		Server:      s.info.server.Load(),
		Prepared:    int(s.info.prepared.Load()),
	}
	pinned := s.info.pinned.Load()
	ci.Pinned = pinned != 0
	if since := s.info.waitSince.Load(); since != 0 {
		ci.State = StateWaiting
		ci.Wait = max(time.Since(time.Unix(0, since)), 0)
	} else if ci.Server != 0 {
		ci.State = StateActive
	}
	if ci.Server == 0 {
		ci.Server = pinned
	}
	if r := s.info.request.Load(); r != 0 {
		ci.RequestTime = time.Unix(0, r)
	}
	return ci
}

// Counters returns the figures that did not go to Options.Stats: all the
// counts when it is nil, none otherwise. Complete once Run has returned.
func (s *Session) Counters() stats.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unreported == nil {
		return stats.Snapshot{}
	}
	return *s.unreported
}

// setServerLocked makes srv (nil: none) the attached server. s.mu must be
// held.
func (s *Session) setServerLocked(srv *backend.Server) {
	s.server = srv
	var id uint64
	if srv != nil {
		id = srv.ID
	}
	s.info.server.Store(id)
}

// setPinnedLocked records the server the client is pinned to (nil: none).
// s.mu must be held.
func (s *Session) setPinnedLocked(srv *backend.Server) {
	s.pinned = srv
	var id uint64
	if srv != nil {
		id = srv.ID
	}
	s.info.pinned.Store(id)
}

// release gives srv back to the pool and discard closes it; the server is
// no longer linked to this client either way.
func (s *Session) release(srv *backend.Server) {
	srv.Client.Store(0)
	s.pool.Release(srv)
}

func (s *Session) discard(srv *backend.Server) {
	srv.Client.Store(0)
	s.pool.Discard(srv)
}

// acquire takes a server from the pool, showing the client as waiting
// meanwhile. It also returns when the wait ended, which is when the
// request that needed the server reaches it, and how long it took.
func (s *Session) acquire() (srv *backend.Server, end time.Time, wait time.Duration, err error) {
	start := time.Now()
	s.info.waitSince.Store(start.UnixNano())
	srv, err = s.pool.Acquire(s.ctx)
	end = time.Now()
	s.info.waitSince.Store(0)
	return srv, end, end.Sub(start), err
}

// requestLocked notes a client frame reaching the server at now (zero:
// read the clock if needed). s.mu must be held.
func (s *Session) requestLocked(now time.Time) {
	if !s.reqStart.IsZero() {
		return // part of a request under way, or pipelined behind one
	}
	if now.IsZero() {
		now = time.Now()
	}
	s.reqStart = now
	if s.xactStart.IsZero() {
		s.xactStart = now
	}
	s.info.request.Store(now.UnixNano())
}

// readyLocked counts a ReadyForQuery with status that answers the client
// at now. s.mu must be held.
func (s *Session) readyLocked(now time.Time, status byte) {
	if !s.reqStart.IsZero() {
		s.batch.Query(now.Sub(s.reqStart))
		s.reqStart = time.Time{}
	}
	if status == 'I' && !s.xactStart.IsZero() {
		s.batch.Xact(now.Sub(s.xactStart))
		s.xactStart = time.Time{}
	}
	if s.pending > 0 || s.inBatch {
		// The next request is at the server already: it starts now.
		s.reqStart = now
		if s.xactStart.IsZero() {
			s.xactStart = now
		}
	}
}

// takeBatchLocked moves the figures gathered so far to dst, to be flushed
// outside the lock; without Options.Stats it keeps the counts for
// Counters instead. s.mu must be held.
func (s *Session) takeBatchLocked(dst *stats.Batch) {
	s.batch.MoveTo(dst)
	if s.opts.Stats == nil {
		if s.unreported == nil {
			s.unreported = new(stats.Snapshot)
		}
		*s.unreported = s.unreported.Add(dst.Snapshot)
	}
}

// flushStats flushes whatever figures are left. Client goroutine, once the
// server goroutine is done.
func (s *Session) flushStats() {
	var b stats.Batch
	s.mu.Lock()
	s.takeBatchLocked(&b)
	s.mu.Unlock()
	b.Flush()
}

// notePrepared publishes the number of the client's named statements.
// Client goroutine only.
func (s *Session) notePrepared() {
	s.info.prepared.Store(int64(len(s.stmts)))
}
