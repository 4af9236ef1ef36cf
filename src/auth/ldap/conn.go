package ldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/odyssey-go/odyssey/src/config"
)

// conn is one connection to a directory server, used by one goroutine for
// one attempt.
type conn struct {
	ctx  context.Context
	addr string // host:port, for errors
	raw  net.Conn
	ldap *goldap.Conn
	stop func() bool // stops the context.AfterFunc that interrupts raw
}

// connect dials the servers of ep in order (PostgreSQL's ldapserver is a
// space-separated list) and returns the first connection that is ready for
// a bind: connected, and with TLS when ep asks for it.
func connect(ctx context.Context, ep *config.LDAPEndpoint, tlsConfig *tls.Config) (*conn, error) {
	hosts := strings.Fields(ep.Server)
	if len(hosts) == 0 {
		return nil, fmt.Errorf("ldap_endpoint %q has no ldapserver", ep.Name)
	}
	port := ep.Port
	if port == 0 {
		port = 389
		if ep.Scheme == "ldaps" {
			port = 636
		}
	}
	var errs []error
	for _, host := range hosts {
		c, err := dial(ctx, ep, tlsConfig, host, port)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func dial(ctx context.Context, ep *config.LDAPEndpoint, tlsConfig *tls.Config, host string, port int) (*conn, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ldap: %w", err)
	}
	c := &conn{ctx: ctx, addr: addr, raw: raw}
	// go-ldap's requests take no context. A socket deadline bounds them
	// instead: reads and writes past it fail, go-ldap closes the
	// connection and fails the pending request.
	if deadline, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(deadline)
	}
	c.stop = context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })

	ldaps := ep.Scheme == "ldaps"
	var nc net.Conn = raw
	if ldaps {
		tc := tls.Client(raw, clientTLS(tlsConfig, host))
		if err := tc.HandshakeContext(ctx); err != nil {
			c.stop()
			_ = raw.Close()
			return nil, c.fail("TLS handshake", err)
		}
		nc = tc
	}
	c.ldap = goldap.NewConn(nc, ldaps)
	c.ldap.Start()
	if ep.TLS {
		if err := c.ldap.StartTLS(clientTLS(tlsConfig, host)); err != nil {
			c.close()
			return nil, c.fail("StartTLS", err)
		}
	}
	return c, nil
}

// clientTLS returns a copy of base (or a default) that verifies host.
func clientTLS(base *tls.Config, host string) *tls.Config {
	cfg := &tls.Config{}
	if base != nil {
		cfg = base.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg
}

// close unbinds (RFC 4511 §4.3) and closes the connection.
func (c *conn) close() {
	_ = c.ldap.Unbind() // closes the connection too, except when it is already closing
	_ = c.ldap.Close()
	c.stop()
}

// ctxErr is the context's error, or DeadlineExceeded once the deadline has
// passed: the socket deadline can fire before the context's own timer.
func (c *conn) ctxErr() error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	if deadline, ok := c.ctx.Deadline(); ok && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// fail describes a failure of op; when the context had ended, that is the
// cause the error wraps.
func (c *conn) fail(op string, err error) error {
	if ctxErr := c.ctxErr(); ctxErr != nil {
		return fmt.Errorf("ldap %s: %s: %w (%v)", c.addr, op, ctxErr, err)
	}
	return fmt.Errorf("ldap %s: %s: %w", c.addr, op, err)
}

// timeLimit is the search time limit to send the server (RFC 4511
// §4.5.1.5): the seconds left until the context's deadline, rounded up;
// 0 (none) without a deadline.
func (c *conn) timeLimit() int {
	deadline, ok := c.ctx.Deadline()
	if !ok {
		return 0
	}
	return max(1, int(math.Ceil(time.Until(deadline).Seconds())))
}
