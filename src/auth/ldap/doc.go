// Package ldap checks a user's cleartext password against an LDAP
// directory the way PostgreSQL's ldap authentication method does
// (https://www.postgresql.org/docs/15/auth-ldap.html), for rules with
// authentication = "clear_text" and ldap_endpoint_name.
//
// # Modes
//
// Simple bind (ldapprefix/ldapsuffix): bind as prefix + user + suffix with
// the password. Search+bind (ldapbasedn): bind as ldapbinddn/ldapbindpasswd,
// or anonymously when ldapbinddn is empty; search the subtree under
// ldapbasedn for (ldapsearchattribute=user), "uid" by default, or for
// ldapsearchfilter with every "$username" replaced; exactly one entry must
// match; then bind as that entry's DN with the password, on the same
// connection, as PostgreSQL does.
//
// Where this differs from PostgreSQL, it is on purpose:
//
//   - PostgreSQL refuses user names containing * ( ) \ / in search+bind
//     mode; here the name is escaped for the filter (RFC 4515, with
//     go-ldap's EscapeFilter) so such users can log in and cannot widen the
//     search. PostgreSQL pastes the name into the DN unescaped in simple
//     bind mode; here it is escaped (RFC 4514, go-ldap's EscapeDN), so
//     "carol,ou=staff" names an entry whose uid is "carol,ou=staff", never
//     an entry elsewhere in the tree.
//   - An empty password fails without asking the directory (PostgreSQL
//     rejects it earlier, "empty password returned by client"): an LDAP
//     simple bind with a DN and no password is an unauthenticated bind,
//     which servers may answer with success (RFC 4513 §5.1.2).
//   - ldapbinddn without ldapbindpasswd is reported as a configuration
//     problem instead of being sent as an unauthenticated bind.
//
// ldapserver may name several hosts separated by spaces, as in PostgreSQL;
// they are tried in order until one accepts the connection (and, for ldaps
// and StartTLS, the TLS handshake).
//
// # Errors
//
// ErrBadCredentials (wrapped, with the reason for the log) means the
// directory answered and the user may not log in: wrong password, no such
// entry, or a search that found 0 or several entries. Any other error means
// the directory could not be asked: unreachable, TLS failure, the search
// account refused, the search failed, or the context ended. Errors name
// DNs and hosts but never a password.
//
// # TLS
//
// ldapscheme = "ldaps" speaks TLS from the first byte; ldaptls = true
// upgrades an ldap:// connection with StartTLS (RFC 4513 §3) before any
// bind. The server's certificate is verified against the caller's
// tls.Config (its RootCAs, or the system pool when nil) for the host
// name in ldapserver.
//
// # Time and connections
//
// The caller's context bounds the whole exchange: its deadline becomes the
// socket's deadline, and its cancellation moves the deadline to the past,
// which fails whatever read or write is blocked. Every attempt dials a new
// connection and unbinds at the end. A pool of connections bound as the
// search account would save a TCP (and TLS) handshake and a bind per login,
// but would have to rebind after each user bind and reconnect after server
// restarts; logins are rare next to queries, so it is not worth that yet.
package ldap
