package hba

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustParse(t *testing.T, text string) *File {
	t.Helper()
	f, err := Parse("pg_hba.conf", []byte(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

// tcp and unix build Conns for the tables.
func tcp(addr, db, user string) Conn {
	return Conn{Addr: netip.MustParseAddr(addr), Database: db, User: user}
}

func tls(c Conn) Conn { c.SSL = true; return c }

func unix(db, user string) Conn { return Conn{Local: true, Database: db, User: user} }

// verdict is what Check said: "allow", "line N" for a matching reject
// line, or "none" when no line matched.
func verdict(t *testing.T, f *File, c Conn) string {
	t.Helper()
	err := f.Check(c)
	if err == nil {
		return "allow"
	}
	var re *RejectError
	if !errors.As(err, &re) || !errors.Is(err, ErrRejected) {
		t.Fatalf("Check(%+v) = %v, not a RejectError wrapping ErrRejected", c, err)
	}
	if re.Line == 0 {
		return "none"
	}
	return fmt.Sprintf("line %d", re.Line)
}

func TestCheck(t *testing.T) {
	f := mustParse(t, `# line 1 is a comment
local   all         admin                    trust
local   "all"       all                      reject
local   sameuser    all                      allow
host    app,"Mixed Db" alice,"+odd"  10.0.0.0/8      trust
hostssl all         bob           0.0.0.0/0          trust
hostnossl all       bob           ::/0               deny
host    all         carol         192.168.1.7 255.255.255.255 trust
host    all         carol         192.168.0.9 255.255.0.255   trust
hostgssenc all      all           all                trust
hostnogssenc all    dave          all                trust
host    all         eve           fe80::/10          trust
host    "all"       all           all                reject
host    sameuser    all           2001:db8::/32      trust
`)
	cases := []struct {
		name string
		c    Conn
		want string
	}{
		{"local keyword all", unix("anything", "admin"), "allow"},
		{"quoted all is a database name", unix("all", "x"), "line 3"},
		{"sameuser", unix("x", "x"), "allow"},
		{"sameuser differs", unix("y", "x"), "none"},
		{"local lines are not for tcp", tcp("127.0.0.1", "x", "admin"), "none"},
		{"tcp lines are not for local", unix("app", "alice"), "none"},
		{"list and cidr", tcp("10.1.2.3", "app", "alice"), "allow"},
		{"quoted name with spaces", tcp("10.1.2.3", "Mixed Db", "alice"), "allow"},
		{"names are case sensitive", tcp("10.1.2.3", "mixed db", "alice"), "none"},
		{"quoted + is a user name", tcp("10.1.2.3", "app", "+odd"), "allow"},
		{"outside the cidr", tcp("11.0.0.1", "app", "alice"), "none"},
		{"mapped address matches ipv4 line", tcp("::ffff:10.9.9.9", "app", "alice"), "allow"},
		{"hostssl with tls", tls(tcp("1.2.3.4", "d", "bob")), "allow"},
		{"hostssl without tls falls through", tcp("::1", "d", "bob"), "line 7"},
		{"hostnossl with tls skipped", tls(tcp("::1", "d", "bob")), "none"},
		{"host matches tls too", tls(tcp("10.0.0.1", "app", "alice")), "allow"},
		{"mask column exact", tcp("192.168.1.7", "d", "carol"), "allow"},
		{"mask column miss", tcp("192.168.1.8", "d", "carol"), "none"},
		{"non-contiguous mask", tcp("192.168.77.9", "d", "carol"), "allow"},
		{"non-contiguous mask miss", tcp("192.168.77.10", "d", "carol"), "none"},
		{"hostgssenc never matches", tcp("1.1.1.1", "d", "frank"), "none"},
		{"hostnogssenc is host", tls(tcp("1.1.1.1", "d", "dave")), "allow"},
		{"ipv6 zone ignored", tcp("fe80::1%eth0", "d", "eve"), "allow"},
		{"ipv4 client vs ipv6 line", tcp("10.0.0.1", "all", "eve"), "line 13"},
		{"quoted all database over tcp", tcp("10.0.0.1", "all", "zed"), "line 13"},
		{"ipv6 sameuser", tcp("2001:db8::5", "zed", "zed"), "allow"},
		{"ipv6 outside", tcp("2001:db9::5", "zed", "zed"), "none"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := verdict(t, f, c.c); got != c.want {
				t.Fatalf("Check(%+v) = %s, want %s (%v)", c.c, got, c.want, f.Check(c.c))
			}
		})
	}
}

func TestCheckMessages(t *testing.T) {
	f := mustParse(t, "host all bad 127.0.0.0/8 reject\nlocal all bad deny\n")
	cases := []struct {
		c    Conn
		want string
	}{
		{tcp("127.0.0.1", "d", "bad"), `pg_hba.conf rejects connection for host "127.0.0.1", user "bad", database "d", no encryption`},
		{tls(tcp("127.0.0.1", "d", "bad")), `pg_hba.conf rejects connection for host "127.0.0.1", user "bad", database "d", SSL encryption`},
		{unix("d", "bad"), `pg_hba.conf rejects connection for host "[local]", user "bad", database "d", no encryption`},
		{tcp("::1", "d", "u"), `no pg_hba.conf entry for host "::1", user "u", database "d", no encryption`},
		{tls(tcp("10.0.0.1", "d", "u")), `no pg_hba.conf entry for host "10.0.0.1", user "u", database "d", SSL encryption`},
		{unix("d", "u"), `no pg_hba.conf entry for host "[local]", user "u", database "d", no encryption`},
	}
	for _, c := range cases {
		if err := f.Check(c.c); err == nil || err.Error() != c.want {
			t.Errorf("Check(%+v) = %v\nwant %s", c.c, err, c.want)
		}
	}
}

func TestNilFileAllowsEverything(t *testing.T) {
	var f *File
	for _, c := range []Conn{unix("d", "u"), tcp("10.0.0.1", "d", "u"), {}} {
		if err := f.Check(c); err != nil {
			t.Fatalf("nil File Check(%+v) = %v", c, err)
		}
	}
}

func TestEmptyFileRejectsEverything(t *testing.T) {
	f := mustParse(t, "# nothing but comments\n\n")
	if got := verdict(t, f, unix("d", "u")); got != "none" {
		t.Fatalf("empty file: %s", got)
	}
}

func TestAddresses(t *testing.T) {
	cases := []struct {
		addr   string // address column(s)
		client string
		want   bool
	}{
		{"10.0.0.0/8", "10.255.255.255", true},
		{"10.0.0.0/8", "11.0.0.0", false},
		{"10.1.2.3/8", "10.9.9.9", true}, // host bits are masked off, as in PostgreSQL
		{"10.1.2.3/32", "10.1.2.3", true},
		{"10.1.2.3/32", "10.1.2.4", false},
		{"0.0.0.0/0", "203.0.113.9", true},
		{"0.0.0.0/0", "2001:db8::1", false},       // families differ
		{"0.0.0.0/0", "::ffff:203.0.113.9", true}, // IPv4-mapped
		{"10.0.0.0/008", "10.1.1.1", true},
		{"::1/128", "::1", true},
		{"::1/128", "127.0.0.1", false},
		{"::/0", "::ffff:1.2.3.4", true},
		{"::ffff:0:0/96", "::ffff:1.2.3.4", true},
		{"::ffff:0:0/96", "1.2.3.4", false}, // an IPv4 client is not promoted to IPv6
		{"2001:db8::/33", "2001:db8:7fff::1", true},
		{"2001:db8::/33", "2001:db8:8000::1", false},
		{"127.0.0.1 255.255.255.255", "127.0.0.1", true},
		{"127.0.0.1 255.255.255.255", "127.0.0.2", false},
		{"127.0.0.1 255.0.0.0", "127.9.9.9", true},
		{"127.0.0.1 0.0.0.0", "8.8.8.8", true},
		{"::1 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::1", true},
		{"fe80::1%eth0 ffff:ffff:ffff:ffff::", "fe80::2%eth1", true},
		{"all", "2001:db8::1", true},
		{"all", "192.0.2.1", true},
	}
	for _, c := range cases {
		f := mustParse(t, "host all all "+c.addr+" trust")
		if got := f.Check(tcp(c.client, "d", "u")) == nil; got != c.want {
			t.Errorf("line address %q, client %s: match %v, want %v", c.addr, c.client, got, c.want)
		}
	}
	// A TCP client whose address is unknown matches only "all".
	for _, col := range []string{"0.0.0.0/0", "::/0", "samehost", "samenet"} {
		f := mustParse(t, "host all all "+col+" trust")
		if f.Check(Conn{Database: "d", User: "u"}) == nil {
			t.Errorf("%s matched a client without an address", col)
		}
	}
}

// TestSameHostSameNet uses the machine's real interfaces; every Linux
// machine has 127.0.0.1/8 on its loopback interface.
func TestSameHostSameNet(t *testing.T) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	// 240.0.0.1 is reserved (RFC 1112 class E): no interface network holds it.
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.Contains(net.ParseIP("240.0.0.1")) {
			t.Fatalf("interface network %v holds 240.0.0.1; this test needs an address outside every interface network", n)
		}
	}
	host := mustParse(t, "host all all samehost trust")
	sameNet := mustParse(t, "host all all samenet trust")
	cases := []struct {
		client        string
		host, sameNet bool
	}{
		{"127.0.0.1", true, true},
		{"::ffff:127.0.0.1", true, true},
		{"127.0.0.2", false, true},
		{"127.255.255.254", false, true},
		{"240.0.0.1", false, false},
	}
	for _, c := range cases {
		if got := host.Check(tcp(c.client, "d", "u")) == nil; got != c.host {
			t.Errorf("samehost, client %s: %v, want %v", c.client, got, c.host)
		}
		if got := sameNet.Check(tcp(c.client, "d", "u")) == nil; got != c.sameNet {
			t.Errorf("samenet, client %s: %v, want %v", c.client, got, c.sameNet)
		}
	}
	// Every address of every interface is samehost.
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			ip, _ := netip.AddrFromSlice(n.IP)
			if host.Check(tcp(ip.Unmap().String(), "d", "u")) != nil {
				t.Errorf("interface address %v is not samehost", n.IP)
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, text string
		line       int
		msg        string // a part of the message
	}{
		{"connection type", "\nhots all all all trust", 2, `invalid connection type "hots"`},
		{"connection type case", "HOST all all all trust", 1, `invalid connection type "HOST"`},
		{"include directive", "include other.conf", 1, `"include": include directives (PostgreSQL 16) are not supported`},
		{"two connection types", "local,host all all trust", 1, `multiple values specified for connection type ("local", "host")`},
		{"no database", "local", 1, "end-of-line before database specification"},
		{"no user", "local all", 1, "end-of-line before role specification"},
		{"no address", "host all all", 1, "end-of-line before IP address specification"},
		{"no method", "local all all", 1, "end-of-line before authentication method"},
		{"no method after address", "host all all 10.0.0.0/8", 1, "end-of-line before authentication method"},
		{"samerole", "local samerole all trust", 1, `database "samerole" is not supported: the pooler does not know role membership`},
		{"samegroup", "local a,samegroup all trust", 1, `database "samegroup" is not supported`},
		{"replication", "host replication all all trust", 1, `database "replication" is not supported: the pooler does not carry replication connections`},
		{"group in database", "local +g all trust", 1, `database "+g" is not supported: the pooler does not know role membership (+group)`},
		{"group in user", "local all alice,+admins trust", 1, `user "+admins" is not supported: the pooler does not know role membership (+group)`},
		{"regex", `local all /^a trust`, 1, `user "/^a" is a regular expression (PostgreSQL 16)`},
		{"host name", "host all all db.example.com trust", 1, `invalid IP address "db.example.com": the pooler's hba takes IP addresses and CIDR ranges, not host names`},
		{"host name with mask", "host all all example.com/24 trust", 1, `invalid IP address "example.com/24"`},
		{"short ipv4", "host all all 127.1 255.0.0.0 trust", 1, `invalid IP address "127.1"`},
		{"quoted all address", `host all all "all" trust`, 1, `invalid IP address "all"`},
		{"two addresses", "host all all 10.0.0.1,10.0.0.2 trust", 1, "multiple values specified for host address"},
		{"cidr too long", "host all all 10.0.0.0/33 trust", 1, `invalid CIDR mask in address "10.0.0.0/33"`},
		{"cidr v6 too long", "host all all ::/129 trust", 1, `invalid CIDR mask in address "::/129"`},
		{"cidr empty", "host all all 10.0.0.0/ trust", 1, `invalid CIDR mask in address "10.0.0.0/"`},
		{"cidr sign", "host all all 10.0.0.0/+8 trust", 1, `invalid CIDR mask in address "10.0.0.0/+8"`},
		{"no mask", "host all all 10.0.0.1", 1, "end-of-line before netmask specification"},
		{"bad mask", "host all all 10.0.0.1 trust", 1, `invalid IP mask "trust"`},
		{"mask family", "host all all 10.0.0.1 ffff:: trust", 1, `IP address 10.0.0.1 and mask "ffff::" do not match`},
		{"md5", "host all all all md5", 1, `authentication method "md5" is not supported: the pooler's hba only allows (trust, allow) or refuses (reject, deny); set the authentication per rule in odyssey.hcl`},
		{"scram", "local all all scram-sha-256", 1, `authentication method "scram-sha-256" is not supported`},
		{"ldap", "host all all all ldap", 1, `authentication method "ldap" is not supported`},
		{"unknown method", "local all all yes", 1, `invalid authentication method "yes": use trust, allow, reject or deny`},
		{"method case", "local all all Trust", 1, `invalid authentication method "Trust"`},
		{"two methods", "local all all trust,reject", 1, "multiple values specified for authentication type"},
		{"options", "host all all all trust clientcert=verify-full", 1, `authentication options ("clientcert=verify-full") are not supported`},
		{"local with address", "local all all 127.0.0.1/32 trust", 1, `invalid authentication method "127.0.0.1/32"`},
		{"continued line reports its first line", "\nlocal \\\nall \\\nall md5", 2, `"md5"`},
		{"unterminated quote", "local \"all all trust", 1, "unterminated quoted string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Parse("pg_hba.conf", []byte(c.text))
			if f != nil || err == nil {
				t.Fatalf("Parse = %v, %v; want an error", f, err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a ParseError", err)
			}
			if pe.File != "pg_hba.conf" || pe.Line != c.line || !strings.Contains(pe.Msg, c.msg) {
				t.Fatalf("got  %v\nwant pg_hba.conf:%d: ...%s...", err, c.line, c.msg)
			}
			if want := fmt.Sprintf("pg_hba.conf:%d: ", c.line); !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error %q does not start with %q", err, want)
			}
		})
	}
}

func TestParseReportsEveryBadLine(t *testing.T) {
	_, err := Parse("h.conf", []byte("local all all trust\nlocal all all md5\nhost all all x trust\nlocal all all reject\n"))
	if err == nil {
		t.Fatal("no error")
	}
	want := "h.conf:2: authentication method \"md5\""
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "\nh.conf:3: invalid IP address \"x\"") {
		t.Fatalf("got %q\nwant both bad lines, line 2 first", err)
	}
}

// writeFiles writes name → content under a new temporary directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadIncludes(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"pg_hba.conf": "local @dbs/list.txt @users.txt,zed trust\n" +
			"host all @" + "\"admins file\" 127.0.0.1/32 trust\n" +
			"host all @empty.txt all trust\n" +
			"host all all all reject\n",
		// Names over several lines, comments, quoting and keywords work in
		// an included file as on the line.
		"users.txt":    "# app users\nalice, bob\n\"carol dee\" # the night shift\n",
		"dbs/list.txt": "app @more.txt\n", // nested, relative to dbs/
		"dbs/more.txt": "\"all\"\nsameuser\n",
		"admins file":  "root\n",
		"empty.txt":    "# nobody yet\n",
	})
	f, err := Load(filepath.Join(dir, "pg_hba.conf"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		c    Conn
		want string
	}{
		{unix("app", "alice"), "allow"},
		{unix("app", "carol dee"), "allow"},
		{unix("app", "zed"), "allow"},
		{unix("all", "bob"), "allow"},  // quoted "all" from the file is a name
		{unix("other", "bob"), "none"}, // ...not the keyword
		{unix("bob", "bob"), "allow"},  // sameuser from the file is the keyword
		{unix("app", "carol"), "none"},
		{tcp("127.0.0.1", "x", "root"), "allow"},
		{tcp("127.0.0.2", "x", "root"), "line 4"},
		{tcp("127.0.0.1", "x", "nobody"), "line 4"}, // the empty @file matches no one
	}
	for _, c := range cases {
		if got := verdict(t, f, c.c); got != c.want {
			t.Errorf("Check(%+v) = %s, want %s", c.c, got, c.want)
		}
	}
}

func TestLoadIncludeErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"missing.conf": "local all all trust\nlocal all @nope.txt trust\n",
		"group.conf":   "\nlocal all @groups.txt trust\n",
		"groups.txt":   "alice\n+admins\n",
		"bad.conf":     "local all @bad.txt trust\n",
		"bad.txt":      "alice\n\"bob\n",
		"loop.conf":    "local all @loop.txt trust\n",
		"loop.txt":     "@loop.txt\n",
		"dir.conf":     "local all @sub trust\n",
		"sub/x":        "",
	})
	cases := []struct {
		file string
		want string
	}{
		{"missing.conf", `missing.conf:2: could not open secondary authentication file "@nope.txt" as "` + filepath.Join(dir, "nope.txt") + `"`},
		{"group.conf", `group.conf:2: user "+admins" (from @groups.txt) is not supported`},
		{"bad.conf", `bad.conf:1: in @bad.txt: ` + filepath.Join(dir, "bad.txt") + `:2: unterminated quoted string`},
		{"loop.conf", "loop.conf:1: "},
		{"dir.conf", `dir.conf:1: could not open secondary authentication file "@sub"`},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.file)
		_, err := Load(path)
		if err == nil || !strings.HasPrefix(err.Error(), dir+string(filepath.Separator)+c.want) {
			t.Errorf("Load(%s) = %v\nwant %s...", c.file, err, c.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "loop.conf")); err == nil || !strings.Contains(err.Error(), "nested more than 10 deep") {
		t.Errorf("include loop: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "absent.conf")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent file: %v", err)
	}
}
