package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// DiagError is a configuration error: the diagnostics and their rendering.
type DiagError struct {
	Diags hcl.Diagnostics
	text  string
}

func (e *DiagError) Error() string { return e.text }

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(src, path)
}

// Parse validates src as if read from filename.
func Parse(src []byte, filename string) (*Config, error) {
	p := hclparse.NewParser()
	f, diags := p.ParseHCL(src, filename)
	var cfg *Config
	if !diags.HasErrors() {
		var more hcl.Diagnostics
		cfg, more = decode(f.Body, filepath.Dir(filename))
		diags = append(diags, more...)
	}
	if diags.HasErrors() {
		var b bytes.Buffer
		w := hcl.NewDiagnosticTextWriter(&b, p.Files(), 100, false)
		_ = w.WriteDiagnostics(diags)
		return nil, &DiagError{Diags: diags, text: strings.TrimRight(b.String(), "\n")}
	}
	cfg.Path = filename
	return cfg, nil
}

type rawFile struct {
	Workers                 *string `hcl:"workers,optional"`
	LogFormat               *string `hcl:"log_format,optional"`
	LogLevel                *string `hcl:"log_level,optional"`
	LogFile                 *string `hcl:"log_file,optional"`
	LogSession              *bool   `hcl:"log_session,optional"`
	LogQuery                *bool   `hcl:"log_query,optional"`
	LogStats                *bool   `hcl:"log_stats,optional"`
	StatsInterval           *string `hcl:"stats_interval,optional"`
	ClientMax               *int    `hcl:"client_max,optional"`
	PidFile                 *string `hcl:"pid_file,optional"`
	UnixSocketDir           *string `hcl:"unix_socket_dir,optional"`
	UnixSocketMode          *string `hcl:"unix_socket_mode,optional"`
	GracefulShutdownTimeout *string `hcl:"graceful_shutdown_timeout,optional"`
	BackendConnectTimeout   *string `hcl:"backend_connect_timeout,optional"`
	MaxPacketSize           *int    `hcl:"max_packet_size,optional"`
	HBAFile                 *string `hcl:"hba_file,optional"`

	Listen   []*rawListen   `hcl:"listen,block"`
	Storages []*rawStorage  `hcl:"storage,block"`
	DBs      []*rawDatabase `hcl:"database,block"`
	LDAP     []*rawLDAP     `hcl:"ldap_endpoint,block"`
	Metrics  []*rawMetrics  `hcl:"metrics,block"`
}

type rawListen struct {
	Host               *string   `hcl:"host,optional"`
	Port               *int      `hcl:"port,optional"`
	Backlog            *int      `hcl:"backlog,optional"`
	TLS                *string   `hcl:"tls,optional"`
	TLSCertFile        *string   `hcl:"tls_cert_file,optional"`
	TLSKeyFile         *string   `hcl:"tls_key_file,optional"`
	TLSCAFile          *string   `hcl:"tls_ca_file,optional"`
	TLSProtocols       *string   `hcl:"tls_protocols,optional"`
	ClientLoginTimeout *string   `hcl:"client_login_timeout,optional"`
	DefRange           hcl.Range `hcl:",def_range"`
	PortRange          hcl.Range `hcl:"port,attr_range"`
	TLSRange           hcl.Range `hcl:"tls,attr_range"`
	LoginRange         hcl.Range `hcl:"client_login_timeout,attr_range"`
}

type rawStorage struct {
	Name               string    `hcl:"name,label"`
	Type               *string   `hcl:"type,optional"`
	Host               *string   `hcl:"host,optional"`
	Port               *int      `hcl:"port,optional"`
	TLS                *string   `hcl:"tls,optional"`
	TLSCAFile          *string   `hcl:"tls_ca_file,optional"`
	TLSCertFile        *string   `hcl:"tls_cert_file,optional"`
	TLSKeyFile         *string   `hcl:"tls_key_file,optional"`
	TargetSessionAttrs *string   `hcl:"target_session_attrs,optional"`
	DefRange           hcl.Range `hcl:",def_range"`
	TypeRange          hcl.Range `hcl:"type,attr_range"`
	HostRange          hcl.Range `hcl:"host,attr_range"`
	TLSRange           hcl.Range `hcl:"tls,attr_range"`
	TSARange           hcl.Range `hcl:"target_session_attrs,attr_range"`
}

type rawDatabase struct {
	Name     string     `hcl:"name,label"`
	Users    []*rawUser `hcl:"user,block"`
	DefRange hcl.Range  `hcl:",def_range"`
}

type rawUser struct {
	Name                         string    `hcl:"name,label"`
	Authentication               *string   `hcl:"authentication,optional"`
	Password                     *string   `hcl:"password,optional"`
	Role                         *string   `hcl:"role,optional"`
	AuthCommonName               []string  `hcl:"auth_common_name,optional"`
	AuthQuery                    *string   `hcl:"auth_query,optional"`
	AuthQueryDB                  *string   `hcl:"auth_query_db,optional"`
	AuthQueryUser                *string   `hcl:"auth_query_user,optional"`
	AuthPAMService               *string   `hcl:"auth_pam_service,optional"`
	LDAPEndpoint                 *string   `hcl:"ldap_endpoint_name,optional"`
	Storage                      *string   `hcl:"storage,optional"`
	StorageDB                    *string   `hcl:"storage_db,optional"`
	StorageUser                  *string   `hcl:"storage_user,optional"`
	StoragePassword              *string   `hcl:"storage_password,optional"`
	PasswordPassthrough          *bool     `hcl:"password_passthrough,optional"`
	Pool                         *string   `hcl:"pool,optional"`
	PoolSize                     *int      `hcl:"pool_size,optional"`
	MinPoolSize                  *int      `hcl:"min_pool_size,optional"`
	PoolTimeout                  *string   `hcl:"pool_timeout,optional"`
	PoolTTL                      *string   `hcl:"pool_ttl,optional"`
	ServerLifetime               *string   `hcl:"server_lifetime,optional"`
	PoolDiscard                  *bool     `hcl:"pool_discard,optional"`
	PoolCancel                   *bool     `hcl:"pool_cancel,optional"`
	PoolRollback                 *bool     `hcl:"pool_rollback,optional"`
	PoolReservePreparedStatement *bool     `hcl:"pool_reserve_prepared_statement,optional"`
	ClientMax                    *int      `hcl:"client_max,optional"`
	ClientFwdError               *bool     `hcl:"client_fwd_error,optional"`
	PoolClientIdleTimeout        *string   `hcl:"pool_client_idle_timeout,optional"`
	PoolIdleInTransactionTimeout *string   `hcl:"pool_idle_in_transaction_timeout,optional"`
	DefRange                     hcl.Range `hcl:",def_range"`
	AuthRange                    hcl.Range `hcl:"authentication,attr_range"`
	RoleRange                    hcl.Range `hcl:"role,attr_range"`
	StorageRange                 hcl.Range `hcl:"storage,attr_range"`
	PoolRange                    hcl.Range `hcl:"pool,attr_range"`
	PoolSizeRange                hcl.Range `hcl:"pool_size,attr_range"`
	MinPoolSizeRange             hcl.Range `hcl:"min_pool_size,attr_range"`
	ClientMaxRange               hcl.Range `hcl:"client_max,attr_range"`
	LDAPRange                    hcl.Range `hcl:"ldap_endpoint_name,attr_range"`
	PoolTimeoutRange             hcl.Range `hcl:"pool_timeout,attr_range"`
	PoolTTLRange                 hcl.Range `hcl:"pool_ttl,attr_range"`
	LifetimeRange                hcl.Range `hcl:"server_lifetime,attr_range"`
	IdleRange                    hcl.Range `hcl:"pool_client_idle_timeout,attr_range"`
	IdleTxRange                  hcl.Range `hcl:"pool_idle_in_transaction_timeout,attr_range"`
}

type rawLDAP struct {
	Name            string    `hcl:"name,label"`
	Server          *string   `hcl:"ldapserver,optional"`
	Port            *int      `hcl:"ldapport,optional"`
	Scheme          *string   `hcl:"ldapscheme,optional"`
	TLS             *bool     `hcl:"ldaptls,optional"`
	BaseDN          *string   `hcl:"ldapbasedn,optional"`
	BindDN          *string   `hcl:"ldapbinddn,optional"`
	BindPassword    *string   `hcl:"ldapbindpasswd,optional"`
	SearchAttribute *string   `hcl:"ldapsearchattribute,optional"`
	SearchFilter    *string   `hcl:"ldapsearchfilter,optional"`
	Prefix          *string   `hcl:"ldapprefix,optional"`
	Suffix          *string   `hcl:"ldapsuffix,optional"`
	DefRange        hcl.Range `hcl:",def_range"`
}

type rawMetrics struct {
	Listen string `hcl:"listen"`
}

func evalContext(dir string) *hcl.EvalContext {
	return &hcl.EvalContext{Functions: map[string]function.Function{
		"env": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "name", Type: cty.String}},
			Type:   function.StaticReturnType(cty.String),
			// An unset variable is null, so that an optional setting
			// falls back to its default and coalesce() can pick another.
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				v, ok := os.LookupEnv(args[0].AsString())
				if !ok {
					return cty.NullVal(cty.String), nil
				}
				return cty.StringVal(v), nil
			},
		}),
		"file": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "path", Type: cty.String}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				p := args[0].AsString()
				if !filepath.IsAbs(p) {
					p = filepath.Join(dir, p)
				}
				b, err := os.ReadFile(p)
				if err != nil {
					return cty.NilVal, err
				}
				return cty.StringVal(strings.TrimRight(string(b), "\r\n")), nil
			},
		}),
		"tonumber": stdlib.MakeToFunc(cty.Number),
		"tostring": stdlib.MakeToFunc(cty.String),
		"lower":    stdlib.LowerFunc,
		"upper":    stdlib.UpperFunc,
		"coalesce": stdlib.CoalesceFunc,
	}}
}

func decode(body hcl.Body, dir string) (*Config, hcl.Diagnostics) {
	var raw rawFile
	diags := gohcl.DecodeBody(body, evalContext(dir), &raw)
	if diags.HasErrors() {
		return nil, diags
	}
	v := &validator{}
	cfg := &Config{
		LogFormat:               v.enum(raw.LogFormat, "text", "log_format", hcl.Range{}, "text", "json"),
		LogLevel:                v.enum(raw.LogLevel, "info", "log_level", hcl.Range{}, "debug", "info", "warn", "warning", "error"),
		LogFile:                 str(raw.LogFile, ""),
		LogSession:              boolean(raw.LogSession, true),
		LogQuery:                boolean(raw.LogQuery, false),
		LogStats:                boolean(raw.LogStats, true),
		StatsInterval:           v.duration(raw.StatsInterval, 5*time.Second, "stats_interval", hcl.Range{}),
		ClientMax:               v.nonNegative(raw.ClientMax, 10000, "client_max", hcl.Range{}),
		PidFile:                 str(raw.PidFile, ""),
		UnixSocketDir:           str(raw.UnixSocketDir, ""),
		GracefulShutdownTimeout: v.duration(raw.GracefulShutdownTimeout, 30*time.Second, "graceful_shutdown_timeout", hcl.Range{}),
		BackendConnectTimeout:   v.duration(raw.BackendConnectTimeout, 10*time.Second, "backend_connect_timeout", hcl.Range{}),
		MaxPacketSize:           v.nonNegative(raw.MaxPacketSize, 1<<30-1, "max_packet_size", hcl.Range{}),
		HBAFile:                 str(raw.HBAFile, ""),
		Storages:                map[string]*Storage{},
		LDAPEndpoints:           map[string]*LDAPEndpoint{},
	}
	if cfg.LogLevel == "warning" {
		cfg.LogLevel = "warn"
	}
	mode, err := strconv.ParseUint(str(raw.UnixSocketMode, "0644"), 8, 32)
	if err != nil {
		v.errorf(hcl.Range{}, "unix_socket_mode must be an octal string such as \"0644\"")
	}
	cfg.UnixSocketMode = os.FileMode(mode)
	switch w := str(raw.Workers, "auto"); w {
	case "auto":
	default:
		n, err := strconv.Atoi(w)
		if err != nil || n < 1 {
			v.errorf(hcl.Range{}, "workers must be \"auto\" or a positive number, not %q", w)
		}
		cfg.Workers = n
	}
	if len(raw.Metrics) > 1 {
		v.errorf(hcl.Range{}, "only one metrics block is allowed")
	} else if len(raw.Metrics) == 1 {
		cfg.Metrics = &Metrics{Listen: raw.Metrics[0].Listen}
	}

	if len(raw.Listen) == 0 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No listen block",
			Detail: "The pooler needs at least one listen { host = \"127.0.0.1\" port = 6432 } block.", Subject: body.MissingItemRange().Ptr()})
	}
	for _, l := range raw.Listen {
		cfg.Listen = append(cfg.Listen, v.listen(l))
	}
	for _, s := range raw.Storages {
		if _, dup := cfg.Storages[s.Name]; dup {
			v.errorf(s.DefRange, "storage %q is defined twice", s.Name)
			continue
		}
		cfg.Storages[s.Name] = v.storage(s)
	}
	for _, l := range raw.LDAP {
		if _, dup := cfg.LDAPEndpoints[l.Name]; dup {
			v.errorf(l.DefRange, "ldap_endpoint %q is defined twice", l.Name)
			continue
		}
		cfg.LDAPEndpoints[l.Name] = &LDAPEndpoint{
			Name: l.Name, Server: str(l.Server, ""), Port: intv(l.Port, 389), Scheme: str(l.Scheme, "ldap"),
			TLS: boolean(l.TLS, false), BaseDN: str(l.BaseDN, ""), BindDN: str(l.BindDN, ""),
			BindPassword: str(l.BindPassword, ""), SearchAttribute: str(l.SearchAttribute, ""),
			SearchFilter: str(l.SearchFilter, ""), Prefix: str(l.Prefix, ""), Suffix: str(l.Suffix, ""), Range: l.DefRange,
		}
	}
	seen := map[string]bool{}
	for _, d := range raw.DBs {
		for _, u := range d.Users {
			r := v.rule(cfg, d, u)
			key := d.Name + "\x00" + u.Name
			if seen[key] {
				v.errorf(u.DefRange, "rule for database %q user %q is defined twice", d.Name, u.Name)
			}
			seen[key] = true
			cfg.Rules = append(cfg.Rules, r)
		}
	}
	diags = append(diags, v.diags...)
	return cfg, diags
}

type validator struct{ diags hcl.Diagnostics }

func (v *validator) errorf(r hcl.Range, format string, args ...any) {
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid configuration", Detail: fmt.Sprintf(format, args...)}
	if r.Filename != "" {
		d.Subject = r.Ptr()
	}
	v.diags = append(v.diags, d)
}

func (v *validator) enum(p *string, def, name string, r hcl.Range, allowed ...string) string {
	s := str(p, def)
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	v.errorf(r, "%s must be one of %s, not %q", name, strings.Join(allowed, ", "), s)
	return def
}

func (v *validator) duration(p *string, def time.Duration, name string, r hcl.Range) time.Duration {
	if p == nil {
		return def
	}
	if *p == "0" {
		return 0
	}
	d, err := time.ParseDuration(*p)
	if err != nil || d < 0 {
		v.errorf(r, "%s must be a duration string such as \"%s\" (units ms, s, m, h), not %q", name, def, *p)
		return def
	}
	return d
}

func (v *validator) nonNegative(p *int, def int, name string, r hcl.Range) int {
	n := intv(p, def)
	if n < 0 {
		v.errorf(r, "%s must not be negative", name)
	}
	return n
}

func (v *validator) listen(l *rawListen) *Listen {
	out := &Listen{
		Host:               str(l.Host, ""),
		Port:               intv(l.Port, 6432),
		Backlog:            intv(l.Backlog, 128),
		TLS:                v.enum(l.TLS, "disable", "tls", l.TLSRange, "disable", "allow", "require", "verify_ca", "verify_full"),
		TLSCertFile:        str(l.TLSCertFile, ""),
		TLSKeyFile:         str(l.TLSKeyFile, ""),
		TLSCAFile:          str(l.TLSCAFile, ""),
		TLSProtocols:       str(l.TLSProtocols, ""),
		ClientLoginTimeout: v.duration(l.ClientLoginTimeout, 15*time.Second, "client_login_timeout", l.LoginRange),
		Range:              l.DefRange,
	}
	if out.Port < 0 || out.Port > 65535 {
		v.errorf(l.PortRange, "port %d is out of range 0..65535", out.Port)
	}
	if out.TLS != "disable" && (out.TLSCertFile == "" || out.TLSKeyFile == "") {
		v.errorf(l.TLSRange, "tls = %q needs tls_cert_file and tls_key_file", out.TLS)
	}
	return out
}

func (v *validator) storage(s *rawStorage) *Storage {
	out := &Storage{
		Name:               s.Name,
		Type:               v.enum(s.Type, "remote", "type", s.TypeRange, "remote", "local"),
		TLS:                v.enum(s.TLS, "disable", "tls", s.TLSRange, "disable", "allow", "prefer", "require", "verify_ca", "verify_full"),
		TLSCAFile:          str(s.TLSCAFile, ""),
		TLSCertFile:        str(s.TLSCertFile, ""),
		TLSKeyFile:         str(s.TLSKeyFile, ""),
		TargetSessionAttrs: v.enum(s.TargetSessionAttrs, "any", "target_session_attrs", s.TSARange, "any", "read-write", "read-only", "prefer-standby"),
		Range:              s.DefRange,
	}
	if out.Type == "local" {
		return out
	}
	port := intv(s.Port, 5432)
	host := str(s.Host, "")
	if host == "" || strings.HasPrefix(host, "/") {
		out.Endpoints = []Endpoint{{Host: host, Port: port}}
		return out
	}
	for _, h := range strings.Split(host, ",") {
		h = strings.TrimSpace(h)
		e := Endpoint{Host: h, Port: port}
		if i := strings.LastIndex(h, ":"); i > 0 && !strings.HasSuffix(h, "]") && strings.Count(h, ":") == 1 {
			p, err := strconv.Atoi(h[i+1:])
			if err != nil || p <= 0 || p > 65535 {
				v.errorf(s.HostRange, "bad port in host %q", h)
			}
			e = Endpoint{Host: h[:i], Port: p}
		}
		if e.Host == "" {
			v.errorf(s.HostRange, "empty host in %q", host)
		}
		out.Endpoints = append(out.Endpoints, e)
	}
	return out
}

func (v *validator) rule(cfg *Config, d *rawDatabase, u *rawUser) *Rule {
	r := &Rule{
		Database: d.Name, User: u.Name,
		DatabaseDefault: d.Name == "default", UserDefault: u.Name == "default",
		Authentication:               v.enum(u.Authentication, "none", "authentication", u.AuthRange, "none", "block", "clear_text", "md5", "scram-sha-256", "cert"),
		Password:                     str(u.Password, ""),
		AuthCommonName:               u.AuthCommonName,
		AuthQuery:                    str(u.AuthQuery, ""),
		AuthQueryDB:                  str(u.AuthQueryDB, ""),
		AuthQueryUser:                str(u.AuthQueryUser, ""),
		AuthPAMService:               str(u.AuthPAMService, ""),
		LDAPEndpoint:                 str(u.LDAPEndpoint, ""),
		Storage:                      str(u.Storage, ""),
		StorageDB:                    str(u.StorageDB, ""),
		StorageUser:                  str(u.StorageUser, ""),
		StoragePassword:              str(u.StoragePassword, ""),
		PasswordPassthrough:          boolean(u.PasswordPassthrough, false),
		Pool:                         v.enum(u.Pool, PoolTransaction, "pool", u.PoolRange, PoolSession, PoolTransaction, PoolStatement),
		PoolSize:                     v.nonNegative(u.PoolSize, 20, "pool_size", u.PoolSizeRange),
		MinPoolSize:                  v.nonNegative(u.MinPoolSize, 0, "min_pool_size", u.MinPoolSizeRange),
		PoolTimeout:                  v.duration(u.PoolTimeout, 0, "pool_timeout", u.PoolTimeoutRange),
		PoolTTL:                      v.duration(u.PoolTTL, 60*time.Second, "pool_ttl", u.PoolTTLRange),
		ServerLifetime:               v.duration(u.ServerLifetime, time.Hour, "server_lifetime", u.LifetimeRange),
		PoolDiscard:                  boolean(u.PoolDiscard, false),
		PoolCancel:                   boolean(u.PoolCancel, true),
		PoolRollback:                 boolean(u.PoolRollback, true),
		PoolReservePreparedStatement: boolean(u.PoolReservePreparedStatement, true),
		ClientMax:                    v.nonNegative(u.ClientMax, 0, "client_max", u.ClientMaxRange),
		ClientFwdError:               boolean(u.ClientFwdError, true),
		PoolClientIdleTimeout:        v.duration(u.PoolClientIdleTimeout, 0, "pool_client_idle_timeout", u.IdleRange),
		PoolIdleInTransactionTimeout: v.duration(u.PoolIdleInTransactionTimeout, 0, "pool_idle_in_transaction_timeout", u.IdleTxRange),
		Range:                        u.DefRange,
	}
	if r.DatabaseDefault {
		r.Database = ""
	}
	if r.UserDefault {
		r.User = ""
	}
	if u.Role != nil {
		r.Role = v.enum(u.Role, "admin", "role", u.RoleRange, "admin", "stat")
	}
	st, ok := cfg.Storages[r.Storage]
	switch {
	case r.Storage == "":
		v.errorf(u.DefRange, "rule %s needs storage = \"name\" of a storage block", r)
	case !ok:
		v.errorf(u.StorageRange, "storage %q is not defined", r.Storage)
	case r.Role != "" && st.Type != "local":
		v.errorf(u.RoleRange, "role is only allowed on rules with a local (console) storage")
	}
	switch r.Authentication {
	case "md5", "scram-sha-256":
		if r.Password == "" && r.AuthQuery == "" {
			v.errorf(u.AuthRange, "authentication = %q needs password or auth_query", r.Authentication)
		}
	case "clear_text":
		if r.Password == "" && r.AuthQuery == "" && r.AuthPAMService == "" && r.LDAPEndpoint == "" {
			v.errorf(u.AuthRange, "authentication = \"clear_text\" needs password, auth_query, auth_pam_service or ldap_endpoint_name")
		}
	}
	if r.LDAPEndpoint != "" && cfg.LDAPEndpoints[r.LDAPEndpoint] == nil {
		v.errorf(u.LDAPRange, "ldap_endpoint %q is not defined", r.LDAPEndpoint)
	}
	if r.PoolSize > 0 && r.MinPoolSize > r.PoolSize {
		v.errorf(u.MinPoolSizeRange, "min_pool_size %d exceeds pool_size %d", r.MinPoolSize, r.PoolSize)
	}
	return r
}

// String names the rule as database.user, with "default" for fallbacks.
func (r *Rule) String() string {
	d, u := r.Database, r.User
	if r.DatabaseDefault {
		d = "default"
	}
	if r.UserDefault {
		u = "default"
	}
	return d + "." + u
}

func str(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

func intv(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

func boolean(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}
