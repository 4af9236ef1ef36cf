package relay

import (
	"strings"
	"testing"
)

func TestMayChangeSettings(t *testing.T) {
	cases := []struct {
		q    string
		want bool
	}{
		{"SET statement_timeout = 5", true},
		{"  set search_path to a", true},
		{"/* hint */ -- c\n RESET ALL", true},
		{"DISCARD ALL", true},
		{"select 1; SET x = 1", true},
		{"SELECT set_config('a.b', 'c', false)", true},
		{"BEGIN; SET LOCAL x = 1; COMMIT", true},
		{"SELECT 1", false},
		{"UPDATE t SET a = 1", false},
		{"settings", false},
		{"SELECT * FROM settings", false},
		{"INSERT INTO t VALUES ('-- SET')", false},
		{"", false},
	}
	for _, c := range cases {
		if got := mayChangeSettings([]byte(c.q)); got != c.want {
			t.Errorf("mayChangeSettings(%q) = %v, want %v", c.q, got, c.want)
		}
	}
}

func TestSettingsDiff(t *testing.T) {
	if q := settingsDiff(map[string]string{"a": "1"}, map[string]string{"a": "1"}); q != "" {
		t.Fatalf("no difference should need no statement, got %q", q)
	}
	q := settingsDiff(map[string]string{"old": "1", "same": "x"}, map[string]string{"same": "x", "search_path": `"$user", public`, "odd": `it's \ here`})
	for _, want := range []string{`RESET "old";`, `pg_catalog.set_config('search_path', '"$user", public', false)`, `pg_catalog.set_config('odd', E'it''s \\ here', false)`} {
		if !strings.Contains(q, want) {
			t.Errorf("%q lacks %q", q, want)
		}
	}
	if strings.Contains(q, "same") {
		t.Errorf("%q sets an unchanged setting", q)
	}
}

func FuzzMayChangeSettings(f *testing.F) {
	f.Add([]byte("SET a = 1"))
	f.Add([]byte("/* unterminated"))
	f.Add([]byte("-- only a comment"))
	f.Fuzz(func(t *testing.T, q []byte) { mayChangeSettings(q) })
}

func TestClassifySessionState(t *testing.T) {
	cases := []struct {
		q     string
		state bool
	}{
		{"LISTEN chan", true},
		{"unlisten *", true},
		{"PREPARE p AS SELECT 1", true},
		{"DEALLOCATE p", true},
		{"BEGIN; DECLARE c CURSOR WITH HOLD FOR SELECT 1; COMMIT", true},
		{"CLOSE c", true},
		{"CREATE TEMP TABLE t (v int)", true},
		{"create global temporary table t (v int)", true},
		{"CREATE LOCAL TEMP TABLE t (v int)", true},
		{"DROP TABLE t", true},
		{"SELECT pg_advisory_lock(1)", true},
		{"SELECT pg_try_advisory_lock(1)", true},
		{"DISCARD ALL", true},
		{"CREATE TABLE t (v int)", false},
		{"CREATE INDEX ON t (v)", false},
		{"SELECT 1", false},
		{"UPDATE t SET listen = 1", false},
	}
	for _, c := range cases {
		if got := classify([]byte(c.q)).state; got != c.state {
			t.Errorf("classify(%q).state = %v, want %v", c.q, got, c.state)
		}
	}
}

// TestSettingsKey: the same settings give the same key in any order, and
// different ones differ.
func TestSettingsKey(t *testing.T) {
	a := settingsKey(map[string]string{"application_name": "app", "datestyle": "iso, dmy"})
	b := settingsKey(map[string]string{"datestyle": "iso, dmy", "application_name": "app"})
	if a != b {
		t.Fatalf("order matters: %q, %q", a, b)
	}
	for _, other := range []map[string]string{
		nil,
		{"application_name": "app"},
		{"application_name": "app", "datestyle": "iso, mdy"},
		{"application_name": "app", "datestyle": "iso, dmy", "timezone": "UTC"},
	} {
		if k := settingsKey(other); k == a {
			t.Errorf("%v has the key of a different set: %q", other, k)
		}
	}
}
