package ldaptest

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/odyssey-go/odyssey/integration/testcert"
)

// The directory's names.
const (
	BaseDN        = "dc=odyssey,dc=test"
	PeopleDN      = "ou=people," + BaseDN
	StaffDN       = "ou=staff," + PeopleDN
	AdminDN       = "cn=admin," + BaseDN
	AdminPassword = "admin-pw"
)

// User is a person in the directory. UID is the name a client logs in with.
type User struct {
	UID      string
	DN       string
	Password string
}

// The people of the directory.
var (
	Alice       = person("alice", PeopleDN, "alice-pw")
	Bob         = person("bob", PeopleDN, "bob-pw")
	FilterChars = person("a*b(c)", PeopleDN, "filter-chars-pw") // LDAP filter specials
	DNChars     = person("x,y", PeopleDN, "dn-chars-pw")        // a DN special
	Twin1       = person("twin", PeopleDN, "twin1-pw")
	Carol       = person("carol", StaffDN, "carol-pw")
	Twin2       = person("twin", StaffDN, "twin2-pw")
)

func person(uid, parent, password string) User {
	return User{UID: uid, DN: "uid=" + goldap.EscapeDN(uid) + "," + parent, Password: password}
}

// Limits of the harness's own waits.
const (
	startAttempts  = 5                // fresh ports tried when a chosen one was taken
	readyTimeout   = 30 * time.Second // slapd answering after it was started
	readyPoll      = 50 * time.Millisecond
	stopTimeout    = 10 * time.Second // SIGTERM to exit, before SIGKILL
	slapaddTimeout = time.Minute
)

// Binaries from the Debian package slapd.
const (
	slapdBin   = "/usr/sbin/slapd"
	slapaddBin = "/usr/sbin/slapadd"
)

// Options adjust a server.
type Options struct {
	// TLS also serves ldaps on LDAPSPort and StartTLS on Port, with a
	// certificate from a CA made for this server (CAFile, CAPool).
	TLS bool
}

// Server is a running slapd. Its methods are safe for concurrent use.
type Server struct {
	Host          string // "127.0.0.1"
	Port          int    // ldap:// (StartTLS with Options.TLS)
	LDAPSPort     int    // ldaps://; 0 without Options.TLS
	BaseDN        string
	AdminDN       string // the rootdn: may read and write everything
	AdminPassword string
	CAFile        string         // PEM of the CA that signed the server certificate; "" without TLS
	CAPool        *x509.CertPool // the same CA; nil without TLS
	Users         []User         // everyone in the directory
	Dir           string         // temporary directory: slapd.conf, data, certificates, slapd.log

	cmd      *exec.Cmd
	exited   chan struct{} // closed when slapd has exited and been reaped
	watchdog io.WriteCloser
	wdCmd    *exec.Cmd
	mu       sync.Mutex // guards stopped
	stopped  bool
}

// Start starts a server with a freshly loaded directory. The caller must
// Stop it.
func Start(opts Options) (*Server, error) {
	for _, bin := range []string{slapdBin, slapaddBin} {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("ldaptest: %s is missing (Debian package slapd; run scripts/deps.sh): %w", bin, err)
		}
	}
	dir, err := os.MkdirTemp("", "odyssey-ldaptest-")
	if err != nil {
		return nil, fmt.Errorf("ldaptest: %w", err)
	}
	s := &Server{
		Host: "127.0.0.1", BaseDN: BaseDN, AdminDN: AdminDN, AdminPassword: AdminPassword,
		Users: []User{Alice, Bob, FilterChars, DNChars, Twin1, Carol, Twin2},
		Dir:   dir,
	}
	if err := s.startWatchdog(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := s.init(opts); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) init(opts Options) error {
	if err := os.Mkdir(filepath.Join(s.Dir, "db"), 0o700); err != nil {
		return fmt.Errorf("ldaptest: %w", err)
	}
	if opts.TLS {
		if err := s.writeCerts(); err != nil {
			return err
		}
	}
	if err := os.WriteFile(s.path("slapd.conf"), s.config(), 0o600); err != nil {
		return fmt.Errorf("ldaptest: %w", err)
	}
	if err := os.WriteFile(s.path("data.ldif"), s.ldif(), 0o600); err != nil {
		return fmt.Errorf("ldaptest: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), slapaddTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, slapaddBin, "-q", "-f", s.path("slapd.conf"), "-l", s.path("data.ldif")).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ldaptest: slapadd: %v\n%s", err, out)
	}

	for attempt := 1; ; attempt++ {
		err := s.start(opts)
		if err == nil {
			return nil
		}
		taken := errors.Is(err, errPortTaken) || strings.Contains(s.LogTail(20), "Address already in use")
		if attempt < startAttempts && taken {
			continue // another process took a port between freePort and bind
		}
		return err
	}
}

// start runs slapd on fresh ports and waits until it answers.
func (s *Server) start(opts Options) error {
	var err error
	if s.Port, err = freePort(); err != nil {
		return err
	}
	urls := fmt.Sprintf("ldap://%s:%d/", s.Host, s.Port)
	if opts.TLS {
		if s.LDAPSPort, err = freePort(); err != nil {
			return err
		}
		urls += fmt.Sprintf(" ldaps://%s:%d/", s.Host, s.LDAPSPort)
	}
	logFile, err := os.Create(s.LogFile())
	if err != nil {
		return fmt.Errorf("ldaptest: %w", err)
	}
	defer logFile.Close()
	// -d 0 keeps slapd in the foreground without debug output; its
	// startup errors still reach stderr.
	cmd := exec.Command(slapdBin, "-f", s.path("slapd.conf"), "-h", urls, "-d", "0")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Pdeathsig: the kernel kills slapd when the thread that started it
	// goes away, so a crashed test binary leaves no server behind. (Go
	// ends an OS thread only when a goroutine exits while locked to it;
	// Start is not called from such a goroutine.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("ldaptest: start slapd: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	if err := s.waitReady(exited); err != nil {
		s.kill()
		return err
	}
	return nil
}

// waitReady waits until slapd answers a search of its root DSE.
func (s *Server) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	for i := 0; ; i++ {
		select {
		case <-exited:
			return fmt.Errorf("ldaptest: slapd exited while starting; last lines of %s:\n%s", s.LogFile(), s.LogTail(20))
		default:
		}
		err := s.ping()
		if err == nil {
			// Another process may have taken the port between freePort
			// and slapd's bind, and answered the ping in its place.
			return s.ownsPorts()
		}
		if time.Now().After(deadline) || i > int(readyTimeout/readyPoll) {
			return fmt.Errorf("ldaptest: slapd did not answer within %s: %v; last lines of %s:\n%s",
				readyTimeout, err, s.LogFile(), s.LogTail(20))
		}
		time.Sleep(readyPoll)
	}
}

// errPortTaken: a port chosen for slapd is listened on by another process.
var errPortTaken = errors.New("ldaptest: another process listens on slapd's port")

// ownsPorts checks, in /proc, that slapd's ports are listened on by slapd.
func (s *Server) ownsPorts() error {
	s.mu.Lock()
	pid := s.cmd.Process.Pid
	s.mu.Unlock()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return fmt.Errorf("ldaptest: slapd's sockets: %w", err)
	}
	sockets := map[string]bool{}
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil {
			sockets[l] = true
		}
	}
	table, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return fmt.Errorf("ldaptest: %w", err)
	}
	for _, port := range []int{s.Port, s.LDAPSPort} {
		if port == 0 {
			continue
		}
		local := fmt.Sprintf(":%04X", port)
		owned := false
		for _, line := range strings.Split(string(table), "\n")[1:] {
			// sl local_address rem_address st ... uid timeout inode
			f := strings.Fields(line)
			if len(f) > 9 && strings.HasSuffix(f[1], local) && f[3] == "0A" && sockets["socket:["+f[9]+"]"] {
				owned = true
			}
		}
		if !owned {
			return fmt.Errorf("%w: %d", errPortTaken, port)
		}
	}
	return nil
}

// ping reads the root DSE over ldap://.
func (s *Server) ping() error {
	c, err := goldap.DialURL(s.URL(), goldap.DialWithDialer(&net.Dialer{Timeout: time.Second}))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetTimeout(2 * time.Second)
	_, err = c.Search(goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases,
		1, 2, false, "(objectClass=*)", []string{"1.1"}, nil))
	return err
}

// URL is the ldap:// URL of the server.
func (s *Server) URL() string { return fmt.Sprintf("ldap://%s:%d", s.Host, s.Port) }

// LDAPSURL is the ldaps:// URL of the server ("" without Options.TLS).
func (s *Server) LDAPSURL() string {
	if s.LDAPSPort == 0 {
		return ""
	}
	return fmt.Sprintf("ldaps://%s:%d", s.Host, s.LDAPSPort)
}

// LogFile is slapd's standard error.
func (s *Server) LogFile() string { return s.path("slapd.log") }

// LogTail returns the last n lines of the log.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(s.LogFile())
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Pause stops slapd with SIGSTOP: connections are still accepted by the
// kernel, but nothing is answered, as with a hung server. Resume (or Stop)
// undoes it.
func (s *Server) Pause() error { return s.signal(syscall.SIGSTOP) }

// Resume continues a paused slapd.
func (s *Server) Resume() error { return s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.stopped {
		return errors.New("ldaptest: slapd is not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("ldaptest: %v to slapd: %w", sig, err)
	}
	return nil
}

// Stop stops slapd (SIGTERM, SIGKILL after a while) and removes the
// directory. Calling Stop again does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	s.mu.Unlock()

	var err error
	if !s.kill() {
		err = fmt.Errorf("ldaptest: slapd did not exit on SIGTERM within %s; killed", stopTimeout)
	}
	if rmErr := os.RemoveAll(s.Dir); rmErr != nil && err == nil {
		err = fmt.Errorf("ldaptest: %w", rmErr)
	}
	s.dismissWatchdog()
	return err
}

// kill stops the current slapd process, if any, and waits for it. It
// reports whether SIGTERM was enough.
func (s *Server) kill() bool {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return true
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // a paused slapd cannot act on SIGTERM
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return true
	case <-time.After(stopTimeout):
	}
	_ = cmd.Process.Kill()
	<-exited
	return false
}

// startWatchdog starts a shell that removes Dir when this process goes
// away without calling Stop: it blocks reading a pipe whose only write end
// this process holds (close-on-exec, so slapd does not inherit it); when
// the process dies, for any reason, the kernel closes it and the read
// returns. Its own session keeps a Ctrl-C aimed at go test from killing it
// first.
func (s *Server) startWatchdog() error {
	cmd := exec.Command("/bin/sh", "-c", `read _; rm -rf "$0"`, s.Dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("ldaptest: watchdog: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("ldaptest: watchdog: %w", err)
	}
	s.watchdog, s.wdCmd = in, cmd
	return nil
}

func (s *Server) dismissWatchdog() {
	_ = s.watchdog.Close()
	_ = s.wdCmd.Wait()
}

func (s *Server) writeCerts() error {
	ca, err := testcert.NewCA("odyssey ldaptest CA")
	if err != nil {
		return fmt.Errorf("ldaptest: %w", err)
	}
	if s.CAFile, err = ca.WriteCA(s.Dir, "ca.crt"); err != nil {
		return fmt.Errorf("ldaptest: %w", err)
	}
	s.CAPool = ca.Pool
	pair, err := ca.Server(s.Host, "localhost")
	if err != nil {
		return fmt.Errorf("ldaptest: %w", err)
	}
	if err := pair.Write(s.Dir, "server"); err != nil {
		return fmt.Errorf("ldaptest: %w", err)
	}
	return nil
}

// config renders slapd.conf (slapd.conf(5), slapd-mdb(5), slapd.access(5)).
func (s *Server) config() []byte {
	var b strings.Builder
	for _, schema := range []string{"core", "cosine", "inetorgperson"} {
		fmt.Fprintf(&b, "include /etc/ldap/schema/%s.schema\n", schema)
	}
	fmt.Fprintf(&b, "modulepath /usr/lib/ldap\nmoduleload back_mdb\n")
	fmt.Fprintf(&b, "pidfile %s\n", quote(s.path("slapd.pid")))
	if s.CAFile != "" {
		fmt.Fprintf(&b, "TLSCACertificateFile %s\n", quote(s.CAFile))
		fmt.Fprintf(&b, "TLSCertificateFile %s\n", quote(s.path("server.crt")))
		fmt.Fprintf(&b, "TLSCertificateKeyFile %s\n", quote(s.path("server.key")))
	}
	fmt.Fprintf(&b, "database mdb\nsuffix %s\nrootdn %s\nrootpw %s\n", quote(BaseDN), quote(AdminDN), quote(AdminPassword))
	fmt.Fprintf(&b, "directory %s\nmaxsize 10485760\n", quote(s.path("db")))
	b.WriteString("access to attrs=userPassword by anonymous auth by self write by * none\n")
	b.WriteString("access to * by * read\n")
	return []byte(b.String())
}

// ldif renders the directory (RFC 2849). The values are plain ASCII that
// needs no base64.
func (s *Server) ldif() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: odyssey\no: odyssey\n\n", BaseDN)
	fmt.Fprintf(&b, "dn: %s\nobjectClass: organizationalUnit\nou: people\n\n", PeopleDN)
	fmt.Fprintf(&b, "dn: %s\nobjectClass: organizationalUnit\nou: staff\n\n", StaffDN)
	for _, u := range s.Users {
		fmt.Fprintf(&b, "dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nuserPassword: %s\n\n",
			u.DN, u.UID, u.UID, u.UID, u.Password)
	}
	return []byte(b.String())
}

func (s *Server) path(name string) string { return filepath.Join(s.Dir, name) }

// quote makes a slapd.conf argument of s.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("ldaptest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
