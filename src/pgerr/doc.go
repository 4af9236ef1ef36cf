// Package pgerr is the one error type the pooler shows to clients: a
// PostgreSQL ErrorResponse with a SQLSTATE
// (https://www.postgresql.org/docs/current/errcodes-appendix.html).
// Errors that come from PostgreSQL itself are forwarded as raw frames and
// never pass through here, except when the pooler must report them on a
// connection of its own (a failed server login with client_fwd_error).
package pgerr
