package client

import (
	"encoding/binary"
	"testing"

	"github.com/odyssey-go/odyssey/src/pgerr"
)

func startupBody(version uint32, kv ...string) []byte {
	b := binary.BigEndian.AppendUint32(nil, version)
	for _, s := range kv {
		b = append(b, s...)
		b = append(b, 0)
	}
	return append(b, 0)
}

func TestParseStartup(t *testing.T) {
	st, err := ParseStartup(startupBody(3<<16, "user", "alice", "database", "app", "application_name", "psql", "DateStyle", "ISO"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Kind != KindStartup || st.User != "alice" || st.Database != "app" {
		t.Fatalf("got %+v", st)
	}
	vars, err := st.Settings()
	if err != nil {
		t.Fatal(err)
	}
	if vars["application_name"] != "psql" || vars["datestyle"] != "ISO" || len(vars) != 2 {
		t.Fatalf("settings %v", vars)
	}

	st, err = ParseStartup(startupBody(3<<16, "user", "bob"))
	if err != nil || st.Database != "bob" {
		t.Fatalf("database should default to user: %+v %v", st, err)
	}

	st, err = ParseStartup(startupBody(3<<16|2, "user", "bob", "_pq_.foo", "x"))
	if err != nil || st.Minor != 2 || len(st.ProtocolOptions) != 1 || st.ProtocolOptions[0] != "_pq_.foo" {
		t.Fatalf("3.2 with protocol option: %+v %v", st, err)
	}
}

func TestParseStartupRequests(t *testing.T) {
	for code, kind := range map[uint32]Kind{SSLRequestCode: KindSSL, GSSENCRequestCode: KindGSSENC} {
		st, err := ParseStartup(binary.BigEndian.AppendUint32(nil, code))
		if err != nil || st.Kind != kind {
			t.Fatalf("code %d: %+v %v", code, st, err)
		}
	}
	b := binary.BigEndian.AppendUint32(nil, CancelRequestCode)
	b = binary.BigEndian.AppendUint32(b, 42)
	b = binary.BigEndian.AppendUint32(b, 7)
	st, err := ParseStartup(b)
	if err != nil || st.Kind != KindCancel || st.PID != 42 || st.Secret != 7 {
		t.Fatalf("cancel: %+v %v", st, err)
	}
}

func TestParseStartupErrors(t *testing.T) {
	cases := []struct {
		name string
		body []byte
		code string
	}{
		{"short", []byte{0, 3}, pgerr.ProtocolViolation},
		{"protocol 2", startupBody(2<<16, "user", "x"), pgerr.FeatureNotSupported},
		{"no terminator", startupBody(3<<16, "user", "x")[:11], pgerr.ProtocolViolation},
		{"value missing", append(binary.BigEndian.AppendUint32(nil, 3<<16), "user\x00"...), pgerr.ProtocolViolation},
		{"trailing bytes", append(startupBody(3<<16, "user", "x"), 'z'), pgerr.ProtocolViolation},
		{"no user", startupBody(3<<16, "database", "x"), pgerr.InvalidAuthSpec},
		{"cancel wrong length", binary.BigEndian.AppendUint32(nil, CancelRequestCode), pgerr.ProtocolViolation},
	}
	for _, c := range cases {
		_, err := ParseStartup(c.body)
		pe, ok := pgerr.As(err)
		if !ok || pe.Code != c.code || !pe.Fatal() {
			t.Errorf("%s: got %v, want FATAL %s", c.name, err, c.code)
		}
	}
}

func TestSettingsOptions(t *testing.T) {
	st := &Startup{Params: []Param{{"options", `-c search_path=a,b --work-mem=7MB -capplication_name=x\ y`}}}
	vars, err := st.Settings()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"search_path": "a,b", "work_mem": "7MB", "application_name": "x y"}
	if len(vars) != len(want) {
		t.Fatalf("got %v", vars)
	}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("%s = %q, want %q", k, vars[k], v)
		}
	}
	st = &Startup{Params: []Param{{"options", "-d 5"}}}
	if _, err := st.Settings(); err == nil {
		t.Fatal("postgres command-line switches other than -c must be refused")
	}
}

func FuzzParseStartup(f *testing.F) {
	f.Add(startupBody(3<<16, "user", "alice", "database", "app"))
	f.Add(startupBody(3<<16, "user", "a", "options", "-c x=y --a-b=c"))
	f.Add(binary.BigEndian.AppendUint32(nil, SSLRequestCode))
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		st, err := ParseStartup(body)
		if err != nil {
			if _, ok := pgerr.As(err); !ok {
				t.Fatalf("error is not a pgerr.Error: %v", err)
			}
			return
		}
		if st.Kind == KindStartup {
			_, _ = st.Settings()
		}
	})
}
