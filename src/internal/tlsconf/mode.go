package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
)

// Mode is a `tls` setting, as written in odyssey.hcl. Listen blocks use
// Disable, Allow, Require, VerifyCA and VerifyFull; storages all six.
type Mode string

// The modes.
const (
	Disable    Mode = "disable"
	Allow      Mode = "allow"
	Prefer     Mode = "prefer"
	Require    Mode = "require"
	VerifyCA   Mode = "verify_ca"
	VerifyFull Mode = "verify_full"
)

// ALPN is the application protocol name PostgreSQL 17 registers and
// requires for direct TLS negotiation (sslnegotiation=direct). See
// https://www.postgresql.org/docs/17/protocol-flow.html#PROTOCOL-FLOW-SSL
const ALPN = "postgresql"

// Files name PEM files. Relative paths were resolved by the config loader.
type Files struct {
	Cert, Key, CA string
}

// loadPair reads a certificate and its key; both or neither must be given.
func loadPair(f Files) ([]tls.Certificate, error) {
	switch {
	case f.Cert == "" && f.Key == "":
		return nil, nil
	case f.Cert == "" || f.Key == "":
		return nil, fmt.Errorf("tls_cert_file and tls_key_file go together")
	}
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		// LoadX509KeyPair names neither file; its errors never quote key
		// material.
		return nil, fmt.Errorf("load certificate %s and key %s: %w", f.Cert, f.Key, err)
	}
	return []tls.Certificate{pair}, nil
}

// loadCA reads a PEM bundle of CA certificates; "" is no CA.
func loadCA(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// protocolVersions maps PostgreSQL's ssl_min_protocol_version names,
// lowercased, to crypto/tls versions.
var protocolVersions = map[string]uint16{
	"tlsv1":   tls.VersionTLS10,
	"tlsv1.1": tls.VersionTLS11,
	"tlsv1.2": tls.VersionTLS12,
	"tlsv1.3": tls.VersionTLS13,
}

// ParseProtocols reads tls_protocols: PostgreSQL's protocol names (TLSv1,
// TLSv1.1, TLSv1.2, TLSv1.3; case-insensitive), one or a list separated by
// commas, colons or spaces. It returns the lowest and highest version
// named; a single name allows that version only. A list must not skip a
// version: crypto/tls can only bound the range. "" is 0, 0: crypto/tls's
// defaults (TLS 1.2 and 1.3, as PostgreSQL's own defaults).
func ParseProtocols(s string) (minVersion, maxVersion uint16, err error) {
	names := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ':' || r == ' ' || r == '\t' })
	seen := map[uint16]bool{}
	for _, n := range names {
		v, ok := protocolVersions[strings.ToLower(n)]
		if !ok {
			return 0, 0, fmt.Errorf("tls_protocols: unknown protocol %q (known: TLSv1, TLSv1.1, TLSv1.2, TLSv1.3)", n)
		}
		seen[v] = true
		if minVersion == 0 || v < minVersion {
			minVersion = v
		}
		if v > maxVersion {
			maxVersion = v
		}
	}
	for v := minVersion; v != 0 && v < maxVersion; v++ {
		if !seen[v] {
			return 0, 0, fmt.Errorf("tls_protocols %q skips %s: only a contiguous range of versions can be allowed", s, tls.VersionName(v))
		}
	}
	return minVersion, maxVersion, nil
}

// Describe is a connection's TLS in PgBouncer's `tls` column format,
// "TLSv1.3/TLS_AES_256_GCM_SHA384/ECDH=X25519". Cipher suites have their
// IANA names (the same as OpenSSL's for TLS 1.3) and groups OpenSSL's.
func Describe(cs tls.ConnectionState) string {
	v := tls.VersionName(cs.Version) // "TLS 1.3"
	if rest, ok := strings.CutPrefix(v, "TLS "); ok {
		v = "TLSv" + rest
	}
	s := v + "/" + tls.CipherSuiteName(cs.CipherSuite)
	if cs.CurveID != 0 {
		s += "/ECDH=" + curveName(cs.CurveID)
	}
	return s
}

func curveName(id tls.CurveID) string {
	switch id {
	case tls.CurveP256:
		return "prime256v1"
	case tls.CurveP384:
		return "secp384r1"
	case tls.CurveP521:
		return "secp521r1"
	}
	return id.String() // X25519, X25519MLKEM768
}

// IsHandshake reports whether the first bytes a client sent start a TLS
// handshake record (content type 22, RFC 8446 section 5.1): a client doing
// direct TLS negotiation. No startup packet can start so, since its length
// word would exceed PostgreSQL's startup packet limit.
func IsHandshake(prefix []byte) bool {
	return len(prefix) > 0 && prefix[0] == 0x16
}
