package sqlparse

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse feeds console input of any shape to ParseAll and Parse: they
// must not panic, must agree, and what they return must come from the
// input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"SHOW POOLS;", "show clients app", `SHOW SERVERS "A""b"`, "SET log_level TO 'debug'",
		"PAUSE app; RESUME app", "KILL_CLIENT 12", "SHUTDOWN WAIT_FOR_CLIENTS", "SELECT 1 AS one, 'x', NULL",
		"-- c\n/* d /* e */ */ RELOAD", "SET x = $tag$v$tag$", "bogus", "SET x = E'\\x41'", "SHOW TIME ZONE",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		cmds, err := ParseAll(sql)
		var se *SyntaxError
		if err != nil && !errors.As(err, &se) {
			t.Fatalf("ParseAll(%q): error %v is not a SyntaxError", sql, err)
		}
		for _, c := range cmds {
			if c.Verb < Show || c.Verb > Rollback {
				t.Fatalf("ParseAll(%q): verb %d", sql, c.Verb)
			}
			if !strings.Contains(sql, c.Text) || c.Text == "" {
				t.Fatalf("ParseAll(%q): Text %q is not part of the input", sql, c.Text)
			}
			if (c.Verb == Show || c.Verb == Set) && c.Name == "" {
				t.Fatalf("ParseAll(%q): %v without a name", sql, c.Verb)
			}
		}
		c, err := Parse(sql)
		switch {
		case err == nil && (len(cmds) != 1 || c.Text != cmds[0].Text):
			t.Fatalf("Parse(%q) = %+v, ParseAll = %+v", sql, c, cmds)
		case errors.Is(err, ErrMultipleCommands) && len(cmds) < 2:
			t.Fatalf("Parse(%q): ErrMultipleCommands for %d commands", sql, len(cmds))
		}
	})
}

// FuzzClassify checks that Classify never panics and that its fast path
// never hides an effect the scanner finds.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{
		"SELECT 1", "SET x = 1", "select pg_advisory_lock(1)", "CREATE TEMP TABLE t()", "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
		"DISCARD ALL", "'unterminated", "SELECT $$SET$$", "LiStEn x; UNLISTEN *",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		e := Classify(sql)
		if full := classifyScanned(sql); full != 0 && full != All && !mayAffect(sql) {
			t.Fatalf("classifyScanned(%q) = %b but mayAffect is false", sql, full)
		}
		if e&^All != 0 {
			t.Fatalf("Classify(%q) = %b: unknown bits", sql, e)
		}
	})
}
