package backend

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/odyssey-go/odyssey/src/internal/sockio"
	"github.com/odyssey-go/odyssey/src/internal/tlsconf"
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
// unreachable, timed out, cut off, unsupported authentication, TLS refused
// or failed) is a wrapped error that is not a *pgerr.Error.
//
// opts.TLS is applied with libpq's sslmode semantics, retries included
// (https://www.postgresql.org/docs/15/libpq-ssl.html#LIBPQ-SSL-SSLMODE-STATEMENTS):
// allow logs in in plaintext and tries again over TLS when the server
// refuses that login; prefer asks for TLS, uses plaintext when the server
// declines, and tries again in plaintext when the TLS handshake fails or
// the server refuses the encrypted login; require and the verify modes
// fail without TLS.
//
// ConnectTimeout and ctx bound the dial and the whole startup exchange,
// retries included.
func Connect(ctx context.Context, opts Options) (*Server, error) {
	if opts.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.ConnectTimeout)
		defer cancel()
	}
	mode := opts.TLS.Mode()
	if opts.Network == "unix" {
		mode = tlsconf.Disable
	}
	switch mode {
	case tlsconf.Disable:
		s, _, err := attempt(ctx, opts, plaintext)
		return s, err
	case tlsconf.Allow:
		s, _, err := attempt(ctx, opts, plaintext)
		if _, refused := pgerr.As(err); !refused {
			return s, err
		}
		s, _, err2 := attempt(ctx, opts, tlsRequired)
		if errors.Is(err2, errNoTLS) {
			return nil, err // the plaintext refusal says more
		}
		return s, err2
	case tlsconf.Prefer:
		s, encrypted, err := attempt(ctx, opts, tlsPreferred)
		_, refused := pgerr.As(err)
		if !errors.As(err, new(*handshakeError)) && !(refused && encrypted) {
			return s, err
		}
		s, _, err = attempt(ctx, opts, plaintext)
		return s, err
	default:
		s, _, err := attempt(ctx, opts, tlsRequired)
		return s, err
	}
}

// encryption is what one connection attempt asks for.
type encryption int

const (
	plaintext    encryption = iota
	tlsPreferred            // SSLRequest; plaintext if the server declines
	tlsRequired             // SSLRequest; errNoTLS if the server declines
)

// errNoTLS is the error when the server answers an SSLRequest with 'N' and
// TLS is required; the words are libpq's.
var errNoTLS = errors.New("server does not support SSL, but SSL was required")

// handshakeError is a failed TLS handshake, after which sslmode=prefer
// tries plaintext.
type handshakeError struct{ err error }

func (e *handshakeError) Error() string { return "TLS handshake: " + e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

// attempt makes one connection attempt. encrypted tells whether the
// attempt got as far as TLS, also when it failed afterwards.
func attempt(ctx context.Context, opts Options, enc encryption) (_ *Server, encrypted bool, _ error) {
	d := net.Dialer{KeepAlive: keepAlive}
	raw, err := d.DialContext(ctx, opts.Network, opts.Address)
	if err != nil {
		return nil, false, fmt.Errorf("connect to %s %s: %w", opts.Network, opts.Address, err)
	}
	raw = sockio.Wrap(raw) // reads and writes keep their P: see sockio
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Now()) })
	s := &Server{
		ID:       lastID.Add(1),
		Network:  opts.Network,
		Address:  opts.Address,
		Conn:     raw,
		raw:      raw,
		Created:  time.Now(),
		Params:   map[string]string{},
		Vars:     map[string]string{},
		Prepared: map[string]struct{}{},
	}
	if enc != plaintext {
		err = s.negotiateTLS(ctx, opts, enc == tlsRequired)
		encrypted = s.tlsConfig != nil
	}
	if err == nil {
		s.R = wire.NewReader(s.Conn, wire.DefaultBufferSize, wire.DefaultMaxFrameLen)
		s.W = bufio.NewWriterSize(s.Conn, wire.DefaultBufferSize)
		err = s.startup(opts)
	}
	if !stop() && err == nil {
		// ctx ended just as the login finished; its deadline may be
		// set on conn already.
		err = context.Cause(ctx)
	}
	if err != nil {
		_ = raw.Close()
		if _, ok := pgerr.As(err); ok {
			return nil, encrypted, err
		}
		if cause := interrupted(ctx, err); cause != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w: %w", cause, err)
		}
		return nil, encrypted, fmt.Errorf("log in to %s %s as %s: %w", opts.Network, opts.Address, opts.User, err)
	}
	_ = raw.SetDeadline(time.Time{})
	return s, encrypted, nil
}

// sslRequest is the SSLRequest packet: length 8, then the code 1234 in the
// upper 16 bits and 5679 in the lower. See
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-SSL
var sslRequest = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// negotiateTLS sends SSLRequest on the fresh connection and, when the
// server answers 'S', makes s.Conn the TLS connection. When it answers 'N'
// the connection stays plaintext, or fails with errNoTLS if required.
func (s *Server) negotiateTLS(ctx context.Context, opts Options, required bool) error {
	cfg := opts.TLS.Config(hostOf(opts.Address))
	yes, err := requestTLS(s.raw)
	switch {
	case err != nil:
		return err
	case !yes && required:
		return errNoTLS
	case !yes:
		return nil
	}
	tc := tls.Client(s.raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return &handshakeError{err}
	}
	s.Conn, s.tlsConfig, s.TLS = tc, cfg, tlsconf.Describe(tc.ConnectionState())
	return nil
}

// requestTLS sends SSLRequest and reads the one-byte answer straight from
// the socket: bytes after it belong to the TLS handshake, and a server (or
// a man in the middle) that sends plaintext there fails that handshake
// (CVE-2021-23222 is the bug of reading them as protocol messages).
func requestTLS(conn net.Conn) (bool, error) {
	if _, err := conn.Write(sslRequest); err != nil {
		return false, err
	}
	var b [1]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return false, fmt.Errorf("read the answer to SSLRequest: %w", err)
	}
	switch b[0] {
	case 'S':
		return true, nil
	case 'N':
		return false, nil
	}
	return false, fmt.Errorf("server answered SSLRequest with %q", b[0])
}

// hostOf is the host part of a "host:port" address, the name verify_full
// checks the certificate against.
func hostOf(address string) string {
	if h, _, err := net.SplitHostPort(address); err == nil {
		return h
	}
	return address
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
