package hba

import (
	"errors"
	"fmt"
	"strings"
)

// File is a parsed hba file. It is never changed after Parse returns it,
// so it is safe for concurrent use; a nil *File allows every connection.
type File struct {
	name  string
	lines []line
}

// line is one rule of the file (PostgreSQL's HbaLine).
type line struct {
	num       int
	conn      ConnType
	databases []name
	users     []name
	addr      addrMatch // not for Local
	allow     bool
}

// nameKind tells a keyword of the database and user columns from a name.
type nameKind uint8

const (
	nameLiteral  nameKind = iota // the name itself, case sensitive
	nameAll                      // all
	nameSameUser                 // sameuser (database column only)
)

// name is one entry of a database or user column.
type name struct {
	kind nameKind
	text string // nameLiteral
}

// ParseError is a line of an hba file that cannot be used. Parse and Load
// report every such line, joined with errors.Join; errors.As finds the
// first.
type ParseError struct {
	File string // as given to Parse or Load
	Line int    // 1-based; the first line of a continued line
	Msg  string // names the offending token

	cause error // the lexer's error, so nested @file errors name the innermost file
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Load parses the file at path. Errors name path:line and the token.
func Load(path string) (*File, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("read hba file: %w", err)
	}
	return Parse(path, data)
}

// Parse parses hba text; name is used in error messages. @file tokens are
// read relative to name's directory (the working directory when name has
// none), as Load would read them.
func Parse(name string, data []byte) (*File, error) {
	lls, errs := includer{path: name}.tokenize(data)
	f := &File{name: name}
	for _, ll := range lls {
		l, err := parseLine(ll)
		if err != nil {
			errs = append(errs, &ParseError{File: name, Line: ll.num, Msg: err.Error()})
			continue
		}
		f.lines = append(f.lines, l)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return f, nil
}

// connTypes are the words of the first column (PostgreSQL's parse_hba_line).
var connTypes = map[string]ConnType{
	"local":        Local,
	"host":         Host,
	"hostssl":      HostSSL,
	"hostnossl":    HostNoSSL,
	"hostgssenc":   HostGSSEnc,
	"hostnogssenc": HostNoGSSEnc,
}

// pgMethods are PostgreSQL 15's authentication methods that the pooler's
// hba does not take (trust and reject it does).
var pgMethods = map[string]bool{
	"password": true, "md5": true, "scram-sha-256": true, "gss": true, "sspi": true,
	"ident": true, "peer": true, "pam": true, "bsd": true, "ldap": true, "cert": true,
	"radius": true, "krb5": true, "oauth": true,
}

// parseLine turns the columns of one line into a rule. The messages follow
// PostgreSQL's where PostgreSQL has the same error.
func parseLine(ll logicalLine) (line, error) {
	l := line{num: ll.num}
	fields := ll.fields
	// column pops the next column; what names it for "end-of-line before".
	column := func(what string) ([]token, error) {
		if len(fields) == 0 {
			return nil, fmt.Errorf("end-of-line before %s", what)
		}
		f := fields[0]
		fields = fields[1:]
		return f, nil
	}
	// single pops a column that must hold one token.
	single := func(what, plural string) (token, error) {
		f, err := column(what)
		if err != nil {
			return token{}, err
		}
		switch len(f) {
		case 0:
			return token{}, fmt.Errorf("no %s: its @file holds no tokens", what)
		case 1:
			return f[0], nil
		}
		return token{}, fmt.Errorf("multiple values specified for %s (%s): give one per line", plural, tokenList(f))
	}

	t, err := single("connection type", "connection type")
	if err != nil {
		return l, err
	}
	var ok bool
	if l.conn, ok = connTypes[t.text]; !ok {
		if strings.HasPrefix(t.text, "include") {
			return l, fmt.Errorf("invalid connection type %q: include directives (PostgreSQL 16) are not supported; use @file in the database and user columns", t.text)
		}
		return l, fmt.Errorf("invalid connection type %q", t.text)
	}

	f, err := column("database specification")
	if err != nil {
		return l, err
	}
	if l.databases, err = parseNames(f, "database"); err != nil {
		return l, err
	}
	if f, err = column("role specification"); err != nil {
		return l, err
	}
	if l.users, err = parseNames(f, "user"); err != nil {
		return l, err
	}

	if l.conn != Local {
		if t, err = single("IP address specification", "host address"); err != nil {
			return l, err
		}
		var needMask bool
		if l.addr, needMask, err = parseAddr(t); err != nil {
			return l, err
		}
		if needMask {
			if t, err = single("netmask specification (give the address range in CIDR notation, or a separate netmask)", "netmask"); err != nil {
				return l, err
			}
			if l.addr, err = parseMask(l.addr, t); err != nil {
				return l, err
			}
		}
	}

	if t, err = single("authentication method", "authentication type"); err != nil {
		return l, err
	}
	switch {
	case t.text == "trust" || t.text == "allow":
		l.allow = true
	case t.text == "reject" || t.text == "deny":
		l.allow = false
	case pgMethods[t.text]:
		return l, fmt.Errorf("authentication method %q is not supported: the pooler's hba only allows (trust, allow) or refuses (reject, deny); set the authentication per rule in odyssey.hcl", t.text)
	default:
		return l, fmt.Errorf("invalid authentication method %q: use trust, allow, reject or deny", t.text)
	}
	if len(fields) > 0 {
		return l, fmt.Errorf("authentication options (%s) are not supported: the pooler's hba takes nothing after the method", tokenList(fields[0]))
	}
	return l, nil
}

// parseNames reads a database (column "database") or user column.
func parseNames(f []token, column string) ([]name, error) {
	names := make([]name, 0, len(f))
	for _, t := range f {
		var why string
		switch {
		case t.keyword("all"):
			names = append(names, name{kind: nameAll})
			continue
		case column == "database" && t.keyword("sameuser"):
			names = append(names, name{kind: nameSameUser})
			continue
		case column == "database" && (t.keyword("samerole") || t.keyword("samegroup")):
			why = "is not supported: the pooler does not know role membership"
		case column == "database" && t.keyword("replication"):
			why = "is not supported: the pooler does not carry replication connections"
		case !t.quoted && strings.HasPrefix(t.text, "+"):
			why = "is not supported: the pooler does not know role membership (+group); list the users, or quote the name if it starts with +"
		case !t.quoted && strings.HasPrefix(t.text, "/"):
			why = "is a regular expression (PostgreSQL 16), which the pooler does not support; quote the name if it starts with /"
		default:
			names = append(names, name{text: t.text})
			continue
		}
		if t.from != "" {
			return nil, fmt.Errorf("%s %q (from @%s) %s", column, t.text, t.from, why)
		}
		return nil, fmt.Errorf("%s %q %s", column, t.text, why)
	}
	return names, nil
}

// tokenList quotes the tokens of a column for a message.
func tokenList(f []token) string {
	q := make([]string, len(f))
	for i, t := range f {
		q[i] = fmt.Sprintf("%q", t.text)
	}
	return strings.Join(q, ", ")
}
