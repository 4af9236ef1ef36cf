package console

import (
	"context"
	"time"
)

// Source is the pooler as the console sees it: read-only snapshots for SHOW
// and the control verbs. src/instance implements it. The console calls it
// from one goroutine per console session, so several calls may run at once.
//
// Snapshot methods return fresh slices that the console reads once and
// never modifies or keeps; they must not block on network I/O. Rows are
// shown in the order given. Column meanings follow PgBouncer's
// documentation (https://www.pgbouncer.org/usage.html), quoted on each
// field where it matters.
//
// Errors from control verbs are shown to the console user: a *Error (see
// Errorf, UnknownDatabase, ...) or any error with a
// Response() *pgproto3.ErrorResponse method (src/pgerr's Error has one)
// keeps its SQLSTATE; any other error is sent with SQLSTATE XX000 (F0000
// for Reload) and its text. No error text may carry a secret.
type Source interface {
	// Version is SHOW VERSION's one value, e.g. "Odyssey-Go 0.1.0".
	Version() string
	// State is the pooler-wide pause state (SHOW STATE, SHOW IS_PAUSED).
	State() State
	// Databases are the configured databases (SHOW DATABASES), one row per
	// database rule, the console's own included.
	Databases() []Database
	// Users are the configured users (SHOW USERS).
	Users() []User
	// Pools are the (database, user) pools (SHOW POOLS).
	Pools() []Pool
	// PoolsExtended is Pools with traffic counters and the query and
	// transaction time percentiles filled in (SHOW POOLS_EXTENDED), and
	// those percentiles over all pools together.
	PoolsExtended() ([]Pool, Percentiles)
	// Clients are the client connections, the console's own included (SHOW
	// CLIENTS, SOCKETS).
	Clients() []Conn
	// Servers are the server connections (SHOW SERVERS, SOCKETS).
	Servers() []Conn
	// Stats are the traffic counters per database (SHOW STATS,
	// STATS_TOTALS, STATS_AVERAGES, TOTALS).
	Stats() []Stats
	// Config is every setting (SHOW CONFIG) with its value and default as
	// text. PgBouncer's names that monitoring reads (max_client_conn,
	// max_user_connections for pgbouncer_exporter) may be included as
	// extra rows next to Odyssey's.
	Config() []Setting
	// Lists are the object counts of SHOW LISTS.
	Lists() Lists
	// Mem is SHOW MEM: one row per kind of object the pooler keeps.
	Mem() []Mem
	// FDs is SHOW FDS: the listening and connected sockets. May be nil.
	FDs() []FD
	// Listens are the listen blocks of the configuration (SHOW LISTEN).
	Listens() []Listen
	// Storages are the storage blocks (SHOW STORAGES).
	Storages() []Storage
	// Rules are the rules in matching order (SHOW RULES).
	Rules() []Rule
	// Errors counts the errors the pooler reported, by kind (SHOW ERRORS).
	Errors() []ErrorCount
	// PreparedStatements are the statements prepared on servers by the
	// relay (SHOW SERVER_PREP_STMTS).
	PreparedStatements() []PreparedStatement

	// Pause stops handing servers to clients of db ("" means every
	// database but the console's) and returns once every server of it has
	// been released to its pool and closed, following the pool mode: in
	// transaction mode when the running transactions end, in session mode
	// when their clients leave. New work queues until Resume. When ctx ends
	// first, Pause returns ctx.Err() and the pause stays in force (the
	// console then resumes, as PgBouncer does when the admin cancels).
	Pause(ctx context.Context, db string) error
	// Resume ends a PAUSE, KILL or SUSPEND of db ("" means the pooler-wide
	// one); queued work proceeds.
	Resume(db string) error
	// Disable rejects new client connections to db; Enable allows them
	// again. Connected clients are not affected.
	Disable(db string) error
	Enable(db string) error
	// Reconnect closes each server of db ("" means all) once it is
	// released, even if its lifetime is not up.
	Reconnect(db string) error
	// Kill drops every client and server connection of db ("" means all
	// but the console's) at once and pauses db until Resume.
	Kill(db string) error
	// KillClient drops the client whose Conn.ID is id, and its server.
	KillClient(id int64) error
	// Suspend stops reading from all client and server sockets after
	// flushing what is buffered, and returns once that is done; Resume
	// undoes it. (PgBouncer uses it for online restart; a pooler that
	// restarts with SO_REUSEPORT may simply pause.) If the console
	// session that suspended ends, the console calls Resume.
	Suspend(ctx context.Context) error
	// Shutdown stops the pooler. ShutdownImmediate exits at once;
	// ShutdownWaitForServers stops accepting, pauses, and exits once all
	// servers are released; ShutdownWaitForClients stops accepting and
	// exits once all clients have left. It returns once the shutdown has
	// begun.
	Shutdown(mode ShutdownMode) error
	// WaitClose returns once no server of db ("" means all) is still
	// waiting to be closed after RECONNECT or RELOAD (close_needed), or
	// with ctx.Err().
	WaitClose(ctx context.Context, db string) error
	// Reload reads the configuration again; on failure the old one keeps
	// running and the error says why.
	Reload() error
	// Set changes a runtime-changeable setting (SHOW CONFIG's changeable
	// "yes"). UnknownSetting and InvalidValue are the errors to return.
	Set(key, value string) error
}

// ShutdownMode says how SHUTDOWN stops the pooler.
type ShutdownMode int

// The shutdown modes of PgBouncer's SHUTDOWN.
const (
	ShutdownImmediate ShutdownMode = iota
	ShutdownWaitForServers
	ShutdownWaitForClients
)

func (m ShutdownMode) String() string {
	switch m {
	case ShutdownWaitForServers:
		return "WAIT_FOR_SERVERS"
	case ShutdownWaitForClients:
		return "WAIT_FOR_CLIENTS"
	}
	return "IMMEDIATE"
}

// State is the pooler-wide state.
type State struct {
	Paused    bool // a PAUSE without database (or SHUTDOWN WAIT_FOR_SERVERS) is in force
	Suspended bool // SUSPEND is in force
}

// Database is one row of SHOW DATABASES.
type Database struct {
	Name      string // the database name clients ask for
	Host      string // where it points; "" for the console
	Port      int
	Database  string // the backend database name (storage_db)
	ForceUser string // storage_user, "" (NULL) when clients' names are used
	// PoolSize, MinPoolSize and ReservePoolSize are the limits per pool.
	PoolSize, MinPoolSize, ReservePoolSize int
	ServerLifetime                         time.Duration // shown in whole seconds
	PoolMode                               string        // "session", "transaction", "statement"; "" (NULL) when not overridden
	// LoadBalanceHosts is shown when Host lists several hosts; "" is NULL.
	LoadBalanceHosts string
	// MaxConnections is the server connection limit (0: none) and
	// CurrentConnections the servers open; MaxClientConnections and
	// CurrentClientConnections the same for clients.
	MaxConnections, CurrentConnections             int
	MaxClientConnections, CurrentClientConnections int
	Paused, Disabled                               bool
}

// User is one row of SHOW USERS. Negative sizes and "" are NULL: not
// overridden for this user.
type User struct {
	Name                     string
	PoolSize                 int
	ReservePoolSize          int
	PoolMode                 string
	MaxUserConnections       int // the limit in force, the default when not set
	CurrentConnections       int // servers open for this user
	MaxUserClientConnections int
	CurrentClientConnections int
}

// Pool is one row of SHOW POOLS and SHOW POOLS_EXTENDED.
type Pool struct {
	Database, User string
	// Clients: active (linked to a server, or idle with nothing queued),
	// waiting for a server, and with a cancel request forwarded or queued.
	ClActive, ClWaiting, ClActiveCancelReq, ClWaitingCancelReq int
	// Servers: linked to a client, forwarding a cancel, waiting for
	// cancels to finish, idle, idle long enough to need a check, running
	// a reset or check query, logging in.
	SvActive, SvActiveCancel, SvBeingCanceled, SvIdle, SvUsed, SvTested, SvLogin int

	MaxWait          time.Duration // how long the oldest waiting client has waited
	Mode             string        // session | transaction | statement
	LoadBalanceHosts string        // "" is NULL

	// POOLS_EXTENDED only (Odyssey's columns).
	BytesReceived, BytesSent int64 // from clients, to clients
	TCPConnections           int64 // server connections opened so far
	// Query and Xact are the query and transaction durations at the
	// quantiles Percentiles.Q, in the same order.
	Query, Xact []time.Duration
}

// Percentiles are the quantiles SHOW POOLS_EXTENDED reports (Odyssey's
// quantiles setting, e.g. 0.5, 0.9, 0.95, 0.99) and the durations at them
// over all pools together, shown in a last row named "aggregated".
type Percentiles struct {
	Q           []float64
	Query, Xact []time.Duration
}

// Conn is one row of SHOW CLIENTS or SHOW SERVERS.
type Conn struct {
	// ID identifies the connection among clients (or among servers);
	// KILL_CLIENT takes a client's. PgBouncer shows it as int4, so it must
	// stay below 2^31.
	ID          int64
	User        string
	Database    string
	Replication string // none | logical | physical; "" is none
	// State, for clients: active, idle, waiting, active_cancel_req,
	// waiting_cancel_req; for servers: active, idle, used, tested, new,
	// active_cancel, being_canceled.
	State              string
	Addr               string // peer address; "unix" for a unix socket
	Port               int
	LocalAddr          string
	LocalPort          int
	ConnectTime        time.Time // zero is NULL
	RequestTime        time.Time // the last request; zero is NULL
	Wait               time.Duration
	CloseNeeded        bool  // servers: closed when released (RECONNECT, RELOAD)
	Link               int64 // the ID of the paired server (for a client) or client (for a server); 0 when none. A pinned client shows its server here.
	RemotePID          int   // servers: the backend's process id; clients: the peer's, on unix sockets
	TLS                string
	ApplicationName    string
	PreparedStatements int
}

// Stats is one row of SHOW STATS: a database's counters since start and
// their averages over the last stats period.
type Stats struct {
	Database string
	Total    Counters
	// Avg holds per-second rates for the counts and byte counters, and
	// the mean duration per transaction, query or server assignment for
	// the times, over the last stats period, as PgBouncer computes them.
	Avg Counters
}

// Counters are the traffic counters of one database.
type Counters struct {
	ServerAssignments uint64 // times a server was assigned to a client
	Xacts, Queries    uint64
	Received, Sent    uint64 // bytes from and to clients
	// XactTime, QueryTime and WaitTime are shown in microseconds.
	XactTime, QueryTime, WaitTime time.Duration
	// ClientParses, ServerParses and Binds count prepared statements
	// created by clients, created on servers by the pooler, and bound.
	ClientParses, ServerParses, Binds uint64
}

// Setting is one row of SHOW CONFIG.
type Setting struct {
	Key, Value, Default string
	Changeable          bool // SET can change it at run time
}

// Lists are the counts of SHOW LISTS.
type Lists struct {
	Databases, Users, Peers, Pools, PeerPools  int
	FreeClients, UsedClients, LoginClients     int
	FreeServers, UsedServers                   int
	DNSNames, DNSZones, DNSQueries, DNSPending int
}

// Mem is one row of SHOW MEM: a kind of object, its size in bytes, how
// many are in use and cached free, and the bytes they take.
type Mem struct {
	Name                    string
	Size, Used, Free, Total int64
}

// FD is one row of SHOW FDS. The console never shows passwords or SCRAM
// keys there: those columns are always NULL.
type FD struct {
	FD                                              int
	Task                                            string // pooler, client or server
	User, Database                                  string
	Addr                                            string
	Port                                            int
	Cancel                                          int64 // the cancel key
	Link                                            int   // the fd of the paired connection, 0 when none
	ClientEncoding, StdStrings, DateStyle, TimeZone string
}

// Listen is one row of SHOW LISTEN.
type Listen struct {
	Host                                    string // "" is NULL (unix socket only)
	Port                                    int
	TLS, TLSCertFile, TLSKeyFile, TLSCAFile string // "" is NULL
	TLSProtocols                            string
}

// Storage is one row of SHOW STORAGES.
type Storage struct {
	Name                                    string
	Type                                    string // remote | local
	Host                                    string
	Port                                    int
	TLS, TLSCertFile, TLSKeyFile, TLSCAFile string // "" is NULL
	TLSProtocols                            string
}

// Rule is one row of SHOW RULES: a database/user rule of the
// configuration, never its secrets. Durations are shown as configured
// ("15s"), zero as "0s"; Database and User are "default" for the
// catch-all labels.
type Rule struct {
	Database, User                        string
	Role                                  string // admin | stat for console rules, "" otherwise
	Authentication                        string
	AuthQuery, AuthQueryDB, AuthQueryUser string
	Storage, StorageDB, StorageUser       string
	Pool                                  string
	PoolSize, MinPoolSize                 int
	PoolTimeout, PoolTTL, ServerLifetime  time.Duration
	PoolDiscard, PoolCancel, PoolRollback bool
	PoolReservePreparedStatement          bool
	ClientMax                             int
	ClientFwdError                        bool
	PoolClientIdleTimeout                 time.Duration
	PoolIdleInTransactionTimeout          time.Duration
}

// ErrorCount is one row of SHOW ERRORS.
type ErrorCount struct {
	Type  string // e.g. OD_ROUTER_ERROR_NOT_FOUND, as Odyssey names them, or the SQLSTATE condition
	Count int64
}

// PreparedStatement is one row of SHOW SERVER_PREP_STMTS.
type PreparedStatement struct {
	ServerID       int64 // Conn.ID of the server it is prepared on
	User, Database string
	Definition     string // the statement's text
	Refs           int    // clients that use it
}
