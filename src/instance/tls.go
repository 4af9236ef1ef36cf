package instance

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"

	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/internal/sockio"
	"github.com/odyssey-go/odyssey/src/internal/tlsconf"
	"github.com/odyssey-go/odyssey/src/log"
	"github.com/odyssey-go/odyssey/src/pgerr"
	"github.com/sirupsen/logrus"
)

// listenTLS holds one listen block's TLS setup. Handshakes load it once
// each, without a lock; Reload stores a new one, so that new handshakes use
// the new files while established sessions carry on.
type listenTLS = atomic.Pointer[tlsconf.Server]

// loadListenTLS reads the TLS files of every listen block of cfg, in order.
func loadListenTLS(cfg *config.Config) ([]*tlsconf.Server, error) {
	out := make([]*tlsconf.Server, len(cfg.Listen))
	for k, ln := range cfg.Listen {
		s, err := tlsconf.NewServer(tlsconf.Mode(ln.TLS), tlsconf.Files{Cert: ln.TLSCertFile, Key: ln.TLSKeyFile, CA: ln.TLSCAFile}, ln.TLSProtocols)
		if err != nil {
			return nil, fmt.Errorf("listen block at %s: %w", ln.Range, err)
		}
		out[k] = s
	}
	return out, nil
}

// tlsFor returns the TLS setup in force for the listen block ln serves;
// nil (disable) for a block the instance does not serve.
func (i *Instance) tlsFor(ln *config.Listen) *tlsconf.Server {
	if h := i.served[ln]; h != nil {
		return h.Load()
	}
	return nil
}

// directTLS reports whether the client's first byte starts a TLS
// handshake: PostgreSQL 17's direct negotiation (sslnegotiation=direct).
// It peeks at the socket (recv with MSG_PEEK) under the connection's
// deadline, so nothing is consumed and the startup reader, or the TLS
// handshake, reads the same bytes. Connections that are not sockets are
// reported as not direct.
func directTLS(conn net.Conn) (bool, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false, nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false, err
	}
	var b [1]byte
	var n int
	var errno syscall.Errno
	err = raw.Read(func(fd uintptr) bool {
		n, errno = sockio.Peek(fd, b[:])
		return errno != syscall.EAGAIN // EAGAIN: wait until readable
	})
	switch {
	case err != nil:
		return false, err
	case errno != 0:
		return false, errno
	case n == 0:
		return false, io.EOF
	}
	return tlsconf.IsHandshake(b[:n]), nil
}

// handshake runs the server side of TLS on conn. Failures (no common
// protocol, a client certificate the CA did not sign, ...) are logged here:
// the client cannot be told in an ErrorResponse.
func handshake(ctx context.Context, conn net.Conn, sec *tlsconf.Server) (*tls.Conn, error) {
	tc := tls.Server(conn, sec.Config)
	if err := tc.HandshakeContext(ctx); err != nil {
		log.G(ctx).WithError(err).Info("TLS handshake failed")
		return nil, err
	}
	if log.Enabled(logrus.DebugLevel) {
		log.G(ctx).WithField("tls", tlsconf.Describe(tc.ConnectionState())).Debug("TLS established")
	}
	return tc, nil
}

// checkTLS applies the listen block's demands to a client that sent its
// StartupMessage, with PostgreSQL's SQLSTATE for a connection that its
// pg_hba.conf does not allow (28000): TLS for require and the verify
// modes, and a client certificate for the verify modes (PostgreSQL's
// clientcert=verify-ca, checked after the handshake so that the client
// reads an ErrorResponse rather than a TLS alert).
func checkTLS(sec *tlsconf.Server, conn net.Conn, encrypted bool) error {
	if sec.Required() && !encrypted {
		return pgerr.Fatalf(pgerr.InvalidAuthSpec, "SSL is required").
			WithDetail("This listen block has tls = %q: connect with sslmode=require or stronger.", sec.Mode)
	}
	if sec.ClientCertRequired() {
		tc, ok := conn.(*tls.Conn)
		if !ok || len(tc.ConnectionState().PeerCertificates) == 0 {
			return pgerr.Fatalf(pgerr.InvalidAuthSpec, "connection requires a valid client certificate")
		}
	}
	return nil
}
