// Package wire reads and writes PostgreSQL protocol frames without decoding
// them: a frame is a one-byte type, a big-endian int32 length that counts
// itself, and a body (https://www.postgresql.org/docs/current/protocol-overview.html).
//
// The relay uses it to forward frames from one socket to another, looking
// only at the header and, for the few message types it must understand, at
// the first bytes of the body. Nothing here allocates per frame.
package wire
