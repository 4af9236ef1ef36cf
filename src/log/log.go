// Package log gives every part of the pooler a logrus entry that already
// carries the ids of the client, route and server it is working for.
//
// Use G(ctx) to log and WithClient(ctx, c) to give everything below a
// client's fields. Secrets never go into fields.
package log

import (
	"context"

	"github.com/sirupsen/logrus"
)

type clientKey struct{}

// L is the entry used when a context carries none.
var L = logrus.NewEntry(logrus.StandardLogger())

// G returns an entry with the fields of the client in ctx, or L.
func G(ctx context.Context) *logrus.Entry {
	if c, ok := ctx.Value(clientKey{}).(*Client); ok {
		return c.entry()
	}
	return L
}

// Enabled reports whether lines at level are logged. Check it before G on
// a hot path: G builds a client's entry, and its fields, on every call.
func Enabled(level logrus.Level) bool { return L.Logger.IsLevelEnabled(level) }

// Client is what a client's log lines carry. It stays as it is until
// something is logged, and only then becomes a logrus entry: an entry per
// client, with its map of fields, was about 0.5 KiB of every idle client's
// memory (issue 5). Empty fields are left out.
type Client struct {
	ID, User, DB, Route string
}

// WithClient stores c in ctx, in place of any client there.
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, &c)
}

func (c *Client) entry() *logrus.Entry {
	f := make(logrus.Fields, 4)
	for _, kv := range [...][2]string{{"client", c.ID}, {"user", c.User}, {"db", c.DB}, {"route", c.Route}} {
		if kv[1] != "" {
			f[kv[0]] = kv[1]
		}
	}
	return L.WithFields(f)
}
