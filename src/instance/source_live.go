package instance

import (
	"context"
	"errors"
	"net"
	"sort"
	"strconv"

	"github.com/odyssey-go/odyssey/console"
	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/pool"
	"github.com/odyssey-go/odyssey/src/route"
)

// TEMPORARY: filled in once route/pool controls and relay statistics land.
var errNotYet = errors.New("not available yet")

func (i *Instance) pauseAll() error { return errNotYet }

func (s *source) State() console.State { return console.State{} }
func (s *source) PoolsExtended() ([]console.Pool, console.Percentiles) {
	return s.Pools(), console.Percentiles{}
}
func (s *source) Servers() []console.Conn                         { return nil }
func (s *source) Stats() []console.Stats                          { return nil }
func (s *source) PreparedStatements() []console.PreparedStatement { return nil }
func (s *source) Pause(ctx context.Context, db string) error      { return errNotYet }
func (s *source) Resume(db string) error                          { return errNotYet }
func (s *source) Disable(db string) error                         { return errNotYet }
func (s *source) Enable(db string) error                          { return errNotYet }
func (s *source) Reconnect(db string) error                       { return errNotYet }
func (s *source) Kill(db string) error                            { return errNotYet }
func (s *source) Suspend(ctx context.Context) error               { return errNotYet }
func (s *source) WaitClose(ctx context.Context, db string) error  { return errNotYet }

// remote reports whether rt pools PostgreSQL servers (not the console).
func remote(rt *route.Route) bool { return rt.Storage != nil && rt.Storage.Type != "local" }

// poolStats sums the stats of a route's pools (one per endpoint).
func poolStats(rt *route.Route) pool.Stats {
	var sum pool.Stats
	for _, p := range rt.Pools() {
		st := p.Stats()
		sum.Active += st.Active
		sum.Idle += st.Idle
		sum.Waiting += st.Waiting
		sum.Connecting += st.Connecting
		sum.MaxWait = max(sum.MaxWait, st.MaxWait)
		sum.Acquired += st.Acquired
		sum.WaitTime += st.WaitTime
	}
	return sum
}

func (s *source) Pools() []console.Pool {
	var out []console.Pool
	for _, rt := range s.i.router.Routes() {
		if !remote(rt) {
			continue
		}
		st := poolStats(rt)
		out = append(out, console.Pool{
			Database: rt.Database, User: rt.User,
			ClActive:  max(rt.Clients()-st.Waiting, 0),
			ClWaiting: st.Waiting,
			SvActive:  st.Active, SvIdle: st.Idle, SvLogin: st.Connecting,
			MaxWait: st.MaxWait,
			Mode:    rt.Rule.Pool,
		})
	}
	return out
}

func (s *source) Clients() []console.Conn {
	var out []console.Conn
	for _, c := range s.i.sessions.list() {
		row := console.Conn{
			ID: int64(c.id), User: c.st.User, Database: c.st.Database,
			State: "active", ConnectTime: c.connected, TLS: c.tls,
			ApplicationName: c.appName(),
		}
		row.Addr, row.Port = splitAddr(c.conn.RemoteAddr())
		row.LocalAddr, row.LocalPort = splitAddr(c.conn.LocalAddr())
		out = append(out, row)
	}
	return out
}

// splitAddr gives PgBouncer's addr and port columns: "unix" for a unix
// socket.
func splitAddr(a net.Addr) (string, int) {
	if a == nil || a.Network() == "unix" {
		return "unix", 0
	}
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String(), 0
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

// Databases lists the database names clients use: every named database
// block, and every database a `database default` rule serves now.
func (s *source) Databases() []console.Database {
	cfg := s.i.Config()
	rows := map[string]*console.Database{}
	add := func(name string, r *config.Rule) *console.Database {
		d := rows[name]
		if d != nil {
			return d
		}
		d = &console.Database{Name: name, Database: name, ForceUser: r.StorageUser, PoolSize: r.PoolSize,
			MinPoolSize: r.MinPoolSize, ServerLifetime: r.ServerLifetime, PoolMode: r.Pool,
			MaxClientConnections: r.ClientMax, MaxConnections: r.PoolSize}
		if r.StorageDB != "" {
			d.Database = r.StorageDB
		}
		if st := cfg.Storage(r.Storage); st != nil && st.Type != "local" && len(st.Endpoints) > 0 {
			d.Host, d.Port = st.Endpoints[0].Host, st.Endpoints[0].Port
		} else if st != nil && st.Type == "local" {
			d.PoolMode = "statement" // PgBouncer shows its admin database so
		}
		rows[name] = d
		return d
	}
	for _, r := range cfg.Rules {
		if !r.DatabaseDefault {
			add(r.Database, r)
		}
	}
	for _, rt := range s.i.router.Routes() {
		d := add(rt.Database, rt.Rule)
		d.CurrentClientConnections += rt.Clients()
		if remote(rt) {
			st := poolStats(rt)
			d.CurrentConnections += st.Active + st.Idle + st.Connecting
		}
	}
	out := make([]console.Database, 0, len(rows))
	for _, d := range rows {
		out = append(out, *d)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// Users lists the user names of named user blocks and of current routes.
func (s *source) Users() []console.User {
	rows := map[string]*console.User{}
	add := func(name string, r *config.Rule) *console.User {
		if u := rows[name]; u != nil {
			return u
		}
		u := &console.User{Name: name, PoolSize: -1, ReservePoolSize: -1, PoolMode: "", MaxUserClientConnections: r.ClientMax}
		rows[name] = u
		return u
	}
	for _, r := range s.i.Config().Rules {
		if !r.UserDefault {
			add(r.User, r)
		}
	}
	for _, rt := range s.i.router.Routes() {
		u := add(rt.User, rt.Rule)
		u.CurrentClientConnections += rt.Clients()
		if remote(rt) {
			st := poolStats(rt)
			u.CurrentConnections += st.Active + st.Idle + st.Connecting
		}
	}
	out := make([]console.User, 0, len(rows))
	for _, u := range rows {
		out = append(out, *u)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

func (s *source) Lists() console.Lists {
	var l console.Lists
	l.Databases = len(s.Databases())
	l.Users = len(s.Users())
	for _, rt := range s.i.router.Routes() {
		if !remote(rt) {
			continue
		}
		l.Pools++
		st := poolStats(rt)
		l.UsedServers += st.Active + st.Connecting
		l.FreeServers += st.Idle
	}
	l.UsedClients = len(s.i.sessions.list())
	return l
}
