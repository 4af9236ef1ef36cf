package relay

import (
	"errors"
	"sync/atomic"
	"time"
)

// Shedding the stack (issue 5: memory per idle client). A client
// goroutine's stack grows to 4 KiB at the client's first query: the relay's
// call chains, down to the socket calls, are deeper than the 1.1 KiB a
// 2 KiB stack leaves. The garbage collector never halves it again while the
// goroutine sits parked, since it shrinks a stack only when less than a
// quarter of it is in use, the runtime's 800-byte no-split reserve
// included. So a session started with Go moves to a new goroutine, whose
// stack starts small, once it has been idle a while: Shed, which the
// instance calls for clients idle for some seconds, wakes the client
// goroutine through its read deadline; the goroutine restores the deadline,
// starts its successor and returns. Plain sockets only: a TLS client holds
// a read buffer anyway, and its wake-up would go through crypto/tls.

// errShed ends serveClient when the client goroutine is to move.
var errShed = errors.New("relay: client goroutine moving")

// moves counts the client goroutines that moved, for tests.
var moves atomic.Uint64

// Go runs the session as Run does, on goroutines of its own, and calls end
// with Run's result once the client has gone. While the client is idle,
// Shed may move it to a new goroutine.
func (s *Session) Go(end func(error)) {
	s.mu.Lock()
	s.end = end
	s.mu.Unlock()
	go s.run(true)
}

func (s *Session) run(first bool) {
	if first {
		s.begin()
	}
	err := s.serveClient()
	if err == errShed {
		moves.Add(1)
		go s.run(false)
		return
	}
	s.end(s.conclude(err))
}

// Shed asks the client goroutine of a session started with Go to move to a
// new goroutine, if it is parked waiting for an idle client (between
// transactions, with no server, not waiting for one) that has sent no
// request for at least idle, and has not moved since the client's last
// transaction; it reports whether it asked. Safe to call from any
// goroutine at any time.
func (s *Session) Shed(idle time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ok := s.end != nil && s.parked && !s.shed && !s.shedDone && !s.gone &&
		s.server == nil && s.pending == 0 && !s.inBatch && !s.copyIn && !s.clientCopy &&
		s.txStatus == 'I' && s.stop == nil && time.Since(time.Unix(0, s.info.request.Load())) >= idle
	if ok {
		s.shed = true
		// Under mu: a goroutine that wakes to the client's data meanwhile
		// finds shed set once it is no longer parked, and undoes this.
		_ = s.conn.SetReadDeadline(time.Now())
	}
	return ok
}

// takeShed reports whether Shed asked the client goroutine to move, and
// then puts back the read deadline that Shed's replaced. Client goroutine,
// after its read deadline passed.
func (s *Session) takeShed() bool {
	s.mu.Lock()
	asked := s.takeShedLocked()
	s.mu.Unlock()
	if asked {
		s.restoreDeadline()
	}
	return asked
}

// takeShedLocked clears Shed's request and reports whether there was one.
// s.mu must be held.
func (s *Session) takeShedLocked() bool {
	asked := s.shed
	s.shed = false
	s.shedDone = s.shedDone || asked
	return asked
}

// restoreDeadline puts back the read deadline that Shed's replaced.
func (s *Session) restoreDeadline() {
	_ = s.conn.SetReadDeadline(time.Time{})
	if !s.busy() {
		s.setIdleDeadline()
	}
}
