package instance

import (
	"runtime/debug"
	"time"
)

// shedIdle is how long a client idles before its relay moves to a new
// goroutine with a small stack (relay.Session.Shed); shedLoop looks twice
// as often. When a round has asked shedReturn clients or more to move,
// shedLoop gives the memory of their old stacks back to the operating
// system a moment later: the runtime would keep it for later allocations,
// and the pooler's resident set would not shrink. That is a full garbage
// collection, at most once a round.
const (
	shedIdle   = 5 * time.Second
	shedReturn = 1024
)

// shedLoop asks the sessions idle for shedIdle to shed their stacks, until
// the instance closes.
func (i *Instance) shedLoop() {
	t := time.NewTicker(shedIdle / 2)
	defer t.Stop()
	for {
		select {
		case <-i.ctx.Done():
			return
		case <-t.C:
		}
		asked := 0
		i.sessions.each(func(c *clientRecord) {
			if c.sess != nil && c.sess.Shed(shedIdle) {
				asked++
			}
		})
		if asked < shedReturn {
			continue
		}
		select { // the moves take microseconds each
		case <-i.ctx.Done():
			return
		case <-time.After(time.Second):
		}
		debug.FreeOSMemory()
	}
}
