package relay

import (
	"sort"
	"strings"
)

// Logging in without a server (transaction and statement modes). A client
// expects the ParameterStatus set its server would report with the client's
// settings applied, and PostgreSQL normalises what it reports (a DateStyle
// of "iso, dmy" comes back as "ISO, DMY"), so the set cannot be made up. The
// first login with given settings attaches a server and applies them, as
// before; the pool remembers the answer under those settings, and later
// logins with the same settings get it without a server. PgBouncer and
// Odyssey also answer logins from a set learned from the pool's first
// server; here it is per set of client settings, and forgotten whenever the
// pool dials a server (pool.Pool.Params). So a client can log in while every
// server is busy, and only its first query waits.
//
// A server also reports changes nobody asked for: a configuration reload
// that changed a reported default (TimeZone, default_transaction_read_only)
// or a promotion (in_hot_standby, which libpq's target_session_attrs
// reads). The relay sees such a ParameterStatus when the server next
// answers a client; when that client's request was not a settings change,
// the pool forgets its sets (forgetIfUnasked), so later logins ask a server
// again. A server that says nothing until then is seen at the next dial or
// after RECONNECT, as with PgBouncer.

// helloCache is what the relay needs from a pool that remembers login
// answers; *pool.Pool is one.
type helloCache interface {
	Params(key string) (map[string]string, bool)
	LearnParams(key string, params map[string]string)
	ForgetParams()
}

// forgetIfUnasked runs on the server goroutine for each ParameterStatus the
// attached server sends: unless the client's request may have changed
// settings (SET, RESET, DISCARD, set_config), the change came from the
// server's side and the pool's login answers may be out of date. Session
// mode never learns any (Login), so it has nothing to forget.
func (s *Session) forgetIfUnasked() {
	h, ok := s.pool.(helloCache)
	if !ok || s.opts.Mode == SessionMode {
		return
	}
	s.mu.Lock()
	asked := s.varsDirty
	s.mu.Unlock()
	if !asked {
		h.ForgetParams()
	}
}

// settingsKey names a client's startup settings: each name=value, sorted,
// NUL-separated (neither a name nor a value can hold a NUL).
func settingsKey(vars map[string]string) string {
	names := make([]string, 0, len(vars))
	n := 0
	for k, v := range vars {
		names = append(names, k)
		n += len(k) + len(v) + 2
	}
	sort.Strings(names)
	var b strings.Builder
	b.Grow(n)
	for _, k := range names {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(vars[k])
		b.WriteByte(0)
	}
	return b.String()
}
