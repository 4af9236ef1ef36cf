package instance

import (
	"runtime/debug"
	"time"
)

// shedIdle is how long a client idles before its relay moves to a new
// goroutine with a small stack (relay.Session.Shed); shedLoop looks this
// often. After a round that moved shedReturn clients or more, the next
// gives the memory of their old stacks back to the operating system: the
// runtime would keep it for later allocations, and the pooler's resident
// set would not shrink.
const (
	shedIdle   = 5 * time.Second
	shedReturn = 1024
)

// shedLoop asks the sessions idle for shedIdle to shed their stacks, until
// the instance closes.
func (i *Instance) shedLoop() {
	t := time.NewTicker(shedIdle)
	defer t.Stop()
	asked := 0
	for {
		select {
		case <-i.ctx.Done():
			return
		case <-t.C:
		}
		if asked >= shedReturn {
			debug.FreeOSMemory()
		}
		asked = 0
		i.sessions.each(func(c *clientRecord) {
			if c.sess != nil && c.sess.Shed(shedIdle) {
				asked++
			}
		})
	}
}
