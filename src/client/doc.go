// Package client holds what the pooler knows about one client connection:
// its startup packet (user, database, parameters), the session settings it
// expects on whatever server it is attached to, and its pooler-issued cancel
// key.
//
// Startup packet layout follows
// https://www.postgresql.org/docs/current/protocol-message-formats.html
// (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest).
package client
