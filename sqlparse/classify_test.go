package sqlparse

import "testing"

func TestClassify(t *testing.T) {
	tests := []struct {
		sql  string
		want Effect
	}{
		{"SELECT abalance FROM pgbench_accounts WHERE aid = $1", 0},
		{"UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2", 0},
		{"INSERT INTO t VALUES ('SET x = 1', 'LISTEN ch')", 0},
		{`SELECT "set_config" FROM t`, 0},
		{"SELECT 1 -- DROP TABLE t\n", 0},
		{"SELECT offset_col FROM assets", 0},
		{"SET search_path = app", Settings},
		{"set local statement_timeout = 5", Settings},
		{"RESET ALL", Settings},
		{"SELECT set_config('search_path', 'app', false)", Settings},
		{"SELECT pg_catalog.set_config('a.b', 'c', false)", Settings},
		{"DISCARD ALL", All},
		{"DISCARD TEMP", TempObject},
		{"DISCARD PLANS", 0},
		{"DEALLOCATE ALL", Statements | Prepare},
		{"PREPARE q AS SELECT 1", Prepare},
		{"PREPARE TRANSACTION 'tx1'", 0},
		{"LISTEN jobs", Listen},
		{"UNLISTEN *", Listen},
		{"SELECT pg_advisory_lock(1)", AdvisoryLock},
		{"SELECT pg_try_advisory_lock_shared(1, 2)", AdvisoryLock},
		{"SELECT pg_advisory_unlock_all()", AdvisoryLock},
		{"SELECT pg_advisory_xact_lock(1)", 0},
		{"SELECT 'pg_advisory_lock(1)'", 0},
		{"CREATE TEMP TABLE t (a int)", TempObject},
		{"create or replace temporary view v as select 1", TempObject},
		{"CREATE LOCAL TEMPORARY TABLE t (a int)", TempObject},
		{"CREATE TABLE temp (a int)", 0},
		{"CREATE TABLE t (a int)", 0},
		{"SELECT * INTO TEMP t FROM s", TempObject},
		{"SELECT * INTO t FROM temp", 0},
		{"DROP TABLE t", TempObject},
		{"DECLARE c CURSOR WITH HOLD FOR SELECT 1", HoldCursor},
		{"DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1", 0},
		{"DECLARE c CURSOR FOR SELECT hold FROM t", 0},
		{"CLOSE c", HoldCursor},
		{"BEGIN; SET LOCAL x = 1; LISTEN ch; COMMIT", Settings | Listen},
		{"SELECT 'unterminated", 0},          // no keyword: PostgreSQL rejects it anyway
		{"SET x = 'unterminated", All},       // cannot scan: assume the worst
		{"SELECT 1; SET x = 2\x00", All},     // NUL: not scannable
		{"/* SET */ SELECT 1; -- LISTEN", 0}, // keywords only in comments
	}
	for _, tt := range tests {
		if got := Classify(tt.sql); got != tt.want {
			t.Errorf("Classify(%q) = %016b, want %016b", tt.sql, got, tt.want)
		}
	}
}

func TestEffectState(t *testing.T) {
	if Settings.State() || Statements.State() || (Settings | Statements).State() {
		t.Error("settings and statements alone do not pin")
	}
	for _, e := range []Effect{Listen, AdvisoryLock, TempObject, HoldCursor, Prepare} {
		if !e.State() {
			t.Errorf("%b.State() = false", e)
		}
	}
}

// TestMayAffect checks the fast path against the scanner: whenever the full
// classification finds an effect, the byte scan must have said "maybe".
func TestMayAffect(t *testing.T) {
	for _, sql := range []string{"SeT x = 1", "ReSeT x", "DISCARD ALL", "dEaLlOcAtE q", "Prepare q as select 1",
		"unlisten *", "declare c cursor with HOLD for select 1", "CLOSE c", "drop table x", "create TEMP table t()",
		"select PG_ADVISORY_LOCK(1)"} {
		if !mayAffect(sql) {
			t.Errorf("mayAffect(%q) = false", sql)
		}
	}
	if mayAffect("SELECT abalance FROM pgbench_accounts WHERE aid = $1") {
		t.Error("mayAffect(pgbench select) = true")
	}
}

var sink Effect

// BenchmarkClassify measures the two paths: statements without any of the
// keywords (the byte scan alone) and statements that need the scanner.
func BenchmarkClassify(b *testing.B) {
	for _, bc := range []struct{ name, sql string }{
		{"select", "SELECT abalance FROM pgbench_accounts WHERE aid = $1"},
		{"insert", "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)"},
		{"update_scanned", "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2"},
		{"set", "SET search_path = app"},
		{"advisory", "SELECT pg_advisory_lock(42)"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				sink = Classify(bc.sql)
			}
		})
	}
}
