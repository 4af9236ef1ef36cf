package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/odyssey-go/odyssey/integration/pgtest"
	"github.com/odyssey-go/odyssey/integration/testcert"
	"github.com/odyssey-go/odyssey/src/config"
)

// tlsFiles are the certificates of one TLS test, on disk: a CA, the
// pooler's certificate for 127.0.0.1 and a client certificate for the
// superuser that the CA signed, and another CA with a client certificate
// of its own.
type tlsFiles struct {
	dir                 string
	ca, other           *testcert.CA
	caFile, otherCAFile string
	server              *testcert.Pair
	client, alien       *testcert.Pair
}

func newTLSFiles(t *testing.T) *tlsFiles {
	t.Helper()
	f := &tlsFiles{dir: t.TempDir()}
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var err error
	f.ca, err = testcert.NewCA("odyssey test CA")
	check(err)
	f.other, err = testcert.NewCA("some other CA")
	check(err)
	f.caFile, err = f.ca.WriteCA(f.dir, "ca.crt")
	check(err)
	f.otherCAFile, err = f.other.WriteCA(f.dir, "other-ca.crt")
	check(err)
	f.server, err = f.ca.Server("127.0.0.1")
	check(err)
	check(f.server.Write(f.dir, "pooler"))
	f.client, err = f.ca.Client(superUser)
	check(err)
	check(f.client.Write(f.dir, "client"))
	f.alien, err = f.other.Client(superUser)
	check(err)
	check(f.alien.Write(f.dir, "alien"))
	return f
}

// tlsPooler runs a pooler whose listen block has the given tls settings
// (HCL attributes), in front of the package's PostgreSQL.
func tlsPooler(t *testing.T, role, listenTLS string) *pooler {
	t.Helper()
	serverRole(t, role)
	return startPoolerHCL(t, fmt.Sprintf(`
listen {
  host = "127.0.0.1"
  port = 0
  %s
}
storage "postgres" {
  type = "remote"
  host = "{{pg_host}}"
  port = {{pg_port}}
}
database default {
  user default {
    authentication   = "none"
    storage          = "postgres"
    storage_user     = "%s"
    storage_password = "%s_pw"
    pool             = "session"
    pool_size        = 4
  }
}
`, listenTLS, role, role))
}

// psqlTLS runs the real psql against p with the libpq SSL settings in env
// (PGSSLMODE, PGSSLROOTCERT, PGSSLCERT, PGSSLKEY) and returns its combined
// output: a row from the server, then \conninfo, which names the TLS
// protocol when the connection is encrypted.
func psqlTLS(t *testing.T, p *pooler, env ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pgBin("psql"), "-X", "-w", "-At",
		"-h", p.host, "-p", p.port, "-U", superUser, "-d", "postgres",
		"-c", "SELECT 'psql ok'", "-c", `\conninfo`)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=15", "PGGSSENCMODE=disable",
		// No defaults from ~/.postgresql: only what the case gives.
		"PGSSLCERT=/nonexistent/client.crt", "PGSSLKEY=/nonexistent/client.key", "PGSSLROOTCERT=/nonexistent/root.crt")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestListenTLSWithPsql: each listen tls mode against psql's sslmodes,
// client certificates from the listen block's CA, from another CA, and
// none.
func TestListenTLSWithPsql(t *testing.T) {
	f := newTLSFiles(t)
	files := fmt.Sprintf("tls_cert_file = %q\n  tls_key_file = %q", f.server.CertFile, f.server.KeyFile)
	withCA := files + fmt.Sprintf("\n  tls_ca_file = %q", f.caFile)
	var (
		disable  = []string{"PGSSLMODE=disable"}
		prefer   = []string{"PGSSLMODE=prefer"}
		require  = []string{"PGSSLMODE=require"}
		verifyCA = []string{"PGSSLMODE=verify-ca", "PGSSLROOTCERT=" + f.caFile}
		// The pooler's certificate is for 127.0.0.1, the host psql uses.
		verifyFull = []string{"PGSSLMODE=verify-full", "PGSSLROOTCERT=" + f.caFile}
		wrongRoot  = []string{"PGSSLMODE=verify-ca", "PGSSLROOTCERT=" + f.otherCAFile}
		ownCert    = []string{"PGSSLCERT=" + f.client.CertFile, "PGSSLKEY=" + f.client.KeyFile}
		alienCert  = []string{"PGSSLCERT=" + f.alien.CertFile, "PGSSLKEY=" + f.alien.KeyFile}
	)
	with := func(lists ...[]string) []string {
		var out []string
		for _, l := range lists {
			out = append(out, l...)
		}
		return out
	}
	type attempt struct {
		name string
		env  []string
		tls  bool   // connected, and encrypted
		fail string // psql fails with this in its output
	}
	tests := []struct {
		listen   string
		attempts []attempt
	}{
		{`tls = "disable"`, []attempt{
			{"sslmode disable", disable, false, ""},
			{"sslmode prefer", prefer, false, ""},
			{"sslmode require", require, false, "server does not support SSL"},
		}},
		{`tls = "allow"` + "\n  " + withCA, []attempt{
			{"sslmode disable", disable, false, ""},
			{"sslmode require", require, true, ""},
			{"sslmode verify-full", verifyFull, true, ""},
			{"certificate of the CA", with(require, ownCert), true, ""},
			{"certificate of another CA", with(require, alienCert), false, "alert unknown ca"},
		}},
		{`tls = "require"` + "\n  " + files, []attempt{
			{"sslmode disable", disable, false, "SSL is required"},
			{"sslmode prefer", prefer, true, ""},
			{"sslmode verify-ca", verifyCA, true, ""},
			{"root certificate of another CA", wrongRoot, false, "certificate verify failed"},
		}},
		{`tls = "verify_ca"` + "\n  " + withCA, []attempt{
			{"sslmode disable", disable, false, "SSL is required"},
			{"no certificate", require, false, "connection requires a valid client certificate"},
			{"certificate of the CA", with(require, ownCert), true, ""},
			{"certificate of the CA, verify-full", with(verifyFull, ownCert), true, ""},
			{"certificate of another CA", with(require, alienCert), false, "alert unknown ca"},
		}},
		{`tls = "verify_full"` + "\n  " + withCA, []attempt{
			{"no certificate", verifyFull, false, "connection requires a valid client certificate"},
			{"certificate of the CA for the user", with(verifyFull, ownCert), true, ""},
		}},
	}
	for _, tt := range tests {
		mode, _, _ := strings.Cut(tt.listen, "\n")
		t.Run(strings.Trim(strings.TrimPrefix(mode, "tls = "), `"`), func(t *testing.T) {
			p := tlsPooler(t, "pooled_tls_listen", tt.listen)
			for _, a := range tt.attempts {
				out, err := psqlTLS(t, p, a.env...)
				switch {
				case a.fail != "":
					if err == nil || !strings.Contains(out, a.fail) {
						t.Errorf("%s: psql error %v, output:\n%s\nwant a failure saying %q", a.name, err, out, a.fail)
					}
				case err != nil || !strings.HasPrefix(out, "psql ok\n"):
					t.Errorf("%s: psql error %v, output:\n%s", a.name, err, out)
				case a.tls != strings.Contains(out, "SSL connection (protocol: TLSv1."):
					t.Errorf("%s: encrypted %v, want %v; \\conninfo:\n%s", a.name, !a.tls, a.tls, out)
				}
			}
		})
	}
}

// TestListenTLSRefusals: the SQLSTATEs of refused clients, read with pgx,
// and plaintext sent right after an SSLRequest.
func TestListenTLSRefusals(t *testing.T) {
	f := newTLSFiles(t)
	ctx := testCtx(t)
	p := tlsPooler(t, "pooled_tls_refusals", fmt.Sprintf(`tls = "verify_ca"
  tls_cert_file = %q
  tls_key_file = %q
  tls_ca_file = %q`, f.server.CertFile, f.server.KeyFile, f.caFile))

	_, err := pgconn.Connect(ctx, p.dsn(""))
	wantCode(t, "plaintext client of a verify_ca listen block", err, "28000")
	_, err = pgconn.Connect(ctx, strings.Replace(p.dsn(""), "sslmode=disable", "sslmode=require", 1))
	wantCode(t, "TLS client without a certificate", err, "28000")

	c, err := pgconn.Connect(ctx, strings.Replace(p.dsn(""), "sslmode=disable", "sslmode=require", 1)+
		"&sslcert="+f.client.CertFile+"&sslkey="+f.client.KeyFile)
	if err != nil {
		t.Fatalf("TLS client with a certificate: %v", err)
	}
	defer closeQuietly(c)
	if _, ok := c.Conn().(*tls.Conn); !ok {
		t.Errorf("pgx connection is %T, not TLS", c.Conn())
	}
	if got := one(t, ctx, c, "SELECT 'ok'"); got != "ok" {
		t.Errorf("query over TLS: %q", got)
	}

	// An SSLRequest and a StartupMessage in one write: the StartupMessage
	// would be read as if it had come inside TLS.
	conn := rawConn(t, p.addr)
	pkt := append(startupPacket(sslRequest), startupPacket(protocol30, "user", superUser, "database", "postgres")...)
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	wantFatal(t, "plaintext after SSLRequest", conn, "08P01")
}

// TestDirectTLS: PostgreSQL 17's direct TLS negotiation, a TLS handshake
// with ALPN "postgresql" as the very first bytes, with pgx and with a bare
// crypto/tls client; without ALPN the client is refused.
func TestDirectTLS(t *testing.T) {
	f := newTLSFiles(t)
	ctx := testCtx(t)
	p := tlsPooler(t, "pooled_tls_direct", fmt.Sprintf(`tls = "require"
  tls_cert_file = %q
  tls_key_file = %q`, f.server.CertFile, f.server.KeyFile))

	c, err := pgconn.Connect(ctx, strings.Replace(p.dsn(""), "sslmode=disable", "sslmode=require&sslnegotiation=direct", 1))
	if err != nil {
		t.Fatalf("pgx with sslnegotiation=direct: %v", err)
	}
	defer closeQuietly(c)
	if got := one(t, ctx, c, "SELECT 'direct'"); got != "direct" {
		t.Errorf("query: %q", got)
	}

	dial := func(alpn []string) *tls.Conn {
		t.Helper()
		conn := rawConn(t, p.addr)
		tc := tls.Client(conn, &tls.Config{RootCAs: f.ca.Pool, ServerName: "127.0.0.1", NextProtos: alpn})
		if err := tc.HandshakeContext(ctx); err != nil {
			t.Fatalf("TLS handshake (ALPN %v): %v", alpn, err)
		}
		return tc
	}

	tc := dial([]string{"postgresql"})
	if got := tc.ConnectionState().NegotiatedProtocol; got != "postgresql" {
		t.Errorf("negotiated ALPN %q", got)
	}
	fe := pgproto3.NewFrontend(tc, tc)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters: map[string]string{"user": superUser, "database": "postgres"}})
	fe.Send(&pgproto3.Query{String: "SELECT 'bare tls'"})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var row string
	ready := 0
	for i := 0; i < 100 && ready < 2; i++ { // login's ReadyForQuery, then the query's
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("after %d ReadyForQuery: %v", ready, err)
		}
		switch m := msg.(type) {
		case *pgproto3.ReadyForQuery:
			ready++
		case *pgproto3.DataRow:
			row = string(m.Values[0])
		case *pgproto3.ErrorResponse:
			t.Fatalf("error: %s %s", m.Code, m.Message)
		}
	}
	if ready != 2 || row != "bare tls" {
		t.Errorf("direct TLS session: %d ReadyForQuery, row %q", ready, row)
	}

	noALPN := dial(nil)
	wantFatal(t, "direct TLS without ALPN", noALPN, "08P01")
}

// TestDirectTLSWithoutTLS: a listen block without TLS does not take a TLS
// handshake for anything: the handshake fails.
func TestDirectTLSWithoutTLS(t *testing.T) {
	p := tlsPooler(t, "pooled_tls_direct", `tls = "disable"`)
	conn := rawConn(t, p.addr)
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"postgresql"}})
	if err := tc.HandshakeContext(testCtx(t)); err == nil {
		t.Fatal("TLS handshake succeeded with tls = \"disable\"")
	}
}

// TestListenTLSReload: new certificate files take effect on Reload for new
// connections while an established TLS session carries on; a reload whose
// files cannot be read fails and changes nothing.
func TestListenTLSReload(t *testing.T) {
	f := newTLSFiles(t)
	ctx := testCtx(t)
	first := f.server
	second, err := f.ca.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Write(f.dir, "listen"); err != nil {
		t.Fatal(err)
	}
	serverRole(t, "pooled_tls_reload")
	src := fmt.Sprintf(`
listen {
  host = "127.0.0.1"
  port = 0
  tls = "require"
  tls_cert_file = %q
  tls_key_file = %q
}
storage "postgres" {
  type = "remote"
  host = "{{pg_host}}"
  port = {{pg_port}}
}
database default {
  user default {
    authentication   = "none"
    storage          = "postgres"
    storage_user     = "pooled_tls_reload"
    storage_password = "pooled_tls_reload_pw"
    pool             = "transaction"
    pool_size        = 2
  }
}
`, first.CertFile, first.KeyFile)
	p := startPoolerHCL(t, src)
	reload := func() error {
		cfg, err := config.Parse([]byte(hcl(src)), "test.hcl")
		if err != nil {
			t.Fatal(err)
		}
		return p.inst.Reload(cfg)
	}
	connect := func() (*pgconn.PgConn, *x509.Certificate) {
		t.Helper()
		c, err := pgconn.Connect(ctx, strings.Replace(p.dsn(""), "sslmode=disable", "sslmode=verify-full&sslrootcert="+f.caFile, 1))
		if err != nil {
			t.Fatalf("connect with verify-full: %v", err)
		}
		t.Cleanup(func() { closeQuietly(c) })
		return c, c.Conn().(*tls.Conn).ConnectionState().PeerCertificates[0]
	}
	serial := func(p *testcert.Pair) string {
		cert, err := p.TLS()
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf.SerialNumber.String()
	}

	old, cert := connect()
	if cert.SerialNumber.String() != serial(first) {
		t.Fatalf("before the reload: certificate %s, want the first %s", cert.SerialNumber, serial(first))
	}
	if err := second.Write(f.dir, "listen"); err != nil { // same paths
		t.Fatal(err)
	}
	if err := reload(); err != nil {
		t.Fatalf("reload with new certificate files: %v", err)
	}
	if _, cert := connect(); cert.SerialNumber.String() != serial(second) {
		t.Errorf("after the reload: certificate %s, want the second %s", cert.SerialNumber, serial(second))
	}
	if got := one(t, ctx, old, "SELECT 'still here'"); got != "still here" {
		t.Errorf("TLS session from before the reload: %q", got)
	}

	if err := os.WriteFile(first.KeyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = reload()
	if err == nil || !strings.Contains(err.Error(), first.KeyFile) {
		t.Errorf("reload with an unreadable key: error %v, want one naming %s", err, first.KeyFile)
	}
	if _, cert := connect(); cert.SerialNumber.String() != serial(second) {
		t.Errorf("after a failed reload: certificate %s, want the second %s still", cert.SerialNumber, serial(second))
	}
}

// Roles of the ssl = on PostgreSQL of the storage tests, one per
// pg_hba.conf rule, ahead of the harness's host lines.
const (
	tlsOnlyRole   = "tls_only"   // hostssl only
	plainOnlyRole = "plain_only" // hostnossl only
	certRole      = "cert_user"  // hostssl with the cert method
	tlsAnyRole    = "tls_any"    // the harness's host line: either
)

// startSSLCluster starts a PostgreSQL with ssl on, stopped when the test
// ends, and returns it with the CA that signed its certificate (for
// 127.0.0.1 and pg.test). The CA is also its ssl_ca_file, for the cert method.
func startSSLCluster(t *testing.T) (*pgtest.Cluster, *testcert.CA) {
	t.Helper()
	ca, err := testcert.NewCA("odyssey test PostgreSQL CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Server("127.0.0.1", "pg.test") // not localhost
	if err != nil {
		t.Fatal(err)
	}
	c, err := pgtest.Start(pgtest.Options{
		SSL: &pgtest.SSL{Cert: cert, CA: ca},
		HBA: []string{
			"hostssl all " + tlsOnlyRole + " 127.0.0.1/32 scram-sha-256",
			"hostnossl all " + tlsOnlyRole + " 127.0.0.1/32 reject",
			"hostnossl all " + plainOnlyRole + " 127.0.0.1/32 scram-sha-256",
			"hostssl all " + plainOnlyRole + " 127.0.0.1/32 reject",
			"hostssl all " + certRole + " 127.0.0.1/32 cert",
			"host all " + certRole + " 127.0.0.1/32 reject",
		},
	})
	if err != nil {
		t.Fatalf("start PostgreSQL with ssl = on: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	var sql strings.Builder
	for _, role := range []string{tlsOnlyRole, plainOnlyRole, certRole, tlsAnyRole} {
		fmt.Fprintf(&sql, "CREATE ROLE %s LOGIN PASSWORD '%s_pw';\n", role, role)
	}
	if err := c.Exec(sql.String()); err != nil {
		t.Fatal(err)
	}
	return c, ca
}

// loginErrorSays reports whether err is a PostgreSQL error whose message
// or detail (where the pooler puts why it could not reach a server)
// contains s.
func loginErrorSays(err error, s string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && strings.Contains(pe.Message+" "+pe.Detail, s)
}

// storagePooler runs a pooler whose storage has the given attributes
// (host, port, tls settings) and logs in to it as role.
func storagePooler(t *testing.T, role, storage string) *pooler {
	t.Helper()
	return startPoolerHCL(t, fmt.Sprintf(`
listen {
  host = "127.0.0.1"
  port = 0
}
storage "postgres" {
  type = "remote"
  %s
}
database default {
  user default {
    authentication   = "none"
    storage          = "postgres"
    storage_db       = "postgres"
    storage_user     = "%s"
    storage_password = "%s_pw"
    pool             = "session"
    pool_size        = 2
  }
}
`, storage, role, role))
}

// TestStorageTLS: the pooler's server connections under each storage tls
// mode, cancel requests through them, and reloads of their files, against
// a PostgreSQL with ssl on started for this test and the package's one
// with ssl off.
func TestStorageTLS(t *testing.T) {
	sslPG, ca := startSSLCluster(t)
	t.Run("modes", func(t *testing.T) { storageModes(t, sslPG, ca) })
	t.Run("cancel", func(t *testing.T) { storageCancel(t, sslPG, ca) })
	t.Run("reload", func(t *testing.T) { storageReload(t, sslPG, ca) })
}

// storageModes: each storage tls mode against the ssl = on PostgreSQL
// (whose pg_hba.conf demands or forbids TLS for some roles) and the ssl =
// off one; pg_stat_ssl says what the server connection uses.
func storageModes(t *testing.T, sslPG *pgtest.Cluster, ca *testcert.CA) {
	f := newTLSFiles(t) // its CA did not sign sslPG's certificate
	caFile, err := ca.WriteCA(f.dir, "pg-ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	pgCert, err := ca.Client(certRole)
	if err != nil {
		t.Fatal(err)
	}
	if err := pgCert.Write(f.dir, "cert-user"); err != nil {
		t.Fatal(err)
	}
	serverRole(t, tlsAnyRole) // on the ssl = off cluster

	at := func(c *pgtest.Cluster, host string) string {
		return fmt.Sprintf("host = %q\n  port = %d", host, c.Port)
	}
	tests := []struct {
		name    string
		role    string
		storage string
		ssl     string // pg_stat_ssl.ssl of the server connection, or
		err     string // the login error, in its message or detail
	}{
		{"disable", tlsAnyRole, at(sslPG, "127.0.0.1") + `
  tls = "disable"`, "f", ""},
		{"disable, hostssl only", tlsOnlyRole, at(sslPG, "127.0.0.1") + `
  tls = "disable"`, "", "no encryption"},
		{"allow: plaintext first", tlsAnyRole, at(sslPG, "127.0.0.1") + `
  tls = "allow"`, "f", ""},
		{"allow: TLS when plaintext is refused", tlsOnlyRole, at(sslPG, "127.0.0.1") + `
  tls = "allow"`, "t", ""},
		{"prefer", tlsAnyRole, at(sslPG, "127.0.0.1") + `
  tls = "prefer"`, "t", ""},
		{"prefer: plaintext when TLS is refused", plainOnlyRole, at(sslPG, "127.0.0.1") + `
  tls = "prefer"`, "f", ""},
		{"require without a CA", tlsOnlyRole, at(sslPG, "127.0.0.1") + `
  tls = "require"`, "t", ""},
		{"require with another CA verifies like verify_ca", tlsOnlyRole, at(sslPG, "127.0.0.1") + `
  tls = "require"
  tls_ca_file = "` + f.caFile + `"`, "", "certificate signed by unknown authority"},
		{"verify_ca ignores the host name", tlsOnlyRole, at(sslPG, "localhost") + `
  tls = "verify_ca"
  tls_ca_file = "` + caFile + `"`, "t", ""},
		{"verify_full", tlsOnlyRole, at(sslPG, "127.0.0.1") + `
  tls = "verify_full"
  tls_ca_file = "` + caFile + `"`, "t", ""},
		{"verify_full with a wrong host name", tlsOnlyRole, at(sslPG, "localhost") + `
  tls = "verify_full"
  tls_ca_file = "` + caFile + `"`, "", "not localhost"},
		{"client certificate for cert authentication", certRole, at(sslPG, "127.0.0.1") + `
  tls = "verify_full"
  tls_ca_file = "` + caFile + `"
  tls_cert_file = "` + pgCert.CertFile + `"
  tls_key_file = "` + pgCert.KeyFile + `"`, "t", ""},
		{"ssl off: allow", tlsAnyRole, at(cluster, cluster.Host) + `
  tls = "allow"`, "f", ""},
		{"ssl off: prefer", tlsAnyRole, at(cluster, cluster.Host) + `
  tls = "prefer"`, "f", ""},
		{"ssl off: require", tlsAnyRole, at(cluster, cluster.Host) + `
  tls = "require"`, "", "server does not support SSL, but SSL was required"},
		{"ssl off: verify_full", tlsAnyRole, at(cluster, cluster.Host) + `
  tls = "verify_full"
  tls_ca_file = "` + caFile + `"`, "", "server does not support SSL, but SSL was required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			p := storagePooler(t, tt.role, tt.storage)
			c, err := connectOnce(ctx, p)
			if tt.err != "" {
				if !loginErrorSays(err, tt.err) {
					var pe *pgconn.PgError
					errors.As(err, &pe)
					t.Fatalf("login error %v (detail %q), want one saying %q", err, pe.Detail, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer closeQuietly(c)
			if got := one(t, ctx, c, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"); got != tt.ssl {
				t.Errorf("pg_stat_ssl.ssl = %s, want %s", got, tt.ssl)
			}
		})
	}
}

// storageCancel: a cancel request reaches a server connected over TLS:
// pg_sleep is cancelled with 57014.
func storageCancel(t *testing.T, sslPG *pgtest.Cluster, ca *testcert.CA) {
	ctx := testCtx(t)
	dir := t.TempDir()
	caFile, err := ca.WriteCA(dir, "pg-ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode, func(t *testing.T) {
			p := startPoolerHCL(t, fmt.Sprintf(`
listen {
  host = "127.0.0.1"
  port = 0
}
storage "postgres" {
  type = "remote"
  host = "127.0.0.1"
  port = %d
  tls = "verify_full"
  tls_ca_file = %q
}
database default {
  user default {
    authentication   = "none"
    storage          = "postgres"
    storage_db       = "postgres"
    storage_user     = "%s"
    storage_password = "%s_pw"
    pool             = "%s"
    pool_size        = 2
  }
}
`, sslPG.Port, caFile, tlsOnlyRole, tlsOnlyRole, mode))
			victim := p.conn(t, "")
			if got := one(t, ctx, victim, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"); got != "t" {
				t.Fatalf("server connection not encrypted: pg_stat_ssl.ssl = %s", got)
			}
			mon, err := pgx.Connect(ctx, sslPG.DSN(sslPG.User, sslPG.Password, "postgres"))
			if err != nil {
				t.Fatal(err)
			}
			defer mon.Close(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := simple(ctx, victim, "SELECT pg_sleep(30)")
				done <- err
			}()
			waitServers(t, mon, tlsOnlyRole, "state = 'active' AND query = 'SELECT pg_sleep(30)'", 1, "pg_sleep running")
			if err := victim.CancelRequest(ctx); err != nil {
				t.Fatalf("CancelRequest: %v", err)
			}
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("pg_sleep(30) not cancelled 20s after the CancelRequest")
			}
			wantCode(t, "cancelled query", err, "57014")
		})
	}
}

// storageReload: a reload that keeps a storage's TLS settings keeps its
// pools and reads its files again: a CA file that now holds the right CA
// lets new server connections verify; one that cannot be read fails the
// reload.
func storageReload(t *testing.T, sslPG *pgtest.Cluster, ca *testcert.CA) {
	f := newTLSFiles(t)
	ctx := testCtx(t)
	caFile := f.dir + "/storage-ca.crt"
	if err := os.WriteFile(caFile, f.other.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`
listen {
  host = "127.0.0.1"
  port = 0
}
storage "postgres" {
  type = "remote"
  host = "127.0.0.1"
  port = %d
  tls = "verify_ca"
  tls_ca_file = %q
}
database default {
  user default {
    authentication   = "none"
    storage          = "postgres"
    storage_db       = "postgres"
    storage_user     = "%s"
    storage_password = "%s_pw"
    pool             = "session"
    pool_size        = 2
  }
}
`, sslPG.Port, caFile, tlsOnlyRole, tlsOnlyRole)
	p := startPoolerHCL(t, src)
	if _, err := connectOnce(ctx, p); !loginErrorSays(err, "unknown authority") {
		t.Fatalf("CA file with the wrong CA: %v", err)
	}
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(src), "test.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.inst.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	c, err := connectOnce(ctx, p)
	if err != nil {
		t.Fatalf("after the reload: %v", err)
	}
	defer closeQuietly(c)
	if got := one(t, ctx, c, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"); got != "t" {
		t.Errorf("pg_stat_ssl.ssl = %s", got)
	}

	if err := os.WriteFile(caFile, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.inst.Reload(cfg); err == nil || !strings.Contains(err.Error(), caFile) {
		t.Errorf("reload with a CA file without certificates: %v, want an error naming it", err)
	}
}
