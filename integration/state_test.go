package integration

import (
	"strconv"
	"testing"
)

// TestSessionStateNeverLeaks: without pool_discard, a client that leaves
// LISTEN, an advisory lock, a temporary table, a WITH HOLD cursor or an SQL
// PREPARE behind must not hand them to the next client of its server.
func TestSessionStateNeverLeaks(t *testing.T) {
	for i, mode := range []string{"session", "transaction"} {
		t.Run(mode, func(t *testing.T) {
			p := startPool(t, poolSpec{role: "pooled_state_" + mode, mode: mode, size: 1})
			ctx := testCtx(t)
			lock := strconv.Itoa(9200 + i)
			a := p.conn(t, "")
			pid := one(t, ctx, a, "SELECT pg_backend_pid()")
			for _, sql := range []string{
				"CREATE TEMP TABLE state_tmp (v int)",
				"PREPARE state_stmt AS SELECT 1",
				"SELECT pg_advisory_lock(" + lock + ")",
				"LISTEN state_chan",
				"BEGIN; DECLARE state_cur CURSOR WITH HOLD FOR SELECT 1; COMMIT",
				"SET work_mem = '5MB'",
			} {
				if _, err := simple(ctx, a, sql); err != nil {
					t.Fatalf("%s: %v", sql, err)
				}
			}
			closeQuietly(a)
			b := p.conn(t, "")
			if got := one(t, ctx, b, "SELECT pg_backend_pid()"); got != pid {
				t.Fatalf("pool_size 1: next client got server %s, want the same server %s", got, pid)
			}
			for what, sql := range map[string]string{
				"temporary table": "SELECT count(*) FROM pg_class WHERE relname = 'state_tmp' AND relpersistence = 't'",
				"prepared stmt":   "SELECT count(*) FROM pg_prepared_statements WHERE name = 'state_stmt'",
				"advisory lock":   "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
				"LISTEN":          "SELECT count(*) FROM pg_listening_channels()",
				"cursor":          "SELECT count(*) FROM pg_cursors",
				"work_mem":        "SELECT count(*) FROM pg_settings WHERE name = 'work_mem' AND setting = '5120'",
			} {
				if v := one(t, ctx, b, sql); v != "0" {
					t.Errorf("next client on the same server inherits the %s of the client that left", what)
				}
			}
		})
	}
}

// TestPinnedWhileHoldingState: in transaction mode a client with a
// temporary table keeps its server (and table) across transactions, and
// other clients never see it; once dropped, the server is shared again.
func TestPinnedWhileHoldingState(t *testing.T) {
	p := startPool(t, poolSpec{role: "pooled_pinned", mode: "transaction", size: 2, extra: `pool_timeout = "5s"`})
	ctx := testCtx(t)
	a := p.conn(t, "")
	b := p.conn(t, "")
	if _, err := simple(ctx, a, "CREATE TEMP TABLE pinned_tmp (v int)"); err != nil {
		t.Fatal(err)
	}
	pid := one(t, ctx, a, "SELECT pg_backend_pid()")
	for i := 0; i < 10; i++ {
		if _, err := simple(ctx, a, "INSERT INTO pinned_tmp VALUES ("+strconv.Itoa(i)+")"); err != nil {
			t.Fatalf("transaction %d lost the temporary table: %v", i, err)
		}
		if got := one(t, ctx, b, "SELECT pg_backend_pid()"); got == pid {
			t.Fatalf("client B was given client A's pinned server %s", pid)
		}
		if got := one(t, ctx, a, "SELECT pg_backend_pid()"); got != pid {
			t.Fatalf("pinned client moved from server %s to %s", pid, got)
		}
	}
	if v := one(t, ctx, a, "SELECT count(*) FROM pinned_tmp"); v != "10" {
		t.Fatalf("temporary table has %s rows, want 10", v)
	}
	if _, err := simple(ctx, a, "DROP TABLE pinned_tmp"); err != nil {
		t.Fatal(err)
	}
	// Unpinned: with B holding the other server in a transaction, a third
	// client can only be served by A's former server, and only if A no
	// longer keeps it (otherwise it times out with 53300).
	if _, err := simple(ctx, b, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	c, err := connectOnce(ctx, p)
	if err != nil {
		t.Fatalf("server %s stayed pinned after its client dropped its temporary table: %v", pid, err)
	}
	defer closeQuietly(c)
	if got := one(t, ctx, c, "SELECT pg_backend_pid()"); got != pid {
		t.Errorf("third client got server %s, want A's former server %s", got, pid)
	}
	if _, err := simple(ctx, b, "COMMIT"); err != nil {
		t.Fatal(err)
	}
}
