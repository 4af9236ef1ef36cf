package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// query runs sql over TCP as user and returns the first column of the first
// row of the last result.
func query(t *testing.T, c *Cluster, user, password, sql string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgconn.Connect(ctx, c.DSN(user, password, "postgres"))
	if err != nil {
		t.Fatalf("log in as %s: %v", user, err)
	}
	defer conn.Close(context.Background())
	res, err := conn.Exec(ctx, sql).ReadAll()
	if err != nil {
		t.Fatalf("%s as %s: %v", sql, user, err)
	}
	if len(res) == 0 || len(res[len(res)-1].Rows) == 0 {
		t.Fatalf("%s: no rows", sql)
	}
	return string(res[len(res)-1].Rows[0][0])
}

// gone waits (bounded) for process pid to exit and reports whether it did.
func gone(pid int) bool {
	for i := 0; i < 200 && Running(pid); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	return !Running(pid)
}

func TestCluster(t *testing.T) {
	if os.Getenv("ODYSSEY_TEST_PG") != "" {
		t.Skip("tests the throwaway cluster; ODYSSEY_TEST_PG is set")
	}
	c, err := Start(Options{Settings: map[string]string{"application_name": "pgtest's own"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })

	for _, r := range []struct{ user, password string }{
		{SuperUser, SuperPassword},
		{CleartextUser, CleartextPassword},
		{MD5User, MD5Password},
		{SCRAMUser, SCRAMPassword},
	} {
		if got := query(t, c, r.user, r.password, "SELECT current_user"); got != r.user {
			t.Errorf("current_user = %q, want %q", got, r.user)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if conn, err := pgconn.Connect(ctx, c.DSN(SCRAMUser, "wrong", "postgres")); err == nil {
		conn.Close(ctx)
		t.Error("wrong password accepted: pg_hba.conf is not in force")
	}
	if got := query(t, c, SuperUser, SuperPassword,
		"SELECT string_agg(rolname || '=' || left(rolpassword, 3), ',' ORDER BY rolname) FROM pg_authid WHERE rolname LIKE '%_user'"); got != "cleartext_user=SCR,md5_user=md5,scram_user=SCR" {
		t.Errorf("stored secrets: %s", got)
	}
	if got := query(t, c, SuperUser, SuperPassword, "SHOW application_name"); got != "pgtest's own" {
		t.Errorf("Options.Settings not applied: application_name = %q", got)
	}
	if got := query(t, c, SCRAMUser, SCRAMPassword, "CREATE TABLE public.t (i int); SELECT 'created'"); got != "created" {
		t.Errorf("scram_user cannot create in public: %q", got)
	}

	if err := c.Exec("CREATE TABLE exec_works (i int)"); err != nil {
		t.Fatal(err)
	}
	if err := c.Exec("SELECT * FROM nonexistent"); err == nil {
		t.Error("Exec of a failing statement: no error")
	}
	out, err := c.Psql("-Atc", "SELECT count(*) FROM exec_works").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "0" {
		t.Errorf("psql: %v: %s", err, out)
	}
	if _, err := os.Stat(c.SocketPath()); err != nil {
		t.Errorf("unix socket: %v", err)
	}

	before := c.PID()
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	after := c.PID()
	if before == 0 || before == after || !gone(before) {
		t.Errorf("restart: postmaster %d → %d", before, after)
	}
	if got := query(t, c, SCRAMUser, SCRAMPassword, "SELECT 1"); got != "1" {
		t.Errorf("after restart: %q", got)
	}

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if Running(after) {
		t.Errorf("postmaster %d still running after Stop", after)
	}
	if _, err := os.Stat(c.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s not removed: %v", c.Dir, err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// TestWatchdog starts a cluster in a child test process that then dies
// without calling Stop, and expects the watchdog to clean up.
func TestWatchdog(t *testing.T) {
	if os.Getenv("PGTEST_WATCHDOG_CHILD") == "1" {
		c, err := Start(Options{})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(c.Dir, c.PID())
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	if os.Getenv("ODYSSEY_TEST_PG") != "" {
		t.Skip("tests the throwaway cluster; ODYSSEY_TEST_PG is set")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWatchdog$")
	cmd.Env = append(os.Environ(), "PGTEST_WATCHDOG_CHILD=1")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	_ = cmd.Wait()
	var dir string
	var pid int
	if _, err := fmt.Sscan(line, &dir, &pid); err != nil {
		t.Fatalf("child said %q: %v", line, err)
	}
	for i := 0; i < 600 && (Running(pid) || exists(dir)); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if pid == 0 || Running(pid) {
		t.Errorf("postmaster %d survived its test process", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if exists(dir) {
		t.Errorf("%s survived its test process", dir)
		_ = os.RemoveAll(dir)
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
