package tlsconf

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/odyssey-go/odyssey/integration/testcert"
	"github.com/odyssey-go/odyssey/src/internal/wire"
)

// fixture is a CA with a server certificate for pg.test, a client
// certificate, and another CA with its own client certificate, on disk.
type fixture struct {
	dir                   string
	ca, other             *testcert.CA
	caFile, otherFile     string
	server, client, alien *testcert.Pair
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir()}
	var err error
	must := func(e error) {
		t.Helper()
		if e != nil {
			t.Fatal(e)
		}
	}
	f.ca, err = testcert.NewCA("tlsconf test CA")
	must(err)
	f.other, err = testcert.NewCA("another CA")
	must(err)
	f.caFile, err = f.ca.WriteCA(f.dir, "ca.crt")
	must(err)
	f.otherFile, err = f.other.WriteCA(f.dir, "other.crt")
	must(err)
	f.server, err = f.ca.Server("pg.test")
	must(err)
	must(f.server.Write(f.dir, "server"))
	f.client, err = f.ca.Client("alice")
	must(err)
	must(f.client.Write(f.dir, "client"))
	f.alien, err = f.other.Client("alice")
	must(err)
	must(f.alien.Write(f.dir, "alien"))
	return f
}

func TestParseProtocols(t *testing.T) {
	tests := []struct {
		in       string
		min, max uint16
		err      string
	}{
		{"", 0, 0, ""},
		{"TLSv1.2", tls.VersionTLS12, tls.VersionTLS12, ""},
		{"tlsv1.3", tls.VersionTLS13, tls.VersionTLS13, ""},
		{"TLSv1.3, tlsv1.2", tls.VersionTLS12, tls.VersionTLS13, ""},
		{"TLSv1:TLSv1.1 TLSv1.2", tls.VersionTLS10, tls.VersionTLS12, ""},
		{"TLSv1.1,TLSv1.3", 0, 0, "skips TLS 1.2"},
		{"SSLv3", 0, 0, `unknown protocol "SSLv3"`},
		{"tlsv1_2", 0, 0, "unknown protocol"},
	}
	for _, tt := range tests {
		minV, maxV, err := ParseProtocols(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseProtocols(%q): error %v, want one with %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || minV != tt.min || maxV != tt.max {
			t.Errorf("ParseProtocols(%q) = %x, %x, %v; want %x, %x", tt.in, minV, maxV, err, tt.min, tt.max)
		}
	}
}

func TestNewServer(t *testing.T) {
	f := newFixture(t)
	pair := Files{Cert: f.server.CertFile, Key: f.server.KeyFile}
	withCA := Files{Cert: f.server.CertFile, Key: f.server.KeyFile, CA: f.caFile}
	tests := []struct {
		name       string
		mode       Mode
		files      Files
		protocols  string
		clientAuth tls.ClientAuthType
		required   bool
		certNeeded bool
		err        string
	}{
		{"disable", Disable, Files{}, "", 0, false, false, ""},
		{"allow without CA", Allow, pair, "", tls.NoClientCert, false, false, ""},
		{"require with CA asks for a certificate", Require, withCA, "", tls.VerifyClientCertIfGiven, true, false, ""},
		{"verify_ca", VerifyCA, withCA, "TLSv1.3", tls.VerifyClientCertIfGiven, true, true, ""},
		{"verify_full", VerifyFull, withCA, "", tls.VerifyClientCertIfGiven, true, true, ""},
		{"verify_ca without CA", VerifyCA, pair, "", 0, false, false, "needs tls_ca_file"},
		{"no key", Require, Files{Cert: f.server.CertFile}, "", 0, false, false, "needs tls_cert_file and tls_key_file"},
		{"missing key file", Require, Files{Cert: f.server.CertFile, Key: filepath.Join(f.dir, "nope.key")}, "", 0, false, false, "nope.key"},
		{"key of another certificate", Require, Files{Cert: f.server.CertFile, Key: f.client.KeyFile}, "", 0, false, false, "private key does not match"},
		{"CA file without certificates", Require, Files{Cert: f.server.CertFile, Key: f.server.KeyFile, CA: f.server.KeyFile}, "", 0, false, false, "holds no PEM certificate"},
		{"bad protocols", Require, pair, "TLSv2", 0, false, false, "unknown protocol"},
		{"prefer is no listen mode", Prefer, pair, "", 0, false, false, "not a listen mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewServer(tt.mode, tt.files, tt.protocols)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Required() != tt.required || s.ClientCertRequired() != tt.certNeeded {
				t.Errorf("Required %v ClientCertRequired %v, want %v %v", s.Required(), s.ClientCertRequired(), tt.required, tt.certNeeded)
			}
			if tt.mode == Disable {
				if s.Enabled() || s.Config != nil {
					t.Error("disable has a TLS config")
				}
				return
			}
			if s.Config.ClientAuth != tt.clientAuth {
				t.Errorf("ClientAuth %v, want %v", s.Config.ClientAuth, tt.clientAuth)
			}
			if len(s.Config.NextProtos) != 1 || s.Config.NextProtos[0] != ALPN {
				t.Errorf("NextProtos %v", s.Config.NextProtos)
			}
		})
	}
	var nilServer *Server
	if nilServer.Enabled() || nilServer.Required() {
		t.Error("a nil Server is not disable")
	}
}

// handshake runs client against server over loopback TCP (a net.Pipe has
// no buffer: both sides' writes of an aborted handshake would block) and
// returns the client's and the server's errors.
func handshake(t *testing.T, client, server *tls.Config) (tls.ConnectionState, error, error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	deadline := time.Now().Add(10 * time.Second)
	_ = a.SetDeadline(deadline)
	_ = b.SetDeadline(deadline)
	srvErr := make(chan error, 1)
	go func() {
		s := tls.Server(b, server)
		err := s.Handshake()
		if err == nil {
			// TLS 1.3: the client learns of a refused client
			// certificate only when it reads.
			_, err = s.Write([]byte{1})
		}
		if err != nil {
			b.Close()
		}
		srvErr <- err
	}()
	c := tls.Client(a, client)
	err = c.Handshake()
	if err == nil {
		var one [1]byte
		_, err = c.Read(one[:])
	}
	cs := c.ConnectionState()
	a.Close()
	return cs, err, <-srvErr
}

func serverConfig(t *testing.T, f *fixture, clientAuth tls.ClientAuthType) *tls.Config {
	cert, err := f.server.TLS()
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: clientAuth, ClientCAs: f.ca.Pool, NextProtos: []string{ALPN}}
}

// TestClientModes: libpq's table of sslmode against a server whose
// certificate CA signed for pg.test.
func TestClientModes(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		mode Mode
		ca   string
		host string
		ok   bool
	}{
		{"require without CA trusts anything", Require, "", "pg.test", true},
		{"prefer without CA trusts anything", Prefer, "", "127.0.0.1", true},
		{"require with the CA", Require, "ca", "127.0.0.1", true},
		{"require with another CA fails like verify_ca", Require, "other", "pg.test", false},
		{"allow with another CA", Allow, "other", "pg.test", false},
		{"verify_ca ignores the host name", VerifyCA, "ca", "127.0.0.1", true},
		{"verify_ca with another CA", VerifyCA, "other", "pg.test", false},
		{"verify_full with the right name", VerifyFull, "ca", "pg.test", true},
		{"verify_full with a wrong name", VerifyFull, "ca", "127.0.0.1", false},
		{"verify_full with another CA", VerifyFull, "other", "pg.test", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := Files{}
			switch tt.ca {
			case "ca":
				files.CA = f.caFile
			case "other":
				files.CA = f.otherFile
			}
			c, err := NewClient(tt.mode, files)
			if err != nil {
				t.Fatal(err)
			}
			if c.Mode() != tt.mode {
				t.Errorf("Mode %q", c.Mode())
			}
			cs, err, _ := handshake(t, c.Config(tt.host), serverConfig(t, f, tls.NoClientCert))
			if tt.ok && err != nil {
				t.Fatalf("handshake failed: %v", err)
			}
			if !tt.ok && err == nil {
				t.Fatal("handshake succeeded")
			}
			if tt.ok && cs.NegotiatedProtocol != ALPN {
				t.Errorf("ALPN %q, want %q", cs.NegotiatedProtocol, ALPN)
			}
		})
	}
}

func TestClientErrors(t *testing.T) {
	f := newFixture(t)
	if _, err := NewClient(VerifyCA, Files{}); err == nil || !strings.Contains(err.Error(), "needs tls_ca_file") {
		t.Errorf("verify_ca without a CA: %v", err)
	}
	if _, err := NewClient(Require, Files{Cert: f.client.CertFile}); err == nil || !strings.Contains(err.Error(), "go together") {
		t.Errorf("certificate without key: %v", err)
	}
	if _, err := NewClient(Require, Files{CA: filepath.Join(f.dir, "missing.crt")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing CA file: %v", err)
	}
	if _, err := NewClient("on", Files{}); err == nil {
		t.Error("unknown mode accepted")
	}
	c, err := NewClient(Disable, Files{})
	if err != nil || c.Config("h") != nil {
		t.Errorf("disable: %v, config %v", err, c.Config("h"))
	}
	var nilClient *Client
	if nilClient.Mode() != Disable || nilClient.Config("h") != nil {
		t.Error("a nil Client is not disable")
	}
}

// TestClientCertificate: the storage's certificate is presented, and a
// server that requires one from its CA refuses another CA's.
func TestClientCertificate(t *testing.T) {
	f := newFixture(t)
	srv := serverConfig(t, f, tls.RequireAndVerifyClientCert)
	for _, tt := range []struct {
		name  string
		files Files
		ok    bool
	}{
		{"signed by the server's CA", Files{Cert: f.client.CertFile, Key: f.client.KeyFile}, true},
		{"signed by another CA", Files{Cert: f.alien.CertFile, Key: f.alien.KeyFile}, false},
		{"none", Files{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(Require, tt.files)
			if err != nil {
				t.Fatal(err)
			}
			_, cerr, serr := handshake(t, c.Config("pg.test"), srv)
			if tt.ok != (serr == nil) || tt.ok != (cerr == nil) {
				t.Fatalf("client error %v, server error %v; want success %v", cerr, serr, tt.ok)
			}
		})
	}
}

// TestAdopt: a Client that adopts another's files uses them for the next
// connection; its mode stays.
func TestAdopt(t *testing.T) {
	f := newFixture(t)
	c, err := NewClient(VerifyCA, Files{CA: f.otherFile})
	if err != nil {
		t.Fatal(err)
	}
	srv := serverConfig(t, f, tls.NoClientCert)
	if _, err, _ := handshake(t, c.Config("pg.test"), srv); err == nil {
		t.Fatal("verified against the wrong CA")
	}
	next, err := NewClient(VerifyCA, Files{CA: f.caFile})
	if err != nil {
		t.Fatal(err)
	}
	c.Adopt(next)
	if _, err, _ := handshake(t, c.Config("pg.test"), srv); err != nil {
		t.Fatalf("after Adopt: %v", err)
	}
	other, err := NewClient(Require, Files{})
	if err != nil {
		t.Fatal(err)
	}
	c.Adopt(other) // another mode: ignored
	foreign, err := f.other.Server("pg.test")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := foreign.TLS()
	if err != nil {
		t.Fatal(err)
	}
	if _, err, _ := handshake(t, c.Config("pg.test"), &tls.Config{Certificates: []tls.Certificate{cert}}); c.Mode() != VerifyCA || err == nil {
		t.Errorf("Adopt of a require client changed the verify_ca one: mode %q, handshake error %v", c.Mode(), err)
	}
}

func TestDescribe(t *testing.T) {
	f := newFixture(t)
	c, err := NewClient(Require, Files{})
	if err != nil {
		t.Fatal(err)
	}
	cs, err, _ := handshake(t, c.Config("pg.test"), serverConfig(t, f, tls.NoClientCert))
	if err != nil {
		t.Fatal(err)
	}
	if got := Describe(cs); !regexp.MustCompile(`^TLSv1\.3/TLS_[A-Z0-9_]+/ECDH=[A-Za-z0-9]+$`).MatchString(got) {
		t.Errorf("Describe = %q, want PgBouncer's TLSv1.3/<cipher>/ECDH=<group>", got)
	}
	cs = tls.ConnectionState{Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, CurveID: tls.CurveP256}
	if got, want := Describe(cs), "TLSv1.2/TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256/ECDH=prime256v1"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
}

// FuzzIsHandshake: whatever the first bytes, IsHandshake answers, and
// what it takes for TLS can never be a startup packet, whose length word
// is bounded.
func FuzzIsHandshake(f *testing.F) {
	f.Add([]byte{0x16, 0x03, 0x01, 0x02, 0x00})                     // ClientHello record
	f.Add([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f})               // SSLRequest
	f.Add([]byte{0, 0, 0, 0x29, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0}) // StartupMessage
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if !IsHandshake(b) {
			return
		}
		if len(b) >= 4 && binary.BigEndian.Uint32(b) <= wire.MaxStartupPacketLen {
			t.Fatalf("% x: taken for TLS, but a valid startup packet length", b)
		}
		if b[0] != 0x16 {
			t.Fatalf("% x: taken for TLS without the handshake content type", b)
		}
	})
}
