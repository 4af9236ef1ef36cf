package relay

import (
	"sync"
	"time"

	"github.com/odyssey-go/odyssey/src/backend"
)

// Server goroutines are reused: each attach used to start one, whose
// closure was the relay's only allocation per transaction (issue 5: 0
// allocs/op in BenchmarkForward). A worker that finished a session's
// server side waits in idleWorkers for the next attach of any session, and
// exits after workerIdle without one, so there are about as many workers as
// servers attached at once, and none once traffic stops.

// workerIdle is how long an idle worker waits for work before it exits.
const workerIdle = 10 * time.Second

// serverJob is one attach's server side: relay srv for s, then tell s.
type serverJob struct {
	s   *Session
	srv *backend.Server
}

type worker struct {
	jobs  chan serverJob // buffered: a job is handed over without waiting
	timer *time.Timer
}

var idleWorkers struct {
	mu sync.Mutex
	ws []*worker // LIFO: the most recently idle first, so the others expire
}

// goServe runs s.serveServer(srv) on a worker and then sends on s.done.
func goServe(s *Session, srv *backend.Server) {
	j := serverJob{s: s, srv: srv}
	idleWorkers.mu.Lock()
	if n := len(idleWorkers.ws); n > 0 {
		w := idleWorkers.ws[n-1]
		idleWorkers.ws[n-1] = nil
		idleWorkers.ws = idleWorkers.ws[:n-1]
		idleWorkers.mu.Unlock()
		w.jobs <- j
		return
	}
	idleWorkers.mu.Unlock()
	w := &worker{jobs: make(chan serverJob, 1)}
	w.jobs <- j
	go w.run()
}

func (w *worker) run() {
	j := <-w.jobs
	for {
		j.s.serveServer(j.srv)
		j.s.done <- struct{}{}
		j = serverJob{} // hold no session while idle
		var ok bool
		if j, ok = w.idle(); !ok {
			return
		}
	}
}

// idle parks w in idleWorkers until a job comes or workerIdle passes.
func (w *worker) idle() (serverJob, bool) {
	if w.timer == nil {
		w.timer = time.NewTimer(workerIdle)
	} else {
		w.timer.Reset(workerIdle) // Go ≥ 1.23 timers: no stale tick to drain
	}
	idleWorkers.mu.Lock()
	idleWorkers.ws = append(idleWorkers.ws, w)
	idleWorkers.mu.Unlock()
	select {
	case j := <-w.jobs:
		w.timer.Stop()
		return j, true
	case <-w.timer.C:
	}
	idleWorkers.mu.Lock()
	for i, x := range idleWorkers.ws {
		if x == w {
			last := len(idleWorkers.ws) - 1
			copy(idleWorkers.ws[i:], idleWorkers.ws[i+1:])
			idleWorkers.ws[last] = nil
			idleWorkers.ws = idleWorkers.ws[:last]
			idleWorkers.mu.Unlock()
			return serverJob{}, false
		}
	}
	idleWorkers.mu.Unlock()
	// Taken off the list by goServe just now: its job is on the way.
	return <-w.jobs, true
}
