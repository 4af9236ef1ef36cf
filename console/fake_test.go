package console

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// fakeSource is a Source with fixed rows that records the control verbs it
// is asked for. It stands for src/instance, not for a peer: the peers of
// the console's tests are the real clients (psql, pgx).
type fakeSource struct {
	mu       sync.Mutex
	calls    []string
	paused   bool
	settings map[string]string
	// pauseRelease, when not nil, makes Pause wait for it (or ctx).
	pauseRelease chan struct{}
	pauseStarted chan struct{}
	reloadErr    error
}

var started = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func newFakeSource() *fakeSource {
	return &fakeSource{settings: map[string]string{"log_level": "info", "client_max": "10000"}}
}

func (f *fakeSource) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeSource) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeSource) Version() string { return "Odyssey-Go 0.1.0" }

func (f *fakeSource) State() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return State{Paused: f.paused}
}

func (f *fakeSource) Databases() []Database {
	return []Database{
		{Name: "app", Host: "127.0.0.1", Port: 5432, Database: "app", PoolSize: 20, ServerLifetime: time.Hour,
			PoolMode: "transaction", MaxConnections: 0, CurrentConnections: 3, CurrentClientConnections: 7},
		{Name: "console", Database: "console", PoolSize: 2, PoolMode: "session", Disabled: false},
	}
}

func (f *fakeSource) Users() []User {
	return []User{{Name: "alice", PoolSize: -1, ReservePoolSize: -1, MaxUserConnections: 0, CurrentConnections: 3,
		CurrentClientConnections: 7}, {Name: "bob", PoolSize: 5, ReservePoolSize: 0, PoolMode: "session"}}
}

func (f *fakeSource) Pools() []Pool {
	return []Pool{
		{Database: "app", User: "alice", ClActive: 5, ClWaiting: 2, SvActive: 3, SvIdle: 1,
			MaxWait: 2*time.Second + 1500*time.Microsecond, Mode: "transaction"},
		{Database: "console", User: "admin", ClActive: 1, Mode: "session"},
	}
}

func (f *fakeSource) PoolsExtended() ([]Pool, Percentiles) {
	pools := f.Pools()
	pools[0].BytesReceived, pools[0].BytesSent, pools[0].TCPConnections = 5_000_000_000, 6_000_000_000, 12
	pools[0].Query = []time.Duration{time.Millisecond, 5 * time.Millisecond}
	pools[0].Xact = []time.Duration{2 * time.Millisecond, 9 * time.Millisecond}
	return pools, Percentiles{Q: []float64{0.5, 0.99}, Query: []time.Duration{time.Millisecond, 5 * time.Millisecond},
		Xact: []time.Duration{2 * time.Millisecond, 9 * time.Millisecond}}
}

func (f *fakeSource) Clients() []Conn {
	return []Conn{
		{ID: 1, User: "alice", Database: "app", State: "active", Addr: "127.0.0.1", Port: 40000,
			LocalAddr: "127.0.0.1", LocalPort: 6432, ConnectTime: started, RequestTime: started.Add(time.Second),
			Link: 7, ApplicationName: "psql", PreparedStatements: 2},
		{ID: 2, User: "alice", Database: "other", State: "waiting", Addr: "127.0.0.1", Port: 40001,
			ConnectTime: started, Wait: 1500 * time.Millisecond},
	}
}

func (f *fakeSource) Servers() []Conn {
	return []Conn{{ID: 7, User: "alice", Database: "app", State: "active", Addr: "127.0.0.1", Port: 5432,
		LocalAddr: "127.0.0.1", LocalPort: 50000, ConnectTime: started, Link: 1, RemotePID: 4242}}
}

func (f *fakeSource) Stats() []Stats {
	return []Stats{
		{Database: "app", Total: Counters{ServerAssignments: 10, Xacts: 100, Queries: 300, Received: 1 << 40,
			Sent: 2 << 40, XactTime: 3 * time.Second, QueryTime: 2 * time.Second, WaitTime: time.Millisecond,
			ClientParses: 4, ServerParses: 3, Binds: 9},
			Avg: Counters{ServerAssignments: 1, Xacts: 10, Queries: 30, Received: 100, Sent: 200,
				XactTime: 300 * time.Microsecond, QueryTime: 100 * time.Microsecond, WaitTime: 10 * time.Microsecond}},
		{Database: "other", Total: Counters{Xacts: 1, Queries: 1},
			Avg: Counters{ServerAssignments: 3, Xacts: 30, Queries: 10, XactTime: 100 * time.Microsecond,
				QueryTime: 500 * time.Microsecond, WaitTime: 50 * time.Microsecond}},
	}
}

func (f *fakeSource) Config() []Setting {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []Setting{
		{Key: "client_max", Value: f.settings["client_max"], Default: "10000", Changeable: true},
		{Key: "log_level", Value: f.settings["log_level"], Default: "info", Changeable: true},
		{Key: "max_client_conn", Value: f.settings["client_max"], Default: "10000", Changeable: true},
		{Key: "max_user_connections", Value: "0", Default: "0", Changeable: true},
		{Key: "workers", Value: "2", Default: "auto"},
	}
}

func (f *fakeSource) Lists() Lists {
	return Lists{Databases: 2, Users: 2, Pools: 2, UsedClients: 3, UsedServers: 1, FreeServers: 1}
}

func (f *fakeSource) Mem() []Mem {
	return []Mem{{Name: "client", Size: 4096, Used: 3, Free: 0, Total: 12288}, {Name: "heap", Size: 1, Used: 5 << 30, Total: 6 << 30}}
}

func (f *fakeSource) FDs() []FD {
	return []FD{{FD: 3, Task: "pooler", Addr: "127.0.0.1", Port: 6432}, {FD: 9, Task: "client", User: "alice",
		Database: "app", Addr: "127.0.0.1", Port: 40000, Cancel: 123456789, Link: 11, ClientEncoding: "UTF8"}}
}

func (f *fakeSource) Listens() []Listen {
	return []Listen{{Host: "127.0.0.1", Port: 6432, TLS: "disable"}}
}

func (f *fakeSource) Storages() []Storage {
	return []Storage{{Name: "postgres", Type: "remote", Host: "127.0.0.1", Port: 5432, TLS: "disable"},
		{Name: "local", Type: "local"}}
}

func (f *fakeSource) Rules() []Rule {
	return []Rule{
		{Database: "console", User: "default", Role: "admin", Authentication: "md5", Storage: "local", Pool: "session"},
		{Database: "default", User: "default", Authentication: "scram-sha-256", Storage: "postgres", Pool: "transaction",
			PoolSize: 20, PoolTTL: time.Minute, ServerLifetime: time.Hour, PoolCancel: true, PoolRollback: true,
			PoolReservePreparedStatement: true, ClientFwdError: true, PoolTimeout: 1500 * time.Millisecond},
	}
}

func (f *fakeSource) Errors() []ErrorCount {
	return []ErrorCount{{Type: "OD_ROUTER_ERROR_NOT_FOUND", Count: 2}, {Type: "OD_ECLIENT_READ", Count: 0}}
}

func (f *fakeSource) PreparedStatements() []PreparedStatement {
	return []PreparedStatement{{ServerID: 7, User: "alice", Database: "app", Definition: "SELECT $1", Refs: 2}}
}

func (f *fakeSource) Pause(ctx context.Context, db string) error {
	f.record("pause %q", db)
	f.mu.Lock()
	f.paused = db == ""
	release, started := f.pauseRelease, f.pauseStarted
	f.mu.Unlock()
	if db == "nosuch" {
		return UnknownDatabase(db)
	}
	if release == nil {
		return nil
	}
	close(started)
	select {
	case <-release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeSource) Resume(db string) error {
	f.record("resume %q", db)
	f.mu.Lock()
	defer f.mu.Unlock()
	if db == "" && !f.paused {
		return NotInState("pooler is not paused/suspended")
	}
	f.paused = false
	return nil
}

func (f *fakeSource) Disable(db string) error   { f.record("disable %q", db); return nil }
func (f *fakeSource) Enable(db string) error    { f.record("enable %q", db); return nil }
func (f *fakeSource) Reconnect(db string) error { f.record("reconnect %q", db); return nil }
func (f *fakeSource) Kill(db string) error      { f.record("kill %q", db); return nil }

func (f *fakeSource) KillClient(id int64) error {
	f.record("kill_client %d", id)
	if id != 1 {
		return UnknownClient(id)
	}
	return nil
}

func (f *fakeSource) Suspend(context.Context) error { f.record("suspend"); return nil }

func (f *fakeSource) Shutdown(mode ShutdownMode) error { f.record("shutdown %v", mode); return nil }

func (f *fakeSource) WaitClose(_ context.Context, db string) error {
	f.record("wait_close %q", db)
	return nil
}

func (f *fakeSource) Reload() error {
	f.record("reload")
	return f.reloadErr
}

func (f *fakeSource) Set(key, value string) error {
	f.record("set %s=%s", key, value)
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.settings[key]; !ok {
		return UnknownSetting(key)
	}
	if strings.TrimSpace(value) == "" {
		return errors.New("empty value")
	}
	f.settings[key] = value
	return nil
}
