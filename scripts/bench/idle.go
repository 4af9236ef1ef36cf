package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"golang.org/x/sync/errgroup"
)

// loginConcurrency bounds the logins in flight, well under the listen
// backlog of either pooler.
const loginConcurrency = 64

// idleKiB is the growth of a server's resident set per idle client, in KiB:
// once the clients are logged in and silent; 2 s after each has run one
// query and gone quiet, as the clients of an application's connection pool
// do; and again restedAfter later, when the pooler has had time to shed the
// stacks of idle clients (Odyssey-Go: 5 to 10 s idle).
type idleKiB struct{ silent, active, rested float64 }

const restedAfter = 10 * time.Second

// idleMemory opens n client connections to srv, logs each in, leaves it
// silent, then has each run a query, and measures srv's growth. srv should
// be freshly started, so that memory freed by earlier load does not hide
// the growth.
func idleMemory(ctx context.Context, srv *server, n int) (kib idleKiB, err error) {
	pid := srv.pid()
	if err := sleep(ctx, time.Second); err != nil {
		return kib, err
	}
	before, err := rssKiB(pid)
	if err != nil {
		return kib, err
	}
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(loginConcurrency)
	for i := range conns {
		g.Go(func() error {
			c, err := login(gctx, srv.port)
			if err != nil {
				return fmt.Errorf("idle client %d of %d: %w", i+1, n, err)
			}
			conns[i] = c
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return kib, err
	}
	growth := func(wait time.Duration) (float64, error) {
		// Let the server finish whatever the clients left it doing.
		if err := sleep(ctx, wait); err != nil {
			return 0, err
		}
		if err := srv.alive(); err != nil {
			return 0, err
		}
		after, err := rssKiB(pid)
		if err != nil {
			return 0, err
		}
		return float64(after-before) / float64(n), nil
	}
	if kib.silent, err = growth(2 * time.Second); err != nil {
		return kib, err
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(loginConcurrency)
	for i, c := range conns {
		g.Go(func() error {
			if err := query(gctx, c, "SELECT 1"); err != nil {
				return fmt.Errorf("idle client %d of %d: %w", i+1, n, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return kib, err
	}
	if kib.active, err = growth(2 * time.Second); err != nil {
		return kib, err
	}
	kib.rested, err = growth(restedAfter)
	return kib, err
}

// query runs sql on a logged-in connection and reads up to ReadyForQuery.
func query(ctx context.Context, conn net.Conn, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	fe := pgproto3.NewFrontend(conn, conn)
	fe.Send(&pgproto3.Query{String: sql})
	if err := fe.Flush(); err != nil {
		return err
	}
	for range 100 {
		msg, err := fe.Receive()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("query: %w", ctx.Err())
			}
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.ReadyForQuery:
			return nil
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("query refused: %s %s", m.Code, m.Message)
		}
	}
	return fmt.Errorf("query: no ReadyForQuery after 100 messages")
}

// login connects to 127.0.0.1:port and logs in (the poolers trust us),
// returning the connection once ReadyForQuery has arrived.
// https://www.postgresql.org/docs/15/protocol-flow.html#id-1.10.6.7.3
func login(ctx context.Context, port int) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (net.Conn, error) {
		stop()
		_ = conn.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("login: %w", ctx.Err())
		}
		return nil, err
	}
	fe := pgproto3.NewFrontend(conn, conn)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters: map[string]string{"user": benchUser, "database": benchDB}})
	if err := fe.Flush(); err != nil {
		return fail(err)
	}
	for range 100 { // a login is a dozen messages
		msg, err := fe.Receive()
		if err != nil {
			return fail(err)
		}
		switch m := msg.(type) {
		case *pgproto3.AuthenticationOk, *pgproto3.ParameterStatus, *pgproto3.BackendKeyData, *pgproto3.NoticeResponse:
		case *pgproto3.ReadyForQuery:
			if !stop() {
				return fail(ctx.Err())
			}
			return conn, nil
		case *pgproto3.ErrorResponse:
			return fail(fmt.Errorf("login refused: %s %s", m.Code, m.Message))
		default:
			return fail(fmt.Errorf("login: unexpected %T (is authentication trust?)", m))
		}
	}
	return fail(fmt.Errorf("login: no ReadyForQuery after 100 messages"))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
