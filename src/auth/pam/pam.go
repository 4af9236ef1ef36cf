package pam

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/msteinert/pam/v2"
)

// ErrBadCredentials: PAM answered that the user may not log in (wrong
// password, unknown user, account refused). The caller answers 28P01.
var ErrBadCredentials = errors.New("pam: authentication failed")

// DefaultTimeout is an Authenticator's Timeout unless set otherwise.
// PostgreSQL's authentication_timeout, which bounds its whole login, is 1
// minute.
const DefaultTimeout = 30 * time.Second

// badCredentials are the PAM results (pam(3)) that answer the question:
// the user may not log in. Every other result means PAM could not answer.
var badCredentials = []pam.Error{
	pam.ErrAuth, // a wrong password, and an unknown user for most modules
	pam.ErrUserUnknown,
	pam.ErrCredInsufficient,
	pam.ErrMaxtries,
	pam.ErrPermDenied, // pam_acct_mgmt: not allowed (here, now, from there)
	pam.ErrAcctExpired,
	pam.ErrNewAuthtokReqd, // pam_acct_mgmt: the password expired; a pooler cannot change it
	pam.ErrAuthtokExpired,
}

// Authenticator runs PAM conversations off the caller's goroutine with at most
// `limit` running at once and a timeout per attempt (PAM modules block, and some never
// return); a caller whose ctx ends stops waiting (the PAM call finishes in the
// background and its slot is freed then).
//
// Make one with New, and set the fields before the first Authenticate; it
// is safe for concurrent use from then on.
type Authenticator struct {
	// ConfDir, when not empty, is the directory of PAM service files
	// instead of /etc/pam.d (pam_start_confdir, Linux-PAM 1.4 and later).
	ConfDir string
	// Timeout bounds one attempt from the caller's side: waiting for a
	// slot and for PAM's answer. Zero leaves it to the caller's context.
	Timeout time.Duration

	slots chan struct{} // one element per running conversation
}

// New returns an Authenticator that runs at most limit conversations at
// once (at least 1), with DefaultTimeout.
func New(limit int) *Authenticator {
	return &Authenticator{Timeout: DefaultTimeout, slots: make(chan struct{}, max(limit, 1))}
}

// Authenticate runs pam_authenticate then pam_acct_mgmt for user under service,
// answering password prompts (PromptEchoOff and PromptEchoOn) with password; it sets
// PAM_RHOST to remoteHost when non-empty.
func (a *Authenticator) Authenticate(ctx context.Context, service, user, password, remoteHost string) error {
	switch {
	case password == "":
		return fmt.Errorf("%w: user %q: empty password", ErrBadCredentials, user)
	case strings.ContainsRune(user, 0) || strings.ContainsRune(password, 0):
		return fmt.Errorf("%w: user %q: NUL byte in user name or password", ErrBadCredentials, user)
	case strings.ContainsRune(service, 0) || strings.ContainsRune(remoteHost, 0):
		return fmt.Errorf("pam: service %q, remote host %q: NUL byte", service, remoteHost)
	}
	if a.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.Timeout)
		defer cancel()
	}
	// When this function returns, ctx ends and a conversation still going
	// has its next prompt refused.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	select {
	case a.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("pam: service %q, user %q: waiting for one of %d PAM slots: %w",
			service, user, cap(a.slots), ctx.Err())
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-a.slots }()
		done <- a.converse(ctx, service, user, password, remoteHost)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		select {
		case err := <-done: // finished at the same moment: the answer wins
			return err
		default:
		}
		return fmt.Errorf("pam: service %q, user %q: stopped waiting for PAM (it goes on in the background): %w",
			service, user, ctx.Err())
	}
}

// converse runs one PAM transaction on the calling goroutine's OS thread.
func (a *Authenticator) converse(ctx context.Context, service, user, password, remoteHost string) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	// Only PAM calls below, on this goroutine, run the conversation, so
	// notes needs no lock.
	var notes []string
	conv := pam.ConversationFunc(func(style pam.Style, msg string) (string, error) {
		if err := ctx.Err(); err != nil {
			return "", err // nobody waits for the answer any more
		}
		switch style {
		case pam.PromptEchoOff, pam.PromptEchoOn:
			return password, nil
		case pam.ErrorMsg:
			notes = append(notes, msg)
		}
		return "", nil
	})
	var tx *pam.Transaction
	var err error
	if a.ConfDir != "" {
		tx, err = pam.StartConfDir(service, user, conv, a.ConfDir)
	} else {
		tx, err = pam.Start(service, user, conv)
	}
	if err != nil {
		return failure(service, user, "pam_start", err, nil)
	}
	defer tx.End()
	if remoteHost != "" {
		if err := tx.SetItem(pam.Rhost, remoteHost); err != nil {
			return failure(service, user, "pam_set_item(PAM_RHOST)", err, nil)
		}
	}
	if err := tx.Authenticate(0); err != nil {
		return failure(service, user, "pam_authenticate", err, notes)
	}
	if err := tx.AcctMgmt(0); err != nil {
		return failure(service, user, "pam_acct_mgmt", err, notes)
	}
	return nil
}

// failure describes a failed PAM call, as ErrBadCredentials when PAM said
// no to the user.
func failure(service, user, call string, err error, notes []string) error {
	detail := ""
	if len(notes) > 0 {
		detail = " (" + strings.Join(notes, "; ") + ")"
	}
	var code pam.Error
	if errors.As(err, &code) && slices.Contains(badCredentials, code) {
		return fmt.Errorf("%w: service %q, user %q: %s: %v%s", ErrBadCredentials, service, user, call, err, detail)
	}
	return fmt.Errorf("pam: service %q, user %q: %s: %w%s", service, user, call, err, detail)
}
