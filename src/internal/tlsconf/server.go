package tlsconf

import (
	"crypto/tls"
	"fmt"
)

// Server is a listen block's TLS setup. It is immutable: a reload builds a
// new one. A nil *Server is Disable.
type Server struct {
	Mode Mode
	// Config is what handshakes use; nil for Disable. Handshakes may share
	// it: crypto/tls does not modify it.
	Config *tls.Config
}

// NewServer reads a listen block's files. protocols is tls_protocols (see
// ParseProtocols).
func NewServer(mode Mode, f Files, protocols string) (*Server, error) {
	switch mode {
	case Disable, "":
		return &Server{Mode: Disable}, nil
	case Allow, Require, VerifyCA, VerifyFull:
	default:
		return nil, fmt.Errorf("listen tls %q: not a listen mode", mode)
	}
	minV, maxV, err := ParseProtocols(protocols)
	if err != nil {
		return nil, err
	}
	if f.Cert == "" || f.Key == "" {
		return nil, fmt.Errorf("listen tls = %q needs tls_cert_file and tls_key_file", mode)
	}
	certs, err := loadPair(f)
	if err != nil {
		return nil, err
	}
	cas, err := loadCA(f.CA)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		Certificates: certs,
		MinVersion:   minV,
		MaxVersion:   maxV,
		NextProtos:   []string{ALPN},
	}
	if cas != nil {
		// Like PostgreSQL with ssl_ca_file: ask for a client certificate
		// and check one that is given. verify_ca and verify_full insist on
		// one after the handshake (Server.ClientCertRequired).
		cfg.ClientCAs = cas
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	} else if mode == VerifyCA || mode == VerifyFull {
		return nil, fmt.Errorf("listen tls = %q verifies client certificates and needs tls_ca_file", mode)
	}
	return &Server{Mode: mode, Config: cfg}, nil
}

// Enabled reports whether SSLRequest is answered 'S' and direct TLS is
// accepted.
func (s *Server) Enabled() bool { return s != nil && s.Mode != Disable && s.Config != nil }

// Required reports whether a client must use TLS (require, verify_ca,
// verify_full): without it the client gets FATAL 28000, as from a
// PostgreSQL whose pg_hba.conf has only hostssl lines.
func (s *Server) Required() bool {
	return s.Enabled() && (s.Mode == Require || s.Mode == VerifyCA || s.Mode == VerifyFull)
}

// ClientCertRequired reports whether a client must present a certificate
// that the CA signed (verify_ca, verify_full), as PostgreSQL's
// clientcert=verify-ca. The certificate's CN is checked against the user
// name by authentication, not here.
func (s *Server) ClientCertRequired() bool {
	return s.Enabled() && (s.Mode == VerifyCA || s.Mode == VerifyFull)
}
