package relay

import (
	"sync"
	"time"

	"github.com/odyssey-go/odyssey/src/backend"
)

// Server goroutines are reused: each attach used to start one, whose
// closure was the relay's only allocation per transaction (issue 5: 0
// allocs/op in BenchmarkForward). A worker that finished a session's
// server side waits in idleWorkers for the next attach of any session. A
// reaper stops workers idle for longer than workerIdle, so there are about
// as many workers as servers attached at once, and few once traffic stops.
// Workers park on their channel alone: a timer per worker, reset on every
// transaction, cost a select and two timer updates per transaction.

// workerIdle is how long an idle worker waits for work before the reaper
// stops it.
const workerIdle = 10 * time.Second

// serverJob is one attach's server side: relay srv for s, then tell s. The
// zero job tells a worker to exit.
type serverJob struct {
	s   *Session
	srv *backend.Server
}

type worker struct {
	jobs      chan serverJob // buffered: a job is handed over without waiting
	idleSince time.Time      // guarded by idleWorkers.mu
}

var idleWorkers struct {
	mu     sync.Mutex
	ws     []*worker // LIFO: the most recently idle last, so the first ones expire
	reaper sync.Once
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
	idleWorkers.reaper.Do(func() { go reapWorkers() })
	w := &worker{jobs: make(chan serverJob, 1)}
	w.jobs <- j
	go w.run()
}

func (w *worker) run() {
	for j := range w.jobs {
		if j.s == nil {
			return
		}
		j.s.serveServer(j.srv)
		j.s.done <- struct{}{}
		j = serverJob{} // hold no session while idle
		idleWorkers.mu.Lock()
		w.idleSince = time.Now()
		idleWorkers.ws = append(idleWorkers.ws, w)
		idleWorkers.mu.Unlock()
	}
}

// reapWorkers stops, every workerIdle/2, the workers idle for longer than
// workerIdle. It runs for the life of the process.
func reapWorkers() {
	for range time.Tick(workerIdle / 2) {
		reapIdle(time.Now().Add(-workerIdle))
	}
}

// reapIdle stops the workers idle since before cutoff.
func reapIdle(cutoff time.Time) {
	idleWorkers.mu.Lock()
	n := 0
	for n < len(idleWorkers.ws) && idleWorkers.ws[n].idleSince.Before(cutoff) {
		n++
	}
	stale := make([]*worker, n)
	copy(stale, idleWorkers.ws[:n])
	rest := copy(idleWorkers.ws, idleWorkers.ws[n:])
	clear(idleWorkers.ws[rest:])
	idleWorkers.ws = idleWorkers.ws[:rest]
	idleWorkers.mu.Unlock()
	for _, w := range stale {
		w.jobs <- serverJob{} // off the list: no other job can come
	}
}
