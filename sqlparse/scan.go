package sqlparse

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// token is one lexical token of PostgreSQL's own scanner (scan.l, run by
// pg_query), comments already dropped.
type token struct {
	kind pg_query.Token
	kw   bool   // a keyword of any category (SHOW, TEMP, ...)
	text string // the token as written
}

// statement is the tokens between two semicolons and the text they span,
// inner comments included.
type statement struct {
	toks []token
	text string
}

// scan splits sql into statements with PostgreSQL's scanner, so quoting,
// dollar quoting, nested comments and escape strings are read exactly as
// the server reads them (standard_conforming_strings on, as pg_query
// assumes). Empty statements (";;", comments only) are dropped. The scanner
// reads a C string, so input with a NUL byte, which no protocol message can
// carry, is refused.
func scan(sql string) ([]statement, error) {
	if strings.IndexByte(sql, 0) >= 0 {
		return nil, errNUL
	}
	res, err := pg_query.Scan(sql)
	if err != nil {
		return nil, err
	}
	var stmts []statement
	var cur []token
	start, end := 0, 0
	flush := func() {
		if len(cur) > 0 {
			stmts = append(stmts, statement{toks: cur, text: sql[start:end]})
		}
		cur = nil
	}
	for _, t := range res.Tokens {
		s, e := int(t.Start), int(t.End)
		if s < 0 || e > len(sql) || s > e {
			return nil, errScanner
		}
		switch t.Token {
		case pg_query.Token_SQL_COMMENT, pg_query.Token_C_COMMENT:
			continue
		case pg_query.Token_ASCII_59: // ;
			flush()
			continue
		}
		if len(cur) == 0 {
			start = s
		}
		end = e
		cur = append(cur, token{kind: t.Token, kw: t.KeywordKind != pg_query.KeywordKind_NO_KEYWORD, text: sql[s:e]})
	}
	flush()
	return stmts, nil
}

// word returns the name a token stands for when it is used as an
// identifier: a quoted identifier without its quotes, anything else folded
// to lower case, as PostgreSQL folds unquoted names. ok is false for tokens
// that are not names (constants, operators, U&"..." identifiers).
func (t token) word() (w string, ok bool) {
	switch {
	case t.kind == pg_query.Token_IDENT && strings.HasPrefix(t.text, `"`):
		if len(t.text) < 2 {
			return "", false
		}
		return strings.ReplaceAll(t.text[1:len(t.text)-1], `""`, `"`), true
	case t.kind == pg_query.Token_IDENT, t.kw:
		return strings.ToLower(t.text), true
	}
	return "", false
}

// bare returns the lower-cased token when it is an unquoted word: a
// command's own keywords must not be quoted.
func (t token) bare() string {
	if (t.kind == pg_query.Token_IDENT || t.kw) && !strings.HasPrefix(t.text, `"`) {
		return strings.ToLower(t.text)
	}
	return ""
}

// is reports whether t is the punctuation character c.
func (t token) is(c byte) bool { return t.kind == pg_query.Token(c) }
