package pam_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/odyssey-go/odyssey/src/auth/pam"
)

// Services of the test's PAM directory, and the people of its pam_matrix
// passdb (user:password:service, where pam_matrix's account module allows
// the user only under that service).
const (
	plain    = "odyssey-test"   // pam_matrix
	echo     = "odyssey-echo"   // pam_echo (PAM_TEXT_INFO), then pam_matrix asking with PAM_PROMPT_ECHO_ON
	gated    = "odyssey-gated"  // gate.sh (pam_exec) first: holds the conversation until released
	rhost    = "odyssey-rhost"  // rhost.sh (pam_exec) records PAM_RHOST, then pam_matrix
	broken   = "odyssey-broken" // pam_exec of /bin/false: PAM_ERROR_MSG, then PAM_SYSTEM_ERR
	missing  = "odyssey-missing"
	password = "secret-pw" // everyone's in the passdb but bob's
	bobPW    = "bob-pw"
	waitStep = 10 * time.Millisecond
	waitMax  = 30 * time.Second
)

// userOf names the user that pam_matrix's account module allows under each
// service (it reads the first line of a user only, so one user per service).
var userOf = map[string]string{plain: "alice", echo: "erin", gated: "gina", rhost: "rita", broken: "boris"}

// stack is a PAM directory of the test's own.
type stack struct {
	dir string
}

// newStack writes the service files, the passdb and the pam_exec scripts.
func newStack(t *testing.T) *stack {
	t.Helper()
	matrix, err := filepath.Glob("/usr/lib/*/pam_wrapper/pam_matrix.so")
	if err != nil || len(matrix) == 0 {
		t.Fatalf("pam_matrix.so not found (Debian package libpam-wrapper; run scripts/deps.sh): %v", err)
	}
	s := &stack{dir: t.TempDir()}
	passdb := s.path("passdb")
	users := ""
	for service, user := range userOf {
		users += fmt.Sprintf("%s:%s:%s\n", user, password, service)
	}
	users += fmt.Sprintf("bob:%s:another-service\n", bobPW) // authenticates, but pam_acct_mgmt refuses
	s.write(t, "passdb", users)

	m := matrix[0] + " passdb=" + passdb
	s.write(t, plain, "auth required "+m+"\naccount required "+m+"\n")
	// pam_matrix's verbose option is not used: it calls the conversation
	// with a NULL response pointer, which msteinert/pam's C callback
	// dereferences (SIGSEGV).
	s.write(t, echo, "auth optional pam_echo.so Hello %u\nauth required "+m+" echo\naccount required "+m+"\n")
	s.write(t, gated, "auth requisite pam_exec.so quiet /bin/sh "+s.path("gate.sh")+"\n"+
		"auth required "+m+"\naccount required "+m+"\n")
	s.write(t, broken, "auth required pam_exec.so /bin/false\nauth required "+m+"\naccount required "+m+"\n")
	s.write(t, rhost, "auth requisite pam_exec.so quiet /bin/sh "+s.path("rhost.sh")+"\n"+
		"auth required "+m+"\naccount required "+m+"\n")

	// gate.sh logs "start PID", waits (at most 60 s) for the file
	// release.PID, then logs "end PID". Lines this short are appended
	// atomically.
	s.write(t, "gate.sh", fmt.Sprintf(`d=%s
echo "start $$" >>"$d/events"
i=0
while [ ! -e "$d/release.$$" ] && [ $i -lt 3000 ]; do sleep 0.02; i=$((i+1)); done
echo "end $$" >>"$d/events"
`, s.dir))
	s.write(t, "rhost.sh", fmt.Sprintf("printf '%%s' \"$PAM_RHOST\" >%s\n", s.path("rhost")))
	return s
}

func (s *stack) path(name string) string { return filepath.Join(s.dir, name) }

func (s *stack) write(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(s.path(name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// events returns gate.sh's log: "start PID" and "end PID" lines.
func (s *stack) events(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(s.path("events"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(b), " ", "-"))
}

// started returns the PIDs of the gates that started, in order.
func (s *stack) started(t *testing.T) []string {
	var pids []string
	for _, e := range s.events(t) {
		if pid, ok := strings.CutPrefix(e, "start-"); ok {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitStarted waits until n gates have started and returns their PIDs.
func (s *stack) waitStarted(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(waitMax)
	for i := 0; i < int(waitMax/waitStep); i++ {
		if pids := s.started(t); len(pids) >= n {
			return pids
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(waitStep)
	}
	t.Fatalf("%d gates did not start within %s; events: %v", n, waitMax, s.events(t))
	return nil
}

func (s *stack) release(t *testing.T, pid string) {
	t.Helper()
	s.write(t, "release."+pid, "")
}

// releaseAll lets every gate go and waits (bounded) until all have ended,
// so that no conversation outlives the test.
func (s *stack) releaseAll(t *testing.T) {
	deadline := time.Now().Add(waitMax)
	for i := 0; i < int(waitMax/waitStep); i++ {
		pids := s.started(t)
		for _, pid := range pids {
			_ = os.WriteFile(s.path("release."+pid), nil, 0o644)
		}
		if ends := len(s.events(t)) - len(pids); ends == len(pids) || time.Now().After(deadline) {
			return
		}
		time.Sleep(waitStep)
	}
}

// outcome of one Authenticate call.
type outcome int

const (
	ok             outcome = iota // nil
	badCredentials                // errors.Is(err, pam.ErrBadCredentials)
	failure                       // another error: PAM could not answer
)

func (o outcome) String() string {
	return [...]string{"success", "ErrBadCredentials", "a failure other than ErrBadCredentials"}[o]
}

func classify(err error) outcome {
	switch {
	case err == nil:
		return ok
	case errors.Is(err, pam.ErrBadCredentials):
		return badCredentials
	default:
		return failure
	}
}

func TestAuthenticate(t *testing.T) {
	s := newStack(t)
	a := pam.New(4)
	a.ConfDir = s.dir
	for _, tc := range []struct {
		name, service, user, password string
		want                          outcome
		says                          string // in the error: what the module told the user
	}{
		{"right password", plain, "alice", password, ok, ""},
		{"wrong password", plain, "alice", "not-" + password, badCredentials, ""},
		{"unknown user", plain, "nobody", password, badCredentials, ""},
		{"another user's password", plain, "alice", bobPW, badCredentials, ""},
		{"user of another service", plain, "erin", password, badCredentials, ""},
		{"account refused by pam_acct_mgmt", plain, "bob", bobPW, badCredentials, ""},
		{"empty password", plain, "alice", "", badCredentials, ""},
		{"NUL in password", plain, "alice", password + "\x00rest", badCredentials, ""},
		{"NUL in user name", plain, "alice\x00", password, badCredentials, ""},
		{"echoed prompt", echo, "erin", password, ok, ""},
		{"echoed prompt, wrong password", echo, "erin", "not-" + password, badCredentials, ""},
		{"service that does not exist", missing, "alice", password, failure, ""},
		{"module failing", broken, "boris", password, failure, "/bin/false failed: exit code 1"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), waitMax)
		err := a.Authenticate(ctx, tc.service, tc.user, tc.password, "127.0.0.1")
		cancel()
		if got := classify(err); got != tc.want {
			t.Errorf("%s: got %v (%v), want %v", tc.name, got, err, tc.want)
		}
		if tc.says != "" && (err == nil || !strings.Contains(err.Error(), tc.says)) {
			t.Errorf("%s: got %v, want an error that says %q", tc.name, err, tc.says)
		}
		if err != nil && tc.password != "" && strings.Contains(err.Error(), tc.password) {
			t.Errorf("%s: the error contains the password: %v", tc.name, err)
		}
	}
}

func TestRemoteHost(t *testing.T) {
	s := newStack(t)
	a := pam.New(1)
	a.ConfDir = s.dir
	for _, host := range []string{"192.0.2.7", ""} {
		if err := a.Authenticate(context.Background(), rhost, "rita", password, host); err != nil {
			t.Fatalf("remote host %q: %v", host, err)
		}
		got, err := os.ReadFile(s.path("rhost"))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != host {
			t.Errorf("PAM_RHOST = %q, want %q", got, host)
		}
	}
}

// TestLimit holds conversations open in gate.sh and releases them one at
// a time, each only after `limit` are running, so that the limit is
// reached at every step; gate.sh's log then shows how many ran at once.
func TestLimit(t *testing.T) {
	const limit, calls = 2, 6
	s := newStack(t)
	t.Cleanup(func() { s.releaseAll(t) })
	a := pam.New(limit)
	a.ConfDir = s.dir

	errs := make(chan error, calls)
	var wg sync.WaitGroup
	for range calls {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*waitMax)
			defer cancel()
			errs <- a.Authenticate(ctx, gated, "gina", password, "")
		})
	}
	for k := range calls {
		pids := s.waitStarted(t, min(k+limit, calls))
		s.release(t, pids[k])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Authenticate: %v", err)
		}
	}

	running, most := 0, 0
	for _, e := range s.events(t) {
		if strings.HasPrefix(e, "start-") {
			running++
		} else {
			running--
		}
		most = max(most, running)
	}
	if most != limit {
		t.Errorf("at most %d conversations ran at once, want %d (limit); events: %v", most, limit, s.events(t))
	}
}

// TestTimeout stops waiting for a conversation that does not end, checks
// that its slot stays taken while it runs and is given back when it ends.
func TestTimeout(t *testing.T) {
	s := newStack(t)
	t.Cleanup(func() { s.releaseAll(t) })
	a := pam.New(1)
	a.ConfDir = s.dir
	a.Timeout = 200 * time.Millisecond

	// The caller's timeout (Authenticator.Timeout) ends the wait for a
	// held conversation.
	err := a.Authenticate(context.Background(), gated, "gina", password, "")
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, pam.ErrBadCredentials) {
		t.Fatalf("held conversation: got %v, want an error wrapping context.DeadlineExceeded", err)
	}
	held := s.waitStarted(t, 1)

	// Its slot is still taken: the next caller gets no slot before its
	// own context ends, and no conversation starts.
	a.Timeout = 0
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err = a.Authenticate(ctx, gated, "gina", password, "")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("no free slot: got %v, want an error wrapping context.DeadlineExceeded", err)
	}
	if n := len(s.started(t)); n != 1 {
		t.Errorf("%d conversations started, want 1", n)
	}

	// Released, the held conversation ends in the background and frees
	// its slot for the next caller.
	s.release(t, held[0])
	ctx, cancel = context.WithTimeout(context.Background(), waitMax)
	defer cancel()
	if err := a.Authenticate(ctx, plain, "alice", password, ""); err != nil {
		t.Errorf("after the held conversation ended: %v", err)
	}
}
