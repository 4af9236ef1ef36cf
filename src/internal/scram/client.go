package scram

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// Client is the client side of one SCRAM-SHA-256 exchange that proves
// knowledge of Keys instead of a password. Only a server holding the same
// secret (salt and iteration count included) accepts it.
type Client struct {
	keys            *Keys
	clientFirstBare string
	authMessage     string
}

// NewClient starts an exchange with keys.
func NewClient(keys *Keys) *Client { return &Client{keys: keys} }

// First returns the client-first-message. The user name is left empty:
// PostgreSQL takes it from the startup packet.
func (c *Client) First() []byte {
	var nonce [18]byte
	_, _ = rand.Read(nonce[:])
	c.clientFirstBare = "n=,r=" + base64.StdEncoding.EncodeToString(nonce[:])
	return []byte("n,," + c.clientFirstBare)
}

// Step answers the server-first-message with the client-final-message.
func (c *Client) Step(serverFirst []byte) ([]byte, error) {
	as, err := attrs(serverFirst)
	if err != nil {
		return nil, err
	}
	if len(as) < 3 || as[0][0][0] != 'r' || as[1][0][0] != 's' || as[2][0][0] != 'i' {
		return nil, fmt.Errorf("%w: server-first-message", ErrProtocol)
	}
	nonce := string(as[0][1])
	if !strings.HasPrefix(nonce, c.clientFirstBare[len("n=,r="):]) {
		return nil, fmt.Errorf("%w: server nonce does not extend ours", ErrProtocol)
	}
	salt, err := base64.StdEncoding.DecodeString(string(as[1][1]))
	if err != nil {
		return nil, fmt.Errorf("%w: salt", ErrProtocol)
	}
	iter, err := strconv.Atoi(string(as[2][1]))
	if err != nil {
		return nil, fmt.Errorf("%w: iteration count", ErrProtocol)
	}
	if iter != c.keys.Iterations || !hmac.Equal(salt, c.keys.Salt) {
		return nil, fmt.Errorf("the server's SCRAM secret has another salt or iteration count than the pooler's: " +
			"copy the user's secret from pg_authid (or use auth_query) so that pass-through can work")
	}
	withoutProof := "c=biws,r=" + nonce // biws = base64("n,,")
	c.authMessage = c.clientFirstBare + "," + string(serverFirst) + "," + withoutProof
	proof := xor(c.keys.ClientKey, hmacSum(c.keys.StoredKey, c.authMessage))
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// Verify checks the server-final-message: the server proves it knows the
// secret too.
func (c *Client) Verify(serverFinal []byte) error {
	as, err := attrs(serverFinal)
	if err != nil {
		return err
	}
	if len(as) < 1 {
		return fmt.Errorf("%w: server-final-message", ErrProtocol)
	}
	if as[0][0][0] == 'e' {
		return fmt.Errorf("SCRAM: server error %q", as[0][1])
	}
	sig, err := base64.StdEncoding.DecodeString(string(as[0][1]))
	if as[0][0][0] != 'v' || err != nil {
		return fmt.Errorf("%w: server-final-message", ErrProtocol)
	}
	if !hmac.Equal(sig, hmacSum(c.keys.ServerKey, c.authMessage)) {
		return fmt.Errorf("SCRAM: the server's signature is wrong: it does not know the secret")
	}
	return nil
}
