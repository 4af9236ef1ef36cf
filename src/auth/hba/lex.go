package hba

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxIncludeDepth bounds nested @file includes, like PostgreSQL 16's
// CONF_FILE_MAX_DEPTH; it also ends include cycles.
const maxIncludeDepth = 10

// token is one name or keyword of a column.
type token struct {
	text string
	// quoted is set when the token began with a double quote: it is then
	// never a keyword nor an @file (PostgreSQL's AuthToken.quoted).
	quoted bool
	// from is the @file the token was read from, "" for the line itself.
	from string
}

// keyword reports whether t is the unquoted keyword kw.
func (t token) keyword(kw string) bool { return !t.quoted && t.text == kw }

// logicalLine is one line of an hba file with its continuations joined:
// its columns, each the list of comma-separated tokens written there.
type logicalLine struct {
	num    int // first physical line, 1-based
	fields [][]token
}

// rawLine is one line of text as the lexer sees it: continuations
// joined, line end removed.
type rawLine struct {
	num  int // first line, 1-based
	text string
}

// joinLines splits data into lines. A line ending in a backslash continues
// on the next one (PostgreSQL 16's tokenize_auth_file; the backslash is
// looked at before comments are, so it continues a comment too).
func joinLines(data []byte) []rawLine {
	var out []rawLine
	var cont strings.Builder
	start := 0 // first line of cont, 0 when no line is being continued
	for i, s := range strings.Split(string(data), "\n") {
		s = strings.TrimRight(s, "\r")
		if start == 0 {
			start = i + 1
		}
		if strings.HasSuffix(s, `\`) {
			cont.WriteString(s[:len(s)-1])
			continue
		}
		cont.WriteString(s)
		out = append(out, rawLine{start, cont.String()})
		cont.Reset()
		start = 0
	}
	if start != 0 {
		out = append(out, rawLine{start, cont.String()})
	}
	return out
}

// lexer reads the tokens of one logical line the way PostgreSQL's
// next_token does.
type lexer struct {
	s string
	i int
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }

// next returns the next token and whether an unquoted comma ended it (the
// column goes on). ok is false at the end of the line or at a comment.
func (l *lexer) next() (t token, comma, ok bool, err error) {
	for l.i < len(l.s) && (isBlank(l.s[l.i]) || l.s[l.i] == ',') {
		l.i++
	}
	var b strings.Builder
	inQuote, wasQuote, sawQuote := false, false, false
	for l.i < len(l.s) {
		c := l.s[l.i]
		if !inQuote && isBlank(c) {
			break
		}
		if !inQuote && c == '#' {
			l.i = len(l.s)
			break
		}
		l.i++
		if !inQuote && c == ',' {
			comma = true
			break
		}
		if c == 0 {
			return token{}, false, false, errors.New("NUL byte in line")
		}
		// "" inside quotes is one literal quote.
		if c != '"' || wasQuote {
			b.WriteByte(c)
		}
		wasQuote = inQuote && c == '"' && !wasQuote
		if c == '"' {
			inQuote = !inQuote
			sawQuote = true
			if b.Len() == 0 {
				t.quoted = true
			}
		}
	}
	if inQuote {
		return token{}, false, false, errors.New("unterminated quoted string")
	}
	t.text = b.String()
	return t, comma, sawQuote || b.Len() > 0, nil
}

// field returns the tokens of the next column, nil at the end of the line.
func (l *lexer) field() ([]token, error) {
	var toks []token
	for {
		t, comma, ok, err := l.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return toks, nil
		}
		toks = append(toks, t)
		if !comma {
			return toks, nil
		}
	}
}

// includer expands @file tokens; path is the file whose tokens it expands.
type includer struct {
	path  string
	depth int
}

// tokenize splits data, the contents of in.path, into logical lines,
// expanding @file tokens. A line that cannot be read is reported as a
// *ParseError and left out.
func (in includer) tokenize(data []byte) ([]logicalLine, []error) {
	var out []logicalLine
	var errs []error
	for _, ln := range joinLines(data) {
		ll := logicalLine{num: ln.num}
		l := lexer{s: ln.text}
		var err error
		for l.i < len(l.s) && err == nil {
			var f []token
			if f, err = l.field(); err == nil && f != nil {
				// A column stays a column even when its @files are
				// empty (PostgreSQL would shift the next one in).
				f, err = in.expand(f)
				ll.fields = append(ll.fields, f)
			}
		}
		if err != nil {
			errs = append(errs, &ParseError{File: in.path, Line: ln.num, Msg: err.Error(), cause: err})
			continue
		}
		if len(ll.fields) > 0 {
			out = append(out, ll)
		}
	}
	return out, errs
}

// expand replaces each @file token of a column by the tokens of the file.
func (in includer) expand(f []token) ([]token, error) {
	var out []token
	for _, t := range f {
		if t.quoted || len(t.text) < 2 || t.text[0] != '@' {
			out = append(out, t)
			continue
		}
		toks, err := in.include(t.text[1:])
		if err != nil {
			return nil, err
		}
		out = append(out, toks...)
	}
	return out, nil
}

// include returns every token of the file name, read relative to the
// directory of in.path, in order.
func (in includer) include(name string) ([]token, error) {
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(in.path), name)
	}
	if in.depth >= maxIncludeDepth {
		return nil, fmt.Errorf("could not open file %q: @file includes nested more than %d deep", path, maxIncludeDepth)
	}
	data, err := readFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the message names the path already
		}
		return nil, fmt.Errorf("could not open secondary authentication file \"@%s\" as %q: %w", name, path, err)
	}
	inner := includer{path: path, depth: in.depth + 1}
	lls, errs := inner.tokenize(data)
	if len(errs) > 0 {
		pe := errs[0].(*ParseError)
		if nested, ok := pe.cause.(*includeError); ok {
			return nil, &includeError{name: name, at: nested.at, msg: nested.msg}
		}
		return nil, &includeError{name: name, at: fmt.Sprintf("%s:%d", pe.File, pe.Line), msg: pe.Msg}
	}
	var out []token
	for _, ll := range lls {
		for _, f := range ll.fields {
			for _, t := range f {
				if t.from == "" {
					t.from = name
				}
				out = append(out, t)
			}
		}
	}
	return out, nil
}

// includeError is a bad line inside an @file, reported at the line that
// names the file. When @files nest, at and msg are the innermost problem.
type includeError struct {
	name string // the @file as the line wrote it
	at   string // path:line of the problem
	msg  string
}

func (e *includeError) Error() string { return fmt.Sprintf("in @%s: %s: %s", e.name, e.at, e.msg) }

// readFile reads a regular file: a device or FIFO named by mistake would
// block the load or never end.
func readFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	return os.ReadFile(path)
}
