package backend

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/xdg-go/scram"
)

// scramMechanism is the only SASL mechanism the pooler offers. Channel
// binding (SCRAM-SHA-256-PLUS) needs TLS to the server.
const scramMechanism = "SCRAM-SHA-256"

// auth is the client side of one authentication exchange. See
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP
// and, for SASL, https://www.postgresql.org/docs/current/sasl-authentication.html
//
// Errors never contain the password.
type auth struct {
	user, password string
	scram          *scram.ClientConversation // during and after SASL
	done           bool                      // AuthenticationOk seen
}

// step handles one Authentication message body and returns the message to
// answer with, if any.
func (a *auth) step(body []byte) (pgproto3.FrontendMessage, error) {
	if len(body) < 4 {
		return nil, errors.New("short Authentication message")
	}
	switch code := binary.BigEndian.Uint32(body); code {
	case pgproto3.AuthTypeOk:
		if a.scram != nil && !a.scram.Valid() {
			// A server that skips SASLFinal has not proved it knows
			// the password; libpq refuses it too.
			return nil, errors.New("SCRAM-SHA-256: server sent AuthenticationOk without proving it knows the password")
		}
		a.done = true
		return nil, nil
	case pgproto3.AuthTypeCleartextPassword:
		return &pgproto3.PasswordMessage{Password: a.password}, nil
	case pgproto3.AuthTypeMD5Password:
		var m pgproto3.AuthenticationMD5Password
		if err := m.Decode(body); err != nil {
			return nil, err
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
	c, err := scram.SHA256.NewClient("", a.password, "")
	if err != nil {
		c, err = scram.SHA256.NewClientUnprepped("", a.password, "")
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

// md5Password is PostgreSQL's md5 response: "md5" followed by
// md5(md5(password || user) || salt) in hex.
func md5Password(user, password string, salt []byte) string {
	h := md5.Sum([]byte(password + user))
	inner := hex.EncodeToString(h[:])
	h = md5.Sum(append([]byte(inner), salt...))
	return "md5" + hex.EncodeToString(h[:])
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
