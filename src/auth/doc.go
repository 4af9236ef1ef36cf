// Package auth authenticates clients of the pooler: the method a rule names
// (none, block, clear_text, md5, scram-sha-256, cert), the secret it checks
// against (the rule's password or one fetched with auth_query), and the
// outside verifiers that clear_text can hand the password to (PAM, LDAP).
// Before any of that, hba decides whether the client may try at all.
//
// What PostgreSQL does, the pooler does (src/backend/libpq/auth.c):
//
//   - Every failure of a password method is FATAL 28P01 `password
//     authentication failed for user "x"`, whether the user exists or not:
//     an unknown user from auth_query goes through the same exchange (a mock
//     SCRAM salt that is stable per user name, a random md5 salt) and fails
//     at the same point. Rejections that are not about a password (hba,
//     block, certificates) are 28000.
//   - A rule whose method is md5 while the secret is a SCRAM secret
//     authenticates with SCRAM-SHA-256 instead, as PostgreSQL does for a
//     SCRAM-encrypted password under an md5 hba line. The other way round is
//     impossible (an md5 hash cannot answer a SCRAM exchange): the login
//     fails with 28P01 and the log says why.
//   - Comparisons of secrets are constant time.
//
// A successful login returns what it learned that can log the same user in
// to PostgreSQL: the cleartext password when the client sent one, and SCRAM
// keys when the client proved a SCRAM secret (SCRAM pass-through: the
// pooler holds only the secret, never the password). The route keeps them
// for its servers' logins (see route.LearnCredentials).
//
// Passwords, hashes, SCRAM messages and proofs never reach logs or errors.
package auth
