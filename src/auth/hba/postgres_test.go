package hba

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/odyssey-go/odyssey/integration/pgtest"
)

// agreedHBA is read by both a real PostgreSQL 15 (as its hba_file) and
// Load, so it sticks to what both accept: trust and reject, no hostssl or
// hostgssenc (this cluster has neither).
const agreedHBA = `# TYPE  DATABASE        USER           ADDRESS                    METHOD
local   all             postgres                                  trust
local   "all"           all                                       reject
local   sameuser        all                                       trust
local   app,"Mixed Db"  alice,"+odd"                              trust
local   all             @users.txt                                reject
host    all             postgres       127.0.0.1/32               trust
host    app             all            127.0.0.2 255.255.255.255  trust
host    all             "all"          samehost                   trust
host    "Mixed Db"      all            samenet                    trust
hostnossl bob           all            127.0.0.0/8                reject
host    sameuser        alice,\
                        bob            127.0.0.1/32               trust
hostnogssenc all        dave           127.0.0.3 255.0.255.255    reject
host    all             dave           127.0.0.0/8                trust
`

// agreedUsers is the @users.txt of agreedHBA.
const agreedUsers = `# included by the local reject line
carol
"dave" # and a comment
`

// TestAgreesWithPostgreSQL gives agreedHBA to a real PostgreSQL and to
// Load, logs in to PostgreSQL as every (user, database) over the unix
// socket and over TCP from several loopback addresses, and checks that
// Check makes the same decision with the same message.
func TestAgreesWithPostgreSQL(t *testing.T) {
	// PostgreSQL's hba_file is set at server start, which needs a cluster
	// of our own, not one named by ODYSSEY_TEST_PG.
	t.Setenv("ODYSSEY_TEST_PG", "")

	// The postgres OS user reads these files, so they are world-readable.
	dir, err := os.MkdirTemp("", "odyssey-hba-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pg_hba.conf")
	for name, text := range map[string]string{"pg_hba.conf": agreedHBA, "users.txt": agreedUsers} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}

	cluster, err := pgtest.Start(pgtest.Options{Settings: map[string]string{"hba_file": path}})
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(func() { _ = cluster.Stop() })

	users := []string{"alice", "bob", "carol", "dave", "eve", "+odd", "all"}
	databases := []string{"app", "Mixed Db", "all", "alice", "bob"}
	for _, u := range users {
		if err := cluster.Exec(fmt.Sprintf("CREATE ROLE %s LOGIN", quoteIdent(u))); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range databases {
		// CREATE DATABASE cannot share an implicit transaction.
		if err := cluster.Exec("CREATE DATABASE " + quoteIdent(d)); err != nil {
			t.Fatal(err)
		}
	}

	users = append(users, pgtest.SuperUser) // it exists already

	// 127.0.0.0/8 is all on the loopback interface, so the client can
	// choose its source address there.
	sources := []string{"", "127.0.0.1", "127.0.0.2", "127.0.0.3", "127.1.0.3", "127.0.1.1"}
	allowed := 0
	decided := map[int]bool{} // line numbers that decided a login
	for _, src := range sources {
		for _, u := range users {
			for _, d := range databases {
				c := Conn{Local: src == "", Database: d, User: u}
				if !c.Local {
					c.Addr = netip.MustParseAddr(src)
				}
				pgErr := loginAs(t, cluster, c)
				ours := file.Check(c)
				if l := file.first(c); l != nil {
					decided[l.num] = true
				}
				switch {
				case pgErr == nil && ours == nil:
					allowed++
				case pgErr == nil || ours == nil:
					t.Errorf("%+v: PostgreSQL says %v, Check says %v", c, pgErr, ours)
				case pgErr.Error() != ours.Error():
					t.Errorf("%+v:\nPostgreSQL: %s\nCheck:      %s", c, pgErr, ours)
				}
			}
		}
	}
	// Both outcomes, and every line, must have decided some login, or the
	// comparison proves little.
	if total := len(sources) * len(users) * len(databases); allowed == 0 || allowed == total {
		t.Errorf("%d of %d logins allowed; the file should allow some and refuse some", allowed, total)
	}
	for _, l := range file.lines {
		if !decided[l.num] {
			t.Errorf("line %d of the file decided no login; add a user, database or address that reaches it", l.num)
		}
	}
}

// loginAs logs in to cluster as c describes, without a password. It
// returns nil when PostgreSQL let the client in, and PostgreSQL's error
// when it refused with SQLSTATE 28000 (as pg_hba.conf refusals are); any
// other failure ends the test.
func loginAs(t *testing.T, cluster *pgtest.Cluster, c Conn) error {
	t.Helper()
	host := cluster.SocketDir
	if !c.Local {
		host = cluster.Host
	}
	cfg, err := pgconn.ParseConfig("sslmode=disable host=" + host + " port=" + strconv.Itoa(cluster.Port))
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Database, cfg.Password = c.User, c.Database, ""
	if !c.Local {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: c.Addr.AsSlice()}}
		cfg.DialFunc = d.DialContext
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err == nil {
		conn.Close(ctx)
		return nil
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28000" {
		t.Fatalf("log in as %+v: %v", c, err)
	}
	return errors.New(pgErr.Message)
}

func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }
