package backend

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Exec runs sql (one or more statements) with the simple query protocol and
// reads up to ReadyForQuery, updating TxStatus and Params on the way.
// It is for the pooler's own statements (SET, ROLLBACK, DISCARD ALL) and
// only while the server is not attached to a client.
//
// An ErrorResponse comes back as *pgerr.Error after ReadyForQuery has been
// read, so the connection stays usable. Any other error (including ctx
// ending, which interrupts the read through a deadline) leaves the
// connection in an unknown state: close it.
func (s *Server) Exec(ctx context.Context, sql string) error {
	_, err := s.query(ctx, false, &pgproto3.Query{String: sql})
	return err
}

// Query is Exec that also returns the rows of every statement, each column
// as text (NULL as "").
func (s *Server) Query(ctx context.Context, sql string) ([][]string, error) {
	return s.query(ctx, true, &pgproto3.Query{String: sql})
}

// QueryArgs is Query for one statement with parameters $1, $2, ... bound to
// args as text, through the extended protocol, so that no argument is ever
// spliced into SQL (auth_query gets client-chosen user names).
func (s *Server) QueryArgs(ctx context.Context, sql string, args ...string) ([][]string, error) {
	params := make([][]byte, len(args))
	for i, a := range args {
		params[i] = []byte(a)
	}
	return s.query(ctx, true,
		&pgproto3.Parse{Query: sql},
		&pgproto3.Bind{Parameters: params},
		&pgproto3.Execute{},
		&pgproto3.Sync{})
}

// copyRefused is sent as CopyFail when a statement run by Exec or Query
// turns out to be COPY FROM STDIN: there is no client to supply the data.
const copyRefused = "COPY FROM STDIN is not supported in a statement run by the pooler"

func (s *Server) query(ctx context.Context, rows bool, msgs ...encoder) (out [][]string, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err // nothing sent: the server is still clean
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Conn.SetDeadline(time.Now()) })
	defer func() {
		if stop() {
			return
		}
		// The deadline is set, or about to be: whatever it cut short
		// left the protocol state unknown, and even a finished exchange
		// leaves a deadline behind.
		out = nil
		if err == nil {
			err = fmt.Errorf("server %s: %w", s, context.Cause(ctx))
		} else {
			err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
		}
	}()
	if err := s.send(msgs...); err != nil {
		return nil, fmt.Errorf("send query to server %s: %w", s, err)
	}
	var qerr error
	for {
		typ, n, err := s.R.ReadHeader()
		if err != nil {
			return nil, fmt.Errorf("read from server %s: %w", s, err)
		}
		switch typ {
		case 'D', 'E', 'S', 'Z': // DataRow, ErrorResponse, ParameterStatus, ReadyForQuery
		case 'G': // CopyInResponse
			if err := s.R.Discard(n); err != nil {
				return nil, fmt.Errorf("read from server %s: %w", s, err)
			}
			if err := s.send(&pgproto3.CopyFail{Message: copyRefused}); err != nil {
				return nil, fmt.Errorf("send CopyFail to server %s: %w", s, err)
			}
			continue
		case 'W': // CopyBothResponse: replication, which has no way back
			return nil, fmt.Errorf("server %s: statement started COPY BOTH", s)
		default:
			// CommandComplete, RowDescription, EmptyQueryResponse,
			// NoticeResponse, NotificationResponse, CopyOutResponse,
			// CopyData, CopyDone, ...: nothing to keep.
			if err := s.R.Discard(n); err != nil {
				return nil, fmt.Errorf("read from server %s: %w", s, err)
			}
			continue
		}
		if typ == 'D' && !rows {
			if err := s.R.Discard(n); err != nil {
				return nil, fmt.Errorf("read from server %s: %w", s, err)
			}
			continue
		}
		body, err := s.body(n)
		if err != nil {
			return nil, fmt.Errorf("read from server %s: %w", s, err)
		}
		switch typ {
		case 'D':
			var m pgproto3.DataRow
			if err := m.Decode(body); err != nil {
				if qerr == nil {
					qerr = fmt.Errorf("undecodable DataRow from server %s: %w", s, err)
				}
				continue
			}
			r := make([]string, len(m.Values))
			for i, v := range m.Values {
				r[i] = string(v)
			}
			out = append(out, r)
		case 'E':
			// A failing statement ends the query string (the rest
			// is skipped), so there is at most one.
			if qerr == nil {
				qerr = decodeError(body)
			}
		case 'S':
			s.NoteParameterStatus(body)
		case 'Z':
			if len(body) == 1 {
				s.TxStatus = body[0]
			}
			if qerr != nil {
				return nil, qerr
			}
			return out, nil
		}
	}
}

type encoder interface {
	Encode(dst []byte) ([]byte, error)
}

// send writes messages and flushes. Only for the pooler's own messages
// (startup, Exec, Query), never on the relay's hot path.
func (s *Server) send(msgs ...encoder) error {
	var b []byte
	for _, m := range msgs {
		var err error
		if b, err = m.Encode(b); err != nil {
			return err
		}
	}
	if _, err := s.W.Write(b); err != nil {
		return err
	}
	return s.W.Flush()
}

// receive reads one whole message for the pooler's own exchanges. See body
// for how long the body is valid.
func (s *Server) receive() (byte, []byte, error) {
	typ, n, err := s.R.ReadHeader()
	if err != nil {
		return 0, nil, err
	}
	body, err := s.body(n)
	return typ, body, err
}

// body reads a message body of n bytes. A body that fits the read buffer is
// returned in place, valid until the next read; a larger one (a wide row, a
// long error) is copied into memory of its own.
func (s *Server) body(n int) ([]byte, error) {
	if n <= s.R.Size() {
		return s.R.Body(n)
	}
	var b bytes.Buffer
	b.Grow(n)
	if err := s.R.CopyBody(&b, n); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
