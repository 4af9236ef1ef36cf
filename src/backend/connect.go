package backend

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/odyssey-go/odyssey/src/internal/wire"
	"github.com/odyssey-go/odyssey/src/pgerr"
	"github.com/xdg-go/scram"
)

var lastID atomic.Uint64

// Connect dials PostgreSQL, logs in and waits for the first ReadyForQuery.
// An ErrorResponse from PostgreSQL comes back as *pgerr.Error with its
// SQLSTATE (28P01, 3D000, 53300, ...); network failures as wrapped errors.
func Connect(ctx context.Context, opts Options) (*Server, error) {
	if opts.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.ConnectTimeout)
		defer cancel()
	}
	d := net.Dialer{KeepAlive: 15 * time.Second}
	conn, err := d.DialContext(ctx, opts.Network, opts.Address)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", opts.Address, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	s := &Server{
		ID:      lastID.Add(1),
		Network: opts.Network,
		Address: opts.Address,
		Conn:    conn,
		R:       wire.NewReader(conn, wire.DefaultBufferSize, wire.DefaultMaxFrameLen),
		W:       bufio.NewWriterSize(conn, wire.DefaultBufferSize),
		Created: time.Now(),
		Params:  map[string]string{},
		Vars:    map[string]string{},

		Prepared: map[string]struct{}{},
	}
	err = s.startup(opts)
	if !stop() || err != nil {
		_ = conn.Close()
		if err == nil {
			err = ctx.Err()
		}
		if _, ok := pgerr.As(err); !ok {
			err = fmt.Errorf("log in to %s: %w", opts.Address, err)
		}
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return s, nil
}

func (s *Server) startup(opts Options) error {
	params := map[string]string{"user": opts.User, "database": opts.Database}
	for k, v := range opts.Params {
		params[k] = v
	}
	if err := s.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: params}); err != nil {
		return err
	}
	var sc *scram.ClientConversation
	for {
		typ, body, err := s.receive()
		if err != nil {
			return err
		}
		switch typ {
		case 'R':
			if len(body) < 4 {
				return errors.New("short authentication message")
			}
			switch code := uint32(body[0])<<24 | uint32(body[1])<<16 | uint32(body[2])<<8 | uint32(body[3]); code {
			case 0: // AuthenticationOk
			case 3: // CleartextPassword
				err = s.send(&pgproto3.PasswordMessage{Password: opts.Password})
			case 5: // MD5Password
				var m pgproto3.AuthenticationMD5Password
				if err := m.Decode(body); err != nil {
					return err
				}
				err = s.send(&pgproto3.PasswordMessage{Password: md5Password(opts.User, opts.Password, m.Salt[:])})
			case 10: // SASL
				var m pgproto3.AuthenticationSASL
				if err := m.Decode(body); err != nil {
					return err
				}
				if !contains(m.AuthMechanisms, "SCRAM-SHA-256") {
					return fmt.Errorf("server offers SASL mechanisms %v, pooler supports SCRAM-SHA-256", m.AuthMechanisms)
				}
				c, err := scram.SHA256.NewClient(opts.User, opts.Password, "")
				if err != nil {
					return fmt.Errorf("scram: %w", err)
				}
				sc = c.NewConversation()
				first, err := sc.Step("")
				if err != nil {
					return fmt.Errorf("scram: %w", err)
				}
				err = s.send(&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte(first)})
				if err != nil {
					return err
				}
			case 11, 12: // SASLContinue, SASLFinal
				if sc == nil {
					return errors.New("SASL message without SASL start")
				}
				resp, err := sc.Step(string(body[4:]))
				if err != nil {
					return fmt.Errorf("scram: server proof rejected: %w", err)
				}
				if code == 11 {
					err = s.send(&pgproto3.SASLResponse{Data: []byte(resp)})
				}
				if err != nil {
					return err
				}
			default:
				return fmt.Errorf("server requests authentication method %d, which the pooler does not support", code)
			}
			if err != nil {
				return err
			}
		case 'S':
			updateParam(s.Params, body)
		case 'K':
			var m pgproto3.BackendKeyData
			if err := m.Decode(body); err != nil {
				return err
			}
			s.PID = m.ProcessID
			if len(m.SecretKey) == 4 {
				s.Secret = uint32(m.SecretKey[0])<<24 | uint32(m.SecretKey[1])<<16 | uint32(m.SecretKey[2])<<8 | uint32(m.SecretKey[3])
			}
		case 'E':
			var m pgproto3.ErrorResponse
			if err := m.Decode(body); err != nil {
				return err
			}
			return pgerr.FromResponse(&m)
		case 'Z':
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

func md5Password(user, password string, salt []byte) string {
	h := md5.Sum([]byte(password + user))
	inner := hex.EncodeToString(h[:])
	h = md5.Sum(append([]byte(inner), salt...))
	return "md5" + hex.EncodeToString(h[:])
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type encoder interface {
	Encode(dst []byte) ([]byte, error)
}

func (s *Server) send(m encoder) error {
	b, err := m.Encode(nil)
	if err != nil {
		return err
	}
	if _, err := s.W.Write(b); err != nil {
		return err
	}
	return s.W.Flush()
}

// receive reads one whole message for the pooler's own exchanges (startup,
// Exec, Query). The body is valid until the next read. Bodies larger than the
// read buffer are skipped and returned as nil: the pooler never needs them.
func (s *Server) receive() (byte, []byte, error) {
	typ, n, err := s.R.ReadHeader()
	if err != nil {
		return 0, nil, err
	}
	body, err := s.R.Body(n)
	return typ, body, err
}

func updateParam(params map[string]string, body []byte) {
	var m pgproto3.ParameterStatus
	if m.Decode(body) == nil {
		params[m.Name] = m.Value
	}
}
