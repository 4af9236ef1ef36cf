package scram

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
)

// ErrFailed is a proof that does not match the secret: a wrong password.
var ErrFailed = errors.New("SCRAM proof does not match")

// Server is the server side of one SCRAM-SHA-256 exchange without channel
// binding. Call First with the client-first-message (the data of
// SASLInitialResponse), then Final with the client-final-message.
type Server struct {
	secret *Secret
	mock   bool // no such user: go through the motions, then fail

	gs2Header       []byte
	clientFirstBare []byte
	serverFirst     []byte
	nonce           []byte
}

// NewServer starts an exchange against secret.
func NewServer(secret *Secret) *Server { return &Server{secret: secret} }

// NewMockServer starts an exchange that always fails, with a salt that is
// stable for user, so that a client cannot tell an unknown user from a
// wrong password (PostgreSQL's scram_mock_salt does the same). key is a
// per-process random secret.
func NewMockServer(key []byte, user string) *Server {
	salt := hmacSum(key, "mock salt "+user)[:16]
	return &Server{mock: true, secret: &Secret{Iterations: DefaultIterations, Salt: salt,
		StoredKey: make([]byte, sha256.Size), ServerKey: make([]byte, sha256.Size)}}
}

// First answers the client-first-message with the server-first-message.
func (s *Server) First(clientFirst []byte) ([]byte, error) {
	// gs2-header: "n,," (no channel binding), or "y,," (the client could
	// bind but thinks we cannot, which is true). "p=" asks for binding
	// we never offered. An authzid ("n,a=x,") is not supported, as in
	// PostgreSQL.
	var rest []byte
	switch {
	case bytes.HasPrefix(clientFirst, []byte("n,,")), bytes.HasPrefix(clientFirst, []byte("y,,")):
		s.gs2Header, rest = clientFirst[:3], clientFirst[3:]
	case bytes.HasPrefix(clientFirst, []byte("p=")):
		return nil, fmt.Errorf("%w: the client asks for channel binding, which was not offered", ErrProtocol)
	default:
		return nil, fmt.Errorf("%w: unsupported GS2 header", ErrProtocol)
	}
	as, err := attrs(rest)
	if err != nil {
		return nil, err
	}
	// n=<user> (ignored: PostgreSQL uses the startup packet's), r=<nonce>,
	// then optional extensions, which we do not support.
	if len(as) < 2 || as[0][0][0] != 'n' || as[1][0][0] != 'r' || len(as[1][1]) == 0 {
		return nil, fmt.Errorf("%w: client-first-message", ErrProtocol)
	}
	if len(as) > 2 {
		return nil, fmt.Errorf("%w: SCRAM extensions are not supported", ErrProtocol)
	}
	for _, c := range as[1][1] {
		if c < 0x21 || c > 0x7e || c == ',' {
			return nil, fmt.Errorf("%w: nonce", ErrProtocol)
		}
	}
	s.clientFirstBare = bytes.Clone(rest)
	var ours [18]byte
	_, _ = rand.Read(ours[:])
	s.nonce = append(bytes.Clone(as[1][1]), base64.StdEncoding.EncodeToString(ours[:])...)
	s.serverFirst = fmt.Appendf(nil, "r=%s,s=%s,i=%s", s.nonce,
		base64.StdEncoding.EncodeToString(s.secret.Salt), strconv.Itoa(s.secret.Iterations))
	return s.serverFirst, nil
}

// Final checks the client-final-message. On success it returns the
// server-final-message and the client's ClientKey; a wrong proof is
// ErrFailed.
func (s *Server) Final(clientFinal []byte) (serverFinal, clientKey []byte, err error) {
	if s.serverFirst == nil {
		return nil, nil, fmt.Errorf("%w: client-final-message before client-first-message", ErrProtocol)
	}
	i := bytes.LastIndex(clientFinal, []byte(",p="))
	if i < 0 {
		return nil, nil, fmt.Errorf("%w: no proof", ErrProtocol)
	}
	withoutProof := clientFinal[:i]
	as, err := attrs(withoutProof)
	if err != nil {
		return nil, nil, err
	}
	if len(as) != 2 || as[0][0][0] != 'c' || as[1][0][0] != 'r' {
		return nil, nil, fmt.Errorf("%w: client-final-message", ErrProtocol)
	}
	binding, err := base64.StdEncoding.DecodeString(string(as[0][1]))
	if err != nil || !bytes.Equal(binding, s.gs2Header) {
		return nil, nil, fmt.Errorf("%w: channel binding does not match the GS2 header", ErrProtocol)
	}
	if !bytes.Equal(as[1][1], s.nonce) {
		return nil, nil, fmt.Errorf("%w: nonce does not match", ErrProtocol)
	}
	proof, err := base64.StdEncoding.DecodeString(string(clientFinal[i+3:]))
	if err != nil || len(proof) != sha256.Size {
		return nil, nil, fmt.Errorf("%w: proof", ErrProtocol)
	}
	authMessage := s.authMessage(withoutProof)
	clientKey = xor(proof, hmacSum(s.secret.StoredKey, authMessage))
	stored := sha256.Sum256(clientKey)
	if subtle.ConstantTimeCompare(stored[:], s.secret.StoredKey) != 1 || s.mock {
		return nil, nil, ErrFailed
	}
	sig := hmacSum(s.secret.ServerKey, authMessage)
	return []byte("v=" + base64.StdEncoding.EncodeToString(sig)), clientKey, nil
}

func (s *Server) authMessage(clientFinalWithoutProof []byte) string {
	return string(s.clientFirstBare) + "," + string(s.serverFirst) + "," + string(clientFinalWithoutProof)
}
