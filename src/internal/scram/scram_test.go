package scram

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	xdg "github.com/xdg-go/scram"
)

// A secret in the format of pg_authid.rolpassword (the integration tests
// read real ones from PostgreSQL).
const pgSecret = "SCRAM-SHA-256$4096:H1xxdE4lyr3NUeQF7Mm4Jw==$bW7ZtMMVTKItczDXHYDxvO0plwtNfqh5bUQd5jKAwO0=:dX1Ubw4wrhVj6F9c2f7TJ2HsKhYGMQ8BnVzNxFr5oxI="

func TestParseSecretRoundTrip(t *testing.T) {
	k := NewKeys("pencil", []byte("0123456789abcdef"), 4096)
	s, ok := ParseSecret(k.Secret.String())
	if !ok {
		t.Fatalf("ParseSecret(%q) failed", k.Secret.String())
	}
	if s.String() != k.Secret.String() || !s.Verify("pencil") || s.Verify("pencil2") {
		t.Fatalf("round trip: %v", s)
	}
	for _, bad := range []string{"", "pencil", "md5d2a71a7d8e6d0a17e1e4c55d9b2c6cc4", "SCRAM-SHA-256$", "SCRAM-SHA-256$x:c2FsdA==$a:b",
		"SCRAM-SHA-256$4096:c2FsdA==$YWJj:YWJj", "SCRAM-SHA-256$0:c2FsdA==$" + pgSecret[len(pgSecret)-89:]} {
		if _, ok := ParseSecret(bad); ok {
			t.Errorf("ParseSecret(%q) accepted", bad)
		}
	}
	if _, ok := ParseSecret(pgSecret); !ok {
		t.Errorf("PostgreSQL's secret rejected")
	}
}

// TestServerWithLibraryClient runs our server against xdg-go/scram's client
// (the one backend uses for password logins), with the right and a wrong
// password, and checks the ClientKey the server recovers.
func TestServerWithLibraryClient(t *testing.T) {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	keys := NewKeys("pencil", salt, 4096)
	for _, tc := range []struct {
		password string
		want     error
	}{{"pencil", nil}, {"wrong", ErrFailed}} {
		c, err := xdg.SHA256.NewClient("", tc.password, "")
		if err != nil {
			t.Fatal(err)
		}
		conv := c.NewConversation()
		srv := NewServer(&keys.Secret)
		first, _ := conv.Step("")
		sfirst, err := srv.First([]byte(first))
		if err != nil {
			t.Fatal(err)
		}
		final, err := conv.Step(string(sfirst))
		if err != nil {
			t.Fatal(err)
		}
		sfinal, clientKey, err := srv.Final([]byte(final))
		if !errors.Is(err, tc.want) {
			t.Fatalf("password %q: Final error %v, want %v", tc.password, err, tc.want)
		}
		if err != nil {
			continue
		}
		if !bytes.Equal(clientKey, keys.ClientKey) {
			t.Errorf("recovered ClientKey differs from the password's")
		}
		if _, err := conv.Step(string(sfinal)); err != nil || !conv.Valid() {
			t.Errorf("library client does not accept the server's signature: %v", err)
		}
	}
}

// TestClientWithLibraryServer logs our key-holding client in to
// xdg-go/scram's server.
func TestClientWithLibraryServer(t *testing.T) {
	keys := NewKeys("pencil", []byte("salt-salt-salt-1"), 4096)
	for _, tc := range []struct {
		name   string
		stored xdg.StoredCredentials
		ok     bool
	}{
		{"same secret", xdg.StoredCredentials{KeyFactors: xdg.KeyFactors{Salt: string(keys.Salt), Iters: 4096}, StoredKey: keys.StoredKey, ServerKey: keys.ServerKey}, true},
		{"other salt", xdg.StoredCredentials{KeyFactors: xdg.KeyFactors{Salt: "another-salt-xyz", Iters: 4096}, StoredKey: keys.StoredKey, ServerKey: keys.ServerKey}, false},
	} {
		srv, err := xdg.SHA256.NewServer(func(string) (xdg.StoredCredentials, error) { return tc.stored, nil })
		if err != nil {
			t.Fatal(err)
		}
		conv := srv.NewConversation()
		c := NewClient(keys)
		sfirst, err := conv.Step(string(c.First()))
		if err != nil {
			t.Fatal(err)
		}
		final, err := c.Step([]byte(sfirst))
		if !tc.ok {
			if err == nil {
				t.Errorf("%s: client went on with a different salt", tc.name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		sfinal, err := conv.Step(string(final))
		if err != nil || !conv.Valid() {
			t.Fatalf("%s: library server refuses the proof: %v", tc.name, err)
		}
		if err := c.Verify([]byte(sfinal)); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err := c.Verify([]byte("v=AAAA")); err == nil {
			t.Errorf("%s: a wrong server signature was accepted", tc.name)
		}
	}
}

func TestMockServerAlwaysFails(t *testing.T) {
	key := []byte("process key")
	c, _ := xdg.SHA256.NewClient("", "anything", "")
	conv := c.NewConversation()
	srv := NewMockServer(key, "ghost")
	first, _ := conv.Step("")
	sfirst, err := srv.First([]byte(first))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := NewMockServer(key, "ghost").First([]byte(first))
	if !bytes.Equal(sfirst[bytes.IndexByte(sfirst, ','):], again[bytes.IndexByte(again, ','):]) {
		t.Errorf("the mock salt changes between attempts: an attacker could tell the user does not exist")
	}
	final, _ := conv.Step(string(sfirst))
	if _, _, err := srv.Final([]byte(final)); !errors.Is(err, ErrFailed) {
		t.Errorf("mock exchange: %v, want ErrFailed", err)
	}
}

func TestServerRejectsMalformed(t *testing.T) {
	for _, first := range []string{"", "n,,", "p=tls-server-end-point,,n=,r=abc", "n,a=x,n=,r=abc", "n,,r=abc", "n,,n=,r=", "n,,n=,r=abc,x=1", "n,,n=,r=a\x01b"} {
		if _, err := NewServer(&NewKeys("p", []byte("s"), 1).Secret).First([]byte(first)); err == nil {
			t.Errorf("First(%q) accepted", first)
		}
	}
	srv := NewServer(&NewKeys("p", []byte("s"), 1).Secret)
	if _, err := srv.First([]byte("n,,n=,r=abc")); err != nil {
		t.Fatal(err)
	}
	for _, final := range []string{"", "c=biws,r=abc", "c=biws,r=abc,p=AAAA", "c=eSws,r=" + string(srv.nonce) + ",p=AAAA"} {
		if _, _, err := srv.Final([]byte(final)); err == nil || errors.Is(err, ErrFailed) {
			t.Errorf("Final(%q): %v, want a protocol error", final, err)
		}
	}
}

func FuzzServer(f *testing.F) {
	f.Add([]byte("n,,n=,r=rOprNGfwEbeRWgbNEkqO"), []byte("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	f.Add([]byte("y,,n=user,r=abc"), []byte("c=eSws,r=abc,p="))
	sec := NewKeys("pencil", []byte("fuzz-salt"), 1).Secret
	f.Fuzz(func(t *testing.T, first, final []byte) {
		s := NewServer(&sec)
		if _, err := s.First(first); err != nil {
			return
		}
		_, _, _ = s.Final(final)
	})
}

func FuzzClient(f *testing.F) {
	f.Add([]byte("r=abc,s=c2FsdA==,i=4096"), []byte("v=AAAA"))
	f.Add([]byte("r=,s=,i="), []byte("e=invalid-proof"))
	keys := NewKeys("pencil", []byte("salt"), 4096)
	f.Fuzz(func(t *testing.T, first, final []byte) {
		c := NewClient(keys)
		c.First()
		_, _ = c.Step(first)
		_ = c.Verify(final)
	})
}
