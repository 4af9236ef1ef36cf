package backend

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/odyssey-go/odyssey/src/internal/scram"
	xdg "github.com/xdg-go/scram"
)

// scramMechanism is the only SASL mechanism the pooler offers. Channel
// binding (SCRAM-SHA-256-PLUS) needs TLS to the server.
const scramMechanism = scram.Mechanism

// auth is the client side of one authentication exchange. See
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP
// and, for SASL, https://www.postgresql.org/docs/current/sasl-authentication.html
//
// Errors never contain the password.
type auth struct {
	user, password string
	keys           *scram.Keys             // for SCRAM pass-through when there is no password
	scram          *xdg.ClientConversation // during and after a SASL login with the password
	keyed          *scram.Client           // during and after a SASL login with keys
	keyedValid     bool                    // the server proved it knows the secret
	done           bool                    // AuthenticationOk seen
}

// step handles one Authentication message body and returns the message to
// answer with, if any.
func (a *auth) step(body []byte) (pgproto3.FrontendMessage, error) {
	if len(body) < 4 {
		return nil, errors.New("short Authentication message")
	}
	switch code := binary.BigEndian.Uint32(body); code {
	case pgproto3.AuthTypeOk:
		if a.scram != nil && !a.scram.Valid() || a.keyed != nil && !a.keyedValid {
			// A server that skips SASLFinal has not proved it knows
			// the password; libpq refuses it too.
			return nil, errors.New("SCRAM-SHA-256: server sent AuthenticationOk without proving it knows the password")
		}
		a.done = true
		return nil, nil
	case pgproto3.AuthTypeCleartextPassword:
		if a.password == "" || isMD5Hash(a.password) {
			return nil, errors.New("server requests a cleartext password and the pooler has none for this user (set storage_password, a plain password, or password_passthrough)")
		}
		return &pgproto3.PasswordMessage{Password: a.password}, nil
	case pgproto3.AuthTypeMD5Password:
		var m pgproto3.AuthenticationMD5Password
		if err := m.Decode(body); err != nil {
			return nil, err
		}
		if isMD5Hash(a.password) {
			// md5 needs only the stored hash: PostgreSQL computes
			// the same answer from it.
			return &pgproto3.PasswordMessage{Password: md5Salted(a.password[3:], m.Salt[:])}, nil
		}
		return &pgproto3.PasswordMessage{Password: md5Password(a.user, a.password, m.Salt[:])}, nil
	case pgproto3.AuthTypeSASL:
		var m pgproto3.AuthenticationSASL
		if err := m.Decode(body); err != nil {
			return nil, err
		}
		if !slices.Contains(m.AuthMechanisms, scramMechanism) {
			return nil, fmt.Errorf("server offers SASL mechanisms %v, the pooler supports %s", m.AuthMechanisms, scramMechanism)
		}
		return a.scramStart()
	case pgproto3.AuthTypeSASLContinue, pgproto3.AuthTypeSASLFinal:
		if a.keyed != nil {
			return a.keyedStep(code, body[4:])
		}
		if a.scram == nil {
			return nil, errors.New("SASL message before AuthenticationSASL")
		}
		reply, err := a.scram.Step(string(body[4:]))
		if err != nil {
			return nil, fmt.Errorf("SCRAM-SHA-256: %w", err)
		}
		if code == pgproto3.AuthTypeSASLFinal {
			return nil, nil
		}
		return &pgproto3.SASLResponse{Data: []byte(reply)}, nil
	default:
		return nil, fmt.Errorf("server requests %s authentication, which the pooler does not support (use password, md5 or scram-sha-256 for the pooler in pg_hba.conf)", authName(code))
	}
}

// scramStart begins SCRAM-SHA-256 (RFC 5802, RFC 7677) without channel
// binding. The user name in the client-first-message is left empty:
// PostgreSQL ignores it and uses the startup packet's. PostgreSQL applies
// SASLprep to the password only when that succeeds and otherwise uses the
// raw bytes, so the unprepared password is the fallback here as well.
func (a *auth) scramStart() (pgproto3.FrontendMessage, error) {
	if (a.password == "" || isMD5Hash(a.password)) && a.keys != nil {
		a.keyed = scram.NewClient(a.keys)
		return &pgproto3.SASLInitialResponse{AuthMechanism: scramMechanism, Data: a.keyed.First()}, nil
	}
	if isMD5Hash(a.password) {
		return nil, errors.New("server requests SCRAM-SHA-256 and the pooler holds only an md5 hash for this user: " +
			"SCRAM cannot be done with it (set storage_password or store a SCRAM secret)")
	}
	c, err := xdg.SHA256.NewClient("", a.password, "")
	if err != nil {
		c, err = xdg.SHA256.NewClientUnprepped("", a.password, "")
		if err != nil {
			return nil, errors.New("SCRAM-SHA-256: cannot start the exchange")
		}
	}
	a.scram = c.NewConversation()
	first, err := a.scram.Step("")
	if err != nil {
		return nil, fmt.Errorf("SCRAM-SHA-256: %w", err)
	}
	return &pgproto3.SASLInitialResponse{AuthMechanism: scramMechanism, Data: []byte(first)}, nil
}

// keyedStep continues a SCRAM pass-through login: the proof comes from the
// ClientKey a client revealed when it logged in to the pooler.
func (a *auth) keyedStep(code uint32, data []byte) (pgproto3.FrontendMessage, error) {
	if code == pgproto3.AuthTypeSASLFinal {
		if err := a.keyed.Verify(data); err != nil {
			return nil, fmt.Errorf("SCRAM-SHA-256 pass-through: %w", err)
		}
		a.keyedValid = true
		return nil, nil
	}
	final, err := a.keyed.Step(data)
	if err != nil {
		return nil, fmt.Errorf("SCRAM-SHA-256 pass-through: %w", err)
	}
	return &pgproto3.SASLResponse{Data: final}, nil
}

// md5Password is PostgreSQL's md5 response: "md5" followed by
// md5(md5(password || user) || salt) in hex.
func md5Password(user, password string, salt []byte) string {
	h := md5.Sum([]byte(password + user))
	return md5Salted(hex.EncodeToString(h[:]), salt)
}

// md5Salted finishes an md5 response from the stored hash's 32 hex digits.
func md5Salted(inner string, salt []byte) string {
	h := md5.Sum(append([]byte(inner), salt...))
	return "md5" + hex.EncodeToString(h[:])
}

// isMD5Hash reports whether pw is PostgreSQL's stored md5 form:
// "md5" followed by 32 lower-case hex digits.
func isMD5Hash(pw string) bool {
	if len(pw) != 35 || pw[:3] != "md5" {
		return false
	}
	for _, c := range pw[3:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// authName names an authentication request code for error messages.
func authName(code uint32) string {
	switch code {
	case 2:
		return "Kerberos V5"
	case 6:
		return "SCM credential"
	case pgproto3.AuthTypeGSS, pgproto3.AuthTypeGSSCont:
		return "GSSAPI"
	case pgproto3.AuthTypeSSPI:
		return "SSPI"
	default:
		return fmt.Sprintf("unknown (code %d)", code)
	}
}
