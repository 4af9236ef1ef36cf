package relay

import (
	"context"
	"strings"

	"github.com/odyssey-go/odyssey/src/backend"
)

// settingsQuery reads back every setting a session changed. Names are
// lowercased because GUC names are case-insensitive and clients spell them
// both ways (DateStyle, datestyle).
const settingsQuery = `SELECT lower(name), current_setting(name) FROM pg_catalog.pg_settings WHERE source = 'session'`

// mayChangeSettings reports whether the SQL text q may change session
// settings: a statement that starts with SET, RESET or DISCARD, or a call of
// set_config. It is a lexical check on the hot path; a false positive costs
// one settingsQuery, a false negative (settings changed by a function's body)
// leaves the setting on the server until the next check, as with PgBouncer.
func mayChangeSettings(q []byte) bool { return classify(q).settings }

// sqlKind is what a lexical look at SQL text says it may do to the session.
type sqlKind struct {
	settings   bool // SET, RESET, DISCARD, set_config: read settings back
	statements bool // DISCARD, DEALLOCATE: prepared statements may be gone
	// state: creates or drops state that cannot move between servers:
	// LISTEN/UNLISTEN, PREPARE/DEALLOCATE, DECLARE/CLOSE (WITH HOLD
	// cursors), CREATE TEMP/DROP, DISCARD, advisory locks. The server is
	// checked with sessionStateQuery before it is released (see pin.go).
	state bool
}

// classify looks at each statement's first word (and for set_config and
// advisory locks anywhere). Quoted text is not parsed: a false positive
// costs one query at release.
func classify(q []byte) (k sqlKind) {
	start := true
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == ';':
			start = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '(':
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			i += 2
			for i+1 < len(q) && !(q[i] == '*' && q[i+1] == '/') {
				i++
			}
			i++
		default:
			if start {
				w := q[i:]
				switch {
				case hasWord(w, "set"), hasWord(w, "reset"):
					k.settings = true
				case hasWord(w, "discard"):
					k.settings, k.statements, k.state = true, true, true
				case hasWord(w, "deallocate"):
					k.statements, k.state = true, true
				case hasWord(w, "listen"), hasWord(w, "unlisten"), hasWord(w, "prepare"),
					hasWord(w, "declare"), hasWord(w, "close"), hasWord(w, "drop"):
					k.state = true
				case hasWord(w, "create"):
					k.state = k.state || createsTemp(w[len("create"):])
				}
			}
			if c == 's' || c == 'S' {
				k.settings = k.settings || hasPrefixFold(q[i:], "set_config")
			}
			if c == 'a' || c == 'A' {
				k.state = k.state || hasPrefixFold(q[i:], "advisory")
			}
			start = false
		}
	}
	return k
}

// createsTemp reports whether the words after CREATE make a temporary
// object: CREATE [GLOBAL | LOCAL] {TEMP | TEMPORARY} ...
func createsTemp(b []byte) bool {
	for range 2 {
		for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
			b = b[1:]
		}
		switch {
		case hasWord(b, "temp"), hasWord(b, "temporary"):
			return true
		case hasWord(b, "local"):
			b = b[len("local"):]
		case hasWord(b, "global"):
			b = b[len("global"):]
		default:
			return false
		}
	}
	return false
}

// hasWord reports whether b starts with the keyword w followed by a
// non-identifier character.
func hasWord(b []byte, w string) bool {
	if !hasPrefixFold(b, w) {
		return false
	}
	if len(b) == len(w) {
		return true
	}
	c := b[len(w)]
	return !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z')
}

func hasPrefixFold(b []byte, w string) bool {
	if len(b) < len(w) {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != w[i] {
			return false
		}
	}
	return true
}

// settingsDiff returns the statements that make a server whose session
// settings are have look like want: RESET for what want lacks, set_config for
// what differs. set_config, unlike SET with a literal, hands the value to the
// setting's own parser, so list values such as search_path keep their
// meaning. It returns "" when nothing differs, the common case because pools
// hand out the most recently released server first.
func settingsDiff(have, want map[string]string) string {
	var b strings.Builder
	for name := range have {
		if _, ok := want[name]; !ok {
			b.WriteString("RESET ")
			b.WriteString(quoteIdent(name))
			b.WriteString(";")
		}
	}
	sep := "SELECT "
	for name, v := range want {
		if hv, ok := have[name]; ok && hv == v {
			continue
		}
		b.WriteString(sep)
		b.WriteString("pg_catalog.set_config(")
		b.WriteString(quoteLiteral(name))
		b.WriteString(", ")
		b.WriteString(quoteLiteral(v))
		b.WriteString(", false)")
		sep = ", "
	}
	return b.String()
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// quoteLiteral quotes s so that it parses the same whatever
// standard_conforming_strings says: E” with doubled backslashes when s holds
// a backslash, a plain literal otherwise.
func quoteLiteral(s string) string {
	if strings.ContainsRune(s, '\\') {
		return `E'` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `'`, `''`) + `'`
	}
	return `'` + strings.ReplaceAll(s, `'`, `''`) + `'`
}

// applySettings makes srv's session settings equal want.
func applySettings(ctx context.Context, srv *backend.Server, want map[string]string) error {
	q := settingsDiff(srv.Vars, want)
	if q == "" {
		return nil
	}
	if err := srv.Exec(ctx, q); err != nil {
		return err
	}
	clear(srv.Vars)
	for k, v := range want {
		srv.Vars[k] = v
	}
	return nil
}

// readSettings replaces srv.Vars with the server's session-level settings.
func readSettings(ctx context.Context, srv *backend.Server) error {
	rows, err := srv.Query(ctx, settingsQuery)
	if err != nil {
		return err
	}
	clear(srv.Vars)
	for _, r := range rows {
		if len(r) == 2 {
			srv.Vars[r[0]] = r[1]
		}
	}
	return nil
}
