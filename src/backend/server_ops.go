package backend

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/odyssey-go/odyssey/src/pgerr"
)

// Close says Terminate and closes the connection. Safe to call twice.
func (s *Server) Close() error {
	_ = s.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = s.W.WriteByte('X')
	_ = s.W.WriteByte(0)
	_ = s.W.WriteByte(0)
	_ = s.W.WriteByte(0)
	_ = s.W.WriteByte(4)
	_ = s.W.Flush()
	err := s.Conn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// String names the server for logs.
func (s *Server) String() string {
	return fmt.Sprintf("s%d (pid %d at %s)", s.ID, s.PID, s.Address)
}

// Alive reports whether an idle server still looks usable: its socket is
// open and it has sent nothing. An idle PostgreSQL backend says nothing until
// asked; bytes waiting (a FATAL from pg_terminate_backend, say) or EOF mean it
// is gone. One non-blocking peek, no goroutine.
func (s *Server) Alive() bool {
	if s.R.Buffered() > 0 {
		return false
	}
	sc, ok := s.Conn.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	err = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = n < 0 && (errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK))
		return true // never wait for readiness
	})
	return err == nil && alive
}

// Exec runs sql with the simple query protocol and waits for
// ReadyForQuery. An ErrorResponse is returned as *pgerr.Error once the
// server is ready again, so the connection stays usable. If ctx ends first
// the read is interrupted and the server must be considered broken.
func (s *Server) Exec(ctx context.Context, sql string) error {
	_, err := s.query(ctx, sql, false)
	return err
}

// Query is Exec that also returns the rows, as text (NULL as "").
func (s *Server) Query(ctx context.Context, sql string) ([][]string, error) {
	return s.query(ctx, sql, true)
}

func (s *Server) query(ctx context.Context, sql string, rows bool) ([][]string, error) {
	stop := context.AfterFunc(ctx, func() { _ = s.Conn.SetDeadline(time.Now()) })
	defer func() {
		if stop() {
			return
		}
		_ = s.Conn.SetDeadline(time.Time{})
	}()
	if err := s.send(&pgproto3.Query{String: sql}); err != nil {
		return nil, err
	}
	var out [][]string
	var qerr error
	for {
		typ, body, err := s.receive()
		if err != nil {
			return nil, err
		}
		switch typ {
		case 'D':
			if !rows {
				continue
			}
			var m pgproto3.DataRow
			if body == nil || m.Decode(body) != nil {
				return nil, errors.New("undecodable row")
			}
			r := make([]string, len(m.Values))
			for i, v := range m.Values {
				r[i] = string(v)
			}
			out = append(out, r)
		case 'E':
			var m pgproto3.ErrorResponse
			if body != nil && m.Decode(body) == nil {
				qerr = pgerr.FromResponse(&m)
			} else {
				qerr = errors.New("server error")
			}
		case 'S':
			updateParam(s.Params, body)
		case 'Z':
			if len(body) == 1 {
				s.TxStatus = body[0]
			}
			return out, qerr
		}
	}
}

// Cancel sends a CancelRequest for the backend pid/secret to the server at
// network/address on a new connection and waits for the server to close it,
// which PostgreSQL does after signalling the backend.
func Cancel(ctx context.Context, network, address string, pid, secret uint32) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return fmt.Errorf("cancel: connect to %s: %w", address, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	var b [16]byte
	binary.BigEndian.PutUint32(b[0:], 16)
	binary.BigEndian.PutUint32(b[4:], 80877102)
	binary.BigEndian.PutUint32(b[8:], pid)
	binary.BigEndian.PutUint32(b[12:], secret)
	if _, err := conn.Write(b[:]); err != nil {
		return fmt.Errorf("cancel: %w", err)
	}
	var one [1]byte
	_, _ = conn.Read(one[:]) // EOF once the postmaster is done
	return nil
}
