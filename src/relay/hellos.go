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
// server is busy, and only its first query waits. A change of a server-wide
// default by a configuration reload reaches new logins once the pool dials
// a new server, or after RECONNECT.

// helloCache is what the relay needs from a pool that remembers login
// answers; *pool.Pool is one.
type helloCache interface {
	Params(key string) (map[string]string, bool)
	LearnParams(key string, params map[string]string)
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
