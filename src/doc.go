// Package src holds Odyssey for Go, a PostgreSQL connection pooler. This
// file is its map; each package's own doc.go says more.
//
// # Layers
//
// Imports point down:
//
//	cmd/odyssey   flags, config file, signals
//	instance      listeners, one frontend goroutine per client, cancel keys,
//	              reload and shutdown
//	route         rules (database/user blocks) → routes, client_max
//	auth          client authentication: hba, methods, secrets, auth_query,
//	              PAM and LDAP (auth/hba, auth/pam, auth/ldap)
//	relay         the hot path between one client and its server
//	pool          servers of one route and endpoint: LIFO idle, FIFO waiters
//	backend       one PostgreSQL connection: dial, login, small queries
//	internal/wire frames: header-only reading, buffered writing
//	internal/sockio socket reads and writes as raw system calls
//	internal/scram SCRAM secrets, the server side, pass-through logins
//
// config, client, pgerr, log and stats (traffic counters, averages,
// latency histograms) are leaves used by the layers above. The console/
// and sqlparse/ trees at the top level import nothing from here: instance
// implements console.Source (source.go, source_live.go, stats.go) over the
// router, pools and client registry, and console.Serve does the talking.
//
// # A client's life
//
//  1. instance accepts and starts frontend(): startup packets are read with
//     wire (TLS comes up after an SSLRequest or directly, as the listen
//     block's tls says, with internal/tlsconf's configuration; GSSENCRequest
//     is declined; a CancelRequest is looked up by its pooler-issued key and
//     forwarded by the relay that owns it, never straight to a server).
//  2. route.Router.Match picks the rule in Odyssey's order and the route for
//     the (database, user) asked for; client_max is counted (a DISABLEd
//     database is refused here).
//  3. auth decides: hba_file, the certificate a verify_full listener
//     demands, then the rule's method. What the login proved that can log
//     the same user in to PostgreSQL (an md5 hash, SCRAM keys, with
//     password_passthrough the password) goes to the route for its
//     servers. A rule on a local storage hands the client to the console
//     here instead of going on.
//  4. relay.Session.Login attaches a server with the client's startup
//     settings applied; its ParameterStatus set and a BackendKeyData (the
//     server's pid in session mode) go to the client. In transaction and
//     statement modes the server goes straight back to the pool.
//  5. relay.Session.Run forwards frames. The client goroutine reads the
//     client and writes the server, attaching one on the first frame of a
//     transaction; a server goroutine forwards the answers and, at the safe
//     point (ReadyForQuery 'I', nothing outstanding, no batch, no COPY),
//     gives the server back: settings the client changed are read back,
//     statements renamed per client are tracked, session state pins.
//  6. When the client leaves, a running query is cancelled, a batch synced,
//     COPY failed, a transaction rolled back and leftover session state
//     discarded; only a server proven clean returns to the pool.
package src
