package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/odyssey-go/odyssey/src/internal/wire"
)

const minimal = `
listen {
  host = "127.0.0.1"
  port = 0
}
storage "postgres" {
  host = "127.0.0.1"
}
database default {
  user default {
    storage = "postgres"
  }
}
`

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(src), "odyssey.hcl")
	if err != nil {
		t.Fatalf("Parse:\n%v\nsource:\n%s", err, src)
	}
	return cfg
}

func TestDefaults(t *testing.T) {
	cfg := mustParse(t, minimal)
	want := defaultConfig()
	want.Listen = []*Listen{{Host: "127.0.0.1", Port: 0, Backlog: 128, TLS: "disable", ClientLoginTimeout: 15 * time.Second}}
	want.Storages["postgres"] = &Storage{Name: "postgres", Type: "remote", TLS: "disable", TargetSessionAttrs: "any",
		Endpoints: []Endpoint{{"127.0.0.1", 5432}}}
	want.Rules = []*Rule{{
		DatabaseDefault: true, UserDefault: true, Storage: "postgres",
		Authentication: "none", Pool: PoolTransaction, PoolSize: 20, MinPoolSize: 0, PoolTimeout: 0,
		PoolTTL: 60 * time.Second, ServerLifetime: time.Hour, PoolDiscard: false, PoolCancel: true,
		PoolRollback: true, PoolReservePreparedStatement: true, ClientFwdError: true,
	}}
	if r := cfg.Rules[0]; r.Range.Start.Line != 10 || r.Range.Filename != "odyssey.hcl" {
		t.Errorf("rule range %v, want odyssey.hcl line 10", r.Range)
	}
	cfg.Listen[0].Range, cfg.Storages["postgres"].Range, cfg.Rules[0].Range = want.Listen[0].Range, want.Storages["postgres"].Range, want.Rules[0].Range
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
		for i := range cfg.Rules {
			t.Errorf("rule %+v", cfg.Rules[i])
		}
	}
	// The documented defaults, spelled out once more so that a change to
	// defaultConfig is a deliberate one.
	if cfg.Workers != 0 || cfg.LogFormat != "text" || cfg.LogLevel != "info" || !cfg.LogSession || cfg.LogQuery ||
		!cfg.LogStats || cfg.StatsInterval != 5*time.Second || cfg.ClientMax != 10000 || cfg.UnixSocketMode != 0o644 ||
		cfg.GracefulShutdownTimeout != 30*time.Second || cfg.BackendConnectTimeout != 10*time.Second ||
		cfg.MaxPacketSize != wire.DefaultMaxFrameLen || cfg.Metrics != nil || cfg.Listen[0].Port != 0 {
		t.Errorf("global defaults: %+v", cfg)
	}
	if cfg.Path != "" {
		t.Errorf("Parse set Path %q", cfg.Path)
	}
}

func TestEverySetting(t *testing.T) {
	src := `
workers = 4
log_format = "json"
log_level = "debug"
log_file = "/var/log/odyssey.log"
log_session = false
log_query = true
log_stats = false
stats_interval = "1m"
client_max = 0
pid_file = "/run/odyssey.pid"
unix_socket_dir = "/run/odyssey"
unix_socket_mode = "0660"
graceful_shutdown_timeout = "0"
backend_connect_timeout = "2500ms"
max_packet_size = 1048576
hba_file = "/etc/odyssey/hba.conf"

listen {
  port = 7000
  backlog = 16
  tls = "verify_full"
  tls_cert_file = "/c.pem"
  tls_key_file = "/k.pem"
  tls_ca_file = "/ca.pem"
  tls_protocols = "tlsv1.3"
  client_login_timeout = "3s"
}
listen {
  host = "*"
}
storage "pg" {
  type = "remote"
  host = "db"
  port = 5433
  tls = "verify_ca"
  tls_ca_file = "/ca.pem"
  tls_cert_file = "/cc.pem"
  tls_key_file = "/ck.pem"
  target_session_attrs = "read-write"
}
ldap_endpoint "corp" {
  ldapserver = "ldap.example.com"
  ldapport = 1389
  ldapscheme = "ldap"
  ldaptls = true
  ldapbasedn = "dc=example,dc=com"
  ldapbinddn = "cn=admin,dc=example,dc=com"
  ldapbindpasswd = "pw"
  ldapsearchfilter = "(uid=$username)"
}
metrics {
  listen = "127.0.0.1:9127"
}
database "app" {
  user "web" {
    authentication = "clear_text"
    password = "secret"
    auth_common_name = ["web", "web.example.com"]
    auth_query = "SELECT usename, passwd FROM pg_shadow WHERE usename = $1"
    auth_query_db = "postgres"
    auth_query_user = "auth"
    auth_pam_service = "odyssey"
    ldap_endpoint_name = "corp"
    storage = "pg"
    storage_db = "app_prod"
    storage_user = "web_rw"
    storage_password = "pw2"
    password_passthrough = true
    pool = "statement"
    pool_size = 0
    min_pool_size = 3
    pool_timeout = "1500ms"
    pool_ttl = "0"
    server_lifetime = "2h30m"
    pool_discard = true
    pool_cancel = false
    pool_rollback = false
    pool_reserve_prepared_statement = false
    client_max = 7
    client_fwd_error = false
    pool_client_idle_timeout = "10m"
    pool_idle_in_transaction_timeout = "20s"
  }
}
`
	cfg := mustParse(t, src)
	if cfg.Workers != 4 || cfg.LogFormat != "json" || cfg.LogLevel != "debug" || cfg.LogFile != "/var/log/odyssey.log" ||
		cfg.LogSession || !cfg.LogQuery || cfg.LogStats || cfg.StatsInterval != time.Minute || cfg.ClientMax != 0 ||
		cfg.PidFile != "/run/odyssey.pid" || cfg.UnixSocketDir != "/run/odyssey" || cfg.UnixSocketMode != 0o660 ||
		cfg.GracefulShutdownTimeout != 0 || cfg.BackendConnectTimeout != 2500*time.Millisecond ||
		cfg.MaxPacketSize != 1<<20 || cfg.HBAFile != "/etc/odyssey/hba.conf" {
		t.Errorf("globals %+v", cfg)
	}
	l := *cfg.Listen[0]
	l.Range = hclRangeZero
	if want := (Listen{Port: 7000, Backlog: 16, TLS: "verify_full", TLSCertFile: "/c.pem", TLSKeyFile: "/k.pem",
		TLSCAFile: "/ca.pem", TLSProtocols: "tlsv1.3", ClientLoginTimeout: 3 * time.Second}); l != want {
		t.Errorf("listen %+v\nwant   %+v", l, want)
	}
	if l := cfg.Listen[1]; l.Host != "*" || l.Port != 6432 {
		t.Errorf("second listen %+v", l)
	}
	s := *cfg.Storage("pg")
	s.Range = hclRangeZero
	if want := (Storage{Name: "pg", Type: "remote", Endpoints: []Endpoint{{"db", 5433}}, TLS: "verify_ca", TLSCAFile: "/ca.pem",
		TLSCertFile: "/cc.pem", TLSKeyFile: "/ck.pem", TargetSessionAttrs: "read-write"}); !reflect.DeepEqual(s, want) {
		t.Errorf("storage %+v\nwant    %+v", s, want)
	}
	e := *cfg.LDAPEndpoints["corp"]
	e.Range = hclRangeZero
	if want := (LDAPEndpoint{Name: "corp", Server: "ldap.example.com", Port: 1389, Scheme: "ldap", TLS: true,
		BaseDN: "dc=example,dc=com", BindDN: "cn=admin,dc=example,dc=com", BindPassword: "pw",
		SearchFilter: "(uid=$username)"}); e != want {
		t.Errorf("ldap %+v\nwant %+v", e, want)
	}
	if cfg.Metrics == nil || cfg.Metrics.Listen != "127.0.0.1:9127" {
		t.Errorf("metrics %+v", cfg.Metrics)
	}
	r := *cfg.Rules[0]
	r.Range = hclRangeZero
	want := Rule{Database: "app", User: "web", Authentication: "clear_text", Password: "secret",
		AuthCommonName: []string{"web", "web.example.com"},
		AuthQuery:      "SELECT usename, passwd FROM pg_shadow WHERE usename = $1", AuthQueryDB: "postgres",
		AuthQueryUser: "auth", AuthPAMService: "odyssey", LDAPEndpoint: "corp", Storage: "pg", StorageDB: "app_prod",
		StorageUser: "web_rw", StoragePassword: "pw2", PasswordPassthrough: true, Pool: PoolStatement, PoolSize: 0,
		MinPoolSize: 3, PoolTimeout: 1500 * time.Millisecond, PoolTTL: 0, ServerLifetime: 150 * time.Minute,
		PoolDiscard: true, PoolCancel: false, PoolRollback: false, PoolReservePreparedStatement: false, ClientMax: 7,
		ClientFwdError: false, PoolClientIdleTimeout: 10 * time.Minute, PoolIdleInTransactionTimeout: 20 * time.Second}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("rule %+v\nwant %+v", r, want)
	}
}

var hclRangeZero = (&Listen{}).Range

func TestLabels(t *testing.T) {
	cfg := mustParse(t, `
listen { host = "127.0.0.1" }
storage pg { host = "h" }
storage "local" { type = "local" }
database default {
  user "default" { storage = "pg" }
}
database "app" {
  user default { storage = "pg" }
}
database app2 {
  user web { storage = "pg" }
}
database "default" {
  user "web" { storage = "pg" }
}
database console {
  user "admin" {
    storage = "local"
    role = "stat"
  }
}
`)
	var got []string
	for _, r := range cfg.Rules {
		got = append(got, r.String())
	}
	if want := []string{"default.default", "app.default", "app2.web", "default.web", "console.admin"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rules %v, want %v", got, want)
	}
	if r := cfg.Rules[2]; r.Database != "app2" || r.User != "web" || r.DatabaseDefault || r.UserDefault {
		t.Errorf("bare labels: %+v", r)
	}
	if r := cfg.Rules[3]; r.Database != "" || r.User != "web" || !r.DatabaseDefault || r.UserDefault {
		t.Errorf("quoted default: %+v", r)
	}
	if r := cfg.Rules[4]; r.Role != "stat" || cfg.Storage(r.Storage).Type != "local" {
		t.Errorf("console rule: %+v", r)
	}
	if cfg.Storage("pg") == nil || cfg.Storage("nope") != nil {
		t.Errorf("Storage lookup")
	}
}

func TestFunctions(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ODY_TEST_USER", "app")
	t.Setenv("ODY_TEST_PORT", "6543")
	t.Setenv("ODY_TEST_EMPTY", "")
	os.Unsetenv("ODY_TEST_UNSET")
	src := `
log_level = lower("WARN")
listen {
  host = env("ODY_TEST_UNSET") != "" ? env("ODY_TEST_UNSET") : "127.0.0.1"
  port = tonumber(coalesce(env("ODY_TEST_PORT"), "6432"))
}
storage "pg" {
  host = coalesce(env("ODY_TEST_UNSET"), env("ODY_TEST_EMPTY"), "fallback")
  port = tonumber(coalesce(env("ODY_TEST_UNSET"), "5432"))
}
database "app" {
  user "alice" {
    storage = "pg"
    storage_user = env("ODY_TEST_USER")
    storage_password = file("pw")
    storage_db = "${upper(env("ODY_TEST_USER"))}_db"
    password = env("ODY_TEST_UNSET")
  }
}
`
	cfg, err := Parse([]byte(src), filepath.Join(dir, "odyssey.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Rules[0]
	if r.StorageUser != "app" || r.StoragePassword != "s3cret" || r.StorageDB != "APP_db" || r.Password != "" {
		t.Errorf("rule %+v", r)
	}
	if cfg.LogLevel != "warn" || cfg.Listen[0].Host != "127.0.0.1" || cfg.Listen[0].Port != 6543 {
		t.Errorf("globals %+v listen %+v", cfg, cfg.Listen[0])
	}
	if ep := cfg.Storage("pg").Endpoints; !reflect.DeepEqual(ep, []Endpoint{{"fallback", 5432}}) {
		t.Errorf("endpoints %v", ep)
	}
}

func TestEndpoints(t *testing.T) {
	cases := []struct {
		host string
		want []Endpoint
	}{
		{`"a:5433, b"`, []Endpoint{{"a", 5433}, {"b", 5434}}},
		{`"10.0.0.1,10.0.0.2:6000"`, []Endpoint{{"10.0.0.1", 5434}, {"10.0.0.2", 6000}}},
		{`"[::1]:5435,::1,[fe80::1]"`, []Endpoint{{"::1", 5435}, {"::1", 5434}, {"fe80::1", 5434}}},
		{`"/var/run/postgresql"`, []Endpoint{{"/var/run/postgresql", 5434}}},
		{`"/tmp, db:1"`, []Endpoint{{"/tmp", 5434}, {"db", 1}}},
		{`""`, []Endpoint{{"", 5434}}},
		{`null`, []Endpoint{{"", 5434}}},
	}
	for _, c := range cases {
		cfg := mustParse(t, `
unix_socket_dir = "/run/odyssey"
listen { port = 0 }
storage "pg" {
  host = `+c.host+`
  port = 5434
}
`)
		if got := cfg.Storage("pg").Endpoints; !reflect.DeepEqual(got, c.want) {
			t.Errorf("host = %s: endpoints %v, want %v", c.host, got, c.want)
		}
	}
}

func TestUnixSockets(t *testing.T) {
	cfg, err := Parse([]byte(`
unix_socket_dir = "sockets"
unix_socket_mode = "0600"
pid_file = "odyssey.pid"
listen {}
storage "pg" {}
database default {
  user default { storage = "pg" }
}
`), "/etc/odyssey/odyssey.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.UnixSocketDir != "/etc/odyssey/sockets" || cfg.UnixSocketMode != 0o600 || cfg.PidFile != "/etc/odyssey/odyssey.pid" {
		t.Errorf("globals %+v", cfg)
	}
	if l := cfg.Listen[0]; l.Host != "" || l.Port != 6432 {
		t.Errorf("unix-only listen %+v", l)
	}
	if ep := cfg.Storage("pg").Endpoints; !reflect.DeepEqual(ep, []Endpoint{{"", 5432}}) {
		t.Errorf("storage without host: %v", ep)
	}
}

// ruleAt is a valid config whose first rule's extra attributes start at
// line ruleLine.
func ruleAt(attrs string) string { return ruleOn("pg", attrs) }

// ruleOn is ruleAt with the rule on another storage ("local" exists).
func ruleOn(storage, attrs string) string {
	return `listen {
  host = "127.0.0.1"
  port = 0
}
storage "pg" { host = "h" }
storage "local" { type = "local" }
database "db" {
  user "u" {
    storage = "` + storage + `"
` + attrs + `
  }
}
`
}

const ruleLine = 10

// globalAt is a valid config whose first line is attrs.
func globalAt(attrs string) string {
	return attrs + "\n" + ruleAt("")
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name, src string
		line      int
		want      string
	}{
		// Syntax and schema.
		{"syntax", "listen {\n  port = \n}\n", 2, "Invalid expression"},
		{"unknown key", globalAt("bogus = 1"), 1, `An argument named "bogus" is not expected here`},
		{"misspelt key", ruleAt("pool_sizes = 1"), ruleLine, `Did you mean "pool_size"?`},
		{"unknown block", globalAt("listener {}"), 1, `Blocks of type "listener" are not expected here`},
		{"attribute twice", ruleAt("pool = \"session\"\npool = \"session\""), ruleLine + 1, `Attribute redefined`},
		{"storage without label", globalAt("storage {}"), 1, `Missing name for storage`},
		{"unknown function", ruleAt(`password = getenv("X")`), ruleLine, `There is no function named "getenv"`},
		{"variable", ruleAt(`password = secret`), ruleLine, `Variables not allowed`},
		{"env arity", ruleAt(`password = env()`), ruleLine, `Not enough function arguments`},
		{"file missing", ruleAt(`password = file("no-such-file")`), ruleLine, `Call to function "file" failed`},
		{"coalesce all empty", ruleAt(`password = coalesce("", env("ODY_TEST_UNSET"))`), ruleLine, `every argument is null or empty`},

		// Types.
		{"string for number", ruleAt(`pool_size = "many"`), ruleLine, `Inappropriate value for pool_size: a number is required`},
		{"string for bool", ruleAt(`pool_discard = "maybe"`), ruleLine, `Inappropriate value for pool_discard: a bool is required`},
		{"list for string", ruleAt(`password = ["a"]`), ruleLine, `Inappropriate value for password: string required`},
		{"fraction", ruleAt(`pool_size = 1.5`), ruleLine, `pool_size must be a whole number below 2^31, not 1.5`},
		{"huge number", ruleAt(`client_max = 1e20`), ruleLine, `client_max must be a whole number below 2^31`},
		{"null in list", ruleAt(`auth_common_name = ["a", null]`), ruleLine, `auth_common_name must not contain null`},
		{"bare duration", ruleAt(`pool_ttl = 60`), ruleLine, `pool_ttl must be a string such as "60s"`},
		{"bare global duration", globalAt(`stats_interval = 5`), 1, `stats_interval must be a string such as "5s"`},
		{"bad duration", ruleAt(`pool_timeout = "5 seconds"`), ruleLine, `pool_timeout must be a duration such as "5s"`},
		{"negative duration", globalAt(`graceful_shutdown_timeout = "-1s"`), 1, `graceful_shutdown_timeout must be a duration`},
		{"listen duration", "listen {\n  host = \"h\"\n  client_login_timeout = 15\n}", 3, `client_login_timeout must be a string such as "15s"`},

		// Enums.
		{"pool mode", ruleAt(`pool = "sessions"`), ruleLine, `pool must be one of "session", "transaction", "statement", not "sessions". Did you mean "session"?`},
		{"auth method", ruleAt(`authentication = "scram"`), ruleLine, `authentication must be one of "none", "block", "clear_text", "md5", "scram-sha-256", "cert", not "scram"`},
		{"role", ruleOn("local", `role = "root"`), ruleLine, `role must be one of "admin", "stat"`},
		{"log format", globalAt(`log_format = "xml"`), 1, `log_format must be one of "text", "json"`},
		{"log level", globalAt(`log_level = "warning"`), 1, `log_level must be one of "debug", "info", "warn", "error", not "warning"`},
		{"listen tls", "listen {\n  host = \"h\"\n  tls = \"on\"\n}", 3, `tls must be one of "disable", "allow", "require", "verify_ca", "verify_full"`},
		{"storage tls", globalAt(`storage "x" { tls = "verify" }`), 1, `tls must be one of "disable", "allow", "prefer", "require", "verify_ca", "verify_full", not "verify"`},
		{"storage type", globalAt(`storage "x" { type = "postgres" }`), 1, `type must be one of "remote", "local"`},
		{"session attrs", globalAt(`storage "x" { target_session_attrs = "primary" }`), 1, `target_session_attrs must be one of "any", "read-write", "read-only", "prefer-standby"`},

		// Globals.
		{"workers word", globalAt(`workers = "many"`), 1, `workers must be "auto" or a number from 1 to 1024, not "many"`},
		{"workers zero", globalAt(`workers = 0`), 1, `workers must be "auto" or a number`},
		{"socket mode", globalAt(`unix_socket_mode = "rw-r--r--"`), 1, `unix_socket_mode must be an octal string such as "0644"`},
		{"global client_max", globalAt(`client_max = -1`), 1, `client_max must be 0 (unlimited) or more, not -1`},
		{"max_packet_size", globalAt(`max_packet_size = 0`), 1, `max_packet_size must be between 1 and 1073741823 bytes`},

		// Listen.
		{"no listen", `storage "pg" { host = "h" }`, 1, `The pooler needs at least one listen block`},
		{"port range", "listen {\n  host = \"h\"\n  port = 65536\n}", 3, `port must be between 0 and 65535, not 65536`},
		{"negative backlog", "listen {\n  host = \"h\"\n  backlog = -1\n}", 3, `backlog must not be negative`},
		{"nowhere to listen", "\n\nlisten {\n  port = 1\n}", 3, `A listen block needs host`},
		{"tls without cert", "listen {\n  host = \"h\"\n  tls = \"require\"\n  tls_cert_file = \"c\"\n}", 3, `tls = "require" needs tls_cert_file and tls_key_file`},
		{"verify without ca", "listen {\n  host = \"h\"\n  tls = \"verify_ca\"\n  tls_cert_file = \"c\"\n  tls_key_file = \"k\"\n}", 3, `tls = "verify_ca" verifies client certificates and needs tls_ca_file`},

		// Storage.
		{"duplicate storage", globalAt(`storage "pg" { host = "other" }`), 6, `storage "pg" is already defined at odyssey.hcl:1,1-13`},
		{"storage bad port in host", globalAt(`storage "x" { host = "a:b" }`), 1, `host "a:b": port must be a number from 1 to 65535`},
		{"storage empty entry", globalAt(`storage "x" { host = "a,,b" }`), 1, `host "a,,b" has an empty entry`},
		{"storage port", globalAt(`storage "x" { port = 0 }`), 1, `port must be between 1 and 65535, not 0`},
		{"storage without host", globalAt(`storage "x" { type = "remote" }`), 1, `storage "x" needs host`},
		{"empty storage name", globalAt(`storage "" { host = "h" }`), 1, `A storage name must not be empty`},

		// Rules.
		{"unknown storage", ruleOn("pgg", ""), ruleLine - 1, `storage "pgg" is not defined (defined: "local", "pg"). Did you mean "pg"?`},
		{"rule without storage", "listen { host = \"h\" }\ndatabase \"d\" {\n  user \"u\" {\n  }\n}", 3, `Rule d.u needs storage = "name"`},
		{"md5 without password", ruleAt(`authentication = "md5"`), ruleLine, `authentication = "md5" needs password or auth_query`},
		{"scram without password", ruleAt(`authentication = "scram-sha-256"`), ruleLine, `authentication = "scram-sha-256" needs password or auth_query`},
		{"empty password", ruleAt("authentication = \"md5\"\npassword = env(\"ODY_TEST_UNSET\")"), ruleLine + 1, `password is empty, and authentication = "md5" needs password or auth_query`},
		{"clear_text without source", ruleAt(`authentication = "clear_text"`), ruleLine, `needs password, auth_query, auth_pam_service or ldap_endpoint_name`},
		{"scram with md5 hash", ruleAt("authentication = \"scram-sha-256\"\npassword = \"md57156fcbe79895667eb87679396119c59\""), ruleLine + 1, `An md5 hash cannot check a SCRAM-SHA-256 login`},
		{"unknown ldap", ruleAt("authentication = \"clear_text\"\nldap_endpoint_name = \"corp\""), ruleLine + 1, `ldap_endpoint "corp" is not defined (none is defined)`},
		{"ldap without clear_text", "ldap_endpoint \"corp\" {\n  ldapserver = \"l\"\n  ldapprefix = \"uid=\"\n}\n" + ruleAt("authentication = \"md5\"\npassword = \"x\"\nldap_endpoint_name = \"corp\""), 4 + ruleLine + 2, `ldap_endpoint_name needs authentication = "clear_text"`},
		{"pam without clear_text", ruleAt(`auth_pam_service = "odyssey"`), ruleLine, `auth_pam_service needs authentication = "clear_text"`},
		{"role on remote", ruleAt(`role = "admin"`), ruleLine, `role is only allowed on a console rule, whose storage has type = "local"; storage "pg" is remote`},
		{"negative pool_size", ruleAt(`pool_size = -1`), ruleLine, `pool_size must be 0 or more, not -1`},
		{"negative min_pool_size", ruleAt(`min_pool_size = -1`), ruleLine, `min_pool_size must be 0 or more`},
		{"negative client_max", ruleAt(`client_max = -5`), ruleLine, `client_max must be 0 or more, not -5`},
		{"min over size", ruleAt("pool_size = 2\nmin_pool_size = 3"), ruleLine + 1, `min_pool_size 3 exceeds pool_size 2`},
		{"duplicate rule", ruleAt("") + "database db {\n  user u { storage = \"pg\" }\n}\n", 14, `database "db" user "u" is already defined at odyssey.hcl:8,3-11`},
		{"duplicate default rule", ruleAt("") + "database default {\n  user \"default\" { storage = \"pg\" }\n}\ndatabase \"default\" {\n  user default { storage = \"pg\" }\n}\n", 17, `database "default" user "default" is already defined at odyssey.hcl:14,3-17`},
		{"database without users", globalAt(`database "x" {}`), 1, `database "x" has no user blocks`},
		{"empty database name", globalAt("database \"\" {\n  user \"u\" { storage = \"pg\" }\n}"), 1, `A database name must not be empty`},
		{"empty user name", globalAt("database \"d\" {\n  user \"\" { storage = \"pg\" }\n}"), 2, `A user name must not be empty`},

		// LDAP.
		{"ldap without server", globalAt(`ldap_endpoint "corp" { ldapbasedn = "dc=x" }`), 1, `ldap_endpoint "corp" needs ldapserver`},
		{"ldap mixed modes", globalAt(`ldap_endpoint "corp" {
  ldapserver = "l"
  ldapprefix = "uid="
  ldapbasedn = "dc=x"
}`), 1, `ldapprefix/ldapsuffix (simple bind) cannot be combined with ldapbasedn`},
		{"ldap no mode", globalAt(`ldap_endpoint "corp" { ldapserver = "l" }`), 1, `needs ldapbasedn (search+bind) or ldapprefix/ldapsuffix (simple bind)`},
		{"ldap port", globalAt(`ldap_endpoint "corp" {
  ldapserver = "l"
  ldapbasedn = "dc=x"
  ldapport = 0
}`), 4, `ldapport must be between 1 and 65535, not 0`},
		{"ldaps with starttls", globalAt(`ldap_endpoint "corp" {
  ldapserver = "l"
  ldapbasedn = "dc=x"
  ldapscheme = "ldaps"
  ldaptls = true
}`), 5, `ldaptls (StartTLS) cannot be combined with ldapscheme = "ldaps"`},
		{"ldap duplicate", globalAt("ldap_endpoint \"c\" {\n  ldapserver = \"l\"\n  ldapprefix = \"u\"\n}\nldap_endpoint \"c\" {\n  ldapserver = \"l\"\n  ldapprefix = \"u\"\n}"), 5, `ldap_endpoint "c" is already defined at odyssey.hcl:1,1-18`},
		{"ldap attribute and filter", globalAt("ldap_endpoint \"c\" {\n  ldapserver = \"l\"\n  ldapbasedn = \"dc=x\"\n  ldapsearchattribute = \"uid\"\n  ldapsearchfilter = \"(uid=$username)\"\n}"), 5, `ldapsearchattribute cannot be combined with ldapsearchfilter`},

		// Metrics.
		{"metrics without listen", globalAt(`metrics {}`), 1, `The argument "listen" is required`},
		{"metrics bad listen", globalAt(`metrics { listen = "9127" }`), 1, `listen must be "host:port", such as "127.0.0.1:9127"`},
		{"metrics twice", globalAt("metrics { listen = \":1\" }\nmetrics { listen = \":2\" }"), 2, `Only one metrics block is allowed`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.src), "odyssey.hcl")
			var de *DiagError
			if !errors.As(err, &de) {
				t.Fatalf("got %v, want a *DiagError\nsource:\n%s", err, c.src)
			}
			for _, d := range de.Diags {
				if d.Subject != nil && d.Subject.Filename == "odyssey.hcl" && d.Subject.Start.Line == c.line &&
					strings.Contains(d.Summary+"; "+d.Detail, c.want) {
					return
				}
			}
			t.Errorf("no diagnostic at odyssey.hcl line %d says %q; got:\n%v\nsource:\n%s", c.line, c.want, err, c.src)
		})
	}
}

// TestErrorText checks the rendering: every problem at once, in file
// order, each with file:line:col, the line and a caret under the value.
func TestErrorText(t *testing.T) {
	src := "listen {\n  host = \"127.0.0.1\"\n}\nstorage \"pg\" {\n\thost = \"h\"\n\tport = \"x\"\n}\n" +
		"database default {\n  user default {\n    storage = \"pg\"\n    pool = \"sessions\"\n    pool_ttl = 60\n  }\n}\n"
	_, err := Parse([]byte(src), "conf/odyssey.hcl")
	var de *DiagError
	if !errors.As(err, &de) || len(de.Diags) != 3 {
		t.Fatalf("want 3 diagnostics, got %v", err)
	}
	want := `conf/odyssey.hcl:6:9: Unsuitable value type; Inappropriate value for port: a number is required.
 6 | 	port = "x"
   | 	       ^^^

conf/odyssey.hcl:11:12: Invalid value; pool must be one of "session", "transaction", "statement", not "sessions". Did you mean "session"?
 11 |     pool = "sessions"
    |            ^^^^^^^^^^

conf/odyssey.hcl:12:16: Duration needs a unit; pool_ttl must be a string such as "60s": durations are written with a unit (ms, s, m, h), and "0" turns the limit off.
 12 |     pool_ttl = 60
    |                ^^`
	if err.Error() != want {
		t.Errorf("got:\n%s\nwant:\n%s", err, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "odyssey.hcl")
	if err := os.WriteFile(path, []byte(strings.Replace(minimal, "port = 0", "port = 0\n  tls_ca_file = \"ca.pem\"", 1)+`log_file = "odyssey.log"`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Path != path || cfg.LogFile != filepath.Join(dir, "odyssey.log") || cfg.Listen[0].TLSCAFile != filepath.Join(dir, "ca.pem") {
		t.Errorf("path %q log_file %q tls_ca_file %q: relative paths must start at the config's directory", cfg.Path, cfg.LogFile, cfg.Listen[0].TLSCAFile)
	}
	if _, err := Load(filepath.Join(dir, "missing.hcl")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte("listen {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":1:1: Nowhere to listen") {
		t.Errorf("invalid file: %v", err)
	}
}

func TestFileFunctionLimits(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, maxFileFunc+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ arg, want string }{
		{`"big"`, "larger than"},
		{`"."`, "is not a regular file"},
	} {
		_, err := Parse([]byte(ruleAt("password = file("+c.arg+")")), filepath.Join(dir, "odyssey.hcl"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("file(%s): %v, want %q", c.arg, err, c.want)
		}
	}
}

func TestSettings(t *testing.T) {
	def := mustParse(t, minimal).Settings()
	keys := map[string]Setting{}
	for _, s := range def {
		keys[s.Key] = s
		if s.Value != s.Default {
			t.Errorf("%s: value %q differs from default %q in a config that sets nothing", s.Key, s.Value, s.Default)
		}
	}
	for _, a := range fileSchema.Attributes {
		if _, ok := keys[a.Name]; !ok {
			t.Errorf("Settings lacks %s", a.Name)
		}
	}
	if len(keys) != len(fileSchema.Attributes) {
		t.Errorf("Settings has %d keys, the schema %d", len(keys), len(fileSchema.Attributes))
	}
	for k, want := range map[string]string{"workers": "auto", "stats_interval": "5s", "unix_socket_mode": "0644",
		"client_max": "10000", "log_session": "true", "max_packet_size": "1073741823", "log_file": ""} {
		if keys[k].Default != want {
			t.Errorf("%s default %q, want %q", k, keys[k].Default, want)
		}
	}
	if !keys["log_level"].Changeable || keys["workers"].Changeable {
		t.Errorf("changeable: log_level %v workers %v", keys["log_level"].Changeable, keys["workers"].Changeable)
	}

	cfg := mustParse(t, globalAt("workers = 3\nstats_interval = \"90s\"\nbackend_connect_timeout = \"1500ms\""))
	for _, s := range cfg.Settings() {
		switch s.Key {
		case "workers":
			if s.Value != "3" || s.Default != "auto" {
				t.Errorf("%+v", s)
			}
		case "stats_interval":
			if s.Value != "90s" || s.Default != "5s" {
				t.Errorf("%+v", s)
			}
		case "backend_connect_timeout":
			if s.Value != "1500ms" || s.Default != "10s" {
				t.Errorf("%+v", s)
			}
		}
	}
}

// TestFormatDuration: what SHOW CONFIG prints reads back as the same value.
func TestFormatDuration(t *testing.T) {
	for _, d := range []time.Duration{0, time.Nanosecond, 1500 * time.Microsecond, 500 * time.Millisecond,
		time.Second, 90 * time.Second, time.Minute, 150 * time.Minute, 48 * time.Hour} {
		s := formatDuration(d)
		var got time.Duration
		if s != "0" {
			var err error
			if got, err = time.ParseDuration(s); err != nil {
				t.Errorf("%v → %q: %v", d, s, err)
			}
		}
		if got != d {
			t.Errorf("%v → %q → %v", d, s, got)
		}
	}
	if formatDuration(90*time.Second) != "90s" || formatDuration(time.Hour) != "1h" {
		t.Errorf("not the way a user writes it: %q %q", formatDuration(90*time.Second), formatDuration(time.Hour))
	}
}

// TestShippedConfigs keeps odyssey.hcl and examples/ valid.
func TestShippedConfigs(t *testing.T) {
	for _, v := range []string{"ODYSSEY_ADMIN_PASSWORD", "SHOP_WEB_PASSWORD", "SHOP_JOBS_PASSWORD",
		"SHOP_REPORTS_PASSWORD", "APP_PASSWORD", "APP_DB_PASSWORD"} {
		t.Setenv(v, "example-"+strings.ToLower(v))
	}
	t.Setenv("ODYSSEY_PG_HOST", "")
	t.Setenv("ODYSSEY_PG_PORT", "")
	files, err := filepath.Glob("../../examples/*.hcl")
	if err != nil || len(files) < 2 {
		t.Fatalf("examples: %v %v", files, err)
	}
	files = append(files, "../../odyssey.hcl")
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s:\n%v", f, err)
		}
	}

	cfg, err := Load("../../odyssey.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if ep := cfg.Storage("postgres").Endpoints; !reflect.DeepEqual(ep, []Endpoint{{"127.0.0.1", 5432}}) {
		t.Errorf("odyssey.hcl without ODYSSEY_PG_*: %v", ep)
	}
	if l := cfg.Listen[0]; l.Host != "127.0.0.1" || l.Port != 6432 {
		t.Errorf("odyssey.hcl listen %+v", l)
	}
	t.Setenv("ODYSSEY_PG_HOST", "/tmp/pg")
	t.Setenv("ODYSSEY_PG_PORT", "5499")
	if cfg, err = Load("../../odyssey.hcl"); err != nil {
		t.Fatal(err)
	}
	if ep := cfg.Storage("postgres").Endpoints; !reflect.DeepEqual(ep, []Endpoint{{"/tmp/pg", 5499}}) {
		t.Errorf("odyssey.hcl with ODYSSEY_PG_*: %v", ep)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(ruleAt(`pool_ttl = "1h"
authentication = "md5"
password = env("X")
auth_common_name = ["a"]`)))
	f.Add([]byte(`storage "a" { host = "h:1,[::1]:2,/tmp," }`))
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := Parse(src, "fuzz.hcl")
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse returned config %v and error %v", cfg, err)
		}
		if err != nil {
			_ = err.Error()
			return
		}
		_ = cfg.Settings()
		for _, r := range cfg.Rules {
			if cfg.Storage(r.Storage) == nil {
				t.Fatalf("rule %s names storage %q, which does not exist", r, r.Storage)
			}
		}
	})
}
