// Package backend owns connections to PostgreSQL servers: dialling (TCP or
// unix socket), TLS (SSLRequest with libpq's sslmode semantics, see
// Connect), the startup exchange, authentication (cleartext, md5,
// SCRAM-SHA-256), the ParameterStatus set and BackendKeyData the server
// reports, small pooler-issued queries (SET, ROLLBACK, DISCARD ALL), and
// CancelRequest to a server's endpoint, over TLS when the server's
// connection is encrypted.
//
// Lifecycle of a Server:
//
//  1. Connect dials, negotiates TLS, sends the StartupMessage, answers the
//     authentication request and reads ParameterStatus and BackendKeyData
//     up to the first ReadyForQuery. Everything after the one-byte answer
//     to SSLRequest is read through Server.R (over the TLS connection when
//     there is one), so no byte the server sends is ever stranded in
//     another buffer.
//     PostgreSQL's errors come back as *pgerr.Error with its SQLSTATE;
//     network and protocol failures as wrapped errors.
//  2. While idle in a pool, Alive checks it without blocking, and Exec and
//     Query run the pooler's own statements.
//  3. While attached, the relay reads R and writes W directly, frame by
//     frame; Exec and Query must not be used then.
//  4. Close sends Terminate and closes the socket.
//
// A Server is used by one goroutine at a time for reading and one for
// writing; the pool and the relay hand it over on attach and detach. Close
// is the exception: any goroutine may call it at any time.
//
// Passwords go into the authentication exchange only, never into errors or
// logs.
package backend
