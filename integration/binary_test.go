package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// buildBinary builds the odyssey command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "odyssey")
	cmd := exec.Command("go", "build", "-o", bin, "./src/cmd/odyssey")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a bytes.Buffer safe for a process's output and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// binaryConfig is a config for the binary on port with rules for the given
// databases, each routed to PostgreSQL's "postgres" database.
func binaryConfig(port int, dbs ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `log_level = "debug"
listen {
  host = "127.0.0.1"
  port = %d
}
storage "postgres" {
  type = "remote"
  host = "{{pg_host}}"
  port = {{pg_port}}
}
`, port)
	for _, db := range dbs {
		fmt.Fprintf(&b, `database %q {
  user default {
    authentication   = "none"
    storage          = "postgres"
    storage_db       = "postgres"
    storage_user     = "pooled_binary"
    storage_password = "pooled_binary_pw"
    pool             = "transaction"
    pool_size        = 2
  }
}
`, db)
	}
	return hcl(b.String())
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBinary(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()

	t.Run("version", func(t *testing.T) {
		out, err := exec.Command(bin, "--version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Odyssey") {
			t.Fatalf("--version: %v %q", err, out)
		}
	})

	t.Run("check", func(t *testing.T) {
		good := filepath.Join(dir, "good.hcl")
		writeFile(t, good, binaryConfig(6432, "postgres"))
		if out, err := exec.Command(bin, "--check", good).CombinedOutput(); err != nil {
			t.Fatalf("--check of a valid config: %v\n%s", err, out)
		}
		bad := []struct{ name, src, want string }{
			{"unknown key", "listen {\n  host = \"127.0.0.1\"\n  port = 6432\n}\nstorage \"postgres\" {\n  type = \"remote\"\n  hots = \"x\"\n}\n", ":7"},
			{"bare duration", strings.Replace(binaryConfig(6432, "postgres"), "pool_size        = 2", "pool_size = 2\n    pool_timeout = 5", 1), ":20"},
			{"unknown storage", strings.Replace(binaryConfig(6432, "postgres"), `storage          = "postgres"`, `storage          = "nowhere"`, 1), ":14"},
		}
		for _, c := range bad {
			path := filepath.Join(dir, "bad.hcl")
			writeFile(t, path, c.src)
			cmd := exec.Command(bin, "--check", path)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() == 0 {
				t.Errorf("%s: --check exited with %v, want non-zero\n%s", c.name, err, out)
				continue
			}
			if !strings.Contains(string(out), "bad.hcl"+c.want) {
				t.Errorf("%s: --check output does not point at bad.hcl%s:\n%s", c.name, c.want, out)
			}
		}
	})

	t.Run("run-reload-stop", func(t *testing.T) {
		serverRole(t, "pooled_binary")
		port := freePort(t)
		cfgPath := filepath.Join(dir, "odyssey.hcl")
		writeFile(t, cfgPath, binaryConfig(port, "postgres"))
		p := startBinary(t, bin, cfgPath, port)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

		out, err := psql(addr, "postgres", "SELECT 40 + 2")
		if err != nil || out != "42" {
			t.Fatalf("psql through the binary: %v %q\n%s", err, out, p.logs)
		}
		ctx := testCtx(t)
		_, err = pgconn.Connect(ctx, fmt.Sprintf("postgres://postgres@%s/db2?sslmode=disable", addr))
		wantCode(t, "database without a rule", err, "3D000")

		// SIGHUP with a new rule: a new client of db2 is served.
		writeFile(t, cfgPath, binaryConfig(port, "postgres", "db2"))
		p.signal(t, syscall.SIGHUP)
		eventually(t, 20*time.Second, "db2 served after SIGHUP", func() (bool, error) {
			out, err := psql(addr, "db2", "SELECT current_database()")
			return err == nil && out == "postgres", err
		})

		// An invalid config on SIGHUP changes nothing.
		writeFile(t, cfgPath, "listen {\n  port = \"x\"\n}\n")
		p.signal(t, syscall.SIGHUP)
		eventually(t, 20*time.Second, "reload failure logged", func() (bool, error) {
			return strings.Contains(p.logs.String(), "odyssey.hcl:2"), nil
		})
		if out, err := psql(addr, "db2", "SELECT 'kept'"); err != nil || out != "kept" {
			t.Fatalf("after an invalid reload: %v %q\n%s", err, out, p.logs)
		}

		// SIGTERM: an idle client is told, the process exits 0.
		idle, err := pgconn.Connect(ctx, fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", addr))
		if err != nil {
			t.Fatal(err)
		}
		defer closeQuietly(idle)
		p.signal(t, syscall.SIGTERM)
		if code := p.wait(t); code != 0 {
			t.Fatalf("exit status %d after SIGTERM", code)
		}
		if _, err := simple(ctx, idle, "SELECT 1"); err == nil {
			t.Error("idle client still served after the pooler exited")
		}
	})

	t.Run("sigint", func(t *testing.T) {
		serverRole(t, "pooled_binary")
		port := freePort(t)
		cfgPath := filepath.Join(dir, "sigint.hcl")
		writeFile(t, cfgPath, binaryConfig(port, "postgres"))
		p := startBinary(t, bin, cfgPath, port)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if out, err := psql(addr, "postgres", "SELECT 1"); err != nil || out != "1" {
			t.Fatalf("psql: %v %q\n%s", err, out, p.logs)
		}
		p.signal(t, syscall.SIGINT)
		if code := p.wait(t); code != 0 {
			t.Fatalf("exit status %d after SIGINT", code)
		}
	})
}

// proc is a running pooler binary.
type proc struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{} // closed once cmd.Wait returned
}

func (p *proc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// startBinary runs the pooler binary and waits until it accepts on port.
func startBinary(t *testing.T, bin, cfgPath string, port int) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, cfgPath), logs: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("pooler output:\n%s", p.logs)
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	eventually(t, 20*time.Second, "binary listening", func() (bool, error) {
		select {
		case <-p.exited:
			t.Fatalf("pooler exited at start:\n%s", p.logs)
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil, err
	})
	return p
}

// wait waits (bounded) for the process to exit and returns its status.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(45 * time.Second):
		t.Fatal("pooler did not exit")
	}
	return p.cmd.ProcessState.ExitCode()
}

// psql runs one command with psql and returns its unaligned output.
func psql(addr, db, sql string) (string, error) {
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pgBin("psql"), "-X", "-At", "-h", host, "-p", port, "-U", superUser, "-d", db, "-c", sql)
	cmd.Env = append(cmd.Environ(), "PGCONNECT_TIMEOUT=10")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return strings.TrimSpace(string(out)), fmt.Errorf("psql: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out)), nil
}
