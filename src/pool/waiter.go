package pool

import (
	"sync"
	"time"

	"github.com/odyssey-go/odyssey/src/backend"
)

// grant is what a waiting client receives: a released server, a slot to
// dial into (srv and err nil; the slot is already counted for it), or an
// error (the pool closed).
type grant struct {
	srv *backend.Server
	err error
}

// waiter is one client waiting for a server. ch is buffered so that a grant
// can be sent under the pool's mutex; a waiter receives at most one grant,
// because it leaves the queue when it gets one.
type waiter struct {
	ch         chan grant
	since      time.Time
	prev, next *waiter
	queued     bool
}

// waiters are reused: Acquire made a waiter and its channel for each wait,
// 79% of the bytes the pooler allocated under pgbench -S with 100 clients
// on 20 servers.
var waiters = sync.Pool{New: func() any { return &waiter{ch: make(chan grant, 1)} }}

// newWaiter returns a waiter that is not queued, with an empty channel.
func newWaiter() *waiter {
	w := waiters.Get().(*waiter)
	w.since = time.Now()
	return w
}

// freeWaiter recycles w once its wait is over: it has left the queue and
// its grant, if one was sent, has been received.
func freeWaiter(w *waiter) { waiters.Put(w) }

// queue is a FIFO of waiters, linked through the waiters themselves so that
// a waiter that gives up leaves in O(1). Guarded by the pool's mutex.
type queue struct {
	head, tail *waiter
	n          int
}

func (q *queue) push(w *waiter) {
	w.prev, w.next, w.queued = q.tail, nil, true
	if q.tail != nil {
		q.tail.next = w
	} else {
		q.head = w
	}
	q.tail = w
	q.n++
}

// pop removes and returns the oldest waiter, or nil.
func (q *queue) pop() *waiter {
	w := q.head
	if w != nil {
		q.remove(w)
	}
	return w
}

func (q *queue) remove(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		q.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		q.tail = w.prev
	}
	w.prev, w.next, w.queued = nil, nil, false
	q.n--
}
