package route

import (
	"context"
	"testing"
	"time"

	"github.com/odyssey-go/odyssey/integration/pgtest"
	"github.com/odyssey-go/odyssey/src/config"
)

// TestServersLogInAsTheRuleSays dials a real PostgreSQL through routes:
// TCP with the client's names and the rule's plain password, TCP with
// storage_user/storage_password/storage_db, and the unix socket.
func TestServersLogInAsTheRuleSays(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	cluster, err := pgtest.Start(pgtest.Options{})
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(func() { _ = cluster.Stop() })

	c := &config.Config{
		BackendConnectTimeout: 10 * time.Second,
		Storages: map[string]*config.Storage{
			"tcp":  {Name: "tcp", Type: "remote", Endpoints: []config.Endpoint{{Host: cluster.Host, Port: cluster.Port}}},
			"unix": {Name: "unix", Type: "remote", Endpoints: []config.Endpoint{{Host: cluster.SocketDir, Port: cluster.Port}}},
		},
		Rules: []*config.Rule{
			rule("postgres", pgtest.SCRAMUser, func(r *config.Rule) { r.Storage, r.Password = "tcp", pgtest.SCRAMPassword }),
			rule("mapped", "*", func(r *config.Rule) {
				r.Storage, r.Password = "tcp", "md5"+"00000000000000000000000000000000"
				r.StorageDB, r.StorageUser, r.StoragePassword = "template1", pgtest.MD5User, pgtest.MD5Password
			}),
			rule("postgres", "*", func(r *config.Rule) { r.Storage = "unix" }),
		},
	}
	if cluster.SocketDir == "" { // external server
		c.Rules = c.Rules[:2]
	}
	r := newRouter(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, tt := range []struct{ db, user, wantUser, wantDB string }{
		{"postgres", pgtest.SCRAMUser, pgtest.SCRAMUser, "postgres"},
		{"mapped", "anyone", pgtest.MD5User, "template1"},
		{"postgres", pgtest.SuperUser, pgtest.SuperUser, "postgres"},
	}[:len(c.Rules)] {
		rt := mustMatch(t, r, tt.db, tt.user)
		p := rt.Pool()
		srv, err := p.Acquire(ctx)
		if err != nil {
			t.Fatalf("%s: Acquire: %v", rt.ID, err)
		}
		rows, err := srv.Query(ctx, "SELECT current_user, current_database()")
		if err != nil {
			t.Fatalf("%s: query: %v", rt.ID, err)
		}
		if rows[0][0] != tt.wantUser || rows[0][1] != tt.wantDB {
			t.Fatalf("%s: logged in as %v, want %s on %s", rt.ID, rows[0], tt.wantUser, tt.wantDB)
		}
		p.Release(srv)
		if again, err := p.Acquire(ctx); err != nil || again != srv {
			t.Fatalf("%s: idle server not reused: %v", rt.ID, err)
		} else {
			p.Release(again)
		}
	}
}
