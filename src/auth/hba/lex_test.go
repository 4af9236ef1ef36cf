package hba

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// fieldsOf renders tokenized lines as "num: col|col" with the tokens of a
// column joined by commas and quoted tokens in <>, for compact tables.
func fieldsOf(lls []logicalLine) []string {
	var out []string
	for _, ll := range lls {
		cols := make([]string, len(ll.fields))
		for i, f := range ll.fields {
			toks := make([]string, len(f))
			for j, t := range f {
				toks[j] = t.text
				if t.quoted {
					toks[j] = "<" + t.text + ">"
				}
			}
			cols[i] = strings.Join(toks, ",")
		}
		out = append(out, strings.Join(append([]string{strconv.Itoa(ll.num)}, cols...), "|"))
	}
	return out
}

func TestTokenize(t *testing.T) {
	cases := []struct {
		name, text string
		want       []string
	}{
		{"columns", "host all all 127.0.0.1/32 trust", []string{"1|host|all|all|127.0.0.1/32|trust"}},
		{"tabs and blanks", "\tlocal \t db  u\ttrust \r", []string{"1|local|db|u|trust"}},
		{"list", "local a,b, c u trust", []string{"1|local|a,b,c|u|trust"}},
		{"blank before comma ends the column", "local a ,b u", []string{"1|local|a|b|u"}},
		{"comma with nothing after", "local a, u", []string{"1|local|a,u"}},
		{"quoted keyword", `local "all" "sameuser" trust`, []string{"1|local|<all>|<sameuser>|trust"}},
		{"doubled quote", `local "a""b" u`, []string{`1|local|<a"b>|u`}},
		{"quoted comma, blank and hash", `local "a,b c#d" u`, []string{"1|local|<a,b c#d>|u"}},
		{"quote inside a token", `local a"b c"d u`, []string{"1|local|ab cd|u"}},
		{"quote then text", `local "a"b u`, []string{"1|local|<ab>|u"}},
		{"empty quoted", `local "" u`, []string{"1|local|<>|u"}},
		{"comment", "# all of this\n\n   # and this\nlocal a u trust # not this", []string{"4|local|a|u|trust"}},
		{"comment glued to a token", "local a#b u", []string{"1|local|a"}},
		{"comment after a comma", "local a,#b u", []string{"1|local|a"}},
		{"continuation", "local a \\\n  u \\\ntrust\nhost", []string{"1|local|a|u|trust", "4|host"}},
		{"continuation joins tokens", "local da\\\ntabase", []string{"1|local|database"}},
		{"continuation of a comment", "local a # comment \\\nu trust\nhost", []string{"1|local|a", "3|host"}},
		{"continuation at end of file", "local a \\", []string{"1|local|a"}},
		{"crlf", "local a u trust\r\nhost b\r\n", []string{"1|local|a|u|trust", "2|host|b"}},
		{"blank continuation line", "\\\nlocal", []string{"1|local"}},
		{"lone @ is a name", "local @ u", []string{"1|local|@|u"}},
		{"quoted @ is a name", `local "@x" u`, []string{"1|local|<@x>|u"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lls, errs := includer{path: "t.conf"}.tokenize([]byte(c.text))
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if got := fieldsOf(lls); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestTokenizeErrors(t *testing.T) {
	cases := []struct {
		name, text string
		line       int
		msg        string
	}{
		{"unterminated quote", "local a u trust\nlocal \"a u trust", 2, "unterminated quoted string"},
		{"escaped quote at the end", "\n\nlocal \"a\"\" u", 3, "unterminated quoted string"},
		{"NUL", "local a\x00 u trust", 1, "NUL byte"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errs := includer{path: "t.conf"}.tokenize([]byte(c.text))
			if len(errs) != 1 {
				t.Fatalf("errors: %v", errs)
			}
			pe := errs[0].(*ParseError)
			if pe.File != "t.conf" || pe.Line != c.line || !strings.Contains(pe.Msg, c.msg) {
				t.Fatalf("got %v, want t.conf:%d: ...%s...", pe, c.line, c.msg)
			}
		})
	}
}
