package route

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/odyssey-go/odyssey/src/backend"
	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/pgerr"
	"github.com/odyssey-go/odyssey/src/pool"
)

// rule makes a rule; "*" stands for default.
func rule(db, user string, mods ...func(*config.Rule)) *config.Rule {
	r := &config.Rule{
		Database: db, User: user,
		Authentication: "none", Storage: "pg", Pool: config.PoolTransaction,
		PoolSize: 10, PoolTimeout: time.Second,
		Range: hcl.Range{Filename: "odyssey.hcl", Start: hcl.Pos{Line: 1}},
	}
	if db == "*" {
		r.Database, r.DatabaseDefault = "", true
	}
	if user == "*" {
		r.User, r.UserDefault = "", true
	}
	for _, m := range mods {
		m(r)
	}
	return r
}

func conf(rules ...*config.Rule) *config.Config {
	return &config.Config{
		BackendConnectTimeout: time.Second,
		Storages: map[string]*config.Storage{
			"pg": {Name: "pg", Type: "remote", Endpoints: []config.Endpoint{
				{Host: "127.0.0.1", Port: 5432}, {Host: "::1", Port: 5433},
			}},
			"local": {Name: "local", Type: "local"},
		},
		Rules: rules,
	}
}

// reparsed returns a deep copy of c with other source ranges, as a reload
// of an unchanged file (plus an edit elsewhere) would produce.
func reparsed(c *config.Config, edit func(*config.Config)) *config.Config {
	n := *c
	n.Storages = map[string]*config.Storage{}
	for k, s := range c.Storages {
		cp := *s
		cp.Endpoints = append([]config.Endpoint(nil), s.Endpoints...)
		cp.Range.Start.Line += 100
		n.Storages[k] = &cp
	}
	n.Rules = nil
	for _, r := range c.Rules {
		cp := *r
		cp.Range.Start.Line += 100
		n.Rules = append(n.Rules, &cp)
	}
	if edit != nil {
		edit(&n)
	}
	return &n
}

func newRouter(t *testing.T, c *config.Config) *Router {
	r := New(c)
	t.Cleanup(r.Close)
	return r
}

func mustMatch(t *testing.T, r *Router, db, user string) *Route {
	t.Helper()
	rt, err := r.Match(db, user)
	if err != nil {
		t.Fatalf("Match(%q, %q): %v", db, user, err)
	}
	return rt
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	pe, ok := pgerr.As(err)
	if !ok || pe.Code != code || !pe.Fatal() {
		t.Fatalf("%s: %v, want FATAL %s", what, err, code)
	}
}

func TestMatchOrder(t *testing.T) {
	exact := rule("app", "alice")
	dbDefault := rule("app", "*")
	userDefault := rule("*", "alice")
	both := rule("*", "*")
	onlyExact := rule("app", "alice")
	onlyUser := rule("*", "alice")

	tests := []struct {
		name     string
		rules    []*config.Rule
		db, user string
		want     *config.Rule
		code     string
	}{
		{"exact", []*config.Rule{both, userDefault, dbDefault, exact}, "app", "alice", exact, ""},
		{"database, default user", []*config.Rule{both, userDefault, dbDefault, exact}, "app", "bob", dbDefault, ""},
		{"default database, user", []*config.Rule{both, userDefault, dbDefault, exact}, "other", "alice", userDefault, ""},
		{"default, default", []*config.Rule{both, userDefault, dbDefault, exact}, "other", "bob", both, ""},
		{"file order does not matter", []*config.Rule{exact, dbDefault, userDefault, both}, "app", "bob", dbDefault, ""},
		{"(db, default) beats (default, user)", []*config.Rule{userDefault, dbDefault}, "app", "alice", dbDefault, ""},
		{"names are case-sensitive", []*config.Rule{onlyExact}, "App", "alice", nil, pgerr.InvalidCatalogName},
		{"unknown database", []*config.Rule{onlyExact}, "other", "alice", nil, pgerr.InvalidCatalogName},
		{"known database, unknown user", []*config.Rule{onlyExact}, "app", "bob", nil, pgerr.InvalidAuthSpec},
		{"default database, unknown user", []*config.Rule{onlyUser}, "any", "bob", nil, pgerr.InvalidAuthSpec},
		{"no rules", nil, "app", "alice", nil, pgerr.InvalidCatalogName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRouter(t, conf(tt.rules...))
			rt, err := r.Match(tt.db, tt.user)
			if tt.code != "" {
				wantCode(t, "Match", err, tt.code)
				return
			}
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if rt.Rule != tt.want {
				t.Fatalf("matched %+v, want %+v", rt.Rule, tt.want)
			}
			if rt.Database != tt.db || rt.User != tt.user || rt.ID != tt.db+"."+tt.user {
				t.Fatalf("route %q for %s/%s", rt.ID, rt.Database, rt.User)
			}
		})
	}
}

func TestMissMessages(t *testing.T) {
	r := newRouter(t, conf(rule("app", "alice")))
	_, err := r.Match("nope", "alice")
	if pe, _ := pgerr.As(err); pe == nil || pe.Message != `database "nope" does not exist` {
		t.Fatalf("unknown database: %v", err)
	}
	_, err = r.Match("app", "bob")
	if pe, _ := pgerr.As(err); pe == nil || pe.Message != `no rule for user "bob" in database "app"` {
		t.Fatalf("unknown user: %v", err)
	}
}

func TestRouteIdentity(t *testing.T) {
	r := newRouter(t, conf(rule("*", "*"), rule("app", "alice")))
	a1 := mustMatch(t, r, "app", "alice")
	if a2 := mustMatch(t, r, "app", "alice"); a2 != a1 {
		t.Fatal("same (database, user) gave two routes")
	}
	x := mustMatch(t, r, "x", "bob")
	y := mustMatch(t, r, "y", "bob")
	if x == y || x.Rule != y.Rule {
		t.Fatal("a default rule must give each database its own route")
	}
	if x.Pool() == nil || x.Pool() == y.Pool() {
		t.Fatal("routes of a default rule must not share a pool")
	}
	if x.Pool() != x.Pool() {
		t.Fatal("Pool made twice")
	}
	if len(r.Routes()) != 3 {
		t.Fatalf("Routes: %d, want 3", len(r.Routes()))
	}
}

func TestMatchConcurrent(t *testing.T) {
	r := newRouter(t, conf(rule("*", "*")))
	var wg sync.WaitGroup
	got := make([]*Route, 50)
	for i := range got {
		wg.Go(func() {
			rt, err := r.Match("db", "u")
			if err != nil {
				t.Error(err)
				return
			}
			rt.Pool()
			got[i] = rt
		})
	}
	wg.Wait()
	for _, rt := range got {
		if rt != got[0] {
			t.Fatal("concurrent Matches made two routes for one pair")
		}
	}
}

func TestLazyPoolsAndLocalStorage(t *testing.T) {
	r := newRouter(t, conf(rule("app", "*"), rule("console", "*", func(r *config.Rule) { r.Storage = "local" })))
	rt := mustMatch(t, r, "app", "alice")
	rt.mu.Lock()
	made := rt.pools != nil
	rt.mu.Unlock()
	if made {
		t.Fatal("pools made before anyone asked for them")
	}
	if n := len(rt.Pools()); n != 2 {
		t.Fatalf("%d pools, want one per endpoint (2)", n)
	}
	if rt.Pool() != rt.Pools()[0] {
		t.Fatal("Pool is not the first endpoint's pool")
	}
	c := mustMatch(t, r, "console", "admin")
	if c.Pool() != nil || c.Pools() != nil {
		t.Fatal("a local storage has no pools")
	}
}

func TestPoolOptionsFromRule(t *testing.T) {
	r := newRouter(t, conf(rule("app", "*", func(r *config.Rule) {
		r.PoolSize, r.MinPoolSize = 7, 0
		r.PoolTimeout, r.PoolTTL, r.ServerLifetime = 3*time.Second, time.Minute, time.Hour
	})))
	o := mustMatch(t, r, "app", "alice").Pool().Options()
	if o.Size != 7 || o.MinSize != 0 || o.Timeout != 3*time.Second || o.TTL != time.Minute || o.Lifetime != time.Hour {
		t.Fatalf("pool options %+v", o)
	}
	if o.Name != "app.alice@127.0.0.1:5432" {
		t.Fatalf("pool name %q", o.Name)
	}
}

func TestDialOptions(t *testing.T) {
	md5 := "md5" + "0123456789abcdef0123456789abcdef"
	scram := "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy"
	tests := []struct {
		name                   string
		rule                   func(*config.Rule)
		ep                     config.Endpoint
		socketDir              string
		network, address       string
		database, user, passwd string
	}{
		{"client's names", nil, config.Endpoint{Host: "db.example", Port: 5432}, "",
			"tcp", "db.example:5432", "app", "alice", ""},
		{"storage overrides", func(r *config.Rule) {
			r.StorageDB, r.StorageUser, r.StoragePassword, r.Password = "real", "svc", "s3cret", "client"
		}, config.Endpoint{Host: "10.0.0.1", Port: 6000}, "",
			"tcp", "10.0.0.1:6000", "real", "svc", "s3cret"},
		{"plain rule password", func(r *config.Rule) { r.Password = "pw" },
			config.Endpoint{Host: "::1", Port: 5432}, "", "tcp", "[::1]:5432", "app", "alice", "pw"},
		{"md5 rule password is enough for md5", func(r *config.Rule) { r.Password = md5 },
			config.Endpoint{Host: "h", Port: 1}, "", "tcp", "h:1", "app", "alice", md5},
		{"SCRAM rule password is not a password", func(r *config.Rule) { r.Password = scram },
			config.Endpoint{Host: "h", Port: 1}, "", "tcp", "h:1", "app", "alice", ""},
		{"unix socket dir as host", nil, config.Endpoint{Host: "/run/postgresql", Port: 5432}, "/tmp",
			"unix", "/run/postgresql/.s.PGSQL.5432", "app", "alice", ""},
		{"no host: unix_socket_dir", nil, config.Endpoint{Port: 5433}, "/tmp/sock",
			"unix", "/tmp/sock/.s.PGSQL.5433", "app", "alice", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rl := rule("app", "*")
			if tt.rule != nil {
				tt.rule(rl)
			}
			c := conf(rl)
			c.UnixSocketDir = tt.socketDir
			c.Storages["pg"].Endpoints = []config.Endpoint{tt.ep}
			r := newRouter(t, c)
			got := mustMatch(t, r, "app", "alice").dial[0]
			want := backend.Options{
				Network: tt.network, Address: tt.address,
				Database: tt.database, User: tt.user, Password: tt.passwd,
				ConnectTimeout: time.Second,
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("dial options\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// closed reports whether a pool is closed, without a server: Acquire with a
// cancelled context fails with ErrClosed only on a closed pool.
func closed(p *pool.Pool) bool {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Acquire(ctx)
	return errors.Is(err, pool.ErrClosed)
}

func TestReloadKeepsUnchangedRoutes(t *testing.T) {
	c := conf(rule("app", "*"), rule("*", "*"))
	r := newRouter(t, c)
	app := mustMatch(t, r, "app", "alice")
	other := mustMatch(t, r, "other", "bob")
	appPool, otherPool := app.Pool(), other.Pool()

	r.Reload(reparsed(c, nil))
	if got := mustMatch(t, r, "app", "alice"); got != app || got.Pool() != appPool || got.Obsolete() {
		t.Fatal("unchanged rule lost its route or pool")
	}
	if got := mustMatch(t, r, "other", "bob"); got != other || got.Pool() != otherPool {
		t.Fatal("unchanged default rule lost its route or pool")
	}
	if closed(appPool) || closed(otherPool) {
		t.Fatal("pool of an unchanged rule closed")
	}
}

func TestReloadLimitsOnlyKeepsPools(t *testing.T) {
	c := conf(rule("app", "*"))
	r := newRouter(t, c)
	old := mustMatch(t, r, "app", "alice")
	p := old.Pool()
	if err := old.AddClient(); err != nil {
		t.Fatal(err)
	}

	r.Reload(reparsed(c, func(n *config.Config) { n.Rules[0].PoolSize = 3; n.Rules[0].ClientMax = 5 }))
	cur := mustMatch(t, r, "app", "alice")
	if cur == old || cur.Rule.PoolSize != 3 {
		t.Fatal("route not rebuilt with the new rule")
	}
	if cur.Pool() != p || closed(p) {
		t.Fatal("pools not carried over")
	}
	if got := p.Options().Size; got != 3 {
		t.Fatalf("pool size %d after reload, want 3", got)
	}
	if cur.Clients() != 1 || old.Clients() != 1 {
		t.Fatalf("client count not carried over: %d", cur.Clients())
	}
	old.RemoveClient()
	if cur.Clients() != 0 || r.TotalClients() != 0 {
		t.Fatalf("clients after the old route's client left: %d, total %d", cur.Clients(), r.TotalClients())
	}
	if closed(p) {
		t.Fatal("pool closed when the last client of the replaced route left")
	}
}

func TestReloadObsoletesChangedRoutes(t *testing.T) {
	c := conf(rule("app", "*"), rule("gone", "*"), rule("*", "*"))
	r := newRouter(t, c)
	app := mustMatch(t, r, "app", "alice")
	gone := mustMatch(t, r, "gone", "alice")
	idle := mustMatch(t, r, "x", "alice") // no clients: closes at once
	appPool, gonePool, idlePool := app.Pool(), gone.Pool(), idle.Pool()
	for _, rt := range []*Route{app, gone} {
		if err := rt.AddClient(); err != nil {
			t.Fatal(err)
		}
	}

	r.Reload(reparsed(c, func(n *config.Config) {
		n.Rules[0].StorageUser = "svc"            // changed
		n.Rules = append(n.Rules[:1], n.Rules[2]) // "gone" removed
		n.Rules[1].Pool = config.PoolSession      // default rule changed
	}))
	for _, rt := range []*Route{app, gone, idle} {
		if !rt.Obsolete() {
			t.Fatalf("route %s not obsolete", rt.ID)
		}
	}
	if closed(appPool) || closed(gonePool) {
		t.Fatal("pool of an obsolete route closed while it has clients")
	}
	if !closed(idlePool) {
		t.Fatal("pool of an obsolete route without clients not closed")
	}
	cur := mustMatch(t, r, "app", "alice")
	if cur == app || cur.Pool() == appPool || cur.dial[0].User != "svc" {
		t.Fatal("new client got the obsolete route")
	}
	if now := mustMatch(t, r, "gone", "alice"); now == gone || now.Rule != r.Config().Rules[1] {
		t.Fatal(`"gone" must now fall to the (default, default) rule`)
	}
	// New app and gone routes, and the old ones draining; x had no
	// clients and is gone.
	if n := len(r.Routes()); n != 4 {
		t.Fatalf("Routes: %d, want 4", n)
	}

	app.RemoveClient()
	if !closed(appPool) {
		t.Fatal("obsolete route's pool still open after its last client left")
	}
	gone.RemoveClient()
	if !closed(gonePool) {
		t.Fatal("removed rule's pool still open after its last client left")
	}
	for _, rt := range r.Routes() {
		if rt.Obsolete() {
			t.Fatalf("drained route %s still listed", rt.ID)
		}
	}
	if r.TotalClients() != 0 {
		t.Fatalf("TotalClients = %d", r.TotalClients())
	}
}

func TestReloadGlobalDialSettings(t *testing.T) {
	c := conf(rule("app", "*"))
	c.Storages["pg"].Endpoints = []config.Endpoint{{Port: 5432}}
	c.UnixSocketDir = "/tmp"
	r := newRouter(t, c)
	old := mustMatch(t, r, "app", "alice")
	r.Reload(reparsed(c, func(n *config.Config) { n.UnixSocketDir = "/run/postgresql" }))
	if cur := mustMatch(t, r, "app", "alice"); cur == old || !old.Obsolete() {
		t.Fatal("a new unix_socket_dir must give new pools")
	}
}

// A client that matched just before a reload retired its route, and adds
// itself after the route's pools closed, still gets working pools.
func TestLateClientOfRetiredRoute(t *testing.T) {
	c := conf(rule("app", "*"))
	r := newRouter(t, c)
	rt := mustMatch(t, r, "app", "alice")
	first := rt.Pool()
	r.Reload(reparsed(c, func(n *config.Config) { n.Rules[0].Pool = config.PoolSession }))
	if !closed(first) {
		t.Fatal("clientless obsolete route kept its pool")
	}
	if err := rt.AddClient(); err != nil {
		t.Fatal(err)
	}
	p := rt.Pool()
	if p == first || closed(p) {
		t.Fatal("late client got a closed pool")
	}
	rt.RemoveClient()
	if !closed(p) {
		t.Fatal("reopened pool not closed when the late client left")
	}
}

func TestClientMax(t *testing.T) {
	c := conf(rule("app", "*", func(r *config.Rule) { r.ClientMax = 2 }), rule("*", "*"))
	c.ClientMax = 3
	r := newRouter(t, c)
	a := mustMatch(t, r, "app", "alice")
	for range 2 {
		if err := a.AddClient(); err != nil {
			t.Fatal(err)
		}
	}
	err := a.AddClient()
	wantCode(t, "third client of a rule with client_max 2", err, pgerr.TooManyConnections)
	if a.Clients() != 2 || r.TotalClients() != 2 {
		t.Fatalf("refused client counted: route %d, total %d", a.Clients(), r.TotalClients())
	}

	b := mustMatch(t, r, "other", "bob")
	if err := b.AddClient(); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "fourth client with global client_max 3", b.AddClient(), pgerr.TooManyConnections)
	if pe, _ := pgerr.As(b.AddClient()); pe.Message != "too many clients already" {
		t.Fatalf("global limit message %q", pe.Message)
	}
	if b.Clients() != 1 || r.TotalClients() != 3 {
		t.Fatalf("refused client counted: route %d, total %d", b.Clients(), r.TotalClients())
	}

	a.RemoveClient()
	if err := b.AddClient(); err != nil {
		t.Fatalf("after a client left: %v", err)
	}
}

func TestClientMaxConcurrent(t *testing.T) {
	c := conf(rule("*", "*", func(r *config.Rule) { r.ClientMax = 10 }))
	c.ClientMax = 15
	r := newRouter(t, c)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			rt, err := r.Match(fmt.Sprint("db", i%2), "u")
			if err != nil {
				t.Error(err)
				return
			}
			if rt.AddClient() == nil {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if admitted.Load() != 15 || r.TotalClients() != 15 {
		t.Fatalf("admitted %d, total %d; want 15", admitted.Load(), r.TotalClients())
	}
	for _, rt := range r.Routes() {
		if rt.Clients() > 10 {
			t.Fatalf("route %s has %d clients, client_max 10", rt.ID, rt.Clients())
		}
	}
}

func TestClose(t *testing.T) {
	r := New(conf(rule("*", "*")))
	rt := mustMatch(t, r, "app", "alice")
	p := rt.Pool()
	other := mustMatch(t, r, "other", "bob") // pools never made
	r.Close()
	if !closed(p) {
		t.Fatal("pool open after Close")
	}
	if q := other.Pool(); q == nil || !closed(q) {
		t.Fatal("a pool made after Close must be closed")
	}
	_, err := r.Match("app", "alice")
	wantCode(t, "Match after Close", err, pgerr.CannotConnectNow)
	wantCode(t, "AddClient after Close", rt.AddClient(), pgerr.CannotConnectNow)
}
