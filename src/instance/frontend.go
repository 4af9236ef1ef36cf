package instance

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/odyssey-go/odyssey/src/client"
	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/internal/sockio"
	"github.com/odyssey-go/odyssey/src/internal/tlsconf"
	"github.com/odyssey-go/odyssey/src/internal/wire"
	"github.com/odyssey-go/odyssey/src/log"
	"github.com/odyssey-go/odyssey/src/pgerr"
	"github.com/odyssey-go/odyssey/src/relay"
	"github.com/odyssey-go/odyssey/src/route"
	"github.com/sirupsen/logrus"
)

// frontend is the story of one client connection up to the relay, in the
// spirit of Odyssey's od_frontend(): startup, routing, authentication and
// login; relayClient tells the rest. Every failure reaches the client as an
// ErrorResponse with a precise SQLSTATE before the socket closes. It
// returns the client to relay, or nil when it is done with the connection
// (refused, a cancel request, a console session).
func (i *Instance) frontend(ctx context.Context, conn net.Conn, ln *config.Listen, cfg *config.Config) (c *loggedIn) {
	id := i.nextClientID.Add(1)
	conn = sockio.Wrap(conn) // reads and writes keep their P: see sockio
	// Each step replaces the context's log fields instead of wrapping
	// them, so that an idle client keeps one context value, not a chain
	// (issue 5).
	base := ctx
	lc := log.Client{ID: "c" + strconv.FormatUint(id, 10)}
	ctx = log.WithClient(base, lc)
	defer func() {
		if c == nil {
			_ = conn.Close() // conn: the *tls.Conn once TLS is up
		}
	}()

	if ln.ClientLoginTimeout > 0 {
		_ = conn.SetDeadline(time.Now().Add(ln.ClientLoginTimeout))
	}

	// 1. Startup: TLS as the listen block says (SSLRequest or direct),
	// GSSAPI encryption declined; a cancel request is forwarded and the
	// socket closed. From here on conn and r are the TLS connection's when
	// the client uses TLS.
	conn, r, st, err := i.startup(ctx, conn, ln, cfg)
	if err != nil {
		i.refuseClient(ctx, conn, err)
		return nil
	}
	if st == nil { // cancel request handled
		return nil
	}
	lc.User, lc.DB = st.User, st.Database
	ctx = log.WithClient(base, lc)

	// 2. Route.
	rt, err := i.router.Match(st.Database, st.User)
	if err != nil {
		i.refuseClient(ctx, conn, err)
		return nil
	}
	lc.Route = rt.ID
	ctx = log.WithClient(base, lc)
	if err := rt.AddClient(); err != nil {
		i.refuseClient(ctx, conn, err)
		return nil
	}
	defer func() {
		if c == nil {
			rt.RemoveClient()
		}
	}()

	// 3. Authenticate.
	if err := i.authenticate(ctx, conn, r, ln, rt, st); err != nil {
		i.refuseClient(ctx, conn, err)
		return nil
	}
	rec := &clientRecord{id: id, conn: conn, st: st, rt: rt, connected: time.Now(), tls: tlsDescription(conn)}
	if rt.Storage != nil && rt.Storage.Type == "local" {
		i.serveConsole(ctx, rec, r, cfg)
		return nil
	}
	if st.Replication != "" && st.Replication != "false" && st.Replication != "0" && st.Replication != "off" {
		i.refuseClient(ctx, conn, pgerr.Fatalf(pgerr.FeatureNotSupported, "replication connections are not supported through the pooler"))
		return nil
	}
	vars, err := st.Settings()
	if err != nil {
		i.refuseClient(ctx, conn, err)
		return nil
	}

	// 4. Login: the ParameterStatus set a server reports with the client's
	// settings, remembered by the pool after the first such login in
	// transaction and statement modes; in session mode the server stays
	// attached.
	sess := newSession(ctx, conn, r, rt, id, vars)
	params, pid, err := sess.Login()
	if err != nil {
		i.refuseClient(ctx, conn, err)
		return nil
	}
	key := i.cancelKeys.add(pid, sess)
	if err := sayHello(sess.Writer(), st, params, key); err != nil {
		i.cancelKeys.remove(key)
		return nil
	}
	_ = conn.SetDeadline(time.Time{})
	if cfg.LogSession {
		log.G(ctx).Info("client logged in")
	}
	rec.sess = sess
	return &loggedIn{ctx: ctx, rec: rec, key: key, logSession: cfg.LogSession}
}

// loggedIn is a client that frontend logged in, for relayClient.
type loggedIn struct {
	ctx        context.Context
	rec        *clientRecord
	key        cancelKey
	logSession bool
}

// relayClient relays a client that frontend logged in until it leaves,
// then says goodbye. The relay runs on goroutines of the session's own
// (relay.Session.Go): the login's call chains (authentication, TLS, a
// server's startup) have grown this goroutine's stack to 4 KiB or more,
// which the garbage collector would never halve while the client idles,
// and a new goroutine starts at 2 KiB (issue 5: memory per idle client).
func (i *Instance) relayClient(c *loggedIn) {
	ctx, rec, sess := c.ctx, c.rec, c.rec.sess
	i.clients.Add(1)
	i.sessions.add(rec)
	if i.shuttingDown() {
		sess.Terminate(pgerr.Fatalf(pgerr.AdminShutdown, "terminating connection due to administrator command"))
	}
	sess.Go(func(err error) {
		defer i.clients.Done()
		defer func() { _ = rec.conn.Close() }()
		defer rec.rt.RemoveClient()
		defer i.cancelKeys.remove(c.key)
		i.sessions.remove(rec.id)
		if pe, ok := pgerr.As(err); ok {
			w := sess.Writer() // not the one from before Run: the session recycles its writer
			_, _ = w.Write(pe.AppendFrame(nil))
			_ = w.Flush()
			log.G(ctx).WithError(err).Info("client session ended")
		} else if err != nil && !errors.Is(err, io.EOF) && log.Enabled(logrus.DebugLevel) {
			log.G(ctx).WithError(err).Debug("client session ended")
		}
		if c.logSession {
			log.G(ctx).Info("client disconnected")
		}
	})
}

// sayHello ends a successful login: AuthenticationOk, the ParameterStatus
// set, the pooler's BackendKeyData and ReadyForQuery.
func sayHello(w *bufio.Writer, st *client.Startup, params map[string]string, key cancelKey) error {
	// Built in w's own free space (about 400 bytes of 8 KiB), not in a
	// slice grown one parameter at a time.
	buf := w.AvailableBuffer()
	if st.Minor > 0 || len(st.ProtocolOptions) > 0 {
		buf, _ = (&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0, UnrecognizedOptions: st.ProtocolOptions}).Encode(buf)
	}
	buf, _ = (&pgproto3.AuthenticationOk{}).Encode(buf)
	buf = appendParams(buf, params)
	buf, _ = (&pgproto3.BackendKeyData{ProcessID: key.pid, SecretKey: key.secretBytes()}).Encode(buf)
	buf, _ = (&pgproto3.ReadyForQuery{TxStatus: 'I'}).Encode(buf)
	if _, err := w.Write(buf); err != nil {
		return err
	}
	return w.Flush()
}

// startup reads startup-phase packets until a StartupMessage or a
// CancelRequest, bringing TLS up on the way as the listen block says
// (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-SSL):
// an SSLRequest is answered 'S' and followed by the handshake, or 'N'; a
// TLS handshake as the very first bytes is PostgreSQL 17's direct
// negotiation, which must also negotiate ALPN "postgresql"; a GSSENCRequest
// is answered 'N'. It returns the connection and reader the session goes on
// with, conn or the *tls.Conn over it, also with an error, which is to be
// reported on that connection. st is nil for a handled cancel request.
func (i *Instance) startup(ctx context.Context, conn net.Conn, ln *config.Listen, cfg *config.Config) (net.Conn, *wire.Reader, *client.Startup, error) {
	sec := i.tlsFor(ln)
	r := wire.NewReader(conn, wire.DefaultBufferSize, maxPacket(cfg))
	encrypted := false
	if sec.Enabled() {
		direct, err := directTLS(conn)
		if err != nil {
			return conn, r, nil, err
		}
		if direct {
			tc, err := handshake(ctx, conn, sec)
			if err != nil {
				return conn, r, nil, err
			}
			conn, encrypted = tc, true
			r.Reset(tc)
			if tc.ConnectionState().NegotiatedProtocol != tlsconf.ALPN {
				// As PostgreSQL 17: ALPN proves that the client meant
				// to speak PostgreSQL inside this TLS session.
				return conn, r, nil, pgerr.Fatalf(pgerr.ProtocolViolation,
					"received direct SSL connection request without ALPN protocol negotiation extension")
			}
		}
	}
	for {
		body, err := r.ReadStartup()
		if err != nil {
			if errors.Is(err, wire.ErrBadLength) || errors.Is(err, wire.ErrFrameTooLarge) {
				return conn, r, nil, pgerr.Fatalf(pgerr.ProtocolViolation, "invalid length of startup packet")
			}
			return conn, r, nil, err
		}
		st, err := client.ParseStartup(body)
		if err != nil {
			return conn, r, nil, err
		}
		switch st.Kind {
		case client.KindSSL, client.KindGSSENC:
			if encrypted {
				return conn, r, nil, pgerr.Fatalf(pgerr.ProtocolViolation, "encryption requested on an encrypted connection")
			}
			if r.Buffered() > 0 {
				// Bytes after an SSLRequest before our answer would be
				// an attempt to inject plaintext into a TLS session.
				return conn, r, nil, pgerr.Fatalf(pgerr.ProtocolViolation, "received unencrypted data after SSL request")
			}
			if st.Kind == client.KindGSSENC || !sec.Enabled() {
				if _, err := conn.Write([]byte{'N'}); err != nil {
					return conn, r, nil, err
				}
				continue
			}
			if _, err := conn.Write([]byte{'S'}); err != nil {
				return conn, r, nil, err
			}
			tc, err := handshake(ctx, conn, sec)
			if err != nil {
				return conn, r, nil, err
			}
			conn, encrypted = tc, true
			r.Reset(tc) // empty: checked above
		case client.KindCancel:
			// Accepted in plaintext whatever the mode, as PostgreSQL
			// does: libpq before 17 always sends it so.
			i.forwardCancel(ctx, st.PID, st.Secret)
			return conn, r, nil, nil
		default:
			return conn, r, st, checkTLS(sec, conn, encrypted)
		}
	}
}

// forwardCancel cancels the query of the client that owns the key, if any.
// The key maps to a client, never straight to a server: the relay sends the
// cancel to whichever server that client's query is running on.
func (i *Instance) forwardCancel(ctx context.Context, pid, secret uint32) {
	sess := i.cancelKeys.lookup(pid, secret)
	if sess == nil {
		if log.Enabled(logrus.DebugLevel) {
			log.G(ctx).Debug("cancel request with unknown key")
		}
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sess.Cancel(cctx); err != nil {
		log.G(ctx).WithError(err).Warn("forward cancel request")
	}
}

// refuseClient reports err to a client that is not logged in and lets the
// deferred close end the connection.
func (i *Instance) refuseClient(ctx context.Context, conn net.Conn, err error) {
	pe, ok := pgerr.As(err)
	if !ok {
		// The client went away or sent garbage we could not even frame:
		// health checks do that all day, so no entry is built for nothing.
		if log.Enabled(logrus.DebugLevel) {
			log.G(ctx).WithError(err).Debug("client startup failed")
		}
		return
	}
	if !pe.Fatal() {
		c := *pe
		c.Severity = "FATAL"
		pe = &c
	}
	i.errs.add(pe.Code)
	log.G(ctx).WithField("sqlstate", pe.Code).Info(pe.Message)
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = conn.Write(pe.AppendFrame(nil))
}

// newSession makes the client's relay session. Apart from frontend, like
// sayHello, to keep relay.Options out of frontend's frame.
func newSession(ctx context.Context, conn net.Conn, r *wire.Reader, rt *route.Route, id uint64, vars map[string]string) *relay.Session {
	opts := relayOptions(rt.Rule)
	opts.Stats, opts.ClientID = rt.Counters(), id
	return relay.New(ctx, conn, r, rt.Pool(), opts, vars)
}

func relayOptions(rule *config.Rule) relay.Options {
	o := relay.Options{
		Mode:                     relay.TransactionMode,
		Cancel:                   rule.PoolCancel,
		Rollback:                 rule.PoolRollback,
		Discard:                  rule.PoolDiscard,
		ClientIdleTimeout:        rule.PoolClientIdleTimeout,
		IdleInTransactionTimeout: rule.PoolIdleInTransactionTimeout,
		ForwardErrors:            rule.ClientFwdError,
		PreparedStatements:       rule.PoolReservePreparedStatement,
	}
	switch rule.Pool {
	case config.PoolSession:
		o.Mode = relay.SessionMode
	case config.PoolStatement:
		o.Mode = relay.StatementMode
	}
	return o
}

func appendParams(buf []byte, params map[string]string) []byte {
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		buf, _ = (&pgproto3.ParameterStatus{Name: k, Value: params[k]}).Encode(buf)
	}
	return buf
}

func maxPacket(cfg *config.Config) int {
	if cfg.MaxPacketSize > 0 {
		return cfg.MaxPacketSize
	}
	return wire.DefaultMaxFrameLen
}

// cancelKey is a pooler-issued BackendKeyData.
type cancelKey struct{ pid, secret uint32 }

func (k cancelKey) secretBytes() []byte {
	return binary.BigEndian.AppendUint32(nil, k.secret)
}

func randomUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}
