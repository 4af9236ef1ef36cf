package ldaptest

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

func TestServer(t *testing.T) {
	s, err := Start(Options{TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	trust := &tls.Config{RootCAs: s.CAPool, ServerName: s.Host}

	dial := func(t *testing.T, url string) *goldap.Conn {
		t.Helper()
		c, err := goldap.DialURL(url, goldap.DialWithTLSConfig(trust),
			goldap.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}))
		if err != nil {
			t.Fatal(err)
		}
		c.SetTimeout(10 * time.Second)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}

	// Every user can bind with its password, over ldaps and StartTLS.
	for _, u := range s.Users {
		c := dial(t, s.LDAPSURL())
		if err := c.Bind(u.DN, u.Password); err != nil {
			t.Errorf("ldaps bind as %s: %v", u.DN, err)
		}
		c = dial(t, s.URL())
		if err := c.StartTLS(trust); err != nil {
			t.Fatalf("StartTLS: %v", err)
		}
		if err := c.Bind(u.DN, u.Password); err != nil {
			t.Errorf("StartTLS bind as %s: %v", u.DN, err)
		}
		if err := c.Bind(u.DN, "not-"+u.Password); !goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
			t.Errorf("bind as %s with a wrong password: got %v, want invalid credentials", u.DN, err)
		}
	}

	// Anonymous search finds people but never reads their passwords.
	c := dial(t, s.URL())
	res, err := c.Search(goldap.NewSearchRequest(PeopleDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		0, 0, false, "(uid=twin)", []string{"uid", "userPassword"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 2 {
		t.Errorf("uid=twin: %d entries, want 2", len(res.Entries))
	}
	for _, e := range res.Entries {
		if v := e.GetAttributeValue("userPassword"); v != "" {
			t.Errorf("%s: anonymous search read userPassword", e.DN)
		}
	}

	// The admin may bind.
	if err := dial(t, s.URL()).Bind(s.AdminDN, s.AdminPassword); err != nil {
		t.Errorf("admin bind: %v", err)
	}

	// Stop stops slapd and removes the directory; a second Stop is a no-op.
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s after Stop: %v, want it gone", s.Dir, err)
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), 5*time.Second); err == nil {
		c.Close()
		t.Errorf("port %d still accepts connections after Stop", s.Port)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// TestOwnsPorts: a port another process listens on (slapd lost the race
// between freePort and its bind) is told apart from slapd's own.
func TestOwnsPorts(t *testing.T) {
	s, err := Start(Options{TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	if err := s.ownsPorts(); err != nil {
		t.Fatalf("slapd's own ports: %v", err)
	}
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	port := s.Port
	s.Port = other.Addr().(*net.TCPAddr).Port
	defer func() { s.Port = port }()
	if err := s.ownsPorts(); !errors.Is(err, errPortTaken) {
		t.Fatalf("a port another process listens on: got %v, want errPortTaken", err)
	}
}
