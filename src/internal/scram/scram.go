// Package scram is the SCRAM-SHA-256 arithmetic the pooler needs beyond a
// password-holding client: PostgreSQL's stored secrets, the server side of
// the exchange with a client, and a client that logs in with a ClientKey
// instead of a password.
//
// The last two make SCRAM pass-through possible. A client's proof is
// ClientKey XOR HMAC(StoredKey, AuthMessage); the server side recovers
// ClientKey from it and checks H(ClientKey) == StoredKey. That ClientKey is
// all a client needs to log in to PostgreSQL under the same secret (same
// salt and iteration count), so the pooler never holds the password.
// PgBouncer does the same.
//
// References: RFC 5802 (SCRAM), RFC 7677 (SCRAM-SHA-256),
// https://www.postgresql.org/docs/current/sasl-authentication.html and
// PostgreSQL's src/backend/libpq/auth-scram.c for the secret format.
//
// xdg-go/scram (used by backend for password logins) cannot do either: its
// server never exposes the ClientKey, and its client wants a password.
package scram

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/xdg-go/stringprep"
)

// Mechanism is the SASL mechanism name.
const Mechanism = "SCRAM-SHA-256"

// DefaultIterations is PostgreSQL's scram_iterations default.
const DefaultIterations = 4096

// Secret is what PostgreSQL stores in pg_authid.rolpassword:
// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>.
type Secret struct {
	Iterations int
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
}

// Keys is a Secret plus the ClientKey learned from a client's proof:
// enough to log in to a server holding the same secret.
type Keys struct {
	Secret
	ClientKey []byte
}

// ParseSecret parses a stored SCRAM-SHA-256 secret. ok is false for
// anything else (a plain password, an md5 hash, garbage).
func ParseSecret(s string) (sec *Secret, ok bool) {
	rest, found := strings.CutPrefix(s, Mechanism+"$")
	if !found {
		return nil, false
	}
	params, keys, found := strings.Cut(rest, "$")
	if !found {
		return nil, false
	}
	iter, salt, found := strings.Cut(params, ":")
	if !found {
		return nil, false
	}
	stored, server, found := strings.Cut(keys, ":")
	if !found {
		return nil, false
	}
	n, err := strconv.Atoi(iter)
	if err != nil || n <= 0 {
		return nil, false
	}
	sec = &Secret{Iterations: n}
	dec := base64.StdEncoding
	if sec.Salt, err = dec.DecodeString(salt); err != nil || len(sec.Salt) == 0 {
		return nil, false
	}
	if sec.StoredKey, err = dec.DecodeString(stored); err != nil || len(sec.StoredKey) != sha256.Size {
		return nil, false
	}
	if sec.ServerKey, err = dec.DecodeString(server); err != nil || len(sec.ServerKey) != sha256.Size {
		return nil, false
	}
	return sec, true
}

// String formats the secret the way PostgreSQL stores it.
func (s *Secret) String() string {
	enc := base64.StdEncoding
	return fmt.Sprintf("%s$%d:%s$%s:%s", Mechanism, s.Iterations, enc.EncodeToString(s.Salt),
		enc.EncodeToString(s.StoredKey), enc.EncodeToString(s.ServerKey))
}

// NewKeys derives the keys for password under salt and iterations, as
// PostgreSQL's pg_be_scram_build_secret does: the password goes through
// SASLprep when that succeeds, and is used as is when it does not.
func NewKeys(password string, salt []byte, iterations int) *Keys {
	if p, err := stringprep.SASLprep.Prepare(password); err == nil {
		password = p
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		panic(err) // only for a key length out of range, which sha256.Size is not
	}
	clientKey := hmacSum(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	return &Keys{
		Secret: Secret{
			Iterations: iterations,
			Salt:       salt,
			StoredKey:  stored[:],
			ServerKey:  hmacSum(salted, "Server Key"),
		},
		ClientKey: clientKey,
	}
}

// Verify reports, in constant time, whether password matches the secret.
func (s *Secret) Verify(password string) bool {
	k := NewKeys(password, s.Salt, s.Iterations)
	return subtle.ConstantTimeCompare(k.StoredKey, s.StoredKey) == 1 &&
		subtle.ConstantTimeCompare(k.ServerKey, s.ServerKey) == 1
}

func hmacSum(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// ErrProtocol wraps malformed SCRAM messages.
var ErrProtocol = errors.New("malformed SCRAM message")

// attrs splits a SCRAM message "a=x,b=y" into its attributes in order.
func attrs(msg []byte) ([][2][]byte, error) {
	var out [][2][]byte
	for part := range bytes.SplitSeq(msg, []byte(",")) {
		if len(part) < 2 || part[1] != '=' {
			return nil, fmt.Errorf("%w: attribute %q", ErrProtocol, truncate(part))
		}
		out = append(out, [2][]byte{part[:1], part[2:]})
	}
	return out, nil
}

func truncate(b []byte) []byte {
	if len(b) > 20 {
		return b[:20]
	}
	return b
}

func xor(a, b []byte) []byte {
	out := make([]byte, len(a))
	subtle.XORBytes(out, a, b)
	return out
}
