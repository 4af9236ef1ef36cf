package backend

import (
	"bufio"
	"crypto/tls"
	"net"
	"sync/atomic"
	"time"

	"github.com/odyssey-go/odyssey/src/internal/scram"
	"github.com/odyssey-go/odyssey/src/internal/tlsconf"
	"github.com/odyssey-go/odyssey/src/internal/wire"
)

// Options say where and as whom to connect.
type Options struct {
	Network  string // "tcp" or "unix"
	Address  string // "host:port", or the socket path "/dir/.s.PGSQL.5432"
	Database string
	User     string
	// Password is for cleartext, md5 and SCRAM-SHA-256 logins; it may be
	// PostgreSQL's stored md5 hash ("md5" + 32 hex digits), which is enough
	// for md5. Never logged.
	Password string
	// SCRAM logs in with a ClientKey learned from a client (SCRAM
	// pass-through) when there is no Password.
	SCRAM *scram.Keys
	// Params are extra startup parameters (for example application_name).
	Params         map[string]string
	ConnectTimeout time.Duration // 0: no timeout besides ctx
	// TLS is the storage's sslmode and files; nil is disable. It is
	// ignored for unix sockets, as libpq ignores sslmode there.
	TLS *tlsconf.Client
}

// Server is one connection to PostgreSQL after a successful login.
//
// R is read only by the goroutine that currently reads the server (the relay's
// server side while attached, the pool otherwise); W is written only by the
// goroutine that currently forwards to the server. Neither is locked.
type Server struct {
	ID       uint64 // pooler-assigned, unique in the process
	Network  string
	Address  string
	PID      uint32 // from BackendKeyData
	Secret   uint32 // from BackendKeyData
	R        *wire.Reader
	W        *bufio.Writer
	Conn     net.Conn
	Created  time.Time
	Released time.Time // last time it went idle in a pool
	TxStatus byte      // last ReadyForQuery status: 'I', 'T' or 'E'
	// Client is the id of the client the server is attached to, 0 when
	// none: set by the relay, read by the console (SHOW SERVERS' link).
	Client atomic.Uint64
	// TLS describes the connection's encryption in PgBouncer's format,
	// "TLSv1.3/TLS_AES_256_GCM_SHA384/ECDH=X25519"; "" for plaintext.
	TLS string

	// Params holds the ParameterStatus values the server reported, updated by
	// whoever reads R.
	Params map[string]string
	// Vars holds the session settings the pooler knows were changed on this
	// server since login (name → value), so that a client can be attached
	// with only the SETs that differ. See relay.
	Vars map[string]string
	// Prepared holds the names of the pooler-named prepared statements
	// (relay's "odyssey_..." names) the server has, as far as the pooler
	// knows. Guarded by the session the server is attached to.
	Prepared map[string]struct{}

	probe *probe // Alive's cached raw connection
	// raw is the socket under Conn: Conn itself, or what the *tls.Conn
	// wraps.
	raw net.Conn
	// tlsConfig is what the connection was encrypted with (nil for
	// plaintext), for Cancel.
	tlsConfig *tls.Config
}
