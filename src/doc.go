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
//	relay         the hot path between one client and its server
//	pool          servers of one route and endpoint: LIFO idle, FIFO waiters
//	backend       one PostgreSQL connection: dial, login, small queries
//	internal/wire frames: header-only reading, buffered writing
//
// config, client, pgerr and log are leaves used by the layers above. The
// console/ and sqlparse/ trees at the top level import nothing from here.
//
// # A client's life
//
//  1. instance accepts and starts frontend(): startup packets are read with
//     wire (SSLRequest and GSSENCRequest are declined, a CancelRequest is
//     looked up by its pooler-issued key and forwarded by the relay that
//     owns it, never straight to a server).
//  2. route.Router.Match picks the rule in Odyssey's order and the route for
//     the (database, user) asked for; client_max is counted.
//  3. The rule's authentication runs.
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
