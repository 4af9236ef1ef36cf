package console

import (
	"strings"
	"testing"
)

// wantColumns is every SHOW's columns as name:type, transcribed by hand from
// DESIGN §6 and PgBouncer 1.25's documentation and admin.c/stats.c (type
// letters there: s text, i int4, q int8, N numeric, T timestamp sent as
// text, b bytea), and for Odyssey's extras from Odyssey's console.c. It is
// kept apart from show.go on purpose: the two must agree.
var wantColumns = map[string]string{
	"STATS": "database:text total_server_assignment_count:numeric total_xact_count:numeric total_query_count:numeric " +
		"total_received:numeric total_sent:numeric total_xact_time:numeric total_query_time:numeric total_wait_time:numeric " +
		"total_client_parse_count:numeric total_server_parse_count:numeric total_bind_count:numeric " +
		"avg_server_assignment_count:numeric avg_xact_count:numeric avg_query_count:numeric avg_recv:numeric avg_sent:numeric " +
		"avg_xact_time:numeric avg_query_time:numeric avg_wait_time:numeric avg_client_parse_count:numeric " +
		"avg_server_parse_count:numeric avg_bind_count:numeric",
	"STATS_TOTALS": "database:text server_assignment_count:numeric xact_count:numeric query_count:numeric " +
		"bytes_received:numeric bytes_sent:numeric xact_time:numeric query_time:numeric wait_time:numeric " +
		"client_parse_count:numeric server_parse_count:numeric bind_count:numeric",
	"STATS_AVERAGES": "database:text server_assignment_count:numeric xact_count:numeric query_count:numeric " +
		"bytes_received:numeric bytes_sent:numeric xact_time:numeric query_time:numeric wait_time:numeric " +
		"avg_client_parse_count:numeric avg_server_parse_count:numeric avg_bind_count:numeric",
	"TOTALS": "name:text value:numeric",
	"POOLS": "database:text user:text cl_active:int4 cl_waiting:int4 cl_active_cancel_req:int4 " +
		"cl_waiting_cancel_req:int4 sv_active:int4 sv_active_cancel:int4 sv_being_canceled:int4 sv_idle:int4 " +
		"sv_used:int4 sv_tested:int4 sv_login:int4 maxwait:int4 maxwait_us:int4 pool_mode:text load_balance_hosts:text",
	"CLIENTS": connColumns,
	"SERVERS": connColumns,
	"SOCKETS": connColumns + " recv_pos:int4 pkt_pos:int4 pkt_remain:int4 send_pos:int4 send_remain:int4 " +
		"pkt_avail:int4 send_avail:int4",
	"ACTIVE_SOCKETS": connColumns + " recv_pos:int4 pkt_pos:int4 pkt_remain:int4 send_pos:int4 send_remain:int4 " +
		"pkt_avail:int4 send_avail:int4",
	"DATABASES": "name:text host:text port:int4 database:text force_user:text pool_size:int4 min_pool_size:int4 " +
		"reserve_pool_size:int4 server_lifetime:int4 pool_mode:text load_balance_hosts:text max_connections:int4 " +
		"current_connections:int4 max_client_connections:int4 current_client_connections:int4 paused:int4 disabled:int4",
	"USERS": "name:text pool_size:text reserve_pool_size:text pool_mode:text max_user_connections:int4 " +
		"current_connections:int4 max_user_client_connections:int4 current_client_connections:int4",
	"LISTS":      "list:text items:int4",
	"CONFIG":     "key:text value:text default:text changeable:text",
	"VERSION":    "version:text",
	"STATE":      "key:text value:text",
	"MEM":        "name:text size:int4 used:int4 free:int4 memtotal:int4",
	"DNS_HOSTS":  "hostname:text ttl:int8 addrs:text",
	"DNS_ZONES":  "zonename:text serial:int8 count:int4",
	"PEERS":      "peer_id:int4 host:text port:int4 pool_size:int4",
	"PEER_POOLS": "peer_id:int4 cl_active_cancel_req:int4 cl_waiting_cancel_req:int4 sv_active_cancel:int4 sv_login:int4",
	"FDS": "fd:int4 task:text user:text database:text addr:text port:int4 cancel:int8 link:int4 " +
		"client_encoding:text std_strings:text datestyle:text timezone:text password:text " +
		"scram_client_key:bytea scram_server_key:bytea",
	// Odyssey's.
	"ERRORS": "error_type:text count:int8",
	"LISTEN": "host:text port:int4 tls:text tls_cert_file:text tls_key_file:text tls_ca_file:text tls_protocols:text",
	"STORAGES": "type:text host:text port:int4 tls:text tls_cert_file:text tls_key_file:text tls_ca_file:text " +
		"tls_protocols:text name:text",
	"SERVER_PREP_STMTS": "type:text user:text database:text sid:text definition:text refcount:text",
	"IS_PAUSED":         "is_paused:bool",
	"RULES": "database:text user:text user_role:text authentication:text auth_query:text auth_query_db:text " +
		"auth_query_user:text storage:text storage_db:text storage_user:text pool:text pool_size:text " +
		"min_pool_size:text pool_timeout:text pool_ttl:text server_lifetime:text pool_discard:text pool_cancel:text " +
		"pool_rollback:text pool_reserve_prepared_statement:text client_max:text client_fwd_error:text " +
		"pool_client_idle_timeout:text pool_idle_in_transaction_timeout:text",
	"POOLS_EXTENDED": "database:text user:text cl_active:int4 cl_waiting:int4 cl_active_cancel_req:int4 " +
		"cl_waiting_cancel_req:int4 sv_active:int4 sv_active_cancel:int4 sv_being_canceled:int4 sv_idle:int4 " +
		"sv_used:int4 sv_tested:int4 sv_login:int4 maxwait:int4 maxwait_us:int4 pool_mode:text load_balance_hosts:text " +
		"bytes_recieved:int8 bytes_sent:int8 tcp_conn_count:int8 query_0.5:int8 transaction_0.5:int8 " +
		"query_0.99:int8 transaction_0.99:int8",
}

const connColumns = "type:text user:text database:text replication:text state:text addr:text port:int4 " +
	"local_addr:text local_port:int4 connect_time:text request_time:text wait:int4 wait_us:int4 close_needed:int4 " +
	"ptr:text link:text remote_pid:int4 tls:text application_name:text prepared_statements:int4 id:int4"

var typeNames = map[uint32]string{16: "bool", 17: "bytea", 20: "int8", 23: "int4", 25: "text", 1700: "numeric"}

// TestShowColumns runs every SHOW over the protocol and checks its row
// description against the table, and that every SHOW the console knows is
// in the table.
func TestShowColumns(t *testing.T) {
	c := startScripted(t, Session{User: "admin", Role: RoleAdmin}, newFakeSource())
	for name, want := range wantColumns {
		rs := c.query("SHOW " + name)
		if rs[0].kind != "RowDescription" {
			t.Errorf("SHOW %s: %s", name, summary(rs))
			continue
		}
		var got []string
		for _, f := range rs[0].fields {
			got = append(got, string(f.Name)+":"+typeNames[f.DataTypeOID])
			if f.Format != 0 {
				t.Errorf("SHOW %s: column %s in format %d over the simple protocol", name, f.Name, f.Format)
			}
		}
		if g := strings.Join(got, " "); g != want {
			t.Errorf("SHOW %s columns:\n got %s\nwant %s", name, g, want)
		}
		if tag := rs[len(rs)-2]; tag.kind != "CommandComplete" || tag.tag != "SHOW" {
			t.Errorf("SHOW %s: ends with %v, want CommandComplete SHOW", name, tag)
		}
		for _, row := range dataRows(rs) {
			if len(row) != len(got) {
				t.Errorf("SHOW %s: row of %d values for %d columns", name, len(row), len(got))
			}
		}
	}
	for _, name := range sortedShowNames() {
		if _, ok := wantColumns[strings.ToUpper(name)]; !ok {
			t.Errorf("SHOW %s is not in the column table", name)
		}
	}
}
