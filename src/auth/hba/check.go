package hba

import (
	"errors"
	"net/netip"
)

// ConnType is the first column of a line: which connections it is for
// (PostgreSQL's ConnType).
type ConnType int

const (
	Local        ConnType = iota // local: unix-domain socket
	Host                         // host: TCP, with or without TLS
	HostSSL                      // hostssl: TCP with TLS
	HostNoSSL                    // hostnossl: TCP without TLS
	HostGSSEnc                   // hostgssenc: never matches, the pooler does no GSSAPI encryption
	HostNoGSSEnc                 // hostnogssenc: matches like host
)

func (t ConnType) String() string {
	for word, ct := range connTypes {
		if ct == t {
			return word
		}
	}
	return "ConnType(?)"
}

// Conn describes the client being checked.
type Conn struct {
	Local    bool       // unix socket
	SSL      bool       // TLS was negotiated
	Addr     netip.Addr // zero for Local
	Database string
	User     string
}

// ErrRejected is wrapped by every error of Check: a reject or deny line
// matched, or no line did. Callers answer it with FATAL 28000
// (invalid_authorization_specification), as PostgreSQL does.
var ErrRejected = errors.New("connection rejected by hba")

// RejectError is the error Check returns. Its text is PostgreSQL's, for
// the client; Line is for the pooler's log.
type RejectError struct {
	Line int // the reject or deny line that matched; 0 when no line matched
	msg  string
}

func (e *RejectError) Error() string { return e.msg }

// Unwrap makes errors.Is(err, ErrRejected) true.
func (e *RejectError) Unwrap() error { return ErrRejected }

// Check returns nil when the first matching line allows conn, or an error
// describing why not: a matching reject line, or no matching line. The error
// text follows PostgreSQL's: `pg_hba.conf rejects connection for host "127.0.0.1",
// user "u", database "d", no encryption` and `no pg_hba.conf entry for host ...`
// (use "SSL encryption" when SSL, and for unix sockets `host "[local]"`).
//
// A TCP Conn without an address matches only lines whose address is all.
func (f *File) Check(c Conn) error {
	if f == nil {
		return nil
	}
	l := f.first(c)
	switch {
	case l == nil:
		return &RejectError{msg: "no pg_hba.conf entry for " + describe(c)}
	case !l.allow:
		return &RejectError{Line: l.num, msg: "pg_hba.conf rejects connection for " + describe(c)}
	}
	return nil
}

// first returns the first line that matches c, nil if none does.
func (f *File) first(c Conn) *line {
	for i := range f.lines {
		if f.lines[i].matches(c) {
			return &f.lines[i]
		}
	}
	return nil
}

// describe renders the client as PostgreSQL's ClientAuthentication does
// (the names are not escaped there either).
func describe(c Conn) string {
	host := "[local]"
	if !c.Local {
		host = c.Addr.String()
	}
	enc := "no encryption"
	if c.SSL {
		enc = "SSL encryption"
	}
	return `host "` + host + `", user "` + c.User + `", database "` + c.Database + `", ` + enc
}

// matches follows PostgreSQL's check_hba: connection type, address,
// database, user.
func (l *line) matches(c Conn) bool {
	switch l.conn {
	case Local:
		if !c.Local {
			return false
		}
	case HostGSSEnc:
		return false
	default:
		if c.Local ||
			l.conn == HostSSL && !c.SSL ||
			l.conn == HostNoSSL && c.SSL ||
			!l.addr.matches(c.Addr) {
			return false
		}
	}
	return matchNames(l.databases, c.Database, c.User) && matchNames(l.users, c.User, c.User)
}

// matchNames reports whether s is in a database or user column; user is
// what sameuser stands for.
func matchNames(names []name, s, user string) bool {
	for _, n := range names {
		switch n.kind {
		case nameAll:
			return true
		case nameSameUser:
			if s == user {
				return true
			}
		case nameLiteral:
			if s == n.text {
				return true
			}
		}
	}
	return false
}
