package config

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/odyssey-go/odyssey/src/internal/wire"
)

// The schema. hcl rejects anything not listed here with "Unsupported
// argument" or "Unsupported block type" and a "Did you mean" suggestion.
var (
	fileSchema = &hcl.BodySchema{
		Attributes: optional("workers", "log_format", "log_level", "log_file", "log_session", "log_query",
			"log_stats", "stats_interval", "client_max", "pid_file", "unix_socket_dir", "unix_socket_mode",
			"graceful_shutdown_timeout", "backend_connect_timeout", "max_packet_size", "hba_file"),
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "listen"},
			{Type: "storage", LabelNames: []string{"name"}},
			{Type: "database", LabelNames: []string{"name"}},
			{Type: "ldap_endpoint", LabelNames: []string{"name"}},
			{Type: "metrics"},
		},
	}
	listenSchema = &hcl.BodySchema{Attributes: optional("host", "port", "backlog", "tls", "tls_cert_file",
		"tls_key_file", "tls_ca_file", "tls_protocols", "client_login_timeout")}
	storageSchema = &hcl.BodySchema{Attributes: optional("type", "host", "port", "tls", "tls_ca_file",
		"tls_cert_file", "tls_key_file", "target_session_attrs")}
	databaseSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "user", LabelNames: []string{"name"}}}}
	ruleSchema     = &hcl.BodySchema{Attributes: optional("authentication", "password", "role", "auth_common_name",
		"auth_query", "auth_query_db", "auth_query_user", "auth_pam_service", "ldap_endpoint_name",
		"storage", "storage_db", "storage_user", "storage_password", "password_passthrough",
		"pool", "pool_size", "min_pool_size", "pool_timeout", "pool_ttl", "server_lifetime",
		"pool_discard", "pool_cancel", "pool_rollback", "pool_reserve_prepared_statement",
		"client_max", "client_fwd_error", "pool_client_idle_timeout", "pool_idle_in_transaction_timeout")}
	ldapSchema = &hcl.BodySchema{Attributes: optional("ldapserver", "ldapport", "ldapscheme", "ldaptls",
		"ldapbasedn", "ldapbinddn", "ldapbindpasswd", "ldapsearchattribute", "ldapsearchfilter",
		"ldapprefix", "ldapsuffix", "tls_ca_file")}
	metricsSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "listen", Required: true}}}
)

func optional(names ...string) []hcl.AttributeSchema {
	out := make([]hcl.AttributeSchema, len(names))
	for i, n := range names {
		out[i] = hcl.AttributeSchema{Name: n}
	}
	return out
}

// Allowed values.
var (
	logFormats      = []string{"text", "json"}
	logLevels       = []string{"debug", "info", "warn", "error"}
	listenTLSModes  = []string{"disable", "allow", "require", "verify_ca", "verify_full"}
	storageTLSModes = []string{"disable", "allow", "prefer", "require", "verify_ca", "verify_full"}
	storageTypes    = []string{"remote", "local"}
	sessionAttrs    = []string{"any", "read-write", "read-only", "prefer-standby"}
	authMethods     = []string{"none", "block", "clear_text", "md5", "scram-sha-256", "cert"}
	roles           = []string{"admin", "stat"}
	poolModes       = []string{PoolSession, PoolTransaction, PoolStatement}
	ldapSchemes     = []string{"ldap", "ldaps"}
)

// defaultLabel as a database or user label makes a fallback rule.
const defaultLabel = "default"

func defaultConfig() *Config {
	return &Config{
		LogFormat:               "text",
		LogLevel:                "info",
		LogSession:              true,
		LogStats:                true,
		StatsInterval:           5 * time.Second,
		ClientMax:               10000,
		UnixSocketMode:          0o644,
		GracefulShutdownTimeout: 30 * time.Second,
		BackendConnectTimeout:   10 * time.Second,
		MaxPacketSize:           wire.DefaultMaxFrameLen,
		Storages:                map[string]*Storage{},
		LDAPEndpoints:           map[string]*LDAPEndpoint{},
	}
}

func defaultListen() *Listen {
	return &Listen{Port: 6432, Backlog: 128, TLS: "disable", ClientLoginTimeout: 15 * time.Second}
}

func defaultRule() *Rule {
	return &Rule{
		Authentication:               "none",
		Pool:                         PoolTransaction,
		PoolSize:                     20,
		PoolTTL:                      60 * time.Second,
		ServerLifetime:               time.Hour,
		PoolCancel:                   true,
		PoolRollback:                 true,
		PoolReservePreparedStatement: true,
		ClientFwdError:               true,
	}
}

// file decodes the whole file. Blocks are read in dependency order (globals,
// storages and LDAP endpoints before the rules naming them), so the order
// in the file does not matter.
func (d *decoder) file(body hcl.Body) *Config {
	cfg := defaultConfig()
	content, diags := body.Content(fileSchema)
	d.diags = append(d.diags, diags...)
	if content == nil {
		return cfg
	}
	d.globals(cfg, d.block(content.Attributes, body.MissingItemRange()))
	blocks := content.Blocks.ByType()
	for _, hb := range blocks["storage"] {
		d.storage(cfg, hb)
	}
	for _, hb := range blocks["ldap_endpoint"] {
		d.ldap(cfg, hb)
	}
	if len(blocks["listen"]) == 0 {
		d.errorf(body.MissingItemRange(), "No listen block",
			"The pooler needs at least one listen block, such as listen { host = \"127.0.0.1\"  port = 6432 }.")
	}
	for _, hb := range blocks["listen"] {
		d.listen(cfg, hb)
	}
	for i, hb := range blocks["metrics"] {
		if i > 0 {
			d.errorf(hb.DefRange, "Duplicate metrics block", "Only one metrics block is allowed.")
			continue
		}
		d.metrics(cfg, hb)
	}
	seen := map[[2]string]*Rule{}
	for _, hb := range blocks["database"] {
		d.database(cfg, hb, seen)
	}
	return cfg
}

func (d *decoder) globals(cfg *Config, b *block) {
	d.workers(cfg, b)
	b.enum("log_format", &cfg.LogFormat, logFormats...)
	b.enum("log_level", &cfg.LogLevel, logLevels...)
	b.path("log_file", &cfg.LogFile)
	b.boolean("log_session", &cfg.LogSession)
	b.boolean("log_query", &cfg.LogQuery)
	b.boolean("log_stats", &cfg.LogStats)
	b.duration("stats_interval", &cfg.StatsInterval, "5s")
	b.integer("client_max", &cfg.ClientMax)
	b.path("pid_file", &cfg.PidFile)
	b.path("unix_socket_dir", &cfg.UnixSocketDir)
	mode := uint32(cfg.UnixSocketMode)
	b.mode("unix_socket_mode", &mode)
	cfg.UnixSocketMode = os.FileMode(mode)
	b.duration("graceful_shutdown_timeout", &cfg.GracefulShutdownTimeout, "30s")
	b.duration("backend_connect_timeout", &cfg.BackendConnectTimeout, "10s")
	b.integer("max_packet_size", &cfg.MaxPacketSize)
	b.path("hba_file", &cfg.HBAFile)

	if cfg.ClientMax < 0 {
		d.errorf(b.rng("client_max"), "Invalid client_max", "client_max must be 0 (unlimited) or more, not %d.", cfg.ClientMax)
	}
	if cfg.MaxPacketSize < 1 || cfg.MaxPacketSize > wire.DefaultMaxFrameLen {
		d.errorf(b.rng("max_packet_size"), "Invalid max_packet_size",
			"max_packet_size must be between 1 and %d bytes (PostgreSQL's limit), not %d.", wire.DefaultMaxFrameLen, cfg.MaxPacketSize)
	}
}

// workers is "auto" (0: one per CPU) or a positive number, written as a
// number or a string.
func (d *decoder) workers(cfg *Config, b *block) {
	v, ok := b.value("workers", cty.String)
	if !ok {
		return
	}
	s := strings.TrimSpace(v.AsString())
	if s == "auto" {
		cfg.Workers = 0
		return
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1024 {
		d.errorf(b.rng("workers"), "Invalid workers", "workers must be \"auto\" or a number from 1 to 1024, not %q.", s)
		return
	}
	cfg.Workers = n
}

func (d *decoder) listen(cfg *Config, hb *hcl.Block) {
	c, diags := hb.Body.Content(listenSchema)
	d.diags = append(d.diags, diags...)
	b := d.block(c.Attributes, hb.DefRange)
	l := defaultListen()
	l.Range = hb.DefRange
	b.str("host", &l.Host)
	b.integer("port", &l.Port)
	b.integer("backlog", &l.Backlog)
	b.enum("tls", &l.TLS, listenTLSModes...)
	b.path("tls_cert_file", &l.TLSCertFile)
	b.path("tls_key_file", &l.TLSKeyFile)
	b.path("tls_ca_file", &l.TLSCAFile)
	b.str("tls_protocols", &l.TLSProtocols)
	b.duration("client_login_timeout", &l.ClientLoginTimeout, "15s")
	cfg.Listen = append(cfg.Listen, l)

	if l.Port < 0 || l.Port > 65535 {
		d.errorf(b.rng("port"), "Invalid port", "port must be between 0 and 65535, not %d.", l.Port)
	}
	if l.Backlog < 0 {
		d.errorf(b.rng("backlog"), "Invalid backlog", "backlog must not be negative.")
	}
	if l.Host == "" && cfg.UnixSocketDir == "" {
		d.errorf(b.rng("host"), "Nowhere to listen",
			"A listen block needs host (\"*\" for every address), or unix_socket_dir at the top level for a unix socket.")
	}
	if l.TLS == "disable" {
		return
	}
	if l.TLSCertFile == "" || l.TLSKeyFile == "" {
		d.errorf(b.rng("tls"), "TLS needs a certificate", "tls = %q needs tls_cert_file and tls_key_file.", l.TLS)
	}
	if (l.TLS == "verify_ca" || l.TLS == "verify_full") && l.TLSCAFile == "" {
		d.errorf(b.rng("tls"), "TLS needs a CA", "tls = %q verifies client certificates and needs tls_ca_file.", l.TLS)
	}
}

func (d *decoder) metrics(cfg *Config, hb *hcl.Block) {
	c, diags := hb.Body.Content(metricsSchema)
	d.diags = append(d.diags, diags...)
	b := d.block(c.Attributes, hb.DefRange)
	m := &Metrics{}
	b.str("listen", &m.Listen)
	if _, _, err := net.SplitHostPort(m.Listen); b.has("listen") && err != nil {
		d.errorf(b.rng("listen"), "Invalid metrics listen", "listen must be \"host:port\", such as \"127.0.0.1:9127\": %v.", err)
	}
	cfg.Metrics = m
}

func (d *decoder) storage(cfg *Config, hb *hcl.Block) {
	c, diags := hb.Body.Content(storageSchema)
	d.diags = append(d.diags, diags...)
	b := d.block(c.Attributes, hb.DefRange)
	s := &Storage{Name: hb.Labels[0], Type: "remote", TLS: "disable", TargetSessionAttrs: "any", Range: hb.DefRange}
	host, port := "", 5432
	b.enum("type", &s.Type, storageTypes...)
	b.str("host", &host)
	b.integer("port", &port)
	b.enum("tls", &s.TLS, storageTLSModes...)
	b.path("tls_ca_file", &s.TLSCAFile)
	b.path("tls_cert_file", &s.TLSCertFile)
	b.path("tls_key_file", &s.TLSKeyFile)
	b.enum("target_session_attrs", &s.TargetSessionAttrs, sessionAttrs...)

	if first, dup := cfg.Storages[s.Name]; dup {
		d.errorf(hb.DefRange, "Duplicate storage", "storage %q is already defined at %s.", s.Name, first.Range)
		return
	}
	cfg.Storages[s.Name] = s
	if s.Name == "" {
		d.errorf(hb.LabelRanges[0], "Invalid storage name", "A storage name must not be empty.")
	}
	if s.Type == "local" {
		return
	}
	if port < 1 || port > 65535 {
		d.errorf(b.rng("port"), "Invalid port", "port must be between 1 and 65535, not %d.", port)
	}
	eps, err := parseEndpoints(host, port)
	if err != nil {
		d.errorf(b.rng("host"), "Invalid host", "%v.", err)
	}
	s.Endpoints = eps
	if strings.TrimSpace(host) == "" && cfg.UnixSocketDir == "" {
		d.errorf(b.rng("host"), "Storage without host",
			"storage %q needs host: an address, a list such as \"h1:5432,h2:5433\", or a unix socket directory such as \"/var/run/postgresql\" (an empty host uses unix_socket_dir, which is not set).", s.Name)
	}
}

// parseEndpoints splits a storage host into endpoints: "h1:5432, h2" lists
// TCP hosts (port defaults to the storage's port; IPv6 as "[::1]:5432"), a
// host starting with "/" is a unix socket directory, and an empty host is
// the unix socket in unix_socket_dir.
func parseEndpoints(host string, port int) ([]Endpoint, error) {
	if strings.TrimSpace(host) == "" {
		return []Endpoint{{Host: "", Port: port}}, nil
	}
	var out []Endpoint
	for _, h := range strings.Split(host, ",") {
		h = strings.TrimSpace(h)
		e := Endpoint{Host: h, Port: port}
		switch {
		case h == "":
			return nil, fmt.Errorf("host %q has an empty entry", host)
		case h[0] == '/':
		case h[0] == '[' && h[len(h)-1] == ']':
			e.Host = h[1 : len(h)-1]
		case h[0] == '[' || strings.Count(h, ":") == 1:
			hh, p, err := net.SplitHostPort(h)
			if err != nil {
				return nil, fmt.Errorf("host %q: %v", h, err)
			}
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("host %q: port must be a number from 1 to 65535", h)
			}
			e = Endpoint{Host: hh, Port: n}
		}
		// Otherwise a name, an IPv4 address or a bare IPv6 address.
		if e.Host == "" {
			return nil, fmt.Errorf("host %q has an entry without a host name", host)
		}
		out = append(out, e)
	}
	return out, nil
}

func (d *decoder) ldap(cfg *Config, hb *hcl.Block) {
	c, diags := hb.Body.Content(ldapSchema)
	d.diags = append(d.diags, diags...)
	b := d.block(c.Attributes, hb.DefRange)
	e := &LDAPEndpoint{Name: hb.Labels[0], Scheme: "ldap", Range: hb.DefRange}
	b.str("ldapserver", &e.Server)
	b.integer("ldapport", &e.Port)
	b.enum("ldapscheme", &e.Scheme, ldapSchemes...)
	b.boolean("ldaptls", &e.TLS)
	b.str("ldapbasedn", &e.BaseDN)
	b.str("ldapbinddn", &e.BindDN)
	b.str("ldapbindpasswd", &e.BindPassword)
	b.str("ldapsearchattribute", &e.SearchAttribute)
	b.str("ldapsearchfilter", &e.SearchFilter)
	b.str("ldapprefix", &e.Prefix)
	b.str("ldapsuffix", &e.Suffix)
	b.path("tls_ca_file", &e.TLSCAFile)

	if first, dup := cfg.LDAPEndpoints[e.Name]; dup {
		d.errorf(hb.DefRange, "Duplicate ldap_endpoint", "ldap_endpoint %q is already defined at %s.", e.Name, first.Range)
		return
	}
	cfg.LDAPEndpoints[e.Name] = e
	if !b.has("ldapport") {
		e.Port = 389
		if e.Scheme == "ldaps" {
			e.Port = 636
		}
	} else if e.Port < 1 || e.Port > 65535 {
		d.errorf(b.rng("ldapport"), "Invalid port", "ldapport must be between 1 and 65535, not %d.", e.Port)
	}
	if e.Server == "" {
		d.errorf(b.rng("ldapserver"), "LDAP server missing", "ldap_endpoint %q needs ldapserver.", e.Name)
	}
	if e.TLS && e.Scheme == "ldaps" {
		d.errorf(b.rng("ldaptls"), "Conflicting LDAP TLS", "ldaptls (StartTLS) cannot be combined with ldapscheme = \"ldaps\".")
	}
	// PostgreSQL's two LDAP modes, with its rules for mixing them
	// (https://www.postgresql.org/docs/current/auth-ldap.html).
	simple := e.Prefix != "" || e.Suffix != ""
	search := e.BaseDN != "" || e.BindDN != "" || e.BindPassword != "" || e.SearchAttribute != "" || e.SearchFilter != ""
	switch {
	case simple && search:
		d.errorf(hb.DefRange, "Conflicting LDAP modes",
			"ldapprefix/ldapsuffix (simple bind) cannot be combined with ldapbasedn, ldapbinddn, ldapbindpasswd, ldapsearchattribute or ldapsearchfilter (search+bind).")
	case !simple && e.BaseDN == "":
		d.errorf(hb.DefRange, "LDAP mode missing",
			"ldap_endpoint %q needs ldapbasedn (search+bind) or ldapprefix/ldapsuffix (simple bind).", e.Name)
	case e.SearchAttribute != "" && e.SearchFilter != "":
		d.errorf(b.rng("ldapsearchfilter"), "Conflicting LDAP search", "ldapsearchattribute cannot be combined with ldapsearchfilter.")
	}
}

func (d *decoder) database(cfg *Config, hb *hcl.Block, seen map[[2]string]*Rule) {
	c, diags := hb.Body.Content(databaseSchema)
	d.diags = append(d.diags, diags...)
	if hb.Labels[0] == "" {
		d.errorf(hb.LabelRanges[0], "Invalid database name", "A database name must not be empty; use default for a rule that matches any database.")
	}
	if len(c.Blocks) == 0 && !diags.HasErrors() {
		d.errorf(hb.DefRange, "Database without users",
			"database %q has no user blocks; add user default { ... } to route every user.", hb.Labels[0])
	}
	for _, ub := range c.Blocks {
		key := [2]string{hb.Labels[0], ub.Labels[0]}
		r := d.rule(cfg, hb, ub)
		if first, dup := seen[key]; dup {
			d.errorf(ub.DefRange, "Duplicate rule", "database %q user %q is already defined at %s.", key[0], key[1], first.Range)
			continue
		}
		seen[key] = r
		cfg.Rules = append(cfg.Rules, r)
	}
}

func (d *decoder) rule(cfg *Config, db, user *hcl.Block) *Rule {
	c, diags := user.Body.Content(ruleSchema)
	d.diags = append(d.diags, diags...)
	b := d.block(c.Attributes, user.DefRange)
	r := defaultRule()
	r.Range = user.DefRange
	r.Database, r.DatabaseDefault = db.Labels[0], db.Labels[0] == defaultLabel
	r.User, r.UserDefault = user.Labels[0], user.Labels[0] == defaultLabel
	if r.DatabaseDefault {
		r.Database = ""
	}
	if r.UserDefault {
		r.User = ""
	}
	if user.Labels[0] == "" {
		d.errorf(user.LabelRanges[0], "Invalid user name", "A user name must not be empty; use default for a rule that matches any user.")
	}

	b.enum("authentication", &r.Authentication, authMethods...)
	b.str("password", &r.Password)
	b.enum("role", &r.Role, roles...)
	b.strs("auth_common_name", &r.AuthCommonName)
	b.str("auth_query", &r.AuthQuery)
	b.str("auth_query_db", &r.AuthQueryDB)
	b.str("auth_query_user", &r.AuthQueryUser)
	b.str("auth_pam_service", &r.AuthPAMService)
	b.str("ldap_endpoint_name", &r.LDAPEndpoint)
	b.str("storage", &r.Storage)
	b.str("storage_db", &r.StorageDB)
	b.str("storage_user", &r.StorageUser)
	b.str("storage_password", &r.StoragePassword)
	b.boolean("password_passthrough", &r.PasswordPassthrough)
	b.enum("pool", &r.Pool, poolModes...)
	b.integer("pool_size", &r.PoolSize)
	b.integer("min_pool_size", &r.MinPoolSize)
	b.duration("pool_timeout", &r.PoolTimeout, "5s")
	b.duration("pool_ttl", &r.PoolTTL, "60s")
	b.duration("server_lifetime", &r.ServerLifetime, "1h")
	b.boolean("pool_discard", &r.PoolDiscard)
	b.boolean("pool_cancel", &r.PoolCancel)
	b.boolean("pool_rollback", &r.PoolRollback)
	b.boolean("pool_reserve_prepared_statement", &r.PoolReservePreparedStatement)
	b.integer("client_max", &r.ClientMax)
	b.boolean("client_fwd_error", &r.ClientFwdError)
	b.duration("pool_client_idle_timeout", &r.PoolClientIdleTimeout, "30m")
	b.duration("pool_idle_in_transaction_timeout", &r.PoolIdleInTransactionTimeout, "60s")

	d.ruleChecks(cfg, b, r)
	return r
}

// ruleChecks are the checks between settings of one rule and the blocks it
// names.
func (d *decoder) ruleChecks(cfg *Config, b *block, r *Rule) {
	switch st, ok := cfg.Storages[r.Storage]; {
	case r.Storage == "":
		d.errorf(b.rng("storage"), "Rule without storage",
			"Rule %s needs storage = \"name\" naming a storage block (%s).", r, defined(cfg.Storages))
	case !ok:
		d.errorf(b.rng("storage"), "Unknown storage", "storage %q is not defined (%s).%s",
			r.Storage, defined(cfg.Storages), didYouMean(r.Storage, sortedKeys(cfg.Storages)))
	case r.Role != "" && st.Type != "local":
		d.errorf(b.rng("role"), "Role on a remote storage",
			"role is only allowed on a console rule, whose storage has type = \"local\"; storage %q is %s.", r.Storage, st.Type)
	}

	var need string
	switch r.Authentication {
	case "md5", "scram-sha-256":
		if r.Password == "" && r.AuthQuery == "" {
			need = "password or auth_query to check the client's password against"
		}
	case "clear_text":
		if r.Password == "" && r.AuthQuery == "" && r.AuthPAMService == "" && r.LDAPEndpoint == "" {
			need = "password, auth_query, auth_pam_service or ldap_endpoint_name"
		}
	}
	switch {
	case need != "" && b.has("password"):
		// Most likely password = env("X") with X unset.
		d.errorf(b.rng("password"), "Password missing", "password is empty, and authentication = %q needs %s (env() of an unset variable is \"\").", r.Authentication, need)
	case need != "":
		d.errorf(b.rng("authentication"), "Password missing", "authentication = %q needs %s.", r.Authentication, need)
	}
	// SCRAM needs the password or a SCRAM secret: an md5 hash cannot
	// answer it. (md5 with a SCRAM secret is fine: the client is asked for
	// SCRAM instead, as PostgreSQL does.)
	if r.Authentication == "scram-sha-256" && isMD5Hash(r.Password) {
		d.errorf(b.rng("password"), "Password cannot be used", "An md5 hash cannot check a SCRAM-SHA-256 login; give the plain password or a SCRAM-SHA-256 secret.")
	}
	if r.LDAPEndpoint != "" {
		if cfg.LDAPEndpoints[r.LDAPEndpoint] == nil {
			d.errorf(b.rng("ldap_endpoint_name"), "Unknown ldap_endpoint", "ldap_endpoint %q is not defined (%s).%s",
				r.LDAPEndpoint, defined(cfg.LDAPEndpoints), didYouMean(r.LDAPEndpoint, sortedKeys(cfg.LDAPEndpoints)))
		}
		if r.Authentication != "clear_text" {
			d.errorf(b.rng("ldap_endpoint_name"), "LDAP needs clear_text",
				"ldap_endpoint_name needs authentication = \"clear_text\": the pooler must see the password to bind with it.")
		}
	}
	if r.AuthPAMService != "" && r.Authentication != "clear_text" {
		d.errorf(b.rng("auth_pam_service"), "PAM needs clear_text",
			"auth_pam_service needs authentication = \"clear_text\": the pooler must see the password to pass it to PAM.")
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"pool_size", r.PoolSize}, {"min_pool_size", r.MinPoolSize}, {"client_max", r.ClientMax}} {
		if n.v < 0 {
			d.errorf(b.rng(n.name), "Invalid "+n.name, "%s must be 0 or more, not %d.", n.name, n.v)
		}
	}
	if r.PoolSize > 0 && r.MinPoolSize > r.PoolSize {
		d.errorf(b.rng("min_pool_size"), "Invalid min_pool_size", "min_pool_size %d exceeds pool_size %d.", r.MinPoolSize, r.PoolSize)
	}
}

func isMD5Hash(pw string) bool {
	return len(pw) == 35 && strings.HasPrefix(pw, "md5")
}

// defined lists the names of blocks for a message: `defined: "a", "b"`.
func defined[V any](m map[string]V) string {
	if len(m) == 0 {
		return "none is defined"
	}
	return "defined: " + quoteList(sortedKeys(m))
}
