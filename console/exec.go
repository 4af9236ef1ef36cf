package console

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/odyssey-go/odyssey/sqlparse"
)

// exec runs one command.
func (s *session) exec(ctx context.Context, cmd *sqlparse.Command) (*result, error) {
	if s.tx == 'E' && cmd.Verb != sqlparse.Commit && cmd.Verb != sqlparse.Rollback {
		return nil, errFailedTransaction
	}
	switch cmd.Verb {
	case sqlparse.Begin, sqlparse.Commit, sqlparse.Rollback:
		return s.transaction(cmd), nil
	case sqlparse.Show:
		return s.show(cmd)
	case sqlparse.Select:
		return selectResult(cmd), nil
	case sqlparse.Set:
		return s.set(cmd)
	}
	if !s.admin() {
		return nil, errAdminNeeded
	}
	return s.control(ctx, cmd)
}

// errFailedTransaction is PostgreSQL's answer in a failed transaction.
var errFailedTransaction = Errorf(codeInFailedTransaction,
	"current transaction is aborted, commands ignored until end of transaction block")

// transaction keeps the transaction status drivers expect around their
// queries (psycopg sends BEGIN before the first one unless in autocommit
// mode), with PostgreSQL's tags and warnings. Nothing is transactional:
// each command takes effect when it runs.
func (s *session) transaction(cmd *sqlparse.Command) *result {
	res := &result{tag: cmd.Verb.String()}
	warn := func(code, msg string) {
		res.notices = append(res.notices, &pgproto3.NoticeResponse{Severity: "WARNING",
			SeverityUnlocalized: "WARNING", Code: code, Message: msg})
	}
	switch {
	case cmd.Verb == sqlparse.Begin && s.tx != 'I':
		warn(codeActiveTransaction, "there is already a transaction in progress")
	case cmd.Verb == sqlparse.Begin:
		s.tx = 'T'
	case s.tx == 'I':
		warn(codeNoActiveTransaction, "there is no transaction in progress")
	default:
		if s.tx == 'E' {
			res.tag = "ROLLBACK" // COMMIT of a failed transaction rolls it back
		}
		s.tx = 'I'
	}
	return res
}

// errAdminNeeded is PgBouncer's answer to a stats user's control command,
// with the SQLSTATE PostgreSQL uses for missing privileges.
var errAdminNeeded = Errorf(codeInsufficientPriv, "admin access needed")

func (s *session) admin() bool { return s.Role == RoleAdmin }

// invalid is PgBouncer's answer to anything it does not know.
func invalid(text string) error {
	return parseError(&sqlparse.SyntaxError{Text: text})
}

// show answers SHOW: a list from shows, SHOW HELP, or a session setting.
func (s *session) show(cmd *sqlparse.Command) (*result, error) {
	if cmd.Name == "help" && cmd.Arg == "" {
		return showHelp(), nil
	}
	sc, ok := shows[cmd.Name]
	if !ok {
		if cmd.Arg == "" {
			if r, ok := showParam(s, cmd.Name); ok {
				return r, nil
			}
		}
		return nil, invalid(cmd.Text)
	}
	if cmd.Arg != "" && sc.filter == noFilter {
		return nil, invalid(cmd.Text)
	}
	if sc.adminOnly && !s.admin() {
		return nil, errAdminNeeded
	}
	return sc.run(s, cmd.Arg), nil
}

// ignoredSets are the session settings tools set on every connection; SET
// of one answers NOTICE "SET ignored" for any role, as PgBouncer does.
var ignoredSets = map[string]bool{
	"client_encoding": true, "default_transaction_isolation": true, "standard_conforming_strings": true,
	"datestyle": true, "timezone": true, "extra_float_digits": true, "application_name": true,
	"intervalstyle": true,
}

// set answers SET: ignored for session settings, else a pooler setting.
// The tag is PgBouncer's "SET key=value".
func (s *session) set(cmd *sqlparse.Command) (*result, error) {
	if ignoredSets[cmd.Name] {
		return &result{
			notices: []*pgproto3.NoticeResponse{{Severity: "NOTICE", SeverityUnlocalized: "NOTICE",
				Code: codeSuccessfulNotice, Message: "SET ignored"}},
			tag: "SET",
		}, nil
	}
	if !s.admin() {
		return nil, errAdminNeeded
	}
	if err := s.src.Set(cmd.Name, cmd.Arg); err != nil {
		return nil, withCode(err, codeInvalidParameter)
	}
	return &result{tag: "SET " + cmd.Name + "=" + cmd.Arg}, nil
}

// selectResult answers a SELECT of constants as PostgreSQL would: integers
// are int4 (int8 beyond), strings and NULL text, booleans bool.
func selectResult(cmd *sqlparse.Command) *result {
	res := &result{tag: "SELECT 1"}
	row := make([]any, len(cmd.Consts))
	for i, c := range cmd.Consts {
		typ := "s"
		switch v := c.Value.(type) {
		case int64:
			typ = "i"
			if v < math.MinInt32 || v > math.MaxInt32 {
				typ = "q"
			}
		case bool:
			typ = "B"
		}
		res.cols = append(res.cols, columns(typ, c.Name)...)
		row[i] = c.Value
	}
	res.rows = [][]any{row}
	return res
}

// describeCmd returns the columns cmd answers with, nil for none, without
// running a control verb: SHOW and SELECT have no effects, so they are
// answered and their columns taken.
func (s *session) describeCmd(cmd *sqlparse.Command) ([]column, error) {
	switch cmd.Verb {
	case sqlparse.Show:
		res, err := s.show(cmd)
		if err != nil {
			return nil, err
		}
		return res.cols, nil
	case sqlparse.Select:
		return selectResult(cmd).cols, nil
	}
	return nil, nil
}

// errCanceled is PostgreSQL's answer to a CancelRequest.
var errCanceled = Errorf(codeQueryCanceled, "canceling statement due to user request")

// control runs a control verb, as PgBouncer's admin.c does.
func (s *session) control(ctx context.Context, cmd *sqlparse.Command) (*result, error) {
	db := cmd.Arg
	var err error
	switch cmd.Verb {
	case sqlparse.Pause:
		err = s.wait(ctx, func(ctx context.Context) error { return s.src.Pause(ctx, db) },
			func() { _ = s.src.Resume(db) })
	case sqlparse.Resume:
		if err = s.src.Resume(db); err == nil && db == "" {
			s.suspended = false
		}
	case sqlparse.Disable, sqlparse.Enable:
		if db == "" {
			return nil, Errorf(codeSyntaxError, "a database is required")
		}
		if cmd.Verb == sqlparse.Disable {
			err = s.src.Disable(db)
		} else {
			err = s.src.Enable(db)
		}
	case sqlparse.Reconnect:
		err = s.src.Reconnect(db)
	case sqlparse.Kill:
		err = s.src.Kill(db)
	case sqlparse.KillClient:
		id, perr := strconv.ParseInt(db, 10, 64)
		if perr != nil {
			return nil, Errorf(codeInvalidParameter, "invalid client id: %s", db)
		}
		err = s.src.KillClient(id)
	case sqlparse.Suspend:
		err = s.wait(ctx, s.src.Suspend, func() { _ = s.src.Resume("") })
		if err == nil {
			s.suspended = true
		}
	case sqlparse.Shutdown:
		mode := ShutdownImmediate
		switch cmd.Name {
		case "wait_for_servers":
			mode = ShutdownWaitForServers
		case "wait_for_clients":
			mode = ShutdownWaitForClients
		}
		if err = s.src.Shutdown(mode); err == nil {
			// An immediate shutdown ends this session with the process;
			// the others leave the console open, as PgBouncer does.
			return &result{tag: "SHUTDOWN", end: mode == ShutdownImmediate}, nil
		}
	case sqlparse.WaitClose:
		err = s.wait(ctx, func(ctx context.Context) error { return s.src.WaitClose(ctx, db) }, nil)
	case sqlparse.Reload:
		if err = s.src.Reload(); err != nil {
			return nil, withCode(err, codeConfigFileError)
		}
	default:
		return nil, invalid(cmd.Text)
	}
	if err != nil {
		return nil, err
	}
	return &result{tag: cmd.Verb.String()}, nil
}

// wait runs a control verb that waits (PAUSE, SUSPEND, WAIT_CLOSE) until it
// returns, ctx ends, or the client cancels. On a client's cancel, undo
// (if any) runs, as PgBouncer resumes when an admin presses ^C, and the
// answer is ERROR 57014.
func (s *session) wait(ctx context.Context, verb func(context.Context) error, undo func()) error {
	// A cancel that arrived while nothing waited is not for this command.
	for drained := false; !drained && s.Cancel != nil; {
		select {
		case <-s.Cancel:
		default:
			drained = true
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var watcher sync.WaitGroup
	if s.Cancel != nil {
		watcher.Add(1)
		go func() {
			defer watcher.Done()
			select {
			case <-s.Cancel:
				cancel()
			case <-cctx.Done():
			}
		}()
	}
	err := verb(cctx)
	clientCanceled := ctx.Err() == nil && cctx.Err() != nil
	cancel()
	watcher.Wait()
	if err != nil && clientCanceled {
		if undo != nil {
			undo()
		}
		return errCanceled
	}
	return err
}

// withCode gives err the SQLSTATE code unless it carries its own.
func withCode(err error, code string) error {
	var r responder
	if errors.As(err, &r) {
		return err
	}
	return Errorf(code, "%s", err.Error())
}
