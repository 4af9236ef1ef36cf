// Package route turns rules into routes. A Route is the runtime object for
// one matched rule and the (database, user) a client asked for: it owns the
// pools of server connections for that pair (one per storage endpoint) and
// the route's counters.
//
// Matching follows Odyssey: the exact (database, user) rule first, then
// (database, default), then (default, user), then (default, default).
//
// A reload builds new rules; routes whose rule and storage did not change
// keep their pools and connections. The others become obsolete: their
// clients carry on, new clients get new routes, and an obsolete route's pools
// close when its last client leaves.
package route

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/hcl/v2"
	"github.com/odyssey-go/odyssey/src/backend"
	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/pgerr"
	"github.com/odyssey-go/odyssey/src/pool"
	"github.com/odyssey-go/odyssey/src/relay"
)

// Router matches clients to routes. Safe for concurrent use.
type Router struct {
	mu      sync.Mutex
	cfg     *config.Config
	routes  map[routeKey]*Route
	clients atomic.Int64 // all routes, for the global client_max
}

type routeKey struct {
	rule     *config.Rule
	database string
	user     string
}

// Route serves one (database, user) under one rule.
type Route struct {
	Rule     *config.Rule
	Storage  *config.Storage
	Database string // as the client asked
	User     string
	ID       string // "database.user"

	router   *Router
	pools    []*pool.Pool
	clients  atomic.Int64
	obsolete atomic.Bool
	closeMu  sync.Mutex

	countersMu sync.Mutex
	counters   relay.Counters
}

// New builds a router for cfg.
func New(cfg *config.Config) *Router {
	return &Router{cfg: cfg, routes: map[routeKey]*Route{}}
}

// Match finds the route for a client's database and user.
func (r *Router) Match(database, user string) (*Route, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rule := match(r.cfg.Rules, database, user)
	if rule == nil {
		if !hasDatabase(r.cfg.Rules, database) {
			return nil, pgerr.Fatalf(pgerr.InvalidCatalogName, "database %q does not exist", database)
		}
		return nil, pgerr.Fatalf(pgerr.InvalidAuthSpec, "no rule for user %q in database %q", user, database)
	}
	k := routeKey{rule, database, user}
	if rt, ok := r.routes[k]; ok {
		return rt, nil
	}
	rt := &Route{
		Rule:     rule,
		Storage:  r.cfg.Storages[rule.Storage],
		Database: database,
		User:     user,
		ID:       database + "." + user,
		router:   r,
	}
	if rt.Storage != nil && rt.Storage.Type != "local" {
		for _, ep := range rt.Storage.Endpoints {
			rt.pools = append(rt.pools, pool.New(poolOptions(r.cfg, rule, dialer(r.cfg, rule, ep, database, user))))
		}
	}
	r.routes[k] = rt
	return rt, nil
}

// match applies Odyssey's order.
func match(rules []*config.Rule, database, user string) *config.Rule {
	var dbDefault, userDefault, both *config.Rule
	for _, r := range rules {
		switch {
		case !r.DatabaseDefault && r.Database == database && !r.UserDefault && r.User == user:
			return r
		case !r.DatabaseDefault && r.Database == database && r.UserDefault:
			dbDefault = r
		case r.DatabaseDefault && !r.UserDefault && r.User == user:
			userDefault = r
		case r.DatabaseDefault && r.UserDefault:
			both = r
		}
	}
	switch {
	case dbDefault != nil:
		return dbDefault
	case userDefault != nil:
		return userDefault
	}
	return both
}

func hasDatabase(rules []*config.Rule, database string) bool {
	for _, r := range rules {
		if r.DatabaseDefault || r.Database == database {
			return true
		}
	}
	return false
}

func poolOptions(cfg *config.Config, rule *config.Rule, dial func(context.Context) (*backend.Server, error)) pool.Options {
	return pool.Options{
		Size:     rule.PoolSize,
		MinSize:  rule.MinPoolSize,
		Timeout:  rule.PoolTimeout,
		TTL:      rule.PoolTTL,
		Lifetime: rule.ServerLifetime,
		Dial:     dial,
	}
}

// dialer returns how to open a server for this route: the backend database
// and user are the rule's storage_db/storage_user, or what the client asked
// for; the password is storage_password, or the rule's password when it is
// plain text (not an md5 or SCRAM hash).
func dialer(cfg *config.Config, rule *config.Rule, ep config.Endpoint, database, user string) func(context.Context) (*backend.Server, error) {
	opts := backend.Options{
		Database:       database,
		User:           user,
		Password:       rule.StoragePassword,
		ConnectTimeout: cfg.BackendConnectTimeout,
	}
	if rule.StorageDB != "" {
		opts.Database = rule.StorageDB
	}
	if rule.StorageUser != "" {
		opts.User = rule.StorageUser
	}
	if opts.Password == "" && !isHash(rule.Password) {
		opts.Password = rule.Password
	}
	opts.Network, opts.Address = endpointAddress(cfg, ep)
	return func(ctx context.Context) (*backend.Server, error) {
		return backend.Connect(ctx, opts)
	}
}

func isHash(pw string) bool {
	return len(pw) == 35 && pw[:3] == "md5" || len(pw) > 14 && pw[:14] == "SCRAM-SHA-256$"
}

// endpointAddress maps an endpoint to a dial address: a host starting with
// "/" (or no host) is a unix socket directory, as in libpq.
func endpointAddress(cfg *config.Config, ep config.Endpoint) (network, address string) {
	if ep.Host == "" || ep.Host[0] == '/' {
		dir := ep.Host
		if dir == "" {
			dir = cfg.UnixSocketDir
		}
		return "unix", filepath.Join(dir, fmt.Sprintf(".s.PGSQL.%d", ep.Port))
	}
	return "tcp", net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port))
}

// Reload applies a new configuration. Routes whose rule and storage are
// unchanged move to the new rule and keep their pools; pool limits are
// updated in place when only they changed.
func (r *Router) Reload(cfg *config.Config) {
	r.mu.Lock()
	old := r.routes
	r.routes = map[routeKey]*Route{}
	oldCfg := r.cfg
	r.cfg = cfg
	var drop []*Route
	for k, rt := range old {
		nr := match(cfg.Rules, k.database, k.user)
		if nr == nil || !sameRoute(k.rule, nr, oldCfg.Storages[k.rule.Storage], cfg.Storages[nr.Storage]) {
			drop = append(drop, rt)
			continue
		}
		if !reflect.DeepEqual(poolSettings(k.rule), poolSettings(nr)) {
			for _, p := range rt.pools {
				p.SetOptions(poolOptions(cfg, nr, nil))
			}
		}
		rt.Rule = nr
		rt.Storage = cfg.Storages[nr.Storage]
		r.routes[routeKey{nr, k.database, k.user}] = rt
	}
	r.mu.Unlock()
	for _, rt := range drop {
		rt.obsolete.Store(true)
		if rt.clients.Load() == 0 {
			rt.closePools()
		}
	}
}

// sameRoute reports whether a route built for rule a on storage sa can serve
// rule b on storage sb: everything but pool limits and ranges equal.
func sameRoute(a, b *config.Rule, sa, sb *config.Storage) bool {
	if sa == nil || sb == nil {
		return false
	}
	x, y := *a, *b
	x.Range, y.Range = hcl.Range{}, hcl.Range{}
	x.PoolSize, x.MinPoolSize, x.PoolTimeout, x.PoolTTL, x.ServerLifetime = y.PoolSize, y.MinPoolSize, y.PoolTimeout, y.PoolTTL, y.ServerLifetime
	s1, s2 := *sa, *sb
	s1.Range, s2.Range = hcl.Range{}, hcl.Range{}
	return reflect.DeepEqual(x, y) && reflect.DeepEqual(s1, s2)
}

func poolSettings(r *config.Rule) [5]int64 {
	return [5]int64{int64(r.PoolSize), int64(r.MinPoolSize), int64(r.PoolTimeout), int64(r.PoolTTL), int64(r.ServerLifetime)}
}

// Routes returns the live routes.
func (r *Router) Routes() []*Route {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Route, 0, len(r.routes))
	for _, rt := range r.routes {
		out = append(out, rt)
	}
	return out
}

// TotalClients counts clients on all routes.
func (r *Router) TotalClients() int { return int(r.clients.Load()) }

// Close closes every route's pools.
func (r *Router) Close() {
	r.mu.Lock()
	routes := r.routes
	r.routes = map[routeKey]*Route{}
	r.mu.Unlock()
	for _, rt := range routes {
		rt.closePools()
	}
}

// Pool returns the pool of the route's first endpoint, or nil for the
// console. Choosing among several endpoints (target_session_attrs) is not
// done yet: the first one serves.
func (rt *Route) Pool() *pool.Pool {
	if len(rt.pools) == 0 {
		return nil
	}
	return rt.pools[0]
}

// Pools returns one pool per storage endpoint.
func (rt *Route) Pools() []*pool.Pool { return rt.pools }

// Obsolete reports whether a reload replaced the route's rule.
func (rt *Route) Obsolete() bool { return rt.obsolete.Load() }

// AddClient counts a client in, enforcing the rule's and the global
// client_max (53300, as PostgreSQL and PgBouncer report it).
func (rt *Route) AddClient() error {
	global := rt.router.clients.Add(1)
	n := rt.clients.Add(1)
	cfg := rt.router.config()
	if cfg.ClientMax > 0 && global > int64(cfg.ClientMax) {
		rt.RemoveClient()
		return pgerr.Fatalf(pgerr.TooManyConnections, "too many clients already")
	}
	if rt.Rule.ClientMax > 0 && n > int64(rt.Rule.ClientMax) {
		rt.RemoveClient()
		return pgerr.Fatalf(pgerr.TooManyConnections, "too many connections for route %s (client_max %d)", rt.ID, rt.Rule.ClientMax)
	}
	return nil
}

// RemoveClient counts a client out; the last client of an obsolete route
// closes its pools.
func (rt *Route) RemoveClient() {
	rt.router.clients.Add(-1)
	if rt.clients.Add(-1) == 0 && rt.obsolete.Load() {
		rt.closePools()
	}
}

// Clients counts the route's clients.
func (rt *Route) Clients() int { return int(rt.clients.Load()) }

// AddCounters adds a finished session's figures to the route's.
func (rt *Route) AddCounters(c relay.Counters) {
	rt.countersMu.Lock()
	rt.counters.Queries += c.Queries
	rt.counters.Xacts += c.Xacts
	rt.counters.BytesIn += c.BytesIn
	rt.counters.BytesOut += c.BytesOut
	rt.counters.Assignments += c.Assignments
	rt.countersMu.Unlock()
}

// Counters returns the figures of the route's finished sessions.
func (rt *Route) Counters() relay.Counters {
	rt.countersMu.Lock()
	defer rt.countersMu.Unlock()
	return rt.counters
}

func (rt *Route) closePools() {
	rt.closeMu.Lock()
	defer rt.closeMu.Unlock()
	for _, p := range rt.pools {
		p.Close()
	}
}

func (r *Router) config() *config.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg
}
