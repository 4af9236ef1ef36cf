package integration

import (
	"database/sql"
	"fmt"
	"strconv"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver, like the exporter's lib/pq
)

// exporterColumns are the columns prometheus-community/pgbouncer_exporter
// (v0.12, collector.go's metricMaps) turns into metrics, per SHOW command.
// reserve_pool and requests are in its map too but PgBouncer 1.25 no longer
// has them either, so the exporter skips them there as well.
var exporterColumns = map[string][]string{
	"databases":    {"name", "host", "port", "database", "force_user", "pool_size", "pool_mode", "max_connections", "current_connections", "paused", "disabled"},
	"stats_totals": {"database", "query_count", "query_time", "bytes_received", "bytes_sent", "wait_time", "xact_count", "xact_time", "client_parse_count", "server_parse_count", "bind_count"},
	"pools":        {"database", "user", "cl_active", "cl_active_cancel_req", "cl_waiting", "cl_waiting_cancel_req", "sv_active", "sv_active_cancel", "sv_being_canceled", "sv_idle", "sv_used", "sv_tested", "sv_login", "maxwait"},
}

// exporterLabels are the label columns; every other mapped column must
// convert to a number.
var exporterLabels = map[string]bool{"name": true, "host": true, "port": true, "database": true, "force_user": true, "pool_mode": true, "user": true}

// TestExporterScrape does what pgbouncer_exporter's Collect does, through
// database/sql over the simple protocol as lib/pq does, and fails where
// the exporter would report pgbouncer_up 0 or drop a metric. (The exporter
// binary itself cannot be fetched on these machines.)
func TestExporterScrape(t *testing.T) {
	p, _ := startConsolePooler(t, "console_exporter", 4)
	pgbench(t, p, "-i", "-s", "1", "-q")
	checkPgbench(t, "traffic", pgbench(t, p, "-c", "2", "-t", "20"))
	db, err := sql.Open("pgx", fmt.Sprintf("postgres://admin:admin-pw@%s/pgbouncer?sslmode=disable&default_query_exec_mode=simple_protocol", p.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	query := func(q string) ([]string, [][]any) {
		t.Helper()
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v (the exporter would report pgbouncer_up 0)", q, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out [][]any
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for k := range vals {
				ptrs[k] = &vals[k]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			out = append(out, vals)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return cols, out
	}
	number := func(v any) bool {
		switch x := v.(type) {
		case int64, float64, nil:
			return true
		case string:
			_, err := strconv.ParseFloat(x, 64)
			return err == nil
		case []byte:
			_, err := strconv.ParseFloat(string(x), 64)
			return err == nil
		}
		return false
	}

	query("SHOW STATS") // the exporter's ping
	if cols, rows := query("SHOW VERSION;"); len(cols) != 1 || cols[0] != "version" || len(rows) != 1 {
		t.Errorf("SHOW VERSION: %v %v", cols, rows)
	}
	if cols, rows := query("SHOW LISTS;"); len(cols) != 2 || len(rows) == 0 {
		t.Errorf("SHOW LISTS: %v %v", cols, rows)
	} else {
		for _, r := range rows {
			if !number(r[1]) {
				t.Errorf("SHOW LISTS %v: items is not a number", r)
			}
		}
	}
	cols, rows := query("SHOW CONFIG;")
	if len(cols) != 4 {
		t.Errorf("SHOW CONFIG has %d columns, the exporter takes 3 or 4", len(cols))
	}
	seen := map[string]bool{}
	for _, r := range rows {
		if k, _ := r[0].(string); k == "max_client_conn" || k == "max_user_connections" {
			seen[k] = true
			if !number(r[1]) {
				t.Errorf("SHOW CONFIG %s = %v: not a number", k, r[1])
			}
		}
	}
	if !seen["max_client_conn"] || !seen["max_user_connections"] {
		t.Errorf("SHOW CONFIG lacks the exporter's config metrics: %v", seen)
	}
	for ns, want := range exporterColumns {
		cols, rows := query("SHOW " + ns + ";")
		idx := map[string]int{}
		for k, c := range cols {
			idx[c] = k
		}
		if len(rows) == 0 {
			t.Errorf("SHOW %s: no rows, so no metrics", ns)
		}
		for _, c := range want {
			k, ok := idx[c]
			if !ok {
				t.Errorf("SHOW %s has no column %s: its metric would be missing", ns, c)
				continue
			}
			for _, r := range rows {
				if exporterLabels[c] {
					if _, isStr := r[k].(string); !isStr && r[k] != nil && !number(r[k]) {
						t.Errorf("SHOW %s label %s = %#v", ns, c, r[k])
					}
				} else if !number(r[k]) {
					t.Errorf("SHOW %s %s = %#v: not a number", ns, c, r[k])
				}
			}
		}
	}
}
