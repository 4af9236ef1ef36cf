// Package backend owns connections to PostgreSQL servers: dialling (TCP or
// unix socket), the startup exchange, authentication (cleartext, md5,
// SCRAM-SHA-256), the ParameterStatus set and BackendKeyData the server
// reports, small pooler-issued queries (SET, ROLLBACK, DISCARD ALL), and
// CancelRequest to a server's endpoint.
//
// A Server is used by one goroutine at a time for reading and one for
// writing; the pool and the relay hand it over on attach and detach.
package backend
