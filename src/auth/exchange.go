package auth

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/internal/scram"
	"github.com/odyssey-go/odyssey/src/pgerr"
)

// maxPasswordMessage bounds an authentication message from a client that
// is not logged in yet: PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH.
const maxPasswordMessage = 65535

// request sends an authentication request.
func request(c *Conn, m pgproto3.BackendMessage) error {
	b, err := m.Encode(nil)
	if err != nil {
		return err
	}
	_, err = c.W.Write(b)
	return err
}

// response reads the client's next message, which must be a
// PasswordMessage/SASLInitialResponse/SASLResponse ('p'). The body is a
// copy the caller may keep.
func response(c *Conn) ([]byte, error) {
	typ, n, err := c.R.ReadHeader()
	if err != nil {
		return nil, err
	}
	if typ != 'p' {
		return nil, protocolError("expected password response, got message type %d", typ)
	}
	if n > maxPasswordMessage {
		return nil, protocolError("invalid password packet size")
	}
	body, err := c.R.Body(n)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(body), nil
}

// cleartext asks for the password in clear and returns it.
func cleartext(c *Conn) (string, error) {
	if err := request(c, &pgproto3.AuthenticationCleartextPassword{}); err != nil {
		return "", err
	}
	body, err := response(c)
	if err != nil {
		return "", err
	}
	return password(body)
}

// password decodes a PasswordMessage body: a null-terminated string.
func password(body []byte) (string, error) {
	i := bytes.IndexByte(body, 0)
	if i < 0 || i != len(body)-1 {
		return "", protocolError("invalid password packet")
	}
	return string(body[:i]), nil
}

// clearText asks for the password in clear and checks it with PAM, LDAP or
// the rule's secret, in that order of the rule's settings.
func (a *Authenticator) clearText(ctx context.Context, c *Conn, cfg *config.Config, rule *config.Rule, user string) (*Login, error) {
	pw, err := cleartext(c)
	if err != nil {
		return nil, err
	}
	var verify func(context.Context, string, string) error
	method := "clear_text"
	switch {
	case rule.AuthPAMService != "":
		method = "pam"
		verify = func(ctx context.Context, user, pw string) error {
			if a.Verifiers.PAM == nil {
				return errors.New("PAM is not available in this build")
			}
			return a.Verifiers.PAM(ctx, rule.AuthPAMService, user, pw, c.RemoteHost)
		}
	case rule.LDAPEndpoint != "":
		method = "ldap"
		verify = func(ctx context.Context, user, pw string) error {
			ep := cfg.LDAPEndpoints[rule.LDAPEndpoint]
			if a.Verifiers.LDAP == nil || ep == nil {
				return errors.New("LDAP endpoint " + rule.LDAPEndpoint + " is not available")
			}
			return a.Verifiers.LDAP(ctx, ep, user, pw)
		}
	}
	if pw == "" {
		// PostgreSQL refuses empty passwords outright, and an LDAP
		// server would take one for an anonymous bind.
		verify = func(context.Context, string, string) error { return errors.New("empty password") }
	}
	if verify == nil {
		sec, err := a.secret(ctx, rule, user)
		if err != nil {
			return nil, err
		}
		ok, keys := sec.verify(user, pw)
		if !ok {
			logFailure(ctx, method, "wrong password or unknown user")
			return nil, failed(user)
		}
		return &Login{Password: pw, MD5: sec.md5, SCRAM: keys}, nil
	}
	err = verify(ctx, user, pw)
	if err == nil {
		return &Login{Password: pw}, nil
	}
	reason := "wrong password or unknown user"
	if !errors.Is(err, ErrBadCredentials) {
		reason = err.Error()
	}
	logFailure(ctx, method, reason)
	if method == "clear_text" {
		return nil, failed(user)
	}
	// PostgreSQL's answer to both a refusal and a directory it cannot
	// reach: 28000 "LDAP authentication failed" (it keeps 28P01 for the
	// password methods). The log has the reason.
	return nil, pgerr.Fatalf(pgerr.InvalidAuthSpec, "%s authentication failed for user %q", methodName[method], user)
}

var methodName = map[string]string{"pam": "PAM", "ldap": "LDAP"}

// md5Exchange runs md5 authentication against a plain password or an md5
// hash: both sides compute md5(md5hash[3:] || salt).
func md5Exchange(ctx context.Context, c *Conn, sec *secret, user string) (*Login, error) {
	var salt [4]byte
	_, _ = rand.Read(salt[:])
	if err := request(c, &pgproto3.AuthenticationMD5Password{Salt: salt}); err != nil {
		return nil, err
	}
	body, err := response(c)
	if err != nil {
		return nil, err
	}
	got, err := password(body)
	if err != nil {
		return nil, err
	}
	stored := sec.md5
	if sec.plain != "" {
		stored = md5Hash(user, sec.plain)
	}
	if stored == "" {
		logFailure(ctx, "md5", "unknown user")
		return nil, failed(user)
	}
	h := md5.Sum(append([]byte(stored[3:]), salt[:]...))
	want := "md5" + hex.EncodeToString(h[:])
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		logFailure(ctx, "md5", "wrong password")
		return nil, failed(user)
	}
	// The md5 hash itself is enough for an md5 login to PostgreSQL.
	return &Login{MD5: stored}, nil
}

// scramSHA256 runs SCRAM-SHA-256 (without channel binding) against a SCRAM
// secret, or a plain password (keys derived with a fresh salt). An unknown
// user gets a mock exchange; an md5 hash cannot do SCRAM at all.
func (a *Authenticator) scramSHA256(ctx context.Context, c *Conn, sec *secret, user string) (*Login, error) {
	var srv *scram.Server
	switch {
	case sec.scram != nil:
		srv = scram.NewServer(sec.scram)
	case sec.plain != "":
		salt := make([]byte, 16)
		_, _ = rand.Read(salt)
		srv = scram.NewServer(&scram.NewKeys(sec.plain, salt, scram.DefaultIterations).Secret)
	default:
		if sec.md5 != "" {
			logFailure(ctx, "scram-sha-256", "the stored password is an md5 hash, which cannot answer SCRAM: "+
				"store a SCRAM secret or the password, or use authentication = \"md5\"")
		}
		srv = scram.NewMockServer(a.mockKey, user)
	}
	if err := request(c, &pgproto3.AuthenticationSASL{AuthMechanisms: []string{scram.Mechanism}}); err != nil {
		return nil, err
	}
	body, err := response(c)
	if err != nil {
		return nil, err
	}
	var first pgproto3.SASLInitialResponse
	if err := first.Decode(body); err != nil {
		return nil, protocolError("malformed SASLInitialResponse message")
	}
	if first.AuthMechanism != scram.Mechanism {
		return nil, protocolError("client selected an invalid SASL authentication mechanism")
	}
	serverFirst, err := srv.First(first.Data)
	if err != nil {
		return nil, protocolError("malformed SCRAM message")
	}
	if err := request(c, &pgproto3.AuthenticationSASLContinue{Data: serverFirst}); err != nil {
		return nil, err
	}
	body, err = response(c)
	if err != nil {
		return nil, err
	}
	serverFinal, clientKey, err := srv.Final(body)
	if errors.Is(err, scram.ErrFailed) {
		logFailure(ctx, "scram-sha-256", "wrong password or unknown user")
		return nil, failed(user)
	}
	if err != nil {
		return nil, protocolError("malformed SCRAM message")
	}
	if err := request(c, &pgproto3.AuthenticationSASLFinal{Data: serverFinal}); err != nil {
		return nil, err
	}
	login := &Login{}
	if sec.scram != nil {
		login.SCRAM = &scram.Keys{Secret: *sec.scram, ClientKey: clientKey}
	}
	return login, nil
}
