package route

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/hcl/v2"
	"github.com/odyssey-go/odyssey/src/backend"
	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/internal/scram"
	"github.com/odyssey-go/odyssey/src/internal/tlsconf"
	"github.com/odyssey-go/odyssey/src/pgerr"
	"github.com/odyssey-go/odyssey/src/pool"
	"github.com/odyssey-go/odyssey/src/stats"
)

// Router matches clients to routes.
type Router struct {
	cfg     atomic.Pointer[config.Config]
	clients atomic.Int64 // on all routes, for the global client_max
	closed  atomic.Bool

	mu       sync.RWMutex
	routes   map[routeKey]*Route
	draining map[*Route]struct{} // obsolete routes, until their pools close
	// tls holds the TLS setup of each storage that encrypts, by name,
	// shared by the storage's routes; see Reload.
	tls map[string]*tlsconf.Client
	// broken is why New could not load cfg; every Match fails with it.
	broken error

	// ctl serializes the console's control verbs (control.go) so that the
	// pause state of the router, its routes and their pools changes as
	// one. Taken before mu, and never held while a verb waits.
	ctl sync.Mutex
	// The console's state by database name, guarded by mu: PAUSE or KILL
	// without a database (pausedAll), PAUSE db or KILL db (paused), and
	// DISABLE db (disabled). Reloads keep it.
	pausedAll bool
	paused    map[string]bool
	disabled  map[string]bool
}

// routeKey identifies a route: under a `database default` rule each client
// database has its own.
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

	router  *Router
	dial    []backend.Options // per endpoint; nil for a local storage
	clients atomic.Int64

	mu          sync.Mutex
	pools       []*pool.Pool // made on first use
	poolsClosed bool
	obsolete    bool
	successor   *Route // set when a reload moved this route's pools and clients on
	paused      bool   // its database is paused: so are its pools, present and future

	counters stats.Counters // traffic figures, written by the route's sessions

	learned atomic.Pointer[Credentials] // from clients' logins, for servers' logins
}

// Credentials are what a client's login taught the route about logging in
// to PostgreSQL as its user.
type Credentials struct {
	Password string      // the client's cleartext password; used only with password_passthrough
	MD5      string      // a stored md5 hash (from auth_query): enough for md5
	SCRAM    *scram.Keys // from a client that proved a SCRAM secret: SCRAM pass-through
}

// LearnCredentials records what the latest client login revealed. Servers
// dialled from then on use it where the rule has no password of its own:
// see dialCredentials.
func (rt *Route) LearnCredentials(c Credentials) {
	if !rt.Rule.PasswordPassthrough {
		c.Password = ""
	}
	if c == (Credentials{}) {
		return
	}
	rt.learned.Store(&c)
}

// dialCredentials completes o with what clients taught the route:
// storage_password always wins; with password_passthrough the client's
// password comes next; then a plain or md5 rule password, then an md5 hash
// from auth_query. SCRAM keys are offered whenever known, for a server that
// asks for SCRAM when the pooler holds no password.
func (rt *Route) dialCredentials(o backend.Options) backend.Options {
	c := rt.learned.Load()
	if c == nil || rt.Rule.StoragePassword != "" {
		return o
	}
	switch {
	case c.Password != "":
		o.Password = c.Password
	case o.Password == "":
		o.Password = c.MD5
	}
	o.SCRAM = c.SCRAM
	return o
}

// Open returns a router for cfg, reading the TLS files of its storages.
func Open(cfg *config.Config) (*Router, error) {
	tls, err := loadStorageTLS(cfg)
	if err != nil {
		return nil, err
	}
	r := &Router{routes: map[routeKey]*Route{}, draining: map[*Route]struct{}{}, tls: tls}
	r.cfg.Store(cfg)
	return r, nil
}

// New is Open for a configuration whose storages' TLS files are known to
// load. If they do not, every client is refused with FATAL F0000 saying
// why: a storage that asks for TLS is never reached in plaintext.
func New(cfg *config.Config) *Router {
	r, err := Open(cfg)
	if err != nil {
		r = &Router{routes: map[routeKey]*Route{}, draining: map[*Route]struct{}{}, broken: err}
		r.cfg.Store(cfg)
	}
	return r
}

// loadStorageTLS reads the TLS files of cfg's remote storages that
// encrypt, in name order so that an error always names the same one.
func loadStorageTLS(cfg *config.Config) (map[string]*tlsconf.Client, error) {
	names := make([]string, 0, len(cfg.Storages))
	for name := range cfg.Storages {
		names = append(names, name)
	}
	sort.Strings(names)
	out := map[string]*tlsconf.Client{}
	for _, name := range names {
		s := cfg.Storages[name]
		if s.Type == "local" || tlsconf.Mode(s.TLS) == tlsconf.Disable || s.TLS == "" {
			continue
		}
		c, err := tlsconf.NewClient(tlsconf.Mode(s.TLS), tlsconf.Files{Cert: s.TLSCertFile, Key: s.TLSKeyFile, CA: s.TLSCAFile})
		if err != nil {
			return nil, fmt.Errorf("storage %q: %w", name, err)
		}
		out[name] = c
	}
	return out, nil
}

// keepStorageTLS makes next, loaded for cfg, carry on the Clients of old
// (loaded for prev) whose storage's TLS settings did not change, with the
// files just read: the routes that a reload keeps then use them for new
// connections.
func keepStorageTLS(prev *config.Config, old map[string]*tlsconf.Client, cfg *config.Config, next map[string]*tlsconf.Client) {
	for name, c := range next {
		was, a, b := old[name], prev.Storages[name], cfg.Storages[name]
		if was != nil && a != nil && a.TLS == b.TLS && a.TLSCAFile == b.TLSCAFile &&
			a.TLSCertFile == b.TLSCertFile && a.TLSKeyFile == b.TLSKeyFile {
			was.Adopt(c)
			next[name] = was
		}
	}
}

// Config returns the configuration the router currently matches against.
func (r *Router) Config() *config.Config { return r.cfg.Load() }

// Match returns the route for a client's database and user: the same Route
// for the same pair until a reload changes its rule. Errors are FATAL
// *pgerr.Error: 3D000 when no database block covers database, 28000 when
// one does but has no rule for user, 57P03 after Close.
func (r *Router) Match(database, user string) (*Route, error) {
	if r.closed.Load() {
		return nil, shuttingDown()
	}
	r.mu.RLock()
	if r.disabled[database] {
		r.mu.RUnlock()
		return nil, disabledDatabase(database)
	}
	cfg := r.cfg.Load()
	rule := match(cfg.Rules, database, user)
	rt := r.routes[routeKey{rule, database, user}]
	r.mu.RUnlock()
	if rt != nil {
		return rt, nil
	}
	if rule == nil {
		return nil, noRule(cfg, database, user)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return nil, shuttingDown()
	}
	if r.broken != nil { // no routes exist, so every Match gets here
		return nil, pgerr.Fatalf(pgerr.ConfigFileError, "the pooler cannot use its configuration: %v", r.broken)
	}
	if r.cfg.Load() != cfg { // reloaded meanwhile: match again
		cfg = r.cfg.Load()
		if rule = match(cfg.Rules, database, user); rule == nil {
			return nil, noRule(cfg, database, user)
		}
	}
	k := routeKey{rule, database, user}
	if rt := r.routes[k]; rt != nil {
		return rt, nil
	}
	storage := cfg.Storages[rule.Storage]
	if storage == nil { // config validation rules this out
		return nil, pgerr.Fatalf(pgerr.ConfigFileError, "rule for database %q user %q names unknown storage %q", database, user, rule.Storage)
	}
	rt = newRoute(r, cfg, rule, storage, database, user)
	r.routes[k] = rt
	return rt, nil
}

// newRoute is called with r.mu held.
func newRoute(r *Router, cfg *config.Config, rule *config.Rule, storage *config.Storage, database, user string) *Route {
	rt := &Route{
		Rule:     rule,
		Storage:  storage,
		Database: database,
		User:     user,
		ID:       database + "." + user,
		router:   r,
		paused:   storage.Type != "local" && r.pausedLocked(database),
	}
	if storage.Type != "local" {
		for _, ep := range storage.Endpoints {
			o := dialOptions(cfg, rule, ep, database, user)
			o.TLS = r.tls[storage.Name]
			rt.dial = append(rt.dial, o)
		}
	}
	return rt
}

// match applies Odyssey's order. Among rules for the same pair the first in
// the file wins (the config loader rejects duplicates anyway).
func match(rules []*config.Rule, database, user string) *config.Rule {
	var best *config.Rule
	bestLevel := 4
	for _, r := range rules {
		dbOK := r.DatabaseDefault || r.Database == database
		userOK := r.UserDefault || r.User == user
		if !dbOK || !userOK {
			continue
		}
		level := 0 // exact
		switch {
		case !r.DatabaseDefault && r.UserDefault:
			level = 1
		case r.DatabaseDefault && !r.UserDefault:
			level = 2
		case r.DatabaseDefault && r.UserDefault:
			level = 3
		}
		if level < bestLevel {
			best, bestLevel = r, level
		}
	}
	return best
}

// noRule is the error for a client no rule matches: 3D000 when no database
// block covers its database, 28000 when one does but has no rule for its
// user.
func noRule(cfg *config.Config, database, user string) *pgerr.Error {
	for _, r := range cfg.Rules {
		if r.DatabaseDefault || r.Database == database {
			return pgerr.Fatalf(pgerr.InvalidAuthSpec, "no rule for user %q in database %q", user, database)
		}
	}
	return pgerr.Fatalf(pgerr.InvalidCatalogName, "database %q does not exist", database)
}

func shuttingDown() *pgerr.Error {
	return pgerr.Fatalf(pgerr.CannotConnectNow, "the pooler is shutting down")
}

// dialOptions says where and as whom a route's servers log in.
func dialOptions(cfg *config.Config, rule *config.Rule, ep config.Endpoint, database, user string) backend.Options {
	o := backend.Options{
		Database:       database,
		User:           user,
		Password:       rule.StoragePassword,
		ConnectTimeout: cfg.BackendConnectTimeout,
	}
	if rule.StorageDB != "" {
		o.Database = rule.StorageDB
	}
	if rule.StorageUser != "" {
		o.User = rule.StorageUser
	}
	if o.Password == "" && !isSCRAMSecret(rule.Password) {
		o.Password = rule.Password // plain, or an md5 hash: enough for md5
	}
	o.Network, o.Address = endpointAddress(cfg, ep)
	return o
}

// isSCRAMSecret reports whether a rule password is a stored SCRAM secret,
// which cannot log in by itself.
func isSCRAMSecret(pw string) bool {
	return strings.HasPrefix(pw, scram.Mechanism+"$")
}

// endpointAddress maps an endpoint to a dial address. As in libpq, no host
// or a host starting with "/" is a unix socket directory; the socket file
// is "<dir>/.s.PGSQL.<port>".
func endpointAddress(cfg *config.Config, ep config.Endpoint) (network, address string) {
	if ep.Host == "" || ep.Host[0] == '/' {
		dir := ep.Host
		if dir == "" {
			dir = cfg.UnixSocketDir
		}
		return "unix", filepath.Join(dir, ".s.PGSQL."+strconv.Itoa(ep.Port))
	}
	return "tcp", net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port))
}

func poolOptions(rt *Route, o backend.Options) pool.Options {
	return pool.Options{
		Name:     rt.ID + "@" + o.Address,
		Size:     rt.Rule.PoolSize,
		MinSize:  rt.Rule.MinPoolSize,
		Timeout:  rt.Rule.PoolTimeout,
		TTL:      rt.Rule.PoolTTL,
		Lifetime: rt.Rule.ServerLifetime,
	}
}

// Reload switches to cfg (already validated). See the package
// documentation for what happens to each route. It fails, changing
// nothing, when a storage's TLS files cannot be read.
func (r *Router) Reload(cfg *config.Config) error {
	tls, err := loadStorageTLS(cfg)
	if err != nil {
		return err
	}
	r.mu.Lock()
	if r.closed.Load() {
		r.mu.Unlock()
		return nil
	}
	old := r.cfg.Load()
	keepStorageTLS(old, r.tls, cfg, tls)
	r.tls, r.broken = tls, nil
	r.cfg.Store(cfg)
	routes := r.routes
	r.routes = make(map[routeKey]*Route, len(routes))
	var closing []*pool.Pool
	var resized []*Route
	for k, rt := range routes {
		rule := match(cfg.Rules, k.database, k.user)
		var storage *config.Storage
		if rule != nil {
			storage = cfg.Storages[rule.Storage]
		}
		nk := routeKey{rule, k.database, k.user}
		switch compare(old, rt.Rule, rt.Storage, cfg, rule, storage, k.database, k.user) {
		case same:
			r.routes[nk] = rt
		case limitsChanged:
			next := newRoute(r, cfg, rule, storage, k.database, k.user)
			rt.handOff(next)
			r.routes[nk] = next
			resized = append(resized, next)
		default:
			closing = append(closing, rt.retire()...)
			r.draining[rt] = struct{}{}
		}
	}
	r.pruneLocked()
	r.mu.Unlock()
	for _, rt := range resized {
		rt.mu.Lock()
		pools := rt.pools
		rt.mu.Unlock()
		for i, p := range pools {
			p.SetOptions(poolOptions(rt, rt.dial[i])) // Dial nil: the same servers
		}
	}
	for _, p := range closing {
		p.Close()
	}
	return nil
}

type difference int

const (
	same difference = iota
	limitsChanged
	changed
)

// compare tells how the route built for rule a on storage sa under config
// ca relates to rule b on storage sb under cb. Source ranges do not count.
func compare(ca *config.Config, a *config.Rule, sa *config.Storage, cb *config.Config, b *config.Rule, sb *config.Storage, database, user string) difference {
	if b == nil || sb == nil {
		return changed
	}
	s1, s2 := *sa, *sb
	s1.Range, s2.Range = hcl.Range{}, hcl.Range{}
	if !reflect.DeepEqual(s1, s2) {
		return changed
	}
	for _, ep := range sa.Endpoints { // unix_socket_dir, backend_connect_timeout
		if !reflect.DeepEqual(dialOptions(ca, a, ep, database, user), dialOptions(cb, b, ep, database, user)) {
			return changed
		}
	}
	x, y := *a, *b
	x.Range, y.Range = hcl.Range{}, hcl.Range{}
	if reflect.DeepEqual(x, y) {
		return same
	}
	x.PoolSize, x.MinPoolSize, x.PoolTimeout, x.PoolTTL, x.ServerLifetime, x.ClientMax =
		y.PoolSize, y.MinPoolSize, y.PoolTimeout, y.PoolTTL, y.ServerLifetime, y.ClientMax
	if reflect.DeepEqual(x, y) {
		return limitsChanged
	}
	return changed
}

// handOff moves rt's pools and client count to next, which replaces it
// after a reload that changed only limits. rt forwards to next from now on.
func (rt *Route) handOff(next *Route) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	next.pools, next.poolsClosed = rt.pools, rt.poolsClosed
	next.clients.Store(rt.clients.Load())
	rt.successor = next
	rt.obsolete = true
}

// retire marks rt obsolete and returns its pools to close now if it has no
// clients; otherwise the last RemoveClient closes them, and until then
// their servers count as close_needed (pool.Retire).
func (rt *Route) retire() []*pool.Pool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.obsolete = true
	if rt.clients.Load() > 0 {
		for _, p := range rt.pools {
			p.Retire()
		}
		return nil
	}
	return rt.closePoolsLocked()
}

// closePoolsLocked marks the pools closed and returns them for the caller
// to close outside rt.mu. (Pools made after this are closed at once, so
// that a late Pool returns a closed pool rather than nil.)
func (rt *Route) closePoolsLocked() []*pool.Pool {
	if rt.poolsClosed {
		return nil
	}
	rt.poolsClosed = true
	return rt.pools
}

// pruneLocked forgets obsolete routes that have no clients and closed pools.
func (r *Router) pruneLocked() {
	for rt := range r.draining {
		rt.mu.Lock()
		gone := rt.poolsClosed && rt.clients.Load() == 0
		rt.mu.Unlock()
		if gone {
			delete(r.draining, rt)
		}
	}
}

// Routes returns the current routes and the obsolete ones still draining,
// ordered by ID.
func (r *Router) Routes() []*Route {
	r.mu.Lock()
	r.pruneLocked()
	out := make([]*Route, 0, len(r.routes)+len(r.draining))
	for _, rt := range r.routes {
		out = append(out, rt)
	}
	for rt := range r.draining {
		out = append(out, rt)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return !out[i].Obsolete() && out[j].Obsolete()
	})
	return out
}

// TotalClients counts the clients on all routes.
func (r *Router) TotalClients() int { return int(r.clients.Load()) }

// Close closes every route's pools; later Matches fail with 57P03.
func (r *Router) Close() {
	r.mu.Lock()
	r.closed.Store(true)
	var pools []*pool.Pool
	for _, rt := range r.routes {
		pools = append(pools, rt.closePools()...)
	}
	for rt := range r.draining {
		pools = append(pools, rt.closePools()...)
	}
	r.mu.Unlock()
	for _, p := range pools {
		p.Close()
	}
}

func (rt *Route) closePools() []*pool.Pool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.closePoolsLocked()
}

// Pool returns the pool of the storage's first endpoint (see the package
// documentation), or nil for a local storage (the console). Pools are made
// on first use.
func (rt *Route) Pool() *pool.Pool {
	if pools := rt.Pools(); len(pools) > 0 {
		return pools[0]
	}
	return nil
}

// Pools returns one pool per storage endpoint, in the storage's order.
func (rt *Route) Pools() []*pool.Pool {
	rt.mu.Lock()
	if next := rt.successor; next != nil {
		rt.mu.Unlock()
		return next.Pools()
	}
	defer rt.mu.Unlock()
	return rt.poolsLocked()
}

func (rt *Route) poolsLocked() []*pool.Pool {
	if rt.pools == nil && len(rt.dial) > 0 {
		rt.pools = make([]*pool.Pool, len(rt.dial))
		for i, o := range rt.dial {
			opts := poolOptions(rt, o)
			opts.Dial = func(ctx context.Context) (*backend.Server, error) {
				return backend.Connect(ctx, rt.dialCredentials(o))
			}
			opts.Paused = rt.paused
			rt.pools[i] = pool.New(opts)
			if rt.obsolete {
				rt.pools[i].Retire()
			}
			if rt.poolsClosed {
				rt.pools[i].Close()
			}
		}
	}
	return rt.pools
}

// ExistingPools returns the pools made so far (see Pools), without making
// any: for views such as SHOW POOLS. The slice must not be modified.
func (rt *Route) ExistingPools() []*pool.Pool {
	rt.mu.Lock()
	if next := rt.successor; next != nil {
		rt.mu.Unlock()
		return next.ExistingPools()
	}
	defer rt.mu.Unlock()
	return rt.pools
}

// Obsolete reports whether a reload replaced the route's rule: its clients
// carry on, new clients get another route.
func (rt *Route) Obsolete() bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.obsolete
}

// AddClient counts a client in. It enforces the rule's client_max and the
// global client_max with FATAL 53300, as PostgreSQL does for
// max_connections, and 57P03 once the router is closed. Every successful
// AddClient must be paired with one RemoveClient.
func (rt *Route) AddClient() error {
	rt.mu.Lock()
	if next := rt.successor; next != nil {
		rt.mu.Unlock()
		return next.AddClient()
	}
	defer rt.mu.Unlock()
	r := rt.router
	if r.closed.Load() {
		return shuttingDown()
	}
	if limit := rt.Rule.ClientMax; limit > 0 && rt.clients.Load() >= int64(limit) {
		return pgerr.Fatalf(pgerr.TooManyConnections, "too many connections for route %s (client_max %d)", rt.ID, limit)
	}
	if limit := r.cfg.Load().ClientMax; r.clients.Add(1) > int64(limit) && limit > 0 {
		r.clients.Add(-1)
		return pgerr.Fatalf(pgerr.TooManyConnections, "too many clients already")
	}
	rt.clients.Add(1)
	if rt.poolsClosed {
		// Matched just before a reload made the route obsolete, and
		// came after its last client left: open new pools for it.
		rt.pools, rt.poolsClosed = nil, false
	}
	return nil
}

// RemoveClient counts a client out. The last client of an obsolete route
// closes its pools.
func (rt *Route) RemoveClient() {
	rt.mu.Lock()
	if next := rt.successor; next != nil {
		rt.mu.Unlock()
		next.RemoveClient()
		return
	}
	rt.router.clients.Add(-1)
	var pools []*pool.Pool
	if rt.clients.Add(-1) == 0 && rt.obsolete {
		pools = rt.closePoolsLocked()
	}
	rt.mu.Unlock()
	for _, p := range pools {
		p.Close()
	}
}

// Clients counts the route's clients.
func (rt *Route) Clients() int {
	rt.mu.Lock()
	next := rt.successor
	rt.mu.Unlock()
	if next != nil {
		return next.Clients()
	}
	return int(rt.clients.Load())
}

// AddCounters adds figures gathered elsewhere to the route's: a session's
// that ran without relay.Options.Stats (relay.Session.Counters), or a
// retired route's.
func (rt *Route) AddCounters(c stats.Snapshot) { rt.counters.Add(c) }

// Counters are the route's traffic figures: give them to its sessions as
// relay.Options.Stats, read them with Snapshot or AddTo.
func (rt *Route) Counters() *stats.Counters { return &rt.counters }
