// Package pool keeps the server connections of one route and one storage
// endpoint, as Odyssey's od_server_pool does.
//
// A client takes a server with Acquire and gives it back with Release when
// the server is clean (ReadyForQuery 'I', nothing outstanding) or with
// Discard when it is broken or its state is unknown. Between the two the
// caller owns the server exclusively.
//
// Policy:
//
//   - Idle servers are reused most recently released first (LIFO). The set
//     of servers in use stays small, their caches stay warm, and the server
//     a client had last time is usually the one it gets, so the relay seldom
//     has to send SETs to make the server's settings the client's.
//   - An idle server is probed with backend.Server.Alive before it is handed
//     out; a dead one, or one past pool_ttl or server_lifetime, is closed and
//     the next one tried.
//   - At Size (pool_size) clients wait in arrival order (FIFO). A released
//     server goes straight to the first waiter; a freed slot (Discard, a
//     failed dial, a larger Size) lets the first waiter dial. A waiter gives
//     up after Timeout (pool_timeout) with SQLSTATE 53300, or when its
//     context ends.
//   - One goroutine per pool, started by New and stopped by Close, closes
//     servers idle longer than TTL or older than Lifetime and dials up to
//     MinSize (min_pool_size). Idle expiry never goes below MinSize, so warm
//     servers are not closed and redialled in a loop.
//
// Control, for the admin console (control.go), with PgBouncer's semantics
// (https://www.pgbouncer.org/usage.html):
//
//   - Pause (PAUSE) closes idle servers, closes servers as they are
//     released, queues every Acquire without pool_timeout running out, and
//     waits until no server is left; Resume lets the queue go on.
//   - Reconnect (RECONNECT) marks every server close_needed: idle ones
//     close now, the others when released. WaitClose (WAIT_CLOSE) waits
//     until none is left.
//   - Kill (KILL) closes every server at once, in use or not, and pauses.
//   - Servers lists every server the pool owns (SHOW SERVERS) from a
//     registry that changes only when a dial succeeds or a server closes,
//     so Acquire and Release of an idle server stay allocation-free.
//
// Login answers (hellos.go): the pool remembers, per set of client
// settings, the ParameterStatus set a login got from one of its servers, so
// that the relay can log clients in without a server; it forgets them all
// whenever it dials a server, and when the relay saw a server report a
// change nobody asked for (ForgetParams).
//
// Concurrency: a Pool is safe for concurrent use. Its mutex guards only the
// bookkeeping; dialling, closing and the liveness probe happen outside it,
// so one slow PostgreSQL never stalls clients that find an idle server.
//
// Counting: every server the pool is responsible for holds a slot, from the
// moment its dial starts until it is closed, so the number of connections
// to PostgreSQL never exceeds Size (except transiently after SetOptions
// shrinks the pool: servers in use above the new size are closed when they
// come back).
package pool
