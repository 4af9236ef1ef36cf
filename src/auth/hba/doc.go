// Package hba reads the file named by the hba_file setting, written in
// PostgreSQL's pg_hba.conf syntax
// (https://www.postgresql.org/docs/15/auth-pg-hba-conf.html), and decides
// for one client connection whether the pooler lets it go on to the
// authentication of its rule in odyssey.hcl. Like Odyssey's hba, it only
// allows or refuses: how a client proves who it is stays per rule in
// odyssey.hcl, so a line names no authentication method of PostgreSQL's.
//
// A line is
//
//	local      DATABASE USER               METHOD
//	host       DATABASE USER ADDRESS       METHOD
//	host       DATABASE USER IP-ADDRESS IP-MASK METHOD
//
// with host also spelled hostssl, hostnossl, hostgssenc or hostnogssenc,
// and METHOD one of trust or allow (go on to the rule's authentication),
// reject or deny (refuse). The first line whose connection type, address,
// database and user match the client decides; when none matches the client
// is refused, as PostgreSQL refuses a connection with "no pg_hba.conf
// entry". Check's errors carry PostgreSQL's own texts and wrap ErrRejected,
// which callers report as FATAL 28000.
//
// Supported as in PostgreSQL:
//
//   - Lexical rules of PostgreSQL's hba.c: blank and comma separated tokens,
//     # comments, double-quoted tokens with "" for a quote, comma-separated
//     lists in the database and user columns, and a trailing backslash
//     continuing a line (PostgreSQL 16 syntax). Keywords are case sensitive
//     and a quoted keyword is a plain name ("all" is the role or database
//     called all).
//   - Database: all, sameuser, names, @file. User: all, names, @file. An
//     @file token is replaced by the tokens of that file (relative to the
//     file naming it, nested up to 10 deep), which may span lines and hold
//     comments.
//   - Address: all, samehost (an address of one of the machine's network
//     interfaces), samenet (an address in one of their subnets), CIDR
//     ranges, or an address with the mask in the next column. Like
//     PostgreSQL, host bits in the address and non-contiguous masks are
//     allowed: the client matches when it equals the address in every bit
//     the mask sets. An IPv4-mapped IPv6 client address (::ffff:1.2.3.4)
//     matches IPv4 lines as well as IPv6 ones. Interfaces are listed at each
//     check that reaches a samehost or samenet line, as PostgreSQL does.
//   - hostssl matches clients that negotiated TLS, hostnossl those that did
//     not. The pooler never does GSSAPI encryption, so hostgssenc never
//     matches and hostnogssenc matches like host.
//
// Refused when the file is read, each with a message saying why (Parse
// reports every bad line, not just the first):
//
//   - samerole, samegroup and +group: the pooler does not know role
//     membership. The replication keyword: the pooler does not carry
//     replication connections. /regex names (PostgreSQL 16): a file meant
//     for a newer PostgreSQL would otherwise match them as literal names.
//   - Host names in the address column: the pooler does not resolve names
//     for hba; a lookup per login is slow and spoofable.
//   - Authentication methods other than trust, allow, reject and deny
//     (md5, scram-sha-256, password, cert, ldap, pam, ...) and options after
//     the method: the method is chosen per rule in odyssey.hcl.
//   - An unterminated quoted token (PostgreSQL silently takes the rest of
//     the line), and an include directive (PostgreSQL 16's include,
//     include_if_exists, include_dir).
//
// One difference on purpose: an @file that holds no names keeps its column
// (matching nothing), where PostgreSQL drops the column and reads the next
// one in its place.
//
// A File is never changed after Parse returns it: Check may run from many
// goroutines, and a reload swaps the whole *File.
package hba
