package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
)

// Client is a storage's TLS setup for its server connections. It is safe
// for concurrent use. A nil *Client is Disable.
type Client struct {
	mode Mode
	cur  atomic.Pointer[tls.Config] // ServerName unset; see Config
}

// NewClient reads a storage's files. f.CA is the root certificate file
// (libpq's sslrootcert), f.Cert and f.Key the client certificate (sslcert,
// sslkey), sent in every mode that encrypts when given.
//
// As libpq: without a CA file, allow, prefer and require encrypt without
// verifying anything, and verify_ca is an error; with one, allow, prefer,
// require and verify_ca verify the chain but not the host name. verify_full
// verifies both, against the CA file or else the system's roots (libpq's
// sslrootcert=system).
func NewClient(mode Mode, f Files) (*Client, error) {
	switch mode {
	case Disable, "":
		return &Client{mode: Disable}, nil
	case Allow, Prefer, Require, VerifyCA, VerifyFull:
	default:
		return nil, fmt.Errorf("storage tls %q: not a storage mode", mode)
	}
	certs, err := loadPair(f)
	if err != nil {
		return nil, err
	}
	roots, err := loadCA(f.CA)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: certs, RootCAs: roots, NextProtos: []string{ALPN}}
	switch {
	case mode == VerifyFull:
		// crypto/tls's own verification: chain and host name (ServerName).
	case roots != nil:
		// Chain only: crypto/tls cannot verify without checking the host
		// name, so it verifies nothing and VerifyConnection does the chain.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return verifyChain(cs, roots) }
	case mode == VerifyCA:
		return nil, errors.New("storage tls = \"verify_ca\" needs tls_ca_file")
	default:
		cfg.InsecureSkipVerify = true // libpq: encrypted, not authenticated
	}
	c := &Client{mode: mode}
	c.cur.Store(cfg)
	return c, nil
}

// verifyChain checks the server's certificate chain against roots, without
// a host name: libpq's verify-ca.
func verifyChain(cs tls.ConnectionState, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: the server sent no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
		return fmt.Errorf("tls: verify server certificate: %w", err)
	}
	return nil
}

// Mode is the storage's sslmode.
func (c *Client) Mode() Mode {
	if c == nil {
		return Disable
	}
	return c.mode
}

// Config returns the configuration for one connection to host, the
// endpoint's name or address: it is the server name verify_full checks
// and the SNI sent. Nil for Disable. The caller owns the copy.
func (c *Client) Config(host string) *tls.Config {
	if c.Mode() == Disable {
		return nil
	}
	cfg := c.cur.Load().Clone()
	cfg.ServerName = host
	return cfg
}

// Adopt makes connections made from now on use next's files. A reload
// calls it when a storage's TLS settings are unchanged, so that routes
// keep their pools and still pick up renewed certificates. next must have
// the same mode.
func (c *Client) Adopt(next *Client) {
	if c.Mode() == Disable || next.Mode() != c.mode {
		return
	}
	c.cur.Store(next.cur.Load())
}
