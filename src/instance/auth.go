package instance

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/odyssey-go/odyssey/src/auth"
	"github.com/odyssey-go/odyssey/src/auth/hba"
	"github.com/odyssey-go/odyssey/src/backend"
	"github.com/odyssey-go/odyssey/src/client"
	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/internal/wire"
	"github.com/odyssey-go/odyssey/src/pgerr"
	"github.com/odyssey-go/odyssey/src/route"
)

// defaultAuthTimeout bounds PAM, LDAP and auth_query for a listener
// without client_login_timeout.
const defaultAuthTimeout = time.Minute

// loadHBA reads cfg's hba_file. It runs at start and on reload; an error
// fails the reload and keeps the old file in force.
func loadHBA(cfg *config.Config) (*hba.File, error) {
	if cfg.HBAFile == "" {
		return nil, nil
	}
	return hba.Load(cfg.HBAFile)
}

// authenticate decides whether the client may use its route: hba first,
// then the certificate a verify_full listener demands, then the rule's
// method. What the login reveals that can log the user in to PostgreSQL
// (for password_passthrough and SCRAM pass-through) goes to the route.
func (i *Instance) authenticate(ctx context.Context, conn net.Conn, r *wire.Reader, ln *config.Listen, rt *route.Route, st *client.Startup) error {
	var tlsState *tls.ConnectionState
	if tc, ok := conn.(*tls.Conn); ok {
		s := tc.ConnectionState()
		tlsState = &s
	}
	hc := hba.Conn{SSL: tlsState != nil, Database: st.Database, User: st.User}
	remoteHost := ""
	if ap, ok := remoteAddrPort(conn); ok {
		hc.Addr = ap.Addr().Unmap()
		remoteHost = hc.Addr.String()
	} else {
		hc.Local = true
	}
	if err := i.hba.Load().Check(hc); err != nil {
		if errors.Is(err, hba.ErrRejected) {
			return pgerr.Fatalf(pgerr.InvalidAuthSpec, "%s", err.Error())
		}
		return err
	}
	if ln.TLS == "verify_full" {
		if err := auth.CheckCertificate(tlsState, st.User, rt.Rule.AuthCommonName); err != nil {
			return err
		}
	}
	if auth.Exchanges(rt.Rule.Authentication) {
		// Only an exchange can wait on others (auth_query, PAM, LDAP);
		// the others would pay for a timer per connection for nothing.
		timeout := ln.ClientLoginTimeout
		if timeout <= 0 {
			timeout = defaultAuthTimeout
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	c := &auth.Conn{R: r, W: conn, TLS: tlsState, RemoteHost: remoteHost}
	login, err := i.auth.Authenticate(ctx, c, i.router.Config(), rt.Rule, st.User)
	if err != nil {
		return err
	}
	rt.LearnCredentials(route.Credentials{Password: login.Password, MD5: login.MD5, SCRAM: login.SCRAM})
	return nil
}

// remoteAddrPort is the client's address and port; false for a unix socket.
func remoteAddrPort(conn net.Conn) (netip.AddrPort, bool) {
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort(), true // not formatted and parsed back
	}
	ap, err := netip.ParseAddrPort(conn.RemoteAddr().String())
	return ap, err == nil
}

// authQueryServer lends auth_query a server of the route for
// (auth_query_db, auth_query_user), logged in with that rule's credentials.
func (i *Instance) authQueryServer(ctx context.Context, database, user string) (*backend.Server, func(bool), error) {
	rt, err := i.router.Match(database, user)
	if err != nil {
		return nil, nil, err
	}
	if rt.Rule.AuthQuery != "" {
		// Its own secret would have to come from auth_query.
		return nil, nil, errors.New("the rule for auth_query_user must not use auth_query itself")
	}
	p := rt.Pool()
	if p == nil {
		return nil, nil, errors.New("auth_query_db is not a PostgreSQL database")
	}
	srv, err := p.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	return srv, func(reusable bool) {
		if reusable && srv.TxStatus == 'I' {
			p.Release(srv)
		} else {
			p.Discard(srv)
		}
	}, nil
}
