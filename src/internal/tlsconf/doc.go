// Package tlsconf turns the pooler's `tls` settings into crypto/tls
// configurations, for both sides of the pooler:
//
//   - Server: a listen block's mode (disable, allow, require, verify_ca,
//     verify_full), its certificate, the CA that client certificates are
//     checked against, and tls_protocols. PostgreSQL's rules: with a CA
//     file a client certificate is requested and, if given, verified (like
//     ssl_ca_file); verify_ca and verify_full also require one, which the
//     frontend checks after the startup packet, as PostgreSQL's
//     clientcert=verify-ca does, so that the client gets an ErrorResponse
//     instead of a TLS alert. ALPN "postgresql" is offered, as PostgreSQL
//     17 does for direct TLS negotiation.
//   - Client: a storage's sslmode with libpq's semantics
//     (https://www.postgresql.org/docs/15/libpq-ssl.html, table "SSL Mode
//     Descriptions"). With a CA file the server's chain is verified in
//     every mode that encrypts, as libpq does when a root certificate file
//     exists; verify_full also checks the host name. The negotiation itself
//     (SSLRequest, the allow and prefer retries) is the backend's.
//
// Files are read when a Server or Client is built: once per configuration
// or reload, never per connection. A Server is immutable; a reload builds a
// new one and the listener swaps a pointer. A Client is shared by every
// route of its storage, so a reload that keeps the storage's settings
// hands it the new files with Adopt instead of replacing it; connections
// made afterwards use them, established ones keep their session.
package tlsconf
