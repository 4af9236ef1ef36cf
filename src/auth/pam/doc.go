// Package pam checks a user's cleartext password with PAM, the way
// PostgreSQL's pam authentication method does
// (https://www.postgresql.org/docs/15/auth-pam.html), for rules with
// authentication = "clear_text" and auth_pam_service. It uses Linux-PAM
// through github.com/msteinert/pam/v2 (cgo; libpam0g-dev to build).
//
// # A conversation
//
// pam_start(service, user), PAM_RHOST set to the client's address when
// known, pam_authenticate, then pam_acct_mgmt, all with no flags, as
// PostgreSQL's CheckPAMAuth does. Every prompt, echoed or not, is answered
// with the password; PAM_ERROR_MSG texts are kept for the error, and
// PAM_TEXT_INFO is ignored. An empty password fails without asking PAM, as
// PostgreSQL refuses it before PAM runs, and so do a user name or password
// with a NUL byte, which C would silently cut short.
//
// # Threads and time
//
// PAM calls block: a module may ask a network service, sleep after a
// failure (pam_faildelay), or never return. Each conversation runs on a
// goroutine of its own, locked to one OS thread from pam_start to pam_end
// (modules may keep per-thread state), and an Authenticator lets at most
// `limit` of them run at once, so stuck modules cannot take every thread.
// A caller waits at most Timeout (and no longer than its context) for a
// slot and for the answer. When it stops waiting, the conversation goes on
// in the background: its next prompt is refused (PAM_CONV_ERR), which
// makes well-behaved modules give up; a module that never returns keeps
// its slot for good, which is the point of the limit. PostgreSQL runs each
// conversation in a backend process of its own, where none of this
// arises.
//
// Modules that are not safe to run concurrently in one process need
// limit 1.
//
// # Errors
//
// ErrBadCredentials (wrapped, with PAM's reason) means PAM answered and
// the user may not log in: authentication failure, unknown user, too many
// tries, permission or account expiry from pam_acct_mgmt. Any other error
// means PAM could not give an answer: the service file is missing or
// broken (PAM_ABORT, PAM_SERVICE_ERR, PAM_OPEN_ERR...), the backend is
// unreachable (PAM_AUTHINFO_UNAVAIL), or the caller stopped waiting.
// Errors never contain the password.
//
// # Tests
//
// ConfDir makes PAM read service files from a directory of the test's own
// (pam_start_confdir, Linux-PAM 1.4 and later) instead of /etc/pam.d. The
// tests write service files that stack pam_matrix.so (Debian package
// libpam-wrapper; it checks a user:password:service file) and pam_exec.so
// (to hold conversations open, and to see PAM_RHOST), loaded by absolute
// path, so no LD_PRELOAD of pam_wrapper is needed.
package pam
