// Package ldaptest starts a throwaway OpenLDAP server (slapd, Debian
// package slapd) for tests of LDAP authentication.
//
// Start writes a slapd.conf (mdb backend, an admin rootdn, the core, cosine
// and inetorgperson schemas) into a temporary directory, loads the
// directory below with slapadd, and runs /usr/sbin/slapd in the foreground
// (-d 0) as a child process listening on free ports of 127.0.0.1. slapd is
// happy to run as root, so it runs as whoever runs the tests. With
// Options.TLS it also serves ldaps on a second port and offers StartTLS on
// the first, with a CA and a server certificate for 127.0.0.1 and localhost
// generated for the run (integration/testcert).
//
// The directory, under BaseDN dc=odyssey,dc=test:
//
//	ou=people                       Alice, Bob, FilterChars (uid a*b(c)),
//	                                DNChars (uid "x,y"), Twin1 (uid twin)
//	ou=staff,ou=people              Carol, Twin2 (uid twin again)
//
// so that a search for uid=twin under ou=people matches two entries, and
// the user name "carol,ou=staff" pasted unescaped into
// "uid=" + name + ",ou=people,dc=odyssey,dc=test" would name Carol's entry.
// userPassword is readable by nobody; everything else is readable by
// everyone, so anonymous search works.
//
// slapd dies with the test binary (Pdeathsig), and a small watchdog shell
// removes the directory when the binary goes away without calling Stop.
//
//	srv, err := ldaptest.Start(ldaptest.Options{TLS: true})
//	if err != nil { ... }
//	defer srv.Stop()
package ldaptest
