package console

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Result columns. The PgBouncer ones are transcribed from PgBouncer 1.25's
// src/admin.c and src/stats.c (type strings as there), the Odyssey ones from
// Odyssey's sources/console.c; differences are noted where they are.
var (
	colsDatabases = columns("ssissiiiissiiiiii", "name", "host", "port", "database", "force_user",
		"pool_size", "min_pool_size", "reserve_pool_size", "server_lifetime", "pool_mode", "load_balance_hosts",
		"max_connections", "current_connections", "max_client_connections", "current_client_connections",
		"paused", "disabled")
	colsUsers = columns("ssssiiii", "name", "pool_size", "reserve_pool_size", "pool_mode",
		"max_user_connections", "current_connections", "max_user_client_connections", "current_client_connections")
	colsConns = columns("ssssssisiTTiiississii", "type", "user", "database", "replication", "state",
		"addr", "port", "local_addr", "local_port", "connect_time", "request_time", "wait", "wait_us",
		"close_needed", "ptr", "link", "remote_pid", "tls", "application_name", "prepared_statements", "id")
	colsSockets = append(append([]column(nil), colsConns...), columns("iiiiiii",
		"recv_pos", "pkt_pos", "pkt_remain", "send_pos", "send_remain", "pkt_avail", "send_avail")...)
	colsPools = columns("ssiiiiiiiiiiiiiss", "database", "user", "cl_active", "cl_waiting",
		"cl_active_cancel_req", "cl_waiting_cancel_req", "sv_active", "sv_active_cancel", "sv_being_canceled",
		"sv_idle", "sv_used", "sv_tested", "sv_login", "maxwait", "maxwait_us", "pool_mode", "load_balance_hosts")
	colsPeers     = columns("isii", "peer_id", "host", "port", "pool_size")
	colsPeerPools = columns("iiiii", "peer_id", "cl_active_cancel_req", "cl_waiting_cancel_req", "sv_active_cancel", "sv_login")
	colsLists     = columns("si", "list", "items")
	colsMem       = columns("siiii", "name", "size", "used", "free", "memtotal")
	colsKeyValue  = columns("ss", "key", "value")
	colsDNSHosts  = columns("sqs", "hostname", "ttl", "addrs")
	colsDNSZones  = columns("sqi", "zonename", "serial", "count")
	colsConfig    = columns("ssss", "key", "value", "default", "changeable")
	colsVersion   = columns("s", "version")
	colsFDs       = columns("issssiqisssssbb", "fd", "task", "user", "database", "addr", "port", "cancel", "link",
		"client_encoding", "std_strings", "datestyle", "timezone", "password", "scram_client_key", "scram_server_key")
	colsStats = columns("sNNNNNNNNNNNNNNNNNNNNNN", "database",
		"total_server_assignment_count", "total_xact_count", "total_query_count", "total_received", "total_sent",
		"total_xact_time", "total_query_time", "total_wait_time",
		"total_client_parse_count", "total_server_parse_count", "total_bind_count",
		"avg_server_assignment_count", "avg_xact_count", "avg_query_count", "avg_recv", "avg_sent",
		"avg_xact_time", "avg_query_time", "avg_wait_time",
		"avg_client_parse_count", "avg_server_parse_count", "avg_bind_count")
	colsStatsTotals = columns("sNNNNNNNNNNN", "database", "server_assignment_count", "xact_count", "query_count",
		"bytes_received", "bytes_sent", "xact_time", "query_time", "wait_time",
		"client_parse_count", "server_parse_count", "bind_count")
	colsStatsAverages = columns("sNNNNNNNNNNN", "database", "server_assignment_count", "xact_count", "query_count",
		"bytes_received", "bytes_sent", "xact_time", "query_time", "wait_time",
		"avg_client_parse_count", "avg_server_parse_count", "avg_bind_count")
	colsTotals = columns("sN", "name", "value")

	// Odyssey's. SHOW ERRORS: Odyssey's "sl", l being int8.
	colsErrors = columns("sq", "error_type", "count")
	// SHOW LISTEN: Odyssey's "sdsssss", d being int4.
	colsListen = columns("sisssss", "host", "port", "tls", "tls_cert_file", "tls_key_file", "tls_ca_file", "tls_protocols")
	// SHOW STORAGES: Odyssey's "ssdsssss", and the storage's name last,
	// which Odyssey does not show but its configuration is keyed by.
	colsStorages = columns("ssissssss", "type", "host", "port", "tls", "tls_cert_file", "tls_key_file",
		"tls_ca_file", "tls_protocols", "name")
	// SHOW SERVER_PREP_STMTS: Odyssey's "ssssss".
	colsServerPrepStmts = columns("ssssss", "type", "user", "database", "sid", "definition", "refcount")
	// SHOW RULES: all text as in Odyssey's (Tianyi's fork; upstream has
	// none), with the names of this pooler's rule settings.
	colsRules = columns("ssssssssssssssssssssssss", "database", "user", "user_role", "authentication",
		"auth_query", "auth_query_db", "auth_query_user", "storage", "storage_db", "storage_user",
		"pool", "pool_size", "min_pool_size", "pool_timeout", "pool_ttl", "server_lifetime",
		"pool_discard", "pool_cancel", "pool_rollback", "pool_reserve_prepared_statement",
		"client_max", "client_fwd_error", "pool_client_idle_timeout", "pool_idle_in_transaction_timeout")
	// SHOW IS_PAUSED: one bool.
	colsIsPaused = columns("B", "is_paused")
)

// poolsExtendedColumns are SHOW POOLS' columns, then Odyssey's extras:
// bytes_recieved (Odyssey's spelling, kept for the scripts that read it),
// bytes_sent, tcp_conn_count, and query_Q and transaction_Q for each
// quantile (Odyssey formats Q with %.6g). Odyssey types them int4; they are
// int8 here because byte counters outgrow int4 within hours.
func poolsExtendedColumns(q []float64) []column {
	cols := append(append([]column(nil), colsPools...), columns("qqq", "bytes_recieved", "bytes_sent", "tcp_conn_count")...)
	for _, v := range q {
		qs := strconv.FormatFloat(v, 'g', 6, 64)
		cols = append(cols, columns("qq", "query_"+qs, "transaction_"+qs)...)
	}
	return cols
}

// filterKind is what the optional argument of a SHOW selects.
type filterKind int

const (
	noFilter   filterKind = iota
	byDatabase            // SHOW POOLS app
	byUser                // SHOW USERS alice
	byConn                // SHOW CLIENTS 12 (an id) or SHOW CLIENTS app (a database)
	byName                // SHOW CONFIG client_max, SHOW MEM name, SHOW FDS fd
)

// A showCmd answers one SHOW. filter is the argument, "" when absent.
type showCmd struct {
	filter    filterKind
	adminOnly bool // SHOW FDS: PgBouncer's "dangerous to show to everybody"
	run       func(s *session, filter string) *result
}

// shows are the SHOW commands by name. SHOW HELP is answered apart.
var shows = map[string]showCmd{
	"databases":         {byDatabase, false, showDatabases},
	"users":             {byUser, false, showUsers},
	"pools":             {byDatabase, false, showPools},
	"pools_extended":    {byDatabase, false, showPoolsExtended},
	"clients":           {byConn, false, showClients},
	"servers":           {byConn, false, showServers},
	"sockets":           {byConn, false, showSockets(false)},
	"active_sockets":    {byConn, false, showSockets(true)},
	"stats":             {byDatabase, false, showStats},
	"stats_totals":      {byDatabase, false, showStatsTotals},
	"stats_averages":    {byDatabase, false, showStatsAverages},
	"totals":            {noFilter, false, showTotals},
	"lists":             {noFilter, false, showLists},
	"config":            {byName, false, showConfig},
	"version":           {noFilter, false, showVersion},
	"state":             {noFilter, false, showState},
	"is_paused":         {noFilter, false, showIsPaused},
	"mem":               {byName, false, showMem},
	"fds":               {byName, true, showFDs},
	"dns_hosts":         {noFilter, false, empty(colsDNSHosts)},
	"dns_zones":         {noFilter, false, empty(colsDNSZones)},
	"peers":             {noFilter, false, empty(colsPeers)},
	"peer_pools":        {noFilter, false, empty(colsPeerPools)},
	"errors":            {noFilter, false, showErrors},
	"listen":            {noFilter, false, showListen},
	"storages":          {noFilter, false, showStorages},
	"rules":             {noFilter, false, showRules},
	"server_prep_stmts": {noFilter, false, showServerPrepStmts},
}

// helpText is SHOW HELP's notice detail, laid out as PgBouncer's.
const helpText = `
	SHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION
	SHOW PEERS|PEER_POOLS
	SHOW FDS|SOCKETS|ACTIVE_SOCKETS|LISTS|MEM|STATE
	SHOW DNS_HOSTS|DNS_ZONES
	SHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS
	SHOW ERRORS|POOLS_EXTENDED|STORAGES|LISTEN|RULES|IS_PAUSED|SERVER_PREP_STMTS
	SHOW CLIENTS|SERVERS [<db>|<id>]
	SET key = arg
	RELOAD
	PAUSE [<db>]
	RESUME [<db>]
	DISABLE <db>
	ENABLE <db>
	RECONNECT [<db>]
	KILL [<db>]
	KILL_CLIENT <client_id>
	SUSPEND
	SHUTDOWN
	SHUTDOWN WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS
	WAIT_CLOSE [<db>]`

func showHelp() *result {
	return &result{
		notices: []*pgproto3.NoticeResponse{{
			Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: codeSuccessfulNotice,
			Message: "Console usage", Detail: helpText,
		}},
		tag: "SHOW",
	}
}

func rows(cols []column, r [][]any) *result { return &result{cols: cols, rows: r, tag: "SHOW"} }

func empty(cols []column) func(*session, string) *result {
	return func(*session, string) *result { return rows(cols, nil) }
}

func showDatabases(s *session, db string) *result {
	var r [][]any
	for _, d := range s.src.Databases() {
		if db != "" && d.Name != db {
			continue
		}
		r = append(r, []any{d.Name, nullable(d.Host), i64(d.Port), d.Database, nullable(d.ForceUser),
			i64(d.PoolSize), i64(d.MinPoolSize), i64(d.ReservePoolSize), int64(d.ServerLifetime / time.Second),
			nullable(d.PoolMode), nullable(d.LoadBalanceHosts), i64(d.MaxConnections), i64(d.CurrentConnections),
			i64(d.MaxClientConnections), i64(d.CurrentClientConnections), boolInt(d.Paused), boolInt(d.Disabled)})
	}
	return rows(colsDatabases, r)
}

func showUsers(s *session, user string) *result {
	var r [][]any
	size := func(n int) any {
		if n < 0 {
			return nil
		}
		return strconv.Itoa(n)
	}
	for _, u := range s.src.Users() {
		if user != "" && u.Name != user {
			continue
		}
		r = append(r, []any{u.Name, size(u.PoolSize), size(u.ReservePoolSize), nullable(u.PoolMode),
			i64(u.MaxUserConnections), i64(u.CurrentConnections), i64(u.MaxUserClientConnections),
			i64(u.CurrentClientConnections)})
	}
	return rows(colsUsers, r)
}

func poolRow(p Pool) []any {
	return []any{p.Database, p.User, i64(p.ClActive), i64(p.ClWaiting), i64(p.ClActiveCancelReq),
		i64(p.ClWaitingCancelReq), i64(p.SvActive), i64(p.SvActiveCancel), i64(p.SvBeingCanceled),
		i64(p.SvIdle), i64(p.SvUsed), i64(p.SvTested), i64(p.SvLogin),
		int64(p.MaxWait / time.Second), int64(p.MaxWait % time.Second / time.Microsecond),
		p.Mode, nullable(p.LoadBalanceHosts)}
}

func showPools(s *session, db string) *result {
	var r [][]any
	for _, p := range s.src.Pools() {
		if db == "" || p.Database == db {
			r = append(r, poolRow(p))
		}
	}
	return rows(colsPools, r)
}

// showPoolsExtended follows Odyssey: a row per pool, then a row named
// "aggregated" with the percentiles over all pools and NULL elsewhere.
func showPoolsExtended(s *session, db string) *result {
	pools, pct := s.src.PoolsExtended()
	quantiles := func(row []any, query, xact []time.Duration) []any {
		for i := range pct.Q {
			row = append(row, at(query, i), at(xact, i))
		}
		return row
	}
	var r [][]any
	for _, p := range pools {
		if db != "" && p.Database != db {
			continue
		}
		row := append(poolRow(p), p.BytesReceived, p.BytesSent, p.TCPConnections)
		r = append(r, quantiles(row, p.Query, p.Xact))
	}
	agg := make([]any, len(colsPools)+3)
	agg[0], agg[1] = "aggregated", "aggregated"
	r = append(r, quantiles(agg, pct.Query, pct.Xact))
	return rows(poolsExtendedColumns(pct.Q), r)
}

// at is d[i] as a cell, 0 when the Source gave fewer values.
func at(d []time.Duration, i int) any {
	if i < len(d) {
		return d[i]
	}
	return int64(0)
}

// connFilter selects by id when f is a number, else by database.
func connFilter(f string) func(Conn) bool {
	if f == "" {
		return func(Conn) bool { return true }
	}
	if id, err := strconv.ParseInt(f, 10, 64); err == nil {
		return func(c Conn) bool { return c.ID == id }
	}
	return func(c Conn) bool { return c.Database == f }
}

// connRow is a row of colsConns. Like PgBouncer, ptr names the connection
// and link the one it is paired with; here they are "c<id>" for clients
// and "s<id>" for servers.
func connRow(c Conn, server bool) []any {
	self, peer := "C", "c"
	if server {
		self, peer = "S", "s"
	}
	link := ""
	if c.Link != 0 {
		other := "s"
		if server {
			other = "c"
		}
		link = other + strconv.FormatInt(c.Link, 10)
	}
	repl := c.Replication
	if repl == "" {
		repl = "none"
	}
	return []any{self, c.User, c.Database, repl, c.State, c.Addr, i64(c.Port), c.LocalAddr, i64(c.LocalPort),
		c.ConnectTime, c.RequestTime, int64(c.Wait / time.Second), int64(c.Wait % time.Second / time.Microsecond),
		boolInt(c.CloseNeeded), peer + strconv.FormatInt(c.ID, 10), link, i64(c.RemotePID), c.TLS,
		c.ApplicationName, i64(c.PreparedStatements), c.ID}
}

func showClients(s *session, f string) *result {
	keep := connFilter(f)
	var r [][]any
	for _, c := range s.src.Clients() {
		if keep(c) {
			r = append(r, connRow(c, false))
		}
	}
	return rows(colsConns, r)
}

func showServers(s *session, f string) *result {
	keep := connFilter(f)
	var r [][]any
	for _, c := range s.src.Servers() {
		if keep(c) {
			r = append(r, connRow(c, true))
		}
	}
	return rows(colsConns, r)
}

// showSockets is SHOW SOCKETS: clients and servers with PgBouncer's list
// names as state (cl_active, sv_idle, ...). The buffer columns describe
// PgBouncer's own I/O buffers, which this pooler does not have: they are 0.
// SHOW ACTIVE_SOCKETS, PgBouncer's sockets with buffered data, shows the
// connections whose state is active.
func showSockets(activeOnly bool) func(*session, string) *result {
	return func(s *session, f string) *result {
		keep := connFilter(f)
		var r [][]any
		add := func(c Conn, server bool) {
			if !keep(c) || activeOnly && c.State != "active" {
				return
			}
			state := c.State
			switch {
			case server && state == "new":
				state = "sv_login"
			case server:
				state = "sv_" + state
			case state == "idle":
				state = "cl_active"
			default:
				state = "cl_" + state
			}
			row := connRow(c, server)
			row[4] = state
			r = append(r, append(row, int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0)))
		}
		for _, c := range s.src.Clients() {
			add(c, false)
		}
		for _, c := range s.src.Servers() {
			add(c, true)
		}
		return rows(colsSockets, r)
	}
}

// counters lists c in SHOW STATS order.
func counters(c Counters) []any {
	us := func(d time.Duration) any { return uint64(max(d, 0) / time.Microsecond) }
	return []any{c.ServerAssignments, c.Xacts, c.Queries, c.Received, c.Sent,
		us(c.XactTime), us(c.QueryTime), us(c.WaitTime), c.ClientParses, c.ServerParses, c.Binds}
}

func statsRows(s *session, db string, row func(Stats) []any) [][]any {
	var r [][]any
	for _, st := range s.src.Stats() {
		if db == "" || st.Database == db {
			r = append(r, row(st))
		}
	}
	return r
}

func showStats(s *session, db string) *result {
	return rows(colsStats, statsRows(s, db, func(st Stats) []any {
		return append(append([]any{st.Database}, counters(st.Total)...), counters(st.Avg)...)
	}))
}

func showStatsTotals(s *session, db string) *result {
	return rows(colsStatsTotals, statsRows(s, db, func(st Stats) []any {
		return append([]any{st.Database}, counters(st.Total)...)
	}))
}

func showStatsAverages(s *session, db string) *result {
	return rows(colsStatsAverages, statsRows(s, db, func(st Stats) []any {
		return append([]any{st.Database}, counters(st.Avg)...)
	}))
}

// totalNames are SHOW TOTALS' row names: PgBouncer writes "total_" and
// "avg_" before its PgStats field names.
var totalNames = []string{"server_assignment_count", "xact_count", "query_count", "client_bytes", "server_bytes",
	"xact_time", "query_time", "wait_time", "ps_client_parse_count", "ps_server_parse_count", "ps_bind_count"}

// showTotals is SHOW STATS summed over all databases, one row per counter.
// Rates add up; a mean time over all databases is the per-database means
// weighted by their rates, which is what PgBouncer's computation over the
// summed counters gives.
func showTotals(s *session, _ string) *result {
	var tot, avg Counters
	var xactW, queryW, waitW float64
	for _, st := range s.src.Stats() {
		t, a := st.Total, st.Avg
		tot.ServerAssignments += t.ServerAssignments
		tot.Xacts += t.Xacts
		tot.Queries += t.Queries
		tot.Received += t.Received
		tot.Sent += t.Sent
		tot.XactTime += t.XactTime
		tot.QueryTime += t.QueryTime
		tot.WaitTime += t.WaitTime
		tot.ClientParses += t.ClientParses
		tot.ServerParses += t.ServerParses
		tot.Binds += t.Binds
		avg.ServerAssignments += a.ServerAssignments
		avg.Xacts += a.Xacts
		avg.Queries += a.Queries
		avg.Received += a.Received
		avg.Sent += a.Sent
		avg.ClientParses += a.ClientParses
		avg.ServerParses += a.ServerParses
		avg.Binds += a.Binds
		xactW += float64(a.XactTime) * float64(a.Xacts)
		queryW += float64(a.QueryTime) * float64(a.Queries)
		waitW += float64(a.WaitTime) * float64(a.ServerAssignments)
	}
	mean := func(weighted float64, n uint64) time.Duration {
		if n == 0 {
			return 0
		}
		return time.Duration(weighted / float64(n))
	}
	avg.XactTime = mean(xactW, avg.Xacts)
	avg.QueryTime = mean(queryW, avg.Queries)
	avg.WaitTime = mean(waitW, avg.ServerAssignments)
	var r [][]any
	for i, v := range counters(tot) {
		r = append(r, []any{"total_" + totalNames[i], v})
	}
	for i, v := range counters(avg) {
		r = append(r, []any{"avg_" + totalNames[i], v})
	}
	return rows(colsTotals, r)
}

func showLists(s *session, _ string) *result {
	l := s.src.Lists()
	return rows(colsLists, [][]any{
		{"databases", i64(l.Databases)}, {"users", i64(l.Users)}, {"peers", i64(l.Peers)},
		{"pools", i64(l.Pools)}, {"peer_pools", i64(l.PeerPools)},
		{"free_clients", i64(l.FreeClients)}, {"used_clients", i64(l.UsedClients)},
		{"login_clients", i64(l.LoginClients)}, {"free_servers", i64(l.FreeServers)},
		{"used_servers", i64(l.UsedServers)}, {"dns_names", i64(l.DNSNames)},
		{"dns_zones", i64(l.DNSZones)}, {"dns_queries", i64(l.DNSQueries)}, {"dns_pending", i64(l.DNSPending)},
	})
}

func showConfig(s *session, key string) *result {
	var r [][]any
	for _, c := range s.src.Config() {
		if key != "" && c.Key != key {
			continue
		}
		ch := "no"
		if c.Changeable {
			ch = "yes"
		}
		r = append(r, []any{c.Key, c.Value, c.Default, ch})
	}
	return rows(colsConfig, r)
}

func showVersion(s *session, _ string) *result {
	return rows(colsVersion, [][]any{{s.src.Version()}})
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func showState(s *session, _ string) *result {
	st := s.src.State()
	return rows(colsKeyValue, [][]any{
		{"active", yesNo(!st.Paused && !st.Suspended)},
		{"paused", yesNo(st.Paused)},
		{"suspended", yesNo(st.Suspended)},
	})
}

func showIsPaused(s *session, _ string) *result {
	return rows(colsIsPaused, [][]any{{s.src.State().Paused}})
}

func showMem(s *session, name string) *result {
	var r [][]any
	for _, m := range s.src.Mem() {
		if name == "" || m.Name == name {
			r = append(r, []any{m.Name, m.Size, m.Used, m.Free, m.Total})
		}
	}
	return rows(colsMem, r)
}

// showFDs never shows secrets: password and the SCRAM keys are NULL.
func showFDs(s *session, fd string) *result {
	var r [][]any
	for _, f := range s.src.FDs() {
		if fd != "" && strconv.Itoa(f.FD) != fd {
			continue
		}
		r = append(r, []any{i64(f.FD), f.Task, nullable(f.User), nullable(f.Database), f.Addr, i64(f.Port),
			f.Cancel, i64(f.Link), nullable(f.ClientEncoding), nullable(f.StdStrings), nullable(f.DateStyle),
			nullable(f.TimeZone), nil, nil, nil})
	}
	return rows(colsFDs, r)
}

func showErrors(s *session, _ string) *result {
	var r [][]any
	for _, e := range s.src.Errors() {
		r = append(r, []any{e.Type, e.Count})
	}
	return rows(colsErrors, r)
}

func showListen(s *session, _ string) *result {
	var r [][]any
	for _, l := range s.src.Listens() {
		r = append(r, []any{nullable(l.Host), i64(l.Port), nullable(l.TLS), nullable(l.TLSCertFile),
			nullable(l.TLSKeyFile), nullable(l.TLSCAFile), nullable(l.TLSProtocols)})
	}
	return rows(colsListen, r)
}

func showStorages(s *session, _ string) *result {
	var r [][]any
	for _, st := range s.src.Storages() {
		r = append(r, []any{st.Type, st.Host, i64(st.Port), nullable(st.TLS), nullable(st.TLSCertFile),
			nullable(st.TLSKeyFile), nullable(st.TLSCAFile), nullable(st.TLSProtocols), st.Name})
	}
	return rows(colsStorages, r)
}

// duration shows d as written in the configuration: "15s", "1h", "1m30s",
// "500ms".
func duration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	s := d.String()
	// time.Duration.String writes 1h0m0s for 1h; drop the zero units.
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func showRules(s *session, _ string) *result {
	var r [][]any
	b := strconv.FormatBool
	for _, ru := range s.src.Rules() {
		r = append(r, []any{ru.Database, ru.User, nullable(ru.Role), ru.Authentication,
			nullable(ru.AuthQuery), nullable(ru.AuthQueryDB), nullable(ru.AuthQueryUser),
			ru.Storage, nullable(ru.StorageDB), nullable(ru.StorageUser), ru.Pool,
			strconv.Itoa(ru.PoolSize), strconv.Itoa(ru.MinPoolSize), duration(ru.PoolTimeout),
			duration(ru.PoolTTL), duration(ru.ServerLifetime), b(ru.PoolDiscard), b(ru.PoolCancel),
			b(ru.PoolRollback), b(ru.PoolReservePreparedStatement), strconv.Itoa(ru.ClientMax),
			b(ru.ClientFwdError), duration(ru.PoolClientIdleTimeout), duration(ru.PoolIdleInTransactionTimeout)})
	}
	return rows(colsRules, r)
}

func showServerPrepStmts(s *session, _ string) *result {
	var r [][]any
	for _, p := range s.src.PreparedStatements() {
		r = append(r, []any{"S", p.User, p.Database, "s" + strconv.FormatInt(p.ServerID, 10), p.Definition,
			strconv.Itoa(p.Refs)})
	}
	return rows(colsServerPrepStmts, r)
}

// fakeParams are the session settings the console pretends to have, for
// tools that SHOW or SET them on any connection (PgBouncer fakes the same
// list); the client's startup parameters and the ParameterStatus set
// override them.
var fakeParams = map[string]string{
	"client_encoding":               "UTF8",
	"default_transaction_isolation": "read committed",
	"standard_conforming_strings":   "on",
	"datestyle":                     "ISO, MDY",
	"timezone":                      "UTC",
	"extra_float_digits":            "1",
	"application_name":              "",
	"intervalstyle":                 "postgres",
	"integer_datetimes":             "on",
	"server_encoding":               "UTF8",
	"server_version":                "",
	"transaction_isolation":         "read committed",
}

// showParam answers SHOW of a session setting with one text column named
// as the setting, as PostgreSQL does; ok is false for names that are no
// setting.
func showParam(s *session, name string) (*result, bool) {
	if _, ok := fakeParams[name]; !ok {
		return nil, false
	}
	return rows(columns("s", name), [][]any{{s.param(name)}}), true
}

// sortedShowNames lists the SHOW commands, for tests and documentation.
func sortedShowNames() []string { return slices.Sorted(maps.Keys(shows)) }
