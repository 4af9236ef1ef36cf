package client

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/odyssey-go/odyssey/src/pgerr"
)

// Request codes sent in place of a protocol version in the startup phase.
const (
	CancelRequestCode = 80877102
	SSLRequestCode    = 80877103
	GSSENCRequestCode = 80877104
)

// Kind is what a startup-phase packet asks for.
type Kind int

const (
	KindStartup Kind = iota
	KindSSL
	KindGSSENC
	KindCancel
)

// Startup is a decoded startup-phase packet.
type Startup struct {
	Kind Kind

	// For KindStartup.
	Major, Minor uint16
	User         string
	Database     string
	Replication  string
	// Params are the other parameters, names lowercased, in packet order.
	Params []Param
	// ProtocolOptions are "_pq_." parameters, which this pooler does not
	// support and reports in NegotiateProtocolVersion.
	ProtocolOptions []string

	// For KindCancel.
	PID, Secret uint32
}

// Param is one startup parameter.
type Param struct{ Name, Value string }

// ParseStartup decodes the body of a startup-phase packet (everything after
// the length word). Malformed packets give FATAL 08P01, as PostgreSQL does.
func ParseStartup(body []byte) (*Startup, error) {
	if len(body) < 4 {
		return nil, pgerr.Fatalf(pgerr.ProtocolViolation, "invalid length of startup packet")
	}
	code := binary.BigEndian.Uint32(body)
	switch code {
	case SSLRequestCode:
		return &Startup{Kind: KindSSL}, nil
	case GSSENCRequestCode:
		return &Startup{Kind: KindGSSENC}, nil
	case CancelRequestCode:
		// Protocol 3.2 allows longer secrets; the pooler issues 4-byte ones,
		// so anything else cannot be one of ours.
		if len(body) != 12 {
			return nil, pgerr.Fatalf(pgerr.ProtocolViolation, "invalid length of cancel request")
		}
		return &Startup{Kind: KindCancel, PID: binary.BigEndian.Uint32(body[4:]), Secret: binary.BigEndian.Uint32(body[8:])}, nil
	}
	s := &Startup{Kind: KindStartup, Major: uint16(code >> 16), Minor: uint16(code)}
	if s.Major != 3 {
		return nil, pgerr.Fatalf(pgerr.FeatureNotSupported,
			"unsupported frontend protocol %d.%d: server supports 3.0 to 3.0", s.Major, s.Minor)
	}
	rest := body[4:]
	for {
		name, ok := cstring(&rest)
		if !ok {
			return nil, pgerr.Fatalf(pgerr.ProtocolViolation, "invalid startup packet layout: expected terminator as last byte")
		}
		if name == "" {
			break
		}
		value, ok := cstring(&rest)
		if !ok {
			return nil, pgerr.Fatalf(pgerr.ProtocolViolation, "invalid startup packet layout: expected terminator as last byte")
		}
		switch lname := strings.ToLower(name); {
		case lname == "user":
			s.User = value
		case lname == "database":
			s.Database = value
		case lname == "replication":
			s.Replication = value
		case strings.HasPrefix(lname, "_pq_."):
			s.ProtocolOptions = append(s.ProtocolOptions, name)
		default:
			s.Params = append(s.Params, Param{Name: lname, Value: value})
		}
	}
	if len(rest) != 0 {
		return nil, pgerr.Fatalf(pgerr.ProtocolViolation, "invalid startup packet layout: expected terminator as last byte")
	}
	if s.User == "" {
		return nil, pgerr.Fatalf(pgerr.InvalidAuthSpec, "no PostgreSQL user name specified in startup packet")
	}
	if s.Database == "" {
		s.Database = s.User
	}
	return s, nil
}

func cstring(b *[]byte) (string, bool) {
	i := bytes.IndexByte(*b, 0)
	if i < 0 {
		return "", false
	}
	s := string((*b)[:i])
	*b = (*b)[i+1:]
	return s, true
}

// Settings turns the startup parameters into the session settings the client
// expects: every parameter but "options" as is, and each "-c name=value" or
// "--name=value" inside "options" (PostgreSQL's pg_split_opts rules: spaces
// separate words, a backslash escapes the next character).
func (s *Startup) Settings() (map[string]string, error) {
	vars := make(map[string]string, len(s.Params))
	for _, p := range s.Params {
		if p.Name != "options" {
			vars[p.Name] = p.Value
			continue
		}
		words := splitOptions(p.Value)
		for i := 0; i < len(words); i++ {
			w := words[i]
			var kv string
			switch {
			case w == "-c" && i+1 < len(words):
				i++
				kv = words[i]
			case strings.HasPrefix(w, "-c"):
				kv = w[2:]
			case strings.HasPrefix(w, "--"):
				kv = w[2:]
			default:
				return nil, pgerr.Fatalf(pgerr.FeatureNotSupported,
					"unsupported startup option %q: only -c name=value and --name=value are passed through a pooler", w)
			}
			name, value, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, pgerr.Fatalf(pgerr.SyntaxError, "-c %s requires a value", kv)
			}
			vars[strings.ToLower(strings.ReplaceAll(name, "-", "_"))] = value
		}
	}
	return vars, nil
}

func splitOptions(s string) []string {
	var words []string
	var cur strings.Builder
	inWord, escaped := false, false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped, inWord = true, true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// String names the client for logs.
func (s *Startup) String() string {
	return fmt.Sprintf("%s@%s", s.User, s.Database)
}
