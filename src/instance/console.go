package instance

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/odyssey-go/odyssey/console"
	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/internal/tlsconf"
	"github.com/odyssey-go/odyssey/src/internal/wire"
	"github.com/odyssey-go/odyssey/src/log"
)

// serveConsole runs the admin console for a client whose rule routes to a
// storage of type "local", after it has authenticated. The console package
// does the talking; the instance is its console.Source.
func (i *Instance) serveConsole(ctx context.Context, c *clientRecord, r *wire.Reader, cfg *config.Config) {
	cancels := make(chan struct{}, 1)
	key := i.cancelKeys.add(0, consoleCancel(cancels))
	defer i.cancelKeys.remove(key)

	var buf []byte
	if c.st.Minor > 0 || len(c.st.ProtocolOptions) > 0 {
		buf, _ = (&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0, UnrecognizedOptions: c.st.ProtocolOptions}).Encode(buf)
	}
	buf, _ = (&pgproto3.AuthenticationOk{}).Encode(buf)
	if _, err := c.conn.Write(buf); err != nil {
		return
	}
	_ = c.conn.SetDeadline(time.Time{})
	params := make(map[string]string, len(c.st.Params))
	for _, p := range c.st.Params {
		params[p.Name] = p.Value
	}
	sess := console.Session{
		User:      c.st.User,
		Database:  c.st.Database,
		Role:      console.Role(c.rt.Rule.Role),
		Params:    params,
		ProcessID: key.pid,
		SecretKey: key.secret,
		Cancel:    cancels,
	}
	if cfg.LogSession {
		log.G(ctx).WithField("role", sess.Role).Info("console session started")
	}
	i.sessions.add(c)
	err := console.Serve(ctx, r, c.conn, sess, &source{i: i})
	i.sessions.remove(c.id)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		log.G(ctx).WithError(err).Debug("console session ended")
	}
	if cfg.LogSession {
		log.G(ctx).Info("console session ended")
	}
}

// consoleCancel forwards a CancelRequest for a console session to the
// console, which stops a waiting PAUSE, SUSPEND or WAIT_CLOSE.
type consoleCancel chan struct{}

func (c consoleCancel) Cancel(context.Context) error {
	select {
	case c <- struct{}{}:
	default:
	}
	return nil
}

// tlsDescription is conn's TLS in PgBouncer's format, "" for plaintext.
func tlsDescription(conn net.Conn) string {
	if tc, ok := conn.(*tls.Conn); ok {
		return tlsconf.Describe(tc.ConnectionState())
	}
	return ""
}
