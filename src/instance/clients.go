package instance

import (
	"context"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/odyssey-go/odyssey/src/client"
	"github.com/odyssey-go/odyssey/src/pgerr"
	"github.com/odyssey-go/odyssey/src/relay"
	"github.com/odyssey-go/odyssey/src/route"
)

// clientRecord is a logged-in client as the console lists it: a relay
// session, or a console session of its own.
type clientRecord struct {
	id        uint64
	conn      net.Conn // the client's, for addresses and for closing a console session
	st        *client.Startup
	rt        *route.Route
	connected time.Time
	tls       string         // PgBouncer's description, "" for plaintext
	sess      *relay.Session // nil for a console session
}

// terminate ends the session between transactions with pe (a relay
// session), or closes it (a console session, which has no transaction).
func (c *clientRecord) terminate(pe *pgerr.Error) {
	if c.sess != nil {
		c.sess.Terminate(pe)
		return
	}
	_ = c.conn.Close()
}

// close ends the session now.
func (c *clientRecord) close() {
	if c.sess != nil {
		c.sess.Close()
		return
	}
	_ = c.conn.Close()
}

// appName is the client's application_name startup parameter.
func (c *clientRecord) appName() string {
	for _, p := range c.st.Params {
		if p.Name == "application_name" {
			return p.Value
		}
	}
	return ""
}

// sessionRegistry lists logged-in clients, for shutdown and the console.
type sessionRegistry struct {
	mu sync.Mutex
	m  map[uint64]*clientRecord
}

func (r *sessionRegistry) add(c *clientRecord) {
	r.mu.Lock()
	r.m[c.id] = c
	r.mu.Unlock()
}

func (r *sessionRegistry) remove(id uint64) {
	r.mu.Lock()
	delete(r.m, id)
	r.mu.Unlock()
}

func (r *sessionRegistry) get(id uint64) *clientRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[id]
}

// list returns the clients in id order.
func (r *sessionRegistry) list() []*clientRecord {
	r.mu.Lock()
	out := make([]*clientRecord, 0, len(r.m))
	for _, c := range r.m {
		out = append(out, c)
	}
	r.mu.Unlock()
	sort.Slice(out, func(a, b int) bool { return out[a].id < out[b].id })
	return out
}

func (r *sessionRegistry) each(f func(*clientRecord)) {
	for _, c := range r.list() {
		f(c)
	}
}

// canceler is what a cancel key leads to: a relay session, which cancels
// its client's running query, or a console session, which stops a waiting
// PAUSE.
type canceler interface {
	Cancel(ctx context.Context) error
}

// keyRegistry maps pooler-issued cancel keys to sessions.
type keyRegistry struct {
	mu   sync.Mutex
	keys map[cancelKey]canceler
	next uint32
}

// add issues a key. pid is the server's process id in session mode (so that
// pg_terminate_backend and pg_cancel_backend on the id a driver reports hit
// the right backend) and 0 otherwise, when the pooler picks one that fits a
// positive int4.
func (r *keyRegistry) add(pid uint32, s canceler) cancelKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		k := cancelKey{pid: pid, secret: randomUint32()}
		if pid == 0 {
			r.next++
			if r.next >= 1<<31-1 || r.next == 0 {
				r.next = 1
			}
			k.pid = r.next
		}
		if _, dup := r.keys[k]; !dup {
			r.keys[k] = s
			return k
		}
	}
}

func (r *keyRegistry) remove(k cancelKey) {
	r.mu.Lock()
	delete(r.keys, k)
	r.mu.Unlock()
}

func (r *keyRegistry) lookup(pid, secret uint32) canceler {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.keys[cancelKey{pid, secret}]
}
