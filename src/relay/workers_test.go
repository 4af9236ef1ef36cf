package relay

import (
	"testing"
	"time"
)

// TestReapIdle: the reaper stops exactly the workers idle since before the
// cutoff, the oldest first in the list, and leaves the others for reuse.
func TestReapIdle(t *testing.T) {
	idleWorkers.mu.Lock()
	saved := idleWorkers.ws
	idleWorkers.ws = nil
	idleWorkers.mu.Unlock()
	t.Cleanup(func() {
		idleWorkers.mu.Lock()
		idleWorkers.ws = saved
		idleWorkers.mu.Unlock()
	})

	now := time.Now()
	var ws []*worker
	exited := make(chan *worker, 3)
	for _, age := range []time.Duration{3 * time.Minute, 2 * time.Minute, time.Second} {
		w := &worker{jobs: make(chan serverJob, 1), idleSince: now.Add(-age)}
		ws = append(ws, w)
		go func() { w.run(); exited <- w }()
	}
	idleWorkers.mu.Lock()
	idleWorkers.ws = append(idleWorkers.ws, ws...)
	idleWorkers.mu.Unlock()

	reapIdle(now.Add(-time.Minute))
	for range 2 {
		select {
		case w := <-exited:
			if w == ws[2] {
				t.Fatal("the worker idle for a second was stopped")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a stale worker did not exit")
		}
	}
	idleWorkers.mu.Lock()
	left := append([]*worker(nil), idleWorkers.ws...)
	idleWorkers.mu.Unlock()
	if len(left) != 1 || left[0] != ws[2] {
		t.Fatalf("idle workers after reaping: %d, want only the recent one", len(left))
	}
	ws[2].jobs <- serverJob{} // stop it too
	<-exited
}
