package backend

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"time"
)

// cancelRequestCode is the CancelRequest code, 1234 in the upper 16 bits and
// 5678 in the lower. See
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-CANCELING-REQUESTS
const cancelRequestCode = 80877102

// Cancel asks the server at network/address to cancel what the backend with
// process id pid and secret key is running, on a plaintext connection of
// its own, the way libpq's PQcancel does. It returns once PostgreSQL has
// closed that connection (it has then signalled the backend, if the key
// matched) or ctx ends; PostgreSQL says nothing either way, so a wrong key
// is no error. Give ctx a deadline: an unreachable endpoint is otherwise
// waited for as long as the operating system's connect timeout.
func Cancel(ctx context.Context, network, address string, pid, secret uint32) error {
	return cancel(ctx, network, address, nil, pid, secret)
}

// Cancel cancels what s is running, as the package's Cancel does, over TLS
// with the same settings when s's connection is encrypted: PostgreSQL reads
// a CancelRequest after SSLRequest and the handshake too, and a server
// reachable only through TLS is then reachable for cancels. It may be
// called from any goroutine while s is in use.
func (s *Server) Cancel(ctx context.Context) error {
	return cancel(ctx, s.Network, s.Address, s.tlsConfig, s.PID, s.Secret)
}

func cancel(ctx context.Context, network, address string, tlsConfig *tls.Config, pid, secret uint32) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return fmt.Errorf("cancel request to %s %s: %w", network, address, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if tlsConfig != nil {
		// Never fall back to plaintext: the key would travel in clear.
		yes, err := requestTLS(conn)
		if err == nil && !yes {
			err = errNoTLS
		}
		if err != nil {
			return fmt.Errorf("cancel request to %s %s: %w", network, address, err)
		}
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("cancel request to %s %s: TLS handshake: %w", network, address, err)
		}
		conn = tc
	}
	var b [16]byte
	binary.BigEndian.PutUint32(b[0:], uint32(len(b)))
	binary.BigEndian.PutUint32(b[4:], cancelRequestCode)
	binary.BigEndian.PutUint32(b[8:], pid)
	binary.BigEndian.PutUint32(b[12:], secret)
	if _, err := conn.Write(b[:]); err != nil {
		return fmt.Errorf("cancel request to %s %s: %w", network, address, err)
	}
	var one [1]byte
	_, _ = conn.Read(one[:]) // EOF once the postmaster is done with it
	return nil
}
