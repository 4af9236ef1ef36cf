package ldap_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/odyssey-go/odyssey/integration/ldaptest"
	"github.com/odyssey-go/odyssey/src/auth/ldap"
	"github.com/odyssey-go/odyssey/src/config"
)

// shared is the slapd most tests share (with TLS), started by the first
// test that asks for it; tests that stop or pause a server start their
// own. Fuzz workers, which run TestMain too, never start it.
var shared struct {
	once sync.Once
	srv  *ldaptest.Server
	err  error
}

// server returns the shared slapd.
func server(t *testing.T) *ldaptest.Server {
	t.Helper()
	shared.once.Do(func() { shared.srv, shared.err = ldaptest.Start(ldaptest.Options{TLS: true}) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.srv
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.srv != nil {
		if err := shared.srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// attempt is one call of Authenticate and what it must answer.
type attempt struct {
	name     string
	user     string
	password string
	want     outcome
}

type outcome int

const (
	ok             outcome = iota // nil
	badCredentials                // errors.Is(err, ldap.ErrBadCredentials)
	failure                       // another error: the directory could not be asked
)

func (o outcome) String() string {
	return [...]string{"success", "ErrBadCredentials", "a failure other than ErrBadCredentials"}[o]
}

// check runs a against ep and returns the error.
func check(t *testing.T, ep *config.LDAPEndpoint, tlsConfig *tls.Config, a attempt) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := ldap.Authenticate(ctx, ep, tlsConfig, a.user, a.password)
	var got outcome
	switch {
	case err == nil:
		got = ok
	case errors.Is(err, ldap.ErrBadCredentials):
		got = badCredentials
	default:
		got = failure
	}
	if got != a.want {
		t.Errorf("%s: user %q: got %v (%v), want %v", a.name, a.user, got, err, a.want)
	}
	if err != nil {
		for _, secret := range []string{a.password, ep.BindPassword} {
			if secret != "" && strings.Contains(err.Error(), secret) {
				t.Errorf("%s: the error contains a password: %v", a.name, err)
			}
		}
	}
	return err
}

func simpleBind(t *testing.T) *config.LDAPEndpoint {
	srv := server(t)
	return &config.LDAPEndpoint{Name: "simple", Server: srv.Host, Port: srv.Port, Scheme: "ldap",
		Prefix: "uid=", Suffix: "," + ldaptest.PeopleDN}
}

func searchBind(t *testing.T) *config.LDAPEndpoint {
	srv := server(t)
	return &config.LDAPEndpoint{Name: "search", Server: srv.Host, Port: srv.Port, Scheme: "ldap",
		BaseDN: ldaptest.PeopleDN, BindDN: srv.AdminDN, BindPassword: srv.AdminPassword}
}

func TestSimpleBind(t *testing.T) {
	a, c := ldaptest.Alice, ldaptest.Carol
	for _, at := range []attempt{
		{"right password", a.UID, a.Password, ok},
		{"wrong password", a.UID, "not-" + a.Password, badCredentials},
		{"another user's password", a.UID, ldaptest.Bob.Password, badCredentials},
		{"unknown user", "nobody", a.Password, badCredentials},
		{"empty password", a.UID, "", badCredentials},
		{"empty user", "", a.Password, badCredentials},
		{"filter specials", ldaptest.FilterChars.UID, ldaptest.FilterChars.Password, ok},
		{"DN specials", ldaptest.DNChars.UID, ldaptest.DNChars.Password, ok},
		{"DN specials, wrong password", ldaptest.DNChars.UID, a.Password, badCredentials},
		// Unescaped, "uid=carol,ou=staff,ou=people,..." is Carol's entry.
		{"DN injection", c.UID + ",ou=staff", c.Password, badCredentials},
		{"multi-valued RDN injection", a.UID + "+cn=" + a.UID, a.Password, badCredentials},
	} {
		check(t, simpleBind(t), nil, at)
	}
}

func TestSearchBind(t *testing.T) {
	a, f := ldaptest.Alice, ldaptest.FilterChars
	for _, at := range []attempt{
		{"right password", a.UID, a.Password, ok},
		{"wrong password", a.UID, "not-" + a.Password, badCredentials},
		{"unknown user", "nobody", a.Password, badCredentials},
		{"empty password", a.UID, "", badCredentials},
		{"entry in a sub-OU", ldaptest.Carol.UID, ldaptest.Carol.Password, ok},
		{"two entries match", ldaptest.Twin1.UID, ldaptest.Twin1.Password, badCredentials},
		{"two entries match, other password", ldaptest.Twin2.UID, ldaptest.Twin2.Password, badCredentials},
		{"filter specials", f.UID, f.Password, ok},
		{"DN specials", ldaptest.DNChars.UID, ldaptest.DNChars.Password, ok},
		// Unescaped, (uid=al*) and (uid=a*b*) each match one entry, whose
		// password would then log the wildcard name in.
		{"wildcard injection", "al*", a.Password, badCredentials},
		{"wildcard injection, specials", "a*b*", f.Password, badCredentials},
		{"match-all injection", "*", a.Password, badCredentials},
		{"filter injection", "alice)(uid=*", a.Password, badCredentials},
	} {
		check(t, searchBind(t), nil, at)
	}
}

func TestSearchVariants(t *testing.T) {
	srv := server(t)
	a := ldaptest.Alice

	anon := searchBind(t)
	anon.BindDN, anon.BindPassword = "", ""
	check(t, anon, nil, attempt{"anonymous search", a.UID, a.Password, ok})
	check(t, anon, nil, attempt{"anonymous search, wrong password", a.UID, "x", badCredentials})

	filter := searchBind(t)
	filter.SearchFilter = "(&(objectClass=inetOrgPerson)(uid=$username))"
	check(t, filter, nil, attempt{"search filter", a.UID, a.Password, ok})
	check(t, filter, nil, attempt{"search filter, specials", ldaptest.FilterChars.UID, ldaptest.FilterChars.Password, ok})
	check(t, filter, nil, attempt{"search filter, injection", "al*", a.Password, badCredentials})

	attr := searchBind(t)
	attr.SearchAttribute = "cn" // the directory's cn is the uid
	check(t, attr, nil, attempt{"search attribute", a.UID, a.Password, ok})

	// The directory could not be asked: not the user's fault.
	wrongAccount := searchBind(t)
	wrongAccount.BindPassword = "not-" + srv.AdminPassword
	check(t, wrongAccount, nil, attempt{"search account refused", a.UID, a.Password, failure})

	noAccountPassword := searchBind(t)
	noAccountPassword.BindPassword = ""
	check(t, noAccountPassword, nil, attempt{"search account without password", a.UID, a.Password, failure})

	noBase := searchBind(t)
	noBase.BaseDN = "ou=nowhere," + ldaptest.BaseDN
	check(t, noBase, nil, attempt{"base DN missing", a.UID, a.Password, failure})

	badFilter := searchBind(t)
	badFilter.SearchFilter = "(uid=$username"
	check(t, badFilter, nil, attempt{"malformed search filter", a.UID, a.Password, failure})
}

func TestTLS(t *testing.T) {
	srv := server(t)
	a := ldaptest.Alice
	trust := &tls.Config{RootCAs: srv.CAPool}

	ldaps := searchBind(t)
	ldaps.Scheme, ldaps.Port = "ldaps", srv.LDAPSPort
	check(t, ldaps, trust, attempt{"ldaps", a.UID, a.Password, ok})
	check(t, ldaps, trust, attempt{"ldaps, wrong password", a.UID, "x", badCredentials})
	check(t, ldaps, nil, attempt{"ldaps, CA not trusted", a.UID, a.Password, failure})
	check(t, ldaps, &tls.Config{RootCAs: srv.CAPool, ServerName: "ldap.example.com"},
		attempt{"ldaps, wrong server name", a.UID, a.Password, failure})

	byName := searchBind(t)
	byName.Scheme, byName.Port, byName.Server = "ldaps", srv.LDAPSPort, "localhost"
	check(t, byName, trust, attempt{"ldaps, server name from ldapserver", a.UID, a.Password, ok})

	startTLS := simpleBind(t)
	startTLS.TLS = true
	check(t, startTLS, trust, attempt{"StartTLS", a.UID, a.Password, ok})
	check(t, startTLS, trust, attempt{"StartTLS, wrong password", a.UID, "x", badCredentials})
	check(t, startTLS, nil, attempt{"StartTLS, CA not trusted", a.UID, a.Password, failure})

	// A plain client at the ldaps port gets no LDAP answer: a failure.
	plain := searchBind(t)
	plain.Port = srv.LDAPSPort
	check(t, plain, nil, attempt{"ldap:// to the ldaps port", a.UID, a.Password, failure})
}

func TestServerList(t *testing.T) {
	srv := server(t)
	// Nothing listens on 127.0.0.2 (slapd binds 127.0.0.1 only), so the
	// first server refuses and the second answers.
	ep := simpleBind(t)
	ep.Server = "127.0.0.2 " + srv.Host
	check(t, ep, nil, attempt{"second server", ldaptest.Alice.UID, ldaptest.Alice.Password, ok})

	ep.Server = "127.0.0.2"
	check(t, ep, nil, attempt{"no server answers", ldaptest.Alice.UID, ldaptest.Alice.Password, failure})
}

func TestDirectoryUnavailable(t *testing.T) {
	down, err := ldaptest.Start(ldaptest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = down.Stop() })
	ep := &config.LDAPEndpoint{Name: "down", Server: down.Host, Port: down.Port, Scheme: "ldap",
		Prefix: "uid=", Suffix: "," + ldaptest.PeopleDN}
	a := ldaptest.Alice

	// A hung server: the context's deadline ends the attempt.
	if err := down.Pause(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err = ldap.Authenticate(ctx, ep, nil, a.UID, a.Password)
	cancel()
	if err := down.Resume(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ldap.ErrBadCredentials) {
		t.Errorf("hung server: got %v, want an error wrapping context.DeadlineExceeded", err)
	}

	// A cancelled context ends it too.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := ldap.Authenticate(ctx, ep, nil, a.UID, a.Password); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: got %v, want an error wrapping context.Canceled", err)
	}

	check(t, ep, nil, attempt{"resumed server", a.UID, a.Password, ok})
	if err := down.Stop(); err != nil {
		t.Fatal(err)
	}
	check(t, ep, nil, attempt{"stopped server", a.UID, a.Password, failure})
}
