package instance

import (
	"context"
	"net"
	"sort"
	"strconv"

	"github.com/odyssey-go/odyssey/console"
	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/pool"
	"github.com/odyssey-go/odyssey/src/relay"
	"github.com/odyssey-go/odyssey/src/route"
)

func (i *Instance) pauseAll() error { return i.router.Pause(i.ctx, "") }

func (s *source) State() console.State {
	return console.State{Paused: s.i.router.PausedAll(), Suspended: s.i.suspended.Load()}
}

// PreparedStatements is empty: a server's statement set belongs to the
// session attached to it and cannot be read safely from here yet.
func (s *source) PreparedStatements() []console.PreparedStatement { return nil }

func (s *source) Pause(ctx context.Context, db string) error { return s.i.router.Pause(ctx, db) }
func (s *source) Resume(db string) error {
	if db == "" && s.i.suspended.Swap(false) {
		return s.i.router.Resume("")
	}
	return s.i.router.Resume(db)
}
func (s *source) Disable(db string) error   { return s.i.router.Disable(db) }
func (s *source) Enable(db string) error    { return s.i.router.Enable(db) }
func (s *source) Reconnect(db string) error { return s.i.router.Reconnect(db) }
func (s *source) WaitClose(ctx context.Context, db string) error {
	return s.i.router.WaitClose(ctx, db)
}

// Kill closes db's servers and pauses it (the router), and drops its
// clients (the instance's part).
func (s *source) Kill(db string) error {
	if err := s.i.router.Kill(db); err != nil {
		return err
	}
	for _, c := range s.i.sessions.list() {
		if c.sess != nil && (db == "" || c.rt.Database == db) {
			c.close()
		}
	}
	return nil
}

// Suspend is a pause of everything: PgBouncer suspends sockets to hand
// them to a new process, which a Go pooler does not do (online restart
// binds with SO_REUSEPORT instead), so what remains of SUSPEND is that no
// server is in use until RESUME.
func (s *source) Suspend(ctx context.Context) error {
	if err := s.i.router.Pause(ctx, ""); err != nil {
		return err
	}
	s.i.suspended.Store(true)
	return nil
}

// Servers lists every server of every pool.
func (s *source) Servers() []console.Conn {
	var out []console.Conn
	for _, rt := range s.i.router.Routes() {
		if !remote(rt) {
			continue
		}
		for _, p := range rt.ExistingPools() {
			for _, sv := range p.Servers() {
				row := console.Conn{
					ID: int64(sv.ID), User: rt.User, Database: rt.Database, State: sv.State,
					ConnectTime: sv.Created, RequestTime: sv.Released, CloseNeeded: sv.CloseNeeded,
					Link: int64(sv.Client), RemotePID: int(sv.PID), TLS: sv.TLS,
				}
				row.Addr, row.Port = splitHostPort(sv.Address)
				if sv.Network == "unix" {
					row.Addr, row.Port = "unix", 0
				}
				row.LocalAddr, row.LocalPort = splitAddr(sv.LocalAddr)
				out = append(out, row)
			}
		}
	}
	return out
}

func splitHostPort(hp string) (string, int) {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return hp, 0
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

// remote reports whether rt pools PostgreSQL servers (not the console).
func remote(rt *route.Route) bool { return rt.Storage != nil && rt.Storage.Type != "local" }

// poolStats sums the stats of a route's pools (one per endpoint).
func poolStats(rt *route.Route) pool.Stats {
	var sum pool.Stats
	for _, p := range rt.ExistingPools() {
		st := p.Stats()
		sum.Active += st.Active
		sum.Idle += st.Idle
		sum.Waiting += st.Waiting
		sum.Connecting += st.Connecting
		sum.MaxWait = max(sum.MaxWait, st.MaxWait)
		sum.Acquired += st.Acquired
		sum.WaitTime += st.WaitTime
		sum.Opened += st.Opened
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
			MaxWait:        st.MaxWait,
			Mode:           rt.Rule.Pool,
			TCPConnections: int64(st.Opened),
		})
	}
	return out
}

func (s *source) Clients() []console.Conn {
	var out []console.Conn
	for _, c := range s.i.sessions.list() {
		row := console.Conn{
			ID: int64(c.id), User: c.st.User, Database: c.st.Database,
			State: relay.StateActive, ConnectTime: c.connected, TLS: c.tls,
			ApplicationName: c.appName(),
		}
		if c.sess != nil {
			info := c.sess.Info()
			row.State, row.RequestTime, row.Wait = info.State, info.RequestTime, info.Wait
			row.Link, row.PreparedStatements = int64(info.Server), info.Prepared
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
		d.Paused = s.i.router.Paused(d.Name) || s.i.router.PausedAll()
		d.Disabled = s.i.router.Disabled(d.Name)
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
