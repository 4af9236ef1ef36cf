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
func mayChangeSettings(q []byte) bool {
	settings, _ := classify(q)
	return settings
}

// classify reports whether the SQL text q may change session settings (see
// mayChangeSettings) and whether it may drop prepared statements (DISCARD,
// DEALLOCATE).
func classify(q []byte) (settings, statements bool) {
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
				if hasWord(q[i:], "set") || hasWord(q[i:], "reset") {
					settings = true
				}
				if hasWord(q[i:], "discard") {
					settings, statements = true, true
				}
				if hasWord(q[i:], "deallocate") {
					statements = true
				}
			}
			if (c == 's' || c == 'S') && hasPrefixFold(q[i:], "set_config") {
				settings = true
			}
			start = false
		}
	}
	return settings, statements
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
