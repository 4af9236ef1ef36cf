// Package log gives every part of the pooler a logrus entry that already
// carries the ids of the client, route and server it is working for.
//
// Use G(ctx) to log and With(ctx, key, value) to add a field for everything
// below. Secrets never go into fields.
package log

import (
	"context"

	"github.com/sirupsen/logrus"
)

type entryKey struct{}

// L is the entry used when a context carries none.
var L = logrus.NewEntry(logrus.StandardLogger())

// G returns the entry stored in ctx, or L.
func G(ctx context.Context) *logrus.Entry {
	if e, ok := ctx.Value(entryKey{}).(*logrus.Entry); ok {
		return e
	}
	return L
}

// WithEntry stores e in ctx.
func WithEntry(ctx context.Context, e *logrus.Entry) context.Context {
	return context.WithValue(ctx, entryKey{}, e)
}

// With returns a context whose entry has one more field.
func With(ctx context.Context, key string, value any) context.Context {
	return WithEntry(ctx, G(ctx).WithField(key, value))
}
