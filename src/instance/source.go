package instance

import (
	"fmt"
	"net"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/odyssey-go/odyssey/console"
	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/pgerr"
	"github.com/sirupsen/logrus"
)

// source is the instance as the admin console sees it (console.Source):
// read-only views built on demand from the router, pools and client
// registry, and the control verbs. This file has the views of the
// configuration and the verbs that act on the whole instance;
// source_live.go has the views of traffic, pools and connections.
type source struct{ i *Instance }

var _ console.Source = (*source)(nil)

func (s *source) Version() string { return Version }

func (s *source) Config() []console.Setting {
	cfg := s.i.Config()
	var out []console.Setting
	for _, st := range cfg.Settings() {
		out = append(out, console.Setting{Key: st.Key, Value: st.Value, Default: st.Default, Changeable: st.Changeable})
	}
	// PgBouncer's names that pgbouncer_exporter turns into metrics.
	out = append(out,
		console.Setting{Key: "max_client_conn", Value: strconv.Itoa(cfg.ClientMax), Default: "0", Changeable: true},
		console.Setting{Key: "max_user_connections", Value: "0", Default: "0"},
		console.Setting{Key: "pool_size", Value: "per rule", Default: "per rule", Changeable: true})
	return out
}

func (s *source) Listens() []console.Listen {
	var out []console.Listen
	for _, l := range s.i.Config().Listen {
		out = append(out, console.Listen{Host: l.Host, Port: l.Port, TLS: l.TLS, TLSCertFile: l.TLSCertFile,
			TLSKeyFile: l.TLSKeyFile, TLSCAFile: l.TLSCAFile, TLSProtocols: l.TLSProtocols})
	}
	return out
}

func (s *source) Storages() []console.Storage {
	cfg := s.i.Config()
	names := make([]string, 0, len(cfg.Storages))
	for n := range cfg.Storages {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []console.Storage
	for _, n := range names {
		st := cfg.Storages[n]
		row := console.Storage{Name: n, Type: st.Type, TLS: st.TLS, TLSCertFile: st.TLSCertFile,
			TLSKeyFile: st.TLSKeyFile, TLSCAFile: st.TLSCAFile}
		var hosts []string
		for _, ep := range st.Endpoints {
			hosts = append(hosts, net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port)))
		}
		if len(st.Endpoints) > 0 {
			row.Host, row.Port = st.Endpoints[0].Host, st.Endpoints[0].Port
			if len(hosts) > 1 {
				row.Host = strings.Join(hosts, ",")
			}
		}
		out = append(out, row)
	}
	return out
}

func (s *source) Rules() []console.Rule {
	var out []console.Rule
	for _, r := range s.i.Config().Rules {
		db, user := r.Database, r.User
		if r.DatabaseDefault {
			db = "default"
		}
		if r.UserDefault {
			user = "default"
		}
		out = append(out, console.Rule{
			Database: db, User: user, Role: r.Role, Authentication: r.Authentication,
			AuthQuery: r.AuthQuery, AuthQueryDB: r.AuthQueryDB, AuthQueryUser: r.AuthQueryUser,
			Storage: r.Storage, StorageDB: r.StorageDB, StorageUser: r.StorageUser,
			Pool: r.Pool, PoolSize: r.PoolSize, MinPoolSize: r.MinPoolSize,
			PoolTimeout: r.PoolTimeout, PoolTTL: r.PoolTTL, ServerLifetime: r.ServerLifetime,
			PoolDiscard: r.PoolDiscard, PoolCancel: r.PoolCancel, PoolRollback: r.PoolRollback,
			PoolReservePreparedStatement: r.PoolReservePreparedStatement, ClientMax: r.ClientMax,
			ClientFwdError: r.ClientFwdError, PoolClientIdleTimeout: r.PoolClientIdleTimeout,
			PoolIdleInTransactionTimeout: r.PoolIdleInTransactionTimeout,
		})
	}
	return out
}

func (s *source) Errors() []console.ErrorCount { return s.i.errs.rows() }

// Mem reports the Go heap: a Go process has no per-object caches like
// PgBouncer's slabs, so the rows are the runtime's own figures.
func (s *source) Mem() []console.Mem {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	clients := int64(len(s.i.sessions.list()))
	return []console.Mem{
		{Name: "heap", Size: 1, Used: int64(m.HeapAlloc), Free: int64(m.HeapIdle - m.HeapReleased), Total: int64(m.HeapSys)},
		{Name: "stack", Size: 1, Used: int64(m.StackInuse), Free: 0, Total: int64(m.StackSys)},
		{Name: "client", Size: 0, Used: clients, Free: 0, Total: 0},
		{Name: "goroutine", Size: 0, Used: int64(runtime.NumGoroutine()), Free: 0, Total: 0},
	}
}

// FDs is not offered: Go does not hand descriptors between processes, so
// there is nothing for an online restart to read here.
func (s *source) FDs() []console.FD { return nil }

func (s *source) KillClient(id int64) error {
	c := s.i.sessions.get(uint64(id))
	if c == nil || id <= 0 {
		return console.UnknownClient(id)
	}
	c.close()
	return nil
}

// Shutdown stops accepting before it answers, so that no client gets in
// after the console said yes; the rest happens after the answer.
func (s *source) Shutdown(mode console.ShutdownMode) error {
	s.i.stopAccepting()
	go s.i.shutdownFromConsole(mode)
	return nil
}

func (s *source) Reload() error { return s.i.ReloadFile() }

// Set changes a runtime-changeable setting by reloading a copy of the
// configuration with the one value changed, so that it takes the same
// path as a RELOAD. pool_size applies to every rule of a remote storage
// (PgBouncer's default_pool_size); a RELOAD brings back the file's values.
func (s *source) Set(key, value string) error {
	key = strings.ToLower(key)
	cfg := s.i.Config()
	next := *cfg
	switch key {
	case "log_level":
		lvl, err := logrus.ParseLevel(value)
		if err != nil {
			return console.InvalidValue(key, "one of debug, info, warn, error")
		}
		logrus.SetLevel(lvl)
		next.LogLevel = value
	case "log_session", "log_query", "log_stats":
		b, err := strconv.ParseBool(value)
		if err != nil {
			return console.InvalidValue(key, "true or false")
		}
		switch key {
		case "log_session":
			next.LogSession = b
		case "log_query":
			next.LogQuery = b
		case "log_stats":
			next.LogStats = b
		}
	case "client_max", "max_client_conn":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			return console.InvalidValue(key, "a number of clients, 0 for no limit")
		}
		next.ClientMax = n
	case "pool_size", "default_pool_size":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			return console.InvalidValue(key, "a number of servers, 0 for no limit")
		}
		next.Rules = make([]*config.Rule, len(cfg.Rules))
		for k, r := range cfg.Rules {
			next.Rules[k] = r
			if st := cfg.Storage(r.Storage); st != nil && st.Type != "local" {
				c := *r
				c.PoolSize = n
				next.Rules[k] = &c
			}
		}
	default:
		for _, st := range cfg.Settings() {
			if st.Key == key {
				return console.Errorf(pgerr.CantChangeRuntimeParam, "parameter %q cannot be changed now: edit the configuration file and RELOAD", key)
			}
		}
		return console.UnknownSetting(key)
	}
	return s.i.Reload(&next)
}

// errorCounts counts the errors the pooler sent to clients that it did
// not let log in, by SQLSTATE (SHOW ERRORS).
type errorCounts struct {
	mu sync.Mutex
	n  map[string]int64
}

func (e *errorCounts) add(code string) {
	e.mu.Lock()
	if e.n == nil {
		e.n = map[string]int64{}
	}
	e.n[code]++
	e.mu.Unlock()
}

func (e *errorCounts) rows() []console.ErrorCount {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]console.ErrorCount, 0, len(e.n))
	for code, n := range e.n {
		out = append(out, console.ErrorCount{Type: fmt.Sprintf("%s %s", code, pgerr.Condition(code)), Count: n})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Type < out[b].Type })
	return out
}
