package pool

import (
	"sync"
	"sync/atomic"
)

// maxHellos bounds how many distinct client-settings keys a pool remembers
// login answers for; past it the memory starts afresh. Clients of one
// application share their settings, so a handful of keys is the norm.
const maxHellos = 64

// hellos is what logins to the pool's servers reported: the ParameterStatus
// set per client-settings key. Readers load the map without a lock; a
// learner copies it, adds one entry and stores the copy. A dial forgets it
// all, since a new server may run another PostgreSQL (a restart, an upgrade,
// a failover) or a changed configuration; so does ForgetParams.
type hellos struct {
	mu sync.Mutex // serialises the writers
	m  atomic.Pointer[map[string]map[string]string]
}

// Params returns the ParameterStatus set that a login with the client
// settings key got from one of the pool's servers, unless the pool has
// dialled a server since. The map is shared: it must not be modified.
func (p *Pool) Params(key string) (map[string]string, bool) {
	m := p.hellos.m.Load()
	if m == nil {
		return nil, false
	}
	params, ok := (*m)[key]
	return params, ok
}

// LearnParams records params, which the caller must not modify afterwards,
// as the answer to a login with the client settings key.
func (p *Pool) LearnParams(key string, params map[string]string) {
	h := &p.hellos
	h.mu.Lock()
	defer h.mu.Unlock()
	var next map[string]map[string]string
	if old := h.m.Load(); old != nil && len(*old) < maxHellos {
		next = make(map[string]map[string]string, len(*old)+1)
		for k, v := range *old {
			next[k] = v
		}
	} else {
		next = make(map[string]map[string]string, 1)
	}
	next[key] = params
	h.m.Store(&next)
}

// ForgetParams drops every remembered login answer: for a server that
// reported a parameter change nobody asked it for, which a configuration
// reload or a promotion (in_hot_standby) makes.
func (p *Pool) ForgetParams() { p.hellos.forget() }

// forget drops every remembered login answer.
func (h *hellos) forget() {
	h.mu.Lock()
	h.m.Store(nil)
	h.mu.Unlock()
}
