// Package instance is a running pooler: it binds the listen blocks, runs
// one goroutine per client connection, issues and resolves cancel keys,
// and applies reloads and shutdowns.
//
// A client's life (frontend.go) is: startup packets (TLS after an
// SSLRequest or PostgreSQL 17's direct negotiation, as the listen block's
// tls says; GSSENCRequest declined; CancelRequest forwarded), routing to a rule,
// client_max, authentication, login (a server with the client's settings
// applied reports the ParameterStatus set), then the relay until the client
// leaves. The relay (relayClient, relay.Session.Go) runs on a new goroutine
// that replaces the login's, and moves to another once the client has idled for
// shedIdle (shedLoop), so that an idle client's goroutine keeps a small
// stack. From the TLS handshake on, the frontend's conn is the *tls.Conn,
// whose ConnectionState authentication reads.
//
// TLS (tls.go): each listen block's tlsconf.Server sits behind an atomic
// pointer that every handshake loads once; Reload reads the new files
// first (a failure changes nothing) and then swaps the pointers, so that
// established TLS sessions carry on and new ones use the new certificate.
package instance
