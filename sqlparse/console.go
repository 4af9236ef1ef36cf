package sqlparse

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// Verb is what a console command does. Its String is the command tag the
// console answers with, as PgBouncer's.
type Verb int

// The console's verbs (https://www.pgbouncer.org/usage.html#admin-console).
const (
	Show Verb = iota + 1
	Set
	Select // a probe that selects constants: SELECT 1
	Pause
	Resume
	Disable
	Enable
	Reconnect
	Kill
	KillClient
	Suspend
	Shutdown
	WaitClose
	Reload
	// Begin, Commit and Rollback are accepted because drivers that are
	// not in autocommit mode (psycopg's default) wrap every query in a
	// transaction; the console keeps the transaction status they expect.
	Begin
	Commit
	Rollback
)

var verbNames = [...]string{
	Show: "SHOW", Set: "SET", Select: "SELECT", Pause: "PAUSE", Resume: "RESUME",
	Disable: "DISABLE", Enable: "ENABLE", Reconnect: "RECONNECT", Kill: "KILL",
	KillClient: "KILL_CLIENT", Suspend: "SUSPEND", Shutdown: "SHUTDOWN",
	WaitClose: "WAIT_CLOSE", Reload: "RELOAD", Begin: "BEGIN", Commit: "COMMIT", Rollback: "ROLLBACK",
}

func (v Verb) String() string {
	if v > 0 && int(v) < len(verbNames) {
		return verbNames[v]
	}
	return "Verb(" + strconv.Itoa(int(v)) + ")"
}

// The verbs of the small grammar PostgreSQL's does not know, and what
// follows them.
const (
	argNone     = iota // SUSPEND, RELOAD
	argOptional        // PAUSE [db]
	argInteger         // KILL_CLIENT id
	argShutdown        // SHUTDOWN [WAIT_FOR_SERVERS | WAIT_FOR_CLIENTS]
)

var handVerbs = map[string]struct {
	verb Verb
	arg  int
}{
	"pause":       {Pause, argOptional},
	"resume":      {Resume, argOptional},
	"disable":     {Disable, argOptional}, // the console insists on a database, as PgBouncer
	"enable":      {Enable, argOptional},
	"reconnect":   {Reconnect, argOptional},
	"kill":        {Kill, argOptional},
	"wait_close":  {WaitClose, argOptional},
	"kill_client": {KillClient, argInteger},
	"suspend":     {Suspend, argNone},
	"reload":      {Reload, argNone},
	"shutdown":    {Shutdown, argShutdown},
}

// Command is one parsed console statement.
type Command struct {
	Verb Verb
	// Name is what SHOW shows ("pools", "client_encoding") or what SET
	// sets, folded to lower case; for SHUTDOWN it is "", "wait_for_servers"
	// or "wait_for_clients".
	Name string
	// Arg is the optional argument: the database of PAUSE, RESUME, DISABLE,
	// ENABLE, RECONNECT, KILL and WAIT_CLOSE, the filter of SHOW (SHOW
	// CLIENTS app), the client id of KILL_CLIENT (decimal digits), the value
	// of SET. Unquoted names are folded to lower case, quoted ones kept as
	// written, as PostgreSQL reads identifiers. "" when absent.
	Arg string
	// Consts are the columns of a SELECT probe.
	Consts []Const
	// Text is the statement as written, without the comments around it and
	// the semicolon after it.
	Text string
}

// Const is one constant column of a SELECT probe.
type Const struct {
	Name  string // the alias, or "?column?" as PostgreSQL names it
	Value any    // int64, string, bool or nil for NULL
}

// SyntaxError reports input that is no console command. Its text is the one
// PgBouncer gives, so that scripts matching it keep working.
type SyntaxError struct {
	Text string // the offending statement (or the whole input when it does not scan)
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid command '%s', use SHOW HELP;", e.Text)
}

// ErrMultipleCommands is returned by Parse for input that holds more than
// one statement: an extended-protocol Parse message takes one.
var ErrMultipleCommands = errors.New("cannot insert multiple commands into a prepared statement")

var (
	errNUL     = errors.New("input contains a NUL byte")
	errScanner = errors.New("scanner returned a token outside the input")
)

// ParseAll parses the statements of one simple-protocol Query. It returns no
// command for empty input (only blanks, comments or semicolons); the
// console answers that with EmptyQueryResponse, as PostgreSQL. When any
// statement is invalid, ParseAll returns a *SyntaxError naming it and no
// commands: like PostgreSQL, which parses the whole query string before
// running any of it, the console then runs none of them.
func ParseAll(sql string) ([]Command, error) {
	stmts, err := scan(sql)
	if err != nil {
		return nil, &SyntaxError{Text: strings.TrimSpace(sql)}
	}
	cmds := make([]Command, 0, len(stmts))
	for _, st := range stmts {
		c, err := parseStatement(st)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, c)
	}
	return cmds, nil
}

// Parse parses exactly one console statement: case-insensitive, with an
// optional trailing semicolon and comments anywhere. Empty input is a
// *SyntaxError, more than one statement ErrMultipleCommands.
func Parse(sql string) (Command, error) {
	cmds, err := ParseAll(sql)
	switch {
	case err != nil:
		return Command{}, err
	case len(cmds) == 0:
		return Command{}, &SyntaxError{Text: strings.TrimSpace(sql)}
	case len(cmds) > 1:
		return Command{}, ErrMultipleCommands
	}
	return cmds[0], nil
}

// parseStatement reads one statement. SHOW x, SET and SELECT go to
// PostgreSQL's grammar; the verbs it does not know, and SHOW with a filter,
// which its grammar refuses, to the small grammar of handVerbs.
func parseStatement(st statement) (Command, error) {
	bad := &SyntaxError{Text: st.text}
	toks := st.toks
	switch toks[0].bare() {
	case "show":
		if c, ok := parseShow(st); ok {
			return c, nil
		}
		// SHOW list filter, and SHOW of a reserved word (SHOW USER):
		// outside PostgreSQL's grammar.
		if len(toks) != 2 && len(toks) != 3 {
			return Command{}, bad
		}
		name, ok := toks[1].word()
		if !ok {
			return Command{}, bad
		}
		c := Command{Verb: Show, Name: strings.ToLower(name), Text: st.text}
		if len(toks) == 3 {
			if c.Arg, ok = argument(toks[2]); !ok {
				return Command{}, bad
			}
		}
		return c, nil
	case "set":
		if c, ok := parseSet(st); ok {
			return c, nil
		}
		return Command{}, bad
	case "select":
		if c, ok := parseSelect(st); ok {
			return c, nil
		}
		return Command{}, bad
	case "begin", "start", "commit", "end", "rollback", "abort":
		if c, ok := parseTransaction(st); ok {
			return c, nil
		}
		return Command{}, bad
	}
	hv, ok := handVerbs[toks[0].bare()]
	if !ok {
		return Command{}, bad
	}
	c := Command{Verb: hv.verb, Text: st.text}
	rest := toks[1:]
	switch {
	case len(rest) == 0:
		if hv.arg == argInteger {
			return Command{}, bad
		}
	case len(rest) > 1 || hv.arg == argNone:
		return Command{}, bad
	case hv.arg == argInteger:
		if rest[0].kind != pg_query.Token_ICONST {
			return Command{}, bad
		}
		c.Arg = rest[0].text
	case hv.arg == argShutdown:
		mode := rest[0].bare()
		if mode != "wait_for_servers" && mode != "wait_for_clients" {
			return Command{}, bad
		}
		c.Name = mode
	default:
		arg, ok := argument(rest[0])
		if !ok {
			return Command{}, bad
		}
		c.Arg = arg
	}
	return c, nil
}

// argument reads a command's argument: a name (quoted or not) or an
// unsigned integer.
func argument(t token) (string, bool) {
	if t.kind == pg_query.Token_ICONST {
		return t.text, true
	}
	return t.word()
}

// parseShow reads SHOW name with PostgreSQL's grammar, which also knows the
// multi-word spellings (SHOW TIME ZONE is timezone).
func parseShow(st statement) (Command, bool) {
	stmt, ok := parseOne(st.text)
	if !ok {
		return Command{}, false
	}
	show := stmt.GetVariableShowStmt()
	if show == nil {
		return Command{}, false
	}
	return Command{Verb: Show, Name: strings.ToLower(show.Name), Text: st.text}, true
}

// parseSet reads SET [SESSION] name {= | TO} value[, ...] with PostgreSQL's
// grammar. A list is joined with ", " as PostgreSQL shows list settings.
// SET LOCAL, SET ... TO DEFAULT and the special forms (SET TIME ZONE,
// SET TRANSACTION) are not console commands.
func parseSet(st statement) (Command, bool) {
	stmt, ok := parseOne(st.text)
	if !ok {
		return Command{}, false
	}
	set := stmt.GetVariableSetStmt()
	if set == nil || set.Kind != pg_query.VariableSetKind_VAR_SET_VALUE || set.IsLocal || len(set.Args) == 0 {
		return Command{}, false
	}
	vals := make([]string, 0, len(set.Args))
	for _, a := range set.Args {
		c := a.GetAConst()
		if c == nil || c.Isnull {
			return Command{}, false
		}
		v, ok := constValue(c)
		if !ok {
			return Command{}, false
		}
		vals = append(vals, fmt.Sprint(v))
	}
	return Command{Verb: Set, Name: strings.ToLower(set.Name), Arg: strings.Join(vals, ", "), Text: st.text}, true
}

// parseSelect accepts SELECT of constants only (SELECT 1, SELECT 'ok' AS
// status): the liveness probes that health checkers send. Anything that
// would need a catalog, a function or a table is no console command.
func parseSelect(st statement) (Command, bool) {
	stmt, ok := parseOne(st.text)
	if !ok {
		return Command{}, false
	}
	sel := stmt.GetSelectStmt()
	if sel == nil || sel.Op != pg_query.SetOperation_SETOP_NONE || len(sel.TargetList) == 0 ||
		len(sel.FromClause) > 0 || sel.WhereClause != nil || len(sel.GroupClause) > 0 ||
		sel.HavingClause != nil || len(sel.SortClause) > 0 || sel.LimitCount != nil ||
		sel.LimitOffset != nil || sel.WithClause != nil || len(sel.ValuesLists) > 0 ||
		len(sel.DistinctClause) > 0 || sel.IntoClause != nil || len(sel.LockingClause) > 0 ||
		len(sel.WindowClause) > 0 {
		return Command{}, false
	}
	c := Command{Verb: Select, Text: st.text}
	for _, n := range sel.TargetList {
		rt := n.GetResTarget()
		if rt == nil || rt.Val == nil {
			return Command{}, false
		}
		ac := rt.Val.GetAConst()
		if ac == nil {
			return Command{}, false
		}
		var v any
		if !ac.Isnull {
			if v, ok = constValue(ac); !ok {
				return Command{}, false
			}
		}
		name := rt.Name
		if name == "" {
			name = "?column?"
			if _, isBool := v.(bool); isBool {
				name = "bool"
			}
		}
		c.Consts = append(c.Consts, Const{Name: name, Value: v})
	}
	return c, true
}

// parseTransaction reads BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK
// and ABORT, with any transaction modes (BEGIN ISOLATION LEVEL ...), which
// the console ignores. Savepoints, two-phase commit and AND CHAIN are not
// console commands.
func parseTransaction(st statement) (Command, bool) {
	stmt, ok := parseOne(st.text)
	if !ok {
		return Command{}, false
	}
	tx := stmt.GetTransactionStmt()
	if tx == nil || tx.Chain {
		return Command{}, false
	}
	c := Command{Text: st.text}
	switch tx.Kind {
	case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN, pg_query.TransactionStmtKind_TRANS_STMT_START:
		c.Verb = Begin
	case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT:
		c.Verb = Commit
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK:
		c.Verb = Rollback
	default:
		return Command{}, false
	}
	return c, true
}

// constValue converts a constant to int64, string or bool. Floats keep their
// text (SELECT 1.5 selects the string "1.5", SET x = 1.5 sets "1.5").
func constValue(c *pg_query.A_Const) (any, bool) {
	switch v := c.Val.(type) {
	case *pg_query.A_Const_Ival:
		return int64(v.Ival.Ival), true
	case *pg_query.A_Const_Sval:
		return v.Sval.Sval, true
	case *pg_query.A_Const_Fval:
		// The scanner makes integers beyond int4 floats; PostgreSQL types
		// those that fit as bigint.
		if n, err := strconv.ParseInt(v.Fval.Fval, 10, 64); err == nil {
			return n, true
		}
		return v.Fval.Fval, true
	case *pg_query.A_Const_Boolval:
		return v.Boolval.Boolval, true
	}
	return nil, false
}

// parseOne runs PostgreSQL's grammar on text, which holds one statement.
func parseOne(text string) (*pg_query.Node, bool) {
	tree, err := pg_query.Parse(text)
	if err != nil || len(tree.Stmts) != 1 || tree.Stmts[0].Stmt == nil {
		return nil, false
	}
	return tree.Stmts[0].Stmt, true
}
