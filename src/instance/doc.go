// Package instance is a running pooler: it binds the listen blocks, runs
// one frontend goroutine per client connection, issues and resolves cancel
// keys, and applies reloads and shutdowns.
//
// A client's life (frontend.go) is: startup packets (SSLRequest and
// GSSENCRequest declined, CancelRequest forwarded), routing to a rule,
// client_max, authentication, login (a server with the client's settings
// applied reports the ParameterStatus set), then relay.Session.Run until the
// client leaves.
package instance
