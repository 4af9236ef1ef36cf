// Package pgtest starts a throwaway PostgreSQL for tests: initdb and pg_ctl
// from the OS packages, on a free loopback port, in a temporary directory,
// as the postgres OS user when running as root (PostgreSQL refuses root).
// ODYSSEY_TEST_PG="host port" uses an existing server instead (trust or
// PGPASSWORD authentication for user postgres).
package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Cluster is a running PostgreSQL.
type Cluster struct {
	Host   string
	Port   int
	Dir    string // "" for an external server
	BinDir string
}

// BinDir finds the PostgreSQL binaries.
func BinDir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("PostgreSQL binaries not found (install postgresql, or set ODYSSEY_TEST_PG)")
}

// Start starts a cluster with trust authentication on loopback.
func Start() (*Cluster, error) {
	bin, err := BinDir()
	if ext := os.Getenv("ODYSSEY_TEST_PG"); ext != "" {
		f := strings.Fields(ext)
		if len(f) != 2 {
			return nil, fmt.Errorf("ODYSSEY_TEST_PG must be \"host port\"")
		}
		port, err := strconv.Atoi(f[1])
		if err != nil {
			return nil, err
		}
		return &Cluster{Host: f[0], Port: port, BinDir: bin}, nil
	}
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "odyssey-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Host: "127.0.0.1", Dir: dir, BinDir: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs a postgres OS user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	if out, err := c.run("initdb", "-D", c.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		c.Stop()
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	for attempt := 0; attempt < 5; attempt++ {
		c.Port = freePort()
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off", c.Port, dir)
		out, err := c.run("pg_ctl", "-D", c.data(), "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start")
		if err == nil {
			return c, nil
		}
		if attempt == 4 {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			c.Stop()
			return nil, fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
		}
	}
	return c, nil
}

func (c *Cluster) data() string { return filepath.Join(c.Dir, "data") }

func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	path := filepath.Join(c.BinDir, name)
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	return cmd.CombinedOutput()
}

// Restart restarts the server on the same port (fast shutdown).
func (c *Cluster) Restart() error {
	if c.Dir == "" {
		return fmt.Errorf("cannot restart an external server")
	}
	out, err := c.run("pg_ctl", "-D", c.data(), "-m", "fast", "-w", "restart")
	if err != nil {
		return fmt.Errorf("pg_ctl restart: %v\n%s", err, out)
	}
	return nil
}

// Stop stops the server and removes its directory.
func (c *Cluster) Stop() {
	if c.Dir == "" {
		return
	}
	if _, err := c.run("pg_ctl", "-D", c.data(), "-m", "fast", "-w", "stop"); err != nil {
		_, _ = c.run("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop")
	}
	_ = os.RemoveAll(c.Dir)
}

// DSN is a pgx/libpq URL for the server itself.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@%s:%d/%s?sslmode=disable", c.Host, c.Port, db)
}

// Bin returns the path of a PostgreSQL client program (psql, pgbench).
func (c *Cluster) Bin(name string) string { return filepath.Join(c.BinDir, name) }

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 55432
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
