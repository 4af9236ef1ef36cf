package auth

import (
	"context"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/odyssey-go/odyssey/src/backend"
	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/internal/scram"
	"github.com/odyssey-go/odyssey/src/log"
	"github.com/odyssey-go/odyssey/src/pgerr"
	"golang.org/x/sync/singleflight"
)

// secret is what a password is checked against. Exactly one form is set,
// or none for a user auth_query did not find.
type secret struct {
	plain string        // the password itself
	md5   string        // PostgreSQL's md5 hash: "md5" + md5(password || user) in hex
	scram *scram.Secret // PostgreSQL's SCRAM-SHA-256 secret
}

func (s *secret) missing() bool { return s.plain == "" && s.md5 == "" && s.scram == nil }

// parseSecret classifies a stored password as PostgreSQL does: a SCRAM
// secret, an md5 hash, or else the password itself.
func parseSecret(stored string) *secret {
	if sec, ok := scram.ParseSecret(stored); ok {
		return &secret{scram: sec}
	}
	if isMD5Hash(stored) {
		return &secret{md5: stored}
	}
	return &secret{plain: stored}
}

// verify checks a cleartext password in constant time, and returns the
// SCRAM keys the password yields under a SCRAM secret.
func (s *secret) verify(user, password string) (ok bool, keys *scram.Keys) {
	switch {
	case s.scram != nil:
		k := scram.NewKeys(password, s.scram.Salt, s.scram.Iterations)
		ok = subtle.ConstantTimeCompare(k.StoredKey, s.scram.StoredKey)&
			subtle.ConstantTimeCompare(k.ServerKey, s.scram.ServerKey) == 1
		if ok {
			return true, k
		}
		return false, nil
	case s.md5 != "":
		return subtle.ConstantTimeCompare([]byte(md5Hash(user, password)), []byte(s.md5)) == 1, nil
	case s.plain != "":
		return subtle.ConstantTimeCompare([]byte(password), []byte(s.plain)) == 1, nil
	}
	return false, nil
}

// md5Hash is PostgreSQL's stored md5 form of a password.
func md5Hash(user, password string) string {
	h := md5.Sum([]byte(password + user))
	return "md5" + hex.EncodeToString(h[:])
}

func isMD5Hash(pw string) bool {
	if len(pw) != 35 || pw[:3] != "md5" {
		return false
	}
	_, err := hex.DecodeString(pw[3:])
	return err == nil
}

// secret returns what user's password is checked against under rule: the
// rule's password, or the answer of its auth_query. A user auth_query does
// not know gets an empty secret, so that the exchange still runs and fails
// like a wrong password.
func (a *Authenticator) secret(ctx context.Context, rule *config.Rule, user string) (*secret, error) {
	if rule.AuthQuery == "" {
		return parseSecret(rule.Password), nil
	}
	if a.Secrets == nil {
		return nil, pgerr.Fatalf(pgerr.InvalidAuthorizationMethod, "auth_query is not available")
	}
	stored, err := a.Secrets.Lookup(ctx, rule, user)
	if err != nil {
		log.G(ctx).WithError(err).Warn("auth_query failed")
		return nil, pgerr.Fatalf(pgerr.InvalidAuthSpec, "authentication failed for user %q: the pooler could not fetch the password", user)
	}
	if stored == "" {
		return &secret{}, nil
	}
	return parseSecret(stored), nil
}

// Acquirer gives auth_query a server logged in as auth_query_user to
// auth_query_db; release(true) returns it to its pool, release(false)
// closes it.
type Acquirer func(ctx context.Context, database, user string) (srv *backend.Server, release func(reusable bool), err error)

// SecretCache runs auth_query and remembers answers for TTL, so that a
// connection storm for one user asks PostgreSQL once, and a password
// changed in PostgreSQL is seen within TTL. Concurrent lookups of the same
// user share one query.
type SecretCache struct {
	acquire Acquirer
	ttl     time.Duration
	group   singleflight.Group

	mu      sync.Mutex
	entries map[cacheKey]cacheEntry
}

type cacheKey struct {
	query, db, queryUser string
	user                 string
}

type cacheEntry struct {
	stored  string
	expires time.Time
}

// DefaultSecretTTL is how long auth_query answers are reused.
const DefaultSecretTTL = 10 * time.Second

// NewSecretCache returns a cache that queries through acquire.
func NewSecretCache(acquire Acquirer, ttl time.Duration) *SecretCache {
	return &SecretCache{acquire: acquire, ttl: ttl, entries: map[cacheKey]cacheEntry{}}
}

// Lookup returns user's stored password as rule's auth_query reports it,
// or "" when the query returns no row or a NULL password.
func (c *SecretCache) Lookup(ctx context.Context, rule *config.Rule, user string) (string, error) {
	k := cacheKey{rule.AuthQuery, rule.AuthQueryDB, rule.AuthQueryUser, user}
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[k]
	if ok && now.After(e.expires) {
		delete(c.entries, k)
		ok = false
	}
	c.mu.Unlock()
	if ok {
		return e.stored, nil
	}
	v, err, _ := c.group.Do(fmt.Sprintf("%q %q %q %q", k.query, k.db, k.queryUser, k.user), func() (any, error) {
		stored, err := c.query(ctx, rule, user)
		if err != nil {
			return "", err
		}
		c.mu.Lock()
		c.sweep(now)
		c.entries[k] = cacheEntry{stored: stored, expires: now.Add(c.ttl)}
		c.mu.Unlock()
		return stored, nil
	})
	return v.(string), err
}

// sweep drops expired entries once the map grows, so that names tried once
// do not stay forever.
func (c *SecretCache) sweep(now time.Time) {
	if len(c.entries) < 1024 {
		return
	}
	for k, e := range c.entries {
		if now.After(e.expires) {
			delete(c.entries, k)
		}
	}
}

func (c *SecretCache) query(ctx context.Context, rule *config.Rule, user string) (string, error) {
	db, qu := rule.AuthQueryDB, rule.AuthQueryUser
	srv, release, err := c.acquire(ctx, db, qu)
	if err != nil {
		return "", fmt.Errorf("auth_query as %q in %q: %w", qu, db, err)
	}
	rows, err := srv.QueryArgs(ctx, rule.AuthQuery, user)
	if _, isPG := pgerr.As(err); err != nil && !isPG {
		release(false)
		return "", fmt.Errorf("auth_query as %q in %q: %w", qu, db, err)
	}
	release(true)
	if err != nil {
		return "", fmt.Errorf("auth_query as %q in %q: %w", qu, db, err)
	}
	if len(rows) == 0 {
		return "", nil
	}
	if len(rows) > 1 {
		return "", errors.New("auth_query returned more than one row")
	}
	// PgBouncer's convention: (user name, password); a single column is
	// the password.
	return rows[0][len(rows[0])-1], nil
}
