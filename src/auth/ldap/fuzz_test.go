package ldap

import (
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"

	"github.com/odyssey-go/odyssey/src/config"
)

// The user name comes from the client's startup packet: whatever it is, it
// must stay one value in the filter and one RDN value in the DN.

// FuzzSearchFilter checks that the filter built for any user name parses
// (RFC 4515) as the configured filter with the name as the value of its
// equality match, never as wildcards or extra clauses.
func FuzzSearchFilter(f *testing.F) {
	for _, seed := range []string{"alice", "a*b(c)", "*", "alice)(uid=*", `x\2a`, "\x00", "é"} {
		f.Add(seed)
	}
	endpoints := []*config.LDAPEndpoint{
		{SearchAttribute: "uid"},
		{SearchFilter: "(&(objectClass=person)(uid=$username))"},
	}
	f.Fuzz(func(t *testing.T, user string) {
		if checkUser(user) != nil {
			return // Authenticate refuses it before building a filter
		}
		for _, ep := range endpoints {
			filter := searchFilter(ep, user)
			packet, err := goldap.CompileFilter(filter)
			if err != nil {
				t.Fatalf("user %q: filter %q does not compile: %v", user, filter, err)
			}
			if ep.SearchFilter != "" {
				// (&(objectClass=person)(uid=...)): the second clause.
				if packet.Tag != goldap.FilterAnd || len(packet.Children) != 2 {
					t.Fatalf("user %q: filter %q is not the configured AND of two", user, filter)
				}
				packet = packet.Children[1]
			}
			if packet.Tag != goldap.FilterEqualityMatch || len(packet.Children) != 2 {
				t.Fatalf("user %q: filter %q is not an equality match", user, filter)
			}
			if attr, value := value(packet.Children[0]), value(packet.Children[1]); attr != "uid" || value != user {
				t.Fatalf("user %q: filter %q matches %s=%q", user, filter, attr, value)
			}
		}
	})
}

// value is the string in a compiled filter's attribute or assertion value.
func value(p *ber.Packet) string {
	if p.Value != nil {
		if s, ok := p.Value.(string); ok {
			return s
		}
	}
	return string(p.Data.Bytes())
}

// FuzzUserDN checks that the DN built in simple bind mode parses (RFC 4514)
// as the prefix's attribute with the name as its only value, followed by
// the suffix's RDNs.
func FuzzUserDN(f *testing.F) {
	for _, seed := range []string{"alice", "x,y", "carol,ou=staff", "a+cn=b", " lead", "trail ", "#hash", `back\slash`, "\x00", "é"} {
		f.Add(seed)
	}
	const prefix, suffix = "uid=", ",ou=people,dc=odyssey,dc=test"
	want, err := goldap.ParseDN(suffix[1:])
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, user string) {
		if checkUser(user) != nil {
			return // Authenticate refuses it before building a DN
		}
		dn := prefix + goldap.EscapeDN(user) + suffix
		parsed, err := goldap.ParseDN(dn)
		if err != nil {
			// An invalid DN is refused by the server (invalidDNSyntax:
			// bad credentials); it cannot name another entry.
			return
		}
		if len(parsed.RDNs) != 1+len(want.RDNs) {
			t.Fatalf("user %q: DN %q has %d RDNs", user, dn, len(parsed.RDNs))
		}
		first := parsed.RDNs[0].Attributes
		if len(first) != 1 || first[0].Type != "uid" || first[0].Value != user {
			t.Fatalf("user %q: DN %q starts with %+v", user, dn, first)
		}
		if !want.AncestorOf(parsed) {
			t.Fatalf("user %q: DN %q is not under %q", user, dn, suffix[1:])
		}
	})
}
