package auth

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"slices"

	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/internal/scram"
	"github.com/odyssey-go/odyssey/src/internal/wire"
	"github.com/odyssey-go/odyssey/src/log"
	"github.com/odyssey-go/odyssey/src/pgerr"
)

// Conn is the client connection while it logs in.
type Conn struct {
	R   *wire.Reader
	W   io.Writer            // unbuffered: every request is written whole
	TLS *tls.ConnectionState // nil without TLS
	// RemoteHost is the client's address for PAM_RHOST ("" for unix sockets).
	RemoteHost string
}

// Login is what a successful authentication learned that can log the same
// user in to PostgreSQL.
type Login struct {
	Password string      // the client's cleartext password, when it sent one
	MD5      string      // the stored md5 hash the client proved
	SCRAM    *scram.Keys // when the client proved a SCRAM secret
}

// Authenticator checks clients. One serves the whole instance; it is safe
// for concurrent use.
type Authenticator struct {
	// Secrets fetches secrets for rules with auth_query. Nil means no
	// rule may use auth_query.
	Secrets *SecretCache
	// Verifiers check cleartext passwords against PAM and LDAP.
	Verifiers Verifiers

	mockKey []byte // for mock SCRAM salts of unknown users
}

// Verifiers check a cleartext password outside the pooler. Nil functions
// make the rules that need them fail with 28000.
type Verifiers struct {
	PAM  func(ctx context.Context, service, user, password, remoteHost string) error
	LDAP func(ctx context.Context, endpoint *config.LDAPEndpoint, user, password string) error
}

// ErrBadCredentials is what a Verifier returns when the directory or PAM
// said no; any other error means it could not be asked.
var ErrBadCredentials = errors.New("bad credentials")

// New returns an Authenticator.
func New(secrets *SecretCache, v Verifiers) *Authenticator {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &Authenticator{Secrets: secrets, Verifiers: v, mockKey: key}
}

// Exchanges reports whether method asks the client for something, and so
// may wait on the client and on what checks its answer (auth_query, PAM,
// LDAP). The others decide from the startup packet and the TLS state.
func Exchanges(method string) bool {
	switch method {
	case "none", "", "block", "cert":
		return false
	}
	return true
}

// Authenticate runs rule's method for user over c. cfg supplies LDAP
// endpoints. Errors are FATAL *pgerr.Error for the client, or the
// connection's own error (the client went away: psql does that on purpose
// when it needs to prompt for a password).
func (a *Authenticator) Authenticate(ctx context.Context, c *Conn, cfg *config.Config, rule *config.Rule, user string) (*Login, error) {
	switch rule.Authentication {
	case "none", "":
		return &Login{}, nil
	case "block":
		return nil, pgerr.Fatalf(pgerr.InvalidAuthSpec, "user blocked")
	case "cert":
		if err := CheckCertificate(c.TLS, user, rule.AuthCommonName); err != nil {
			return nil, err
		}
		return &Login{}, nil
	case "clear_text":
		return a.clearText(ctx, c, cfg, rule, user)
	case "md5", "scram-sha-256":
		sec, err := a.secret(ctx, rule, user)
		if err != nil {
			return nil, err
		}
		switch {
		case sec.scram != nil || rule.Authentication == "scram-sha-256":
			return a.scramSHA256(ctx, c, sec, user)
		default:
			return md5Exchange(ctx, c, sec, user)
		}
	default:
		return nil, pgerr.Fatalf(pgerr.InvalidAuthorizationMethod, "authentication method %q is not supported", rule.Authentication)
	}
}

// CheckCertificate checks a client certificate for the cert method and for
// listen tls = "verify_full": TLS verified the chain; the certificate's
// common name must be the user's name or one of names (auth_common_name).
func CheckCertificate(st *tls.ConnectionState, user string, names []string) error {
	if st == nil || len(st.PeerCertificates) == 0 || len(st.VerifiedChains) == 0 {
		return pgerr.Fatalf(pgerr.InvalidAuthSpec, "connection requires a valid client certificate")
	}
	cn := st.PeerCertificates[0].Subject.CommonName
	if cn != "" && (cn == user || slices.Contains(names, cn)) {
		return nil
	}
	return pgerr.Fatalf(pgerr.InvalidAuthSpec, "certificate authentication failed for user %q", user).
		WithDetail("The certificate's common name does not match the user name.")
}

// failed is PostgreSQL's answer to every failed password method.
func failed(user string) *pgerr.Error {
	return pgerr.Fatalf(pgerr.InvalidPassword, "password authentication failed for user %q", user)
}

// logFailure says in the pooler's log why a login failed, which the client
// is not told.
func logFailure(ctx context.Context, method, reason string) {
	log.G(ctx).WithField("method", method).Info("authentication failed: " + reason)
}

func protocolError(format string, args ...any) *pgerr.Error {
	return pgerr.Fatalf(pgerr.ProtocolViolation, format, args...)
}
