// Package relay is the hot path: it moves protocol frames between one client
// and whichever server it is attached to, and decides when that server can go
// back to the pool.
//
// # Goroutines
//
// A Session is driven by two goroutines. The client goroutine (Run) reads
// frames from the client and writes them to the attached server, attaching
// one first when there is none. While a server is attached, a server
// goroutine reads its frames and writes them to the client. Each goroutine
// writes straight to the socket it forwards to; they hand over work only on
// attach and detach, never per message. Both directions run at once, so
// pipelined clients and COPY cannot deadlock. The server goroutine is a
// reused worker (workers.go), not one started per attach. Between
// transactions a client holds no read or write buffer (idle.go), and a
// session started with Go moves its client goroutine to a new one with a
// small stack when asked after a while idle (shed.go).
//
// Ownership: the client reader belongs to the client goroutine. The client
// writer belongs to the server goroutine while a server is attached and to
// the client goroutine otherwise. A server's reader belongs to its server
// goroutine; its writer to the client goroutine, until the client has gone,
// when the server goroutine takes it over to clean the server up.
// Session.mu guards the small shared state below; no I/O happens under it.
//
// # Release point
//
// The server is released (transaction and statement modes) at a
// ReadyForQuery with status 'I' when every request that expects a
// ReadyForQuery (Query, Sync, FunctionCall) has had one, no extended-protocol
// batch is open (messages since the last Sync) and no COPY is in progress.
// Syncs that PostgreSQL ignores during COPY FROM STDIN are not counted. See
// https://www.postgresql.org/docs/current/protocol-flow.html.
//
// # Clients that leave
//
// When the client disconnects, a running query is cancelled (pool_cancel),
// an open extended batch is closed with Sync, a COPY is failed, an open
// transaction is rolled back (pool_rollback), and the server is released only
// once it reports ReadyForQuery 'I' with nothing outstanding. Nothing is
// sent to the server until the cancel request is done: PostgreSQL signals
// the backend twice, and a late signal would cancel the rollback or reset.
// Anything else, or no answer within cleanupTimeout, closes the server.
//
// # Traffic figures and client state
//
// Each session counts its route's figures (queries, transactions, bytes,
// times, parses, binds; stats.go has the exact meanings) in a batch of its
// own and flushes it to Options.Stats at most once per transaction, never
// per message. Info reports the client's state for SHOW CLIENTS from a few
// atomics, and backend.Server.Client names the client a server is linked
// to (attached, or pinned between transactions).
//
// # Session settings
//
// A client's settings (startup parameters and what it SETs) are replayed on
// each server it is attached to, as SET/RESET statements for the differences
// only. When a client's query may have changed settings (it starts a
// statement with SET, RESET or DISCARD, or calls set_config), the pooler reads
// the server's session-level settings back from pg_settings before releasing
// it, so both sides know the truth.
package relay
