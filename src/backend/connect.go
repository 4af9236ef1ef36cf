package backend

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/odyssey-go/odyssey/src/internal/wire"
	"github.com/odyssey-go/odyssey/src/pgerr"
)

// lastID numbers servers in the order they were dialled.
var lastID atomic.Uint64

// keepAlive is the TCP keepalive period of server connections, so that a
// server that vanished (host down, network partition) is noticed by the
// kernel even while the connection sits idle in a pool.
const keepAlive = 15 * time.Second

// Connect dials PostgreSQL, logs in and waits for the first ReadyForQuery.
//
// An ErrorResponse from PostgreSQL (28P01 bad password, 3D000 unknown
// database, 53300 too many connections, ...) comes back as *pgerr.Error, so
// that the pooler can pass it on to the client; anything else (refused,
// unreachable, timed out, cut off, unsupported authentication) is a wrapped
// error that is not a *pgerr.Error.
//
// ConnectTimeout and ctx bound the dial and the whole startup exchange.
func Connect(ctx context.Context, opts Options) (*Server, error) {
	if opts.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.ConnectTimeout)
		defer cancel()
	}
	d := net.Dialer{KeepAlive: keepAlive}
	conn, err := d.DialContext(ctx, opts.Network, opts.Address)
	if err != nil {
		return nil, fmt.Errorf("connect to %s %s: %w", opts.Network, opts.Address, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	s := &Server{
		ID:       lastID.Add(1),
		Network:  opts.Network,
		Address:  opts.Address,
		Conn:     conn,
		R:        wire.NewReader(conn, wire.DefaultBufferSize, wire.DefaultMaxFrameLen),
		W:        bufio.NewWriterSize(conn, wire.DefaultBufferSize),
		Created:  time.Now(),
		Params:   map[string]string{},
		Vars:     map[string]string{},
		Prepared: map[string]struct{}{},
	}
	err = s.startup(opts)
	if !stop() && err == nil {
		// ctx ended just as the login finished; its deadline may be
		// set on conn already.
		err = context.Cause(ctx)
	}
	if err != nil {
		_ = conn.Close()
		if _, ok := pgerr.As(err); ok {
			return nil, err
		}
		if cause := interrupted(ctx, err); cause != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w: %w", cause, err)
		}
		return nil, fmt.Errorf("log in to %s %s as %s: %w", opts.Network, opts.Address, opts.User, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return s, nil
}

// startup runs the startup exchange: StartupMessage, authentication, then
// ParameterStatus and BackendKeyData up to the first ReadyForQuery. See
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP
//
// It reads through s.R, as everything after it does, so no byte the server
// sends can be left behind in another buffer.
func (s *Server) startup(opts Options) error {
	params := make(map[string]string, len(opts.Params)+2)
	for k, v := range opts.Params {
		params[k] = v
	}
	params["user"] = opts.User
	params["database"] = opts.Database
	if err := s.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: params}); err != nil {
		return err
	}
	a := auth{user: opts.User, password: opts.Password, keys: opts.SCRAM}
	for {
		typ, body, err := s.receive()
		if err != nil {
			return err
		}
		switch typ {
		case 'R': // Authentication*
			reply, err := a.step(body)
			if err != nil {
				return err
			}
			if reply != nil {
				if err := s.send(reply); err != nil {
					return err
				}
			}
		case 'S': // ParameterStatus
			s.NoteParameterStatus(body)
		case 'K': // BackendKeyData
			var m pgproto3.BackendKeyData
			if err := m.Decode(body); err != nil {
				return err
			}
			if len(m.SecretKey) != 4 {
				// Protocol 3.2 allows longer keys, but only when asked for.
				return fmt.Errorf("BackendKeyData with a %d-byte secret", len(m.SecretKey))
			}
			s.PID = m.ProcessID
			s.Secret = uint32(m.SecretKey[0])<<24 | uint32(m.SecretKey[1])<<16 | uint32(m.SecretKey[2])<<8 | uint32(m.SecretKey[3])
		case 'E': // ErrorResponse
			return decodeError(body)
		case 'Z': // ReadyForQuery
			if !a.done {
				return errors.New("ReadyForQuery before AuthenticationOk")
			}
			if len(body) == 1 {
				s.TxStatus = body[0]
			}
			return nil
		case 'N', 'v': // NoticeResponse, NegotiateProtocolVersion
		default:
			return fmt.Errorf("unexpected message %q during startup", typ)
		}
	}
}

// interrupted returns why ctx cut err short, or nil. The socket deadline
// taken from ctx's can fire a moment before ctx itself reports that it
// ended.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if _, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return nil
}

// decodeError converts an ErrorResponse body to *pgerr.Error.
func decodeError(body []byte) error {
	var m pgproto3.ErrorResponse
	if err := m.Decode(body); err != nil {
		return fmt.Errorf("undecodable ErrorResponse: %w", err)
	}
	return pgerr.FromResponse(&m)
}

// NoteParameterStatus records a ParameterStatus body in Params. Whoever
// reads the server's frames calls it: the backend during its own exchanges,
// the relay while the server is attached.
func (s *Server) NoteParameterStatus(body []byte) {
	var m pgproto3.ParameterStatus
	if m.Decode(body) == nil {
		s.Params[m.Name] = m.Value
	}
}
