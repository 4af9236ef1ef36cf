package console

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/odyssey-go/odyssey/sqlparse"
)

// Role is what a console user may do: the role setting of its rule.
type Role string

// The console roles. Any other value is treated as RoleStat.
const (
	RoleAdmin Role = "admin" // every command
	RoleStat  Role = "stat"  // SHOW, SELECT probes and the ignored session SETs
)

// DefaultServerVersion is the server_version the console reports when
// Session.ServerVersion is empty. Drivers read it to pick features: libpq
// and pgjdbc parse the leading number, and a PostgreSQL-like one keeps JDBC
// from falling back to pre-9.0 behaviour (PgBouncer's "1.25.0/bouncer"
// reads as version 1).
const DefaultServerVersion = "15.0 (Odyssey-Go console)"

// maxMessageLen bounds a client message. Console commands are short; the
// bound keeps a client from making the console buffer much. Our choice:
// PostgreSQL accepts up to 1 GiB for a query.
const maxMessageLen = 1 << 20

// Session describes the client a console session serves.
type Session struct {
	User     string
	Database string // the console database it asked for ("console", "pgbouncer")
	Role     Role
	// Params are the client's startup parameters (application_name,
	// client_encoding, DateStyle, extra_float_digits, ...). They are
	// accepted whatever they say; application_name is reported back and
	// SHOW of any of them answers the value sent.
	Params map[string]string
	// ServerVersion is reported as server_version; "" means
	// DefaultServerVersion.
	ServerVersion string
	// ProcessID and SecretKey are the pooler-issued cancel key sent in
	// BackendKeyData; both zero means none is sent (libpq, pgx and JDBC
	// work without one, but then psql cannot cancel a waiting PAUSE).
	ProcessID, SecretKey uint32
	// Cancel, when not nil, receives a value when a CancelRequest with
	// this session's key arrives. A waiting PAUSE, SUSPEND or WAIT_CLOSE
	// then stops with ERROR 57014 and, as in PgBouncer, the pause or
	// suspend it began is resumed. Values that arrive while nothing waits
	// are dropped.
	Cancel <-chan struct{}
}

// Serve runs one console session on a connection whose client the pooler
// has authenticated and sent AuthenticationOk. It sends the
// ParameterStatus set, BackendKeyData when Session has a key, and
// ReadyForQuery, then answers the simple and the extended query protocol
// (https://www.postgresql.org/docs/current/protocol-flow.html) until the
// client sends Terminate or closes the connection (Serve returns nil), the
// connection fails or the client breaks the protocol (Serve returns the
// error; a protocol violation is first answered with FATAL 08P01), or a
// SHUTDOWN command has been answered (nil).
//
// r may hold bytes the pooler's startup reader buffered. Serve writes to w
// through a buffer and flushes it before each wait for input. ctx bounds
// the waits of PAUSE, SUSPEND and WAIT_CLOSE and is checked between
// messages (FATAL 57P01 when it has ended); a read from r is not
// interrupted by it, so the caller closes the connection to stop a session
// that waits for input.
func Serve(ctx context.Context, r io.Reader, w io.Writer, sess Session, src Source) error {
	s := &session{
		Session: sess,
		src:     src,
		be:      pgproto3.NewBackend(r, skipEmpty{w}),
		enc:     newEncoder(),
		stmts:   map[string]*prepared{},
		portals: map[string]*portal{},
		tx:      'I',
	}
	s.be.SetMaxBodyLen(maxMessageLen)
	defer s.resumeSuspended()
	s.greet()
	for {
		if ctx.Err() != nil {
			s.fatal(codeAdminShutdown, "terminating connection due to administrator command")
			_ = s.be.Flush()
			return ctx.Err()
		}
		if err := s.be.Flush(); err != nil {
			return err
		}
		msg, err := s.be.Receive()
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return nil
			}
			// A malformed, unknown or oversized message: PostgreSQL ends
			// the session with FATAL 08P01. After a network error the
			// flush fails too, which changes nothing.
			s.fatal(codeProtocolViolation, "invalid message: %v", err)
			_ = s.be.Flush()
			return err
		}
		end, err := s.handle(ctx, msg)
		if err != nil || end {
			if ferr := s.be.Flush(); err == nil {
				err = ferr
			}
			return err
		}
	}
}

// session is the state of one console connection.
type session struct {
	Session
	src       Source
	be        *pgproto3.Backend // sends to the client, buffered until Flush
	enc       *encoder
	stmts     map[string]*prepared
	portals   map[string]*portal
	skipping  bool // an extended-protocol message failed: ignore all until Sync
	suspended bool // this session's SUSPEND is in force
	tx        byte // transaction status for ReadyForQuery: 'I' idle, 'T' in a block, 'E' failed block
}

// greet sends what follows AuthenticationOk: the ParameterStatus set a
// PostgreSQL server reports
// (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-ASYNC),
// the cancel key and ReadyForQuery.
func (s *session) greet() {
	superuser := "off"
	if s.Role == RoleAdmin {
		superuser = "on"
	}
	for _, p := range [][2]string{
		{"server_version", s.param("server_version")},
		{"server_encoding", "UTF8"},
		{"client_encoding", "UTF8"},
		{"DateStyle", "ISO, MDY"},
		{"TimeZone", "UTC"},
		{"IntervalStyle", "postgres"},
		{"integer_datetimes", "on"},
		{"standard_conforming_strings", "on"},
		{"default_transaction_read_only", "off"},
		{"in_hot_standby", "off"},
		{"is_superuser", superuser},
		{"session_authorization", s.User},
		{"application_name", s.param("application_name")},
	} {
		s.be.Send(&pgproto3.ParameterStatus{Name: p[0], Value: p[1]})
	}
	if s.ProcessID != 0 || s.SecretKey != 0 {
		s.be.Send(&pgproto3.BackendKeyData{ProcessID: s.ProcessID, SecretKey: binary.BigEndian.AppendUint32(nil, s.SecretKey)})
	}
	s.ready()
}

// ready sends ReadyForQuery with the transaction status.
func (s *session) ready() { s.be.Send(&pgproto3.ReadyForQuery{TxStatus: s.tx}) }

// param is the value of a session setting as SHOW reports it: the one
// reported in ParameterStatus for the fixed ones, else what the client
// sent at startup, else the console's default.
func (s *session) param(name string) string {
	switch name {
	case "server_version":
		if s.ServerVersion != "" {
			return s.ServerVersion
		}
		return DefaultServerVersion
	case "client_encoding", "server_encoding", "timezone", "datestyle", "standard_conforming_strings",
		"integer_datetimes", "intervalstyle":
		return fakeParams[name]
	}
	for k, v := range s.Params {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return fakeParams[name]
}

// handle answers one message; end reports that the session is over.
func (s *session) handle(ctx context.Context, msg pgproto3.FrontendMessage) (end bool, err error) {
	if s.skipping {
		switch msg.(type) {
		case *pgproto3.Sync, *pgproto3.Terminate:
		default:
			return false, nil
		}
	}
	switch m := msg.(type) {
	case *pgproto3.Query:
		return s.query(ctx, m.String)
	case *pgproto3.Parse:
		s.parse(m)
	case *pgproto3.Bind:
		s.bind(m)
	case *pgproto3.Describe:
		s.describe(m)
	case *pgproto3.Execute:
		return s.execute(ctx, m)
	case *pgproto3.Close:
		s.close(m)
	case *pgproto3.Sync:
		s.skipping = false
		clear(s.portals) // the implicit transaction ends, and with it every portal
		s.ready()
	case *pgproto3.Flush:
		return false, s.be.Flush()
	case *pgproto3.Terminate:
		return true, nil
	case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail:
		// Outside COPY these are ignored, as PostgreSQL does: a COPY
		// that failed may leave some in flight.
	case *pgproto3.FunctionCall:
		s.sendError(Errorf(codeProtocolViolation, "function calls are not supported by the console"))
		s.ready()
	default:
		s.fatal(codeProtocolViolation, "unexpected message %T", msg)
		return true, fmt.Errorf("console: unexpected message %T", msg)
	}
	return false, nil
}

// query answers a simple-protocol Query: each statement in turn, the first
// error ending the rest, then ReadyForQuery.
func (s *session) query(ctx context.Context, sql string) (end bool, err error) {
	cmds, err := sqlparse.ParseAll(sql)
	switch {
	case err != nil:
		s.sendError(parseError(err))
	case len(cmds) == 0:
		s.be.Send(&pgproto3.EmptyQueryResponse{})
	}
	for i := range cmds {
		res, err := s.exec(ctx, &cmds[i])
		if err != nil {
			if end, err := s.failed(ctx, err); end {
				return end, err
			}
			break
		}
		for _, n := range res.notices {
			s.be.Send(n)
		}
		if res.cols != nil {
			s.be.Send(rowDescription(res.cols, nil))
		}
		if err := s.sendRows(res, res.rows, nil); err != nil {
			break
		}
		s.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(res.tag)})
		if res.end {
			end = true
			break
		}
	}
	s.ready()
	return end, nil
}

// sendRows sends DataRows. A row that cannot be encoded in the format the
// client asked for ends the result with an error, as in PostgreSQL.
func (s *session) sendRows(res *result, rows [][]any, formats []int16) error {
	for _, row := range rows {
		dr, err := s.enc.dataRow(res.cols, row, formats)
		if err != nil {
			s.sendError(Errorf(codeInternalError, "%v", err))
			return err
		}
		s.be.Send(dr)
	}
	return nil
}

// failed reports a command's error. When the pooler's ctx has ended the
// session ends too, with FATAL 57P01 as PostgreSQL's shutdown sends.
func (s *session) failed(ctx context.Context, err error) (end bool, _ error) {
	if ctx.Err() != nil {
		s.fatal(codeAdminShutdown, "terminating connection due to administrator command")
		return true, ctx.Err()
	}
	s.sendError(err)
	return false, nil
}

// sendError sends err as an ERROR; the session goes on, and a transaction
// block it happened in has failed.
func (s *session) sendError(err error) {
	s.be.Send(errorResponse(err, codeInternalError))
	if s.tx == 'T' {
		s.tx = 'E'
	}
}

// fatal sends a FATAL error; the caller ends the session.
func (s *session) fatal(code, format string, args ...any) {
	resp := Errorf(code, format, args...).Response()
	resp.Severity, resp.SeverityUnlocalized = "FATAL", "FATAL"
	s.be.Send(resp)
}

// parseError converts an error of sqlparse to the client's error.
func parseError(err error) error {
	var se *sqlparse.SyntaxError
	switch {
	case errors.As(err, &se):
		return Errorf(codeProtocolViolation, "%s", se.Error())
	case errors.Is(err, sqlparse.ErrMultipleCommands):
		return Errorf(codeSyntaxError, "%s", err.Error())
	}
	return Errorf(codeProtocolViolation, "%s", err.Error())
}

// resumeSuspended ends a SUSPEND this session began and did not end: as in
// PgBouncer, a pooler must not stay suspended once its admin is gone.
func (s *session) resumeSuspended() {
	if s.suspended {
		_ = s.src.Resume("")
	}
}

// skipEmpty drops empty writes: Backend.Flush writes even when nothing is
// buffered, and Serve flushes before every read.
type skipEmpty struct{ w io.Writer }

func (s skipEmpty) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return s.w.Write(p)
}
