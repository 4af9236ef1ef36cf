package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/odyssey-go/odyssey/integration/ldaptest"
	"github.com/odyssey-go/odyssey/integration/testcert"
	"github.com/odyssey-go/odyssey/src/auth"
)

// TestLDAP logs clients in through a real slapd, in both of PostgreSQL's
// LDAP modes, over StartTLS and ldaps with the test's CA.
func TestLDAP(t *testing.T) {
	ctx := testCtx(t)
	dir, err := ldaptest.Start(ldaptest.Options{TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dir.Stop() })
	serverRole(t, "ldapsrv")
	// alice also exists in PostgreSQL with her directory password, for
	// password_passthrough.
	adminExec(t, fmt.Sprintf("DROP ROLE IF EXISTS alice; CREATE ROLE alice LOGIN PASSWORD '%s'; GRANT CONNECT ON DATABASE postgres TO alice", ldaptest.Alice.Password))
	captureLogs(t, ldaptest.Alice.Password, ldaptest.AdminPassword, ldaptest.FilterChars.Password)

	p := startPoolerHCL(t, fmt.Sprintf(`
{{listen_and_storage}}
ldap_endpoint "search" {
  ldapserver          = %[1]q
  ldapport            = %[2]d
  ldaptls             = true
  tls_ca_file         = %[3]q
  ldapbasedn          = %[4]q
  ldapbinddn          = %[5]q
  ldapbindpasswd      = %[6]q
  ldapsearchattribute = "uid"
}
ldap_endpoint "simple" {
  ldapserver  = %[1]q
  ldapport    = %[7]d
  ldapscheme  = "ldaps"
  tls_ca_file = %[3]q
  ldapprefix  = "uid="
  ldapsuffix  = %[8]q
}
database "search" {
  user default {
    authentication     = "clear_text"
    ldap_endpoint_name = "search"
    storage            = "postgres"
    storage_db         = "postgres"
    storage_user       = "ldapsrv"
    storage_password   = "ldapsrv_pw"
  }
}
database "simple" {
  user default {
    authentication     = "clear_text"
    ldap_endpoint_name = "simple"
    storage            = "postgres"
    storage_db         = "postgres"
    storage_user       = "ldapsrv"
    storage_password   = "ldapsrv_pw"
  }
}
database "postgres" {
  user default {
    authentication       = "clear_text"
    ldap_endpoint_name   = "search"
    password_passthrough = true
    storage              = "postgres"
  }
}`, dir.Host, dir.Port, dir.CAFile, dir.BaseDN, dir.AdminDN, dir.AdminPassword, dir.LDAPSPort, ","+ldaptest.PeopleDN))

	for _, db := range []string{"search", "simple"} {
		t.Run(db, func(t *testing.T) {
			for _, u := range []ldaptest.User{ldaptest.Alice, ldaptest.FilterChars, ldaptest.DNChars} {
				if got, err := loginAs(ctx, p, u.UID, u.Password, db); err != nil || got != "ldapsrv" {
					t.Errorf("%s: %q %v", u.UID, got, err)
				}
			}
			for _, bad := range []struct{ user, pw string }{
				{ldaptest.Alice.UID, "wrong"}, {"nobody", "x"}, {"al*", ldaptest.Alice.Password},
				{"*", ldaptest.Alice.Password}, {ldaptest.Alice.UID, ""},
			} {
				_, err := loginAs(ctx, p, bad.user, bad.pw, db)
				wantCode(t, fmt.Sprintf("%s/%q", bad.user, bad.pw), err, "28000")
				if bad.pw != "" && !strings.Contains(err.Error(), "LDAP authentication failed") {
					t.Errorf("%s: %v, want PostgreSQL's LDAP message", bad.user, err)
				}
			}
		})
	}
	t.Run("two entries match", func(t *testing.T) {
		_, err := loginAs(ctx, p, ldaptest.Twin1.UID, ldaptest.Twin1.Password, "search")
		wantCode(t, "ambiguous user", err, "28000")
	})
	t.Run("password_passthrough", func(t *testing.T) {
		if got, err := loginAs(ctx, p, "alice", ldaptest.Alice.Password, "postgres"); err != nil || got != "alice" {
			t.Errorf("alice through to PostgreSQL: %q %v", got, err)
		}
	})
	t.Run("psql", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, pgBin("psql"), "-X", "-A", "-t", "-w", "-h", p.host, "-p", p.port, "-U", "alice", "-d", "search", "-c", "SELECT current_user")
		cmd.Env = append(os.Environ(), "PGPASSWORD="+ldaptest.Alice.Password, "PGSSLMODE=disable")
		if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "ldapsrv" {
			t.Errorf("psql: %v\n%s", err, out)
		}
	})
	t.Run("directory down", func(t *testing.T) {
		if err := dir.Stop(); err != nil {
			t.Fatal(err)
		}
		_, err := loginAs(ctx, p, ldaptest.Alice.UID, ldaptest.Alice.Password, "search")
		wantCode(t, "directory down", err, "28000")
	})
}

// TestPAM logs clients in through Linux-PAM with a private service
// directory and pam_matrix (Debian's libpam-wrapper) as the module.
func TestPAM(t *testing.T) {
	ctx := testCtx(t)
	matrix, err := filepath.Glob("/usr/lib/*/pam_wrapper/pam_matrix.so")
	if err != nil || len(matrix) == 0 {
		t.Fatalf("pam_matrix.so not found (Debian package libpam-wrapper; run scripts/deps.sh)")
	}
	dir := t.TempDir()
	passdb := filepath.Join(dir, "passdb")
	if err := os.WriteFile(passdb, []byte("pamuser:pam-secret:odyssey-it\nother:other-secret:another-service\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := matrix[0] + " passdb=" + passdb
	if err := os.WriteFile(filepath.Join(dir, "odyssey-it"), []byte("auth required "+m+"\naccount required "+m+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(auth.PAMServiceDirEnv, dir)
	serverRole(t, "pamsrv")
	captureLogs(t, "pam-secret")
	p := startPoolerHCL(t, `
{{listen_and_storage}}
database default {
  user default {
    authentication   = "clear_text"
    auth_pam_service = "odyssey-it"
    storage          = "postgres"
    storage_db       = "postgres"
    storage_user     = "pamsrv"
    storage_password = "pamsrv_pw"
  }
}`)
	if got, err := loginAs(ctx, p, "pamuser", "pam-secret", "postgres"); err != nil || got != "pamsrv" {
		t.Fatalf("pamuser: %q %v", got, err)
	}
	for _, bad := range []struct{ user, pw string }{{"pamuser", "wrong"}, {"nobody", "x"}, {"other", "other-secret"}} {
		_, err := loginAs(ctx, p, bad.user, bad.pw, "postgres")
		wantCode(t, bad.user, err, "28000")
		if !strings.Contains(err.Error(), "PAM authentication failed") {
			t.Errorf("%s: %v", bad.user, err)
		}
	}
}

// TestCertAuth: authentication = "cert" and listen tls = "verify_full"
// accept a client certificate whose CN is the user (or listed in
// auth_common_name) and refuse others with 28000.
func TestCertAuth(t *testing.T) {
	ctx := testCtx(t)
	f := newTLSFiles(t)
	mallory, err := f.ca.Client("mallory")
	if err != nil {
		t.Fatal(err)
	}
	if err := mallory.Write(f.dir, "mallory"); err != nil {
		t.Fatal(err)
	}
	serverRole(t, "certsrv")
	for _, listenTLS := range []string{"allow", "verify_full"} {
		t.Run(listenTLS, func(t *testing.T) {
			p := startPoolerHCL(t, fmt.Sprintf(`
listen {
  host          = "127.0.0.1"
  port          = 0
  tls           = %q
  tls_cert_file = %q
  tls_key_file  = %q
  tls_ca_file   = %q
}
storage "postgres" {
  type = "remote"
  host = "{{pg_host}}"
  port = {{pg_port}}
}
database "postgres" {
  user default {
    authentication   = "cert"
    storage          = "postgres"
    storage_user     = "certsrv"
    storage_password = "certsrv_pw"
  }
  user "deploy" {
    authentication   = "cert"
    auth_common_name = ["mallory"]
    storage          = "postgres"
    storage_user     = "certsrv"
    storage_password = "certsrv_pw"
  }
}`, listenTLS, f.server.CertFile, f.server.KeyFile, f.caFile))
			connect := func(user string, cert *testcert.Pair, sslmode string) error {
				dsn := fmt.Sprintf("postgres://%s@%s/postgres?sslmode=%s&sslrootcert=%s&connect_timeout=15", user, p.addr, sslmode, f.caFile)
				if cert != nil {
					dsn += "&sslcert=" + cert.CertFile + "&sslkey=" + cert.KeyFile
				}
				c, err := pgconn.Connect(ctx, dsn)
				if err == nil {
					_, err = simple(ctx, c, "SELECT 1")
					closeQuietly(c)
				}
				return err
			}
			if err := connect(superUser, f.client, "verify-full"); err != nil {
				t.Errorf("CN = user: %v", err)
			}
			if err := connect("deploy", mallory, "verify-full"); err != nil {
				t.Errorf("CN listed in auth_common_name: %v", err)
			}
			err := connect(superUser, mallory, "verify-full")
			wantCode(t, "CN of another user", err, "28000")
			if listenTLS == "allow" {
				err = connect(superUser, nil, "require")
				wantCode(t, "no certificate", err, "28000")
				err = connect(superUser, nil, "disable")
				wantCode(t, "no TLS", err, "28000")
			}
		})
	}
}
