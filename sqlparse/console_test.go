package sqlparse

import (
	"errors"
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Command
	}{
		{"SHOW POOLS", Command{Verb: Show, Name: "pools", Text: "SHOW POOLS"}},
		{"show pools;", Command{Verb: Show, Name: "pools", Text: "show pools"}},
		{"  Show\tStats_Totals  ;  ", Command{Verb: Show, Name: "stats_totals", Text: "Show\tStats_Totals"}},
		{`SHOW "POOLS"`, Command{Verb: Show, Name: "pools", Text: `SHOW "POOLS"`}},
		{"-- probe\nSHOW /* all of them */ CLIENTS; -- done", Command{Verb: Show, Name: "clients", Text: "SHOW /* all of them */ CLIENTS"}},
		{"/* a /* nested */ comment */ SHOW VERSION", Command{Verb: Show, Name: "version", Text: "SHOW VERSION"}},
		{"SHOW TIME ZONE", Command{Verb: Show, Name: "timezone", Text: "SHOW TIME ZONE"}},
		{"SHOW client_encoding", Command{Verb: Show, Name: "client_encoding", Text: "SHOW client_encoding"}},
		{"SHOW CLIENTS app", Command{Verb: Show, Name: "clients", Arg: "app", Text: "SHOW CLIENTS app"}},
		{`SHOW SERVERS "App"`, Command{Verb: Show, Name: "servers", Arg: "App", Text: `SHOW SERVERS "App"`}},
		{"SHOW CLIENTS 42", Command{Verb: Show, Name: "clients", Arg: "42", Text: "SHOW CLIENTS 42"}},
		{"SHOW USER", Command{Verb: Show, Name: "user", Text: "SHOW USER"}},
		{"SET log_level = debug", Command{Verb: Set, Name: "log_level", Arg: "debug", Text: "SET log_level = debug"}},
		{"set LOG_LEVEL to 'info';", Command{Verb: Set, Name: "log_level", Arg: "info", Text: "set LOG_LEVEL to 'info'"}},
		{"SET client_max = 100", Command{Verb: Set, Name: "client_max", Arg: "100", Text: "SET client_max = 100"}},
		{"SET x = 'it''s'", Command{Verb: Set, Name: "x", Arg: "it's", Text: "SET x = 'it''s'"}},
		{"SET x = E'a\\tb'", Command{Verb: Set, Name: "x", Arg: "a\tb", Text: "SET x = E'a\\tb'"}},
		{"SET x = $$q$$", Command{Verb: Set, Name: "x", Arg: "q", Text: "SET x = $$q$$"}},
		{"SET search_path = a, b", Command{Verb: Set, Name: "search_path", Arg: "a, b", Text: "SET search_path = a, b"}},
		{"SET SESSION x = 1.5", Command{Verb: Set, Name: "x", Arg: "1.5", Text: "SET SESSION x = 1.5"}},
		{`SET "Weird" = on`, Command{Verb: Set, Name: "weird", Arg: "on", Text: `SET "Weird" = on`}},
		{"SET TIME ZONE 'UTC'", Command{Verb: Set, Name: "timezone", Arg: "UTC", Text: "SET TIME ZONE 'UTC'"}},
		{"SET application_name = 'psql'", Command{Verb: Set, Name: "application_name", Arg: "psql", Text: "SET application_name = 'psql'"}},
		{"PAUSE", Command{Verb: Pause, Text: "PAUSE"}},
		{"pause app;", Command{Verb: Pause, Arg: "app", Text: "pause app"}},
		{`PAUSE "My""Db"`, Command{Verb: Pause, Arg: `My"Db`, Text: `PAUSE "My""Db"`}},
		{"PAUSE MyDb", Command{Verb: Pause, Arg: "mydb", Text: "PAUSE MyDb"}},
		{"RESUME app", Command{Verb: Resume, Arg: "app", Text: "RESUME app"}},
		{"DISABLE app", Command{Verb: Disable, Arg: "app", Text: "DISABLE app"}},
		{"DISABLE", Command{Verb: Disable, Text: "DISABLE"}},
		{"ENABLE app", Command{Verb: Enable, Arg: "app", Text: "ENABLE app"}},
		{"RECONNECT", Command{Verb: Reconnect, Text: "RECONNECT"}},
		{"KILL app", Command{Verb: Kill, Arg: "app", Text: "KILL app"}},
		{"KILL user", Command{Verb: Kill, Arg: "user", Text: "KILL user"}},
		{"KILL_CLIENT 1234", Command{Verb: KillClient, Arg: "1234", Text: "KILL_CLIENT 1234"}},
		{"SUSPEND", Command{Verb: Suspend, Text: "SUSPEND"}},
		{"RELOAD;", Command{Verb: Reload, Text: "RELOAD"}},
		{"SHUTDOWN", Command{Verb: Shutdown, Text: "SHUTDOWN"}},
		{"shutdown wait_for_servers", Command{Verb: Shutdown, Name: "wait_for_servers", Text: "shutdown wait_for_servers"}},
		{"SHUTDOWN WAIT_FOR_CLIENTS", Command{Verb: Shutdown, Name: "wait_for_clients", Text: "SHUTDOWN WAIT_FOR_CLIENTS"}},
		{"WAIT_CLOSE app", Command{Verb: WaitClose, Arg: "app", Text: "WAIT_CLOSE app"}},
		{"BEGIN", Command{Verb: Begin, Text: "BEGIN"}},
		{"begin isolation level read committed, read only", Command{Verb: Begin, Text: "begin isolation level read committed, read only"}},
		{"START TRANSACTION", Command{Verb: Begin, Text: "START TRANSACTION"}},
		{"COMMIT", Command{Verb: Commit, Text: "COMMIT"}},
		{"END", Command{Verb: Commit, Text: "END"}},
		{"ROLLBACK;", Command{Verb: Rollback, Text: "ROLLBACK"}},
		{"ABORT", Command{Verb: Rollback, Text: "ABORT"}},
		{"SELECT 1", Command{Verb: Select, Consts: []Const{{"?column?", int64(1)}}, Text: "SELECT 1"}},
		{"select 'ok' as status, true, null, -5", Command{Verb: Select, Consts: []Const{
			{"status", "ok"}, {"bool", true}, {"?column?", nil}, {"?column?", int64(-5)},
		}, Text: "select 'ok' as status, true, null, -5"}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct{ in, text string }{
		{"", ""},
		{" ; -- nothing\n", "; -- nothing"},
		{"bogus", "bogus"},
		{"SHOW", "SHOW"},
		{"SHOW CLIENTS app extra", "SHOW CLIENTS app extra"},
		{"SHOW CLIENTS 'app'", "SHOW CLIENTS 'app'"},
		{"\"pause\"", "\"pause\""},
		{"PAUSE a b", "PAUSE a b"},
		{"PAUSE 'app'", "PAUSE 'app'"},
		{"SUSPEND now", "SUSPEND now"},
		{"RELOAD x", "RELOAD x"},
		{"KILL_CLIENT", "KILL_CLIENT"},
		{"KILL_CLIENT abc", "KILL_CLIENT abc"},
		{"KILL_CLIENT -1", "KILL_CLIENT -1"},
		{"SHUTDOWN NOW", "SHUTDOWN NOW"},
		{"SET x", "SET x"},
		{"SET x TO DEFAULT", "SET x TO DEFAULT"},
		{"SET LOCAL x = 1", "SET LOCAL x = 1"},
		{"SET x = 'unterminated", "SET x = 'unterminated"},
		{"SELECT version()", "SELECT version()"},
		{"SELECT 1 FROM pg_class", "SELECT 1 FROM pg_class"},
		{"SELECT * ", "SELECT *"},
		{"SELECT 1 UNION SELECT 2", "SELECT 1 UNION SELECT 2"},
		{"SHOW POOLS /* unterminated", "SHOW POOLS /* unterminated"},
		{"SHOW POOLS\x00", "SHOW POOLS\x00"},
		{"SHOW POOLS; bogus", "bogus"},
		{"SAVEPOINT a", "SAVEPOINT a"},
		{"ROLLBACK TO a", "ROLLBACK TO a"},
		{"COMMIT AND CHAIN", "COMMIT AND CHAIN"},
		{"COMMIT PREPARED 'x'", "COMMIT PREPARED 'x'"},
		{"START", "START"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a SyntaxError", tt.in, err)
			continue
		}
		if se.Text != tt.text {
			t.Errorf("Parse(%q): SyntaxError.Text = %q, want %q", tt.in, se.Text, tt.text)
		}
	}
	if _, err := Parse("bogus"); err.Error() != "invalid command 'bogus', use SHOW HELP;" {
		t.Errorf("message = %q", err.Error())
	}
}

func TestParseAll(t *testing.T) {
	cmds, err := ParseAll("SHOW POOLS; show stats;;PAUSE app -- x")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cmds {
		got = append(got, c.Verb.String()+" "+c.Name+" "+c.Arg)
	}
	want := []string{"SHOW pools ", "SHOW stats ", "PAUSE  app"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseAll = %q, want %q", got, want)
	}
	if cmds, err := ParseAll(" ;; /* */ "); err != nil || len(cmds) != 0 {
		t.Errorf("ParseAll(empty) = %v, %v; want no commands", cmds, err)
	}
	if _, err := Parse("SHOW POOLS; SHOW STATS"); !errors.Is(err, ErrMultipleCommands) {
		t.Errorf("Parse(two statements) = %v, want ErrMultipleCommands", err)
	}
}

func TestVerbString(t *testing.T) {
	if KillClient.String() != "KILL_CLIENT" || WaitClose.String() != "WAIT_CLOSE" || Rollback.String() != "ROLLBACK" ||
		Verb(99).String() != "Verb(99)" {
		t.Error("Verb.String")
	}
}
