package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"

	"github.com/odyssey-go/odyssey/src/backend"
	"github.com/odyssey-go/odyssey/src/internal/wire"
)

// Named prepared statements in transaction and statement modes.
//
// A client's statement name means nothing on the next server it gets, so
// the relay renames statements: a Parse of name N with query Q and parameter
// types T becomes a Parse of "odyssey_" + hash(Q, T) on the server, shared
// by every client that prepares the same statement. Bind and Describe of N
// are rewritten to that name, preceded by the Parse when the attached server
// does not have the statement yet; its ParseComplete is not forwarded. A
// client's Close of N answers CloseComplete without dropping the shared
// statement (it closes a name that never exists, which PostgreSQL allows).
//
// Because a Parse of an existing name is an error, a client Parse of a
// statement the server already has is sent as Close + Parse, the
// CloseComplete swallowed. Which servers have which statements is tracked
// optimistically when messages are sent; after a batch that failed (an
// ErrorResponse skips messages until Sync) or a DISCARD/DEALLOCATE, the set
// is read back from pg_prepared_statements before the server is released.

const noopStatement = "odyssey_noop"

// preparedStmt is one client statement.
type preparedStmt struct {
	serverName string
	parse      []byte // Parse body under serverName, to prepare it on another server
}

// expectation is a server answer the relay must account for, in send order.
type expectation struct {
	op   byte // 'p' client Parse, 'P' injected Parse, 'C' injected Close, 'Z' ReadyForQuery
	name string
}

func serverStmtName(query, types []byte) string {
	h := sha256.New()
	h.Write(query)
	h.Write([]byte{0})
	h.Write(types)
	return "odyssey_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// expect queues an expectation; s.mu must be held.
func (s *Session) expect(op byte, name string) {
	if s.qhead > 0 && s.qhead == len(s.queue) {
		s.queue, s.qhead = s.queue[:0], 0
	}
	s.queue = append(s.queue, expectation{op, name})
}

// answered handles ParseComplete ('1') and CloseComplete ('3') from the
// server and reports whether the frame was the answer to an injected message
// (so it must not reach the client). s.mu must be held.
func (s *Session) answered(typ byte) (drop bool) {
	if s.qhead == len(s.queue) {
		return false
	}
	e := s.queue[s.qhead]
	switch {
	case typ == '1' && (e.op == 'p' || e.op == 'P'):
		s.qhead++
		return e.op == 'P'
	case typ == '3' && e.op == 'C':
		s.qhead++
		return true
	}
	return false
}

// readyForQuery drops the expectations up to this ReadyForQuery. Any Parse
// or Close among them was skipped by an error, so the server's statement set
// is no longer known. s.mu must be held.
func (s *Session) readyForQueryExpected() {
	for s.qhead < len(s.queue) {
		e := s.queue[s.qhead]
		s.qhead++
		if e.op == 'Z' {
			return
		}
		s.preparedDirty = true
	}
}

// writePrepared forwards a Parse, Bind, Describe or Close frame whose header
// has been read, renaming statements. It reports false when the frame is not
// about a named statement and must be forwarded as is.
func (s *Session) writePrepared(srv *backend.Server, typ byte, n int) (handled bool, err error) {
	peek := min(n, s.cr.Size())
	b, err := s.cr.Peek(peek)
	if err != nil {
		return false, err
	}
	switch typ {
	case 'P':
		name, _, ok := cut0(b)
		if !ok || len(name) == 0 {
			return false, nil
		}
		body := b
		if n > peek {
			// A query longer than the read buffer: rare, so copy it.
			body = make([]byte, n)
			if _, err := io.ReadFull(readerOf(s.cr), body); err != nil {
				return true, err
			}
		}
		name, rest, _ := cut0(body)
		query, types, ok := cut0(rest)
		if !ok {
			return false, nil
		}
		sn := serverStmtName(query, types)
		parse := make([]byte, 0, len(sn)+1+len(rest))
		parse = append(append(append(parse, sn...), 0), rest...)
		if s.stmts == nil {
			s.stmts = map[string]*preparedStmt{}
		}
		s.stmts[string(name)] = &preparedStmt{serverName: sn, parse: parse}
		s.notePrepared()
		if n <= peek {
			_ = s.cr.Discard(n)
		}
		s.mu.Lock()
		_, has := srv.Prepared[sn]
		if has {
			s.expect('C', sn)
		}
		s.expect('p', sn)
		srv.Prepared[sn] = struct{}{}
		s.mu.Unlock()
		if has {
			writeClose(srv.W, sn)
		}
		_ = wire.WriteHeader(srv.W, 'P', len(parse))
		_, err = srv.W.Write(parse)
		return true, err
	case 'B', 'D', 'C':
		// Bind: portal\0 statement\0 ...; Describe and Close: kind, name\0.
		prefix := 0
		if typ == 'B' {
			_, _, ok := cut0(b)
			if !ok {
				return false, nil
			}
			prefix = len(b) - len(cutAfter0(b))
		} else {
			if len(b) < 1 || b[0] != 'S' {
				return false, nil
			}
			prefix = 1
		}
		name, _, ok := cut0(b[prefix:])
		if !ok || len(name) == 0 {
			return false, nil
		}
		st, known := s.stmts[string(name)]
		if !known {
			return false, nil // PostgreSQL reports it missing, as it would directly
		}
		newName := st.serverName
		if typ == 'C' {
			delete(s.stmts, string(name))
			s.notePrepared()
			newName = noopStatement
		} else {
			s.mu.Lock()
			_, has := srv.Prepared[st.serverName]
			if !has {
				s.expect('P', st.serverName)
				srv.Prepared[st.serverName] = struct{}{}
				s.batch.ServerParses++
			}
			s.mu.Unlock()
			if !has {
				_ = wire.WriteHeader(srv.W, 'P', len(st.parse))
				_, _ = srv.W.Write(st.parse)
			}
		}
		old := prefix + len(name) + 1
		_ = wire.WriteHeader(srv.W, typ, n-len(name)+len(newName))
		_, _ = srv.W.Write(b[:prefix])
		_, _ = srv.W.WriteString(newName)
		_ = srv.W.WriteByte(0)
		_ = s.cr.Discard(old)
		return true, s.cr.CopyBody(srv.W, n-old)
	}
	return false, nil
}

func writeClose(w interface {
	WriteByte(byte) error
	WriteString(string) (int, error)
}, name string) {
	_ = w.WriteByte('C')
	l := uint32(4 + 1 + len(name) + 1)
	_ = w.WriteByte(byte(l >> 24))
	_ = w.WriteByte(byte(l >> 16))
	_ = w.WriteByte(byte(l >> 8))
	_ = w.WriteByte(byte(l))
	_ = w.WriteByte('S')
	_, _ = w.WriteString(name)
	_ = w.WriteByte(0)
}

func cutAfter0(b []byte) []byte {
	_, after, _ := cut0(b)
	return after
}

// readerOf exposes the reader for a whole read of an oversized body.
func readerOf(r *wire.Reader) io.Reader { return wireReader{r} }

type wireReader struct{ r *wire.Reader }

func (w wireReader) Read(p []byte) (int, error) {
	if w.r.Buffered() == 0 {
		if _, err := w.r.Peek(1); err != nil {
			return 0, err
		}
	}
	k := min(len(p), w.r.Buffered())
	b, _ := w.r.Peek(k)
	copy(p, b)
	_ = w.r.Discard(k)
	return k, nil
}

// readPrepared replaces srv.Prepared with what the server really has.
func readPrepared(ctx context.Context, srv *backend.Server) error {
	rows, err := srv.Query(ctx, "SELECT name FROM pg_catalog.pg_prepared_statements WHERE name LIKE 'odyssey\\_%'")
	if err != nil {
		return err
	}
	clear(srv.Prepared)
	for _, r := range rows {
		if len(r) == 1 {
			srv.Prepared[r[0]] = struct{}{}
		}
	}
	return nil
}
