package config

import (
	"os"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Config is a validated odyssey.hcl. It is immutable once returned by Load or
// Parse: a reload builds a new one and the instance swaps it in whole.
type Config struct {
	Path string // the file it came from ("" for Parse of a string)

	Workers                 int // 0: "auto", runtime.NumCPU()
	LogFormat               string
	LogLevel                string
	LogFile                 string
	LogSession              bool
	LogQuery                bool
	LogStats                bool
	StatsInterval           time.Duration
	ClientMax               int // 0: unlimited
	PidFile                 string
	UnixSocketDir           string
	UnixSocketMode          os.FileMode
	GracefulShutdownTimeout time.Duration
	BackendConnectTimeout   time.Duration
	MaxPacketSize           int // largest client message body; default wire.DefaultMaxFrameLen
	HBAFile                 string

	Listen        []*Listen
	Storages      map[string]*Storage
	Rules         []*Rule // every database/user block, in file order
	LDAPEndpoints map[string]*LDAPEndpoint
	Metrics       *Metrics // nil: off
}

// Listen is one listen block.
type Listen struct {
	Host               string // "" with UnixSocketDir set: unix socket only; "*": all addresses
	Port               int
	Backlog            int
	TLS                string // disable | allow | require | verify_ca | verify_full
	TLSCertFile        string
	TLSKeyFile         string
	TLSCAFile          string
	TLSProtocols       string
	ClientLoginTimeout time.Duration
	Range              hcl.Range
}

// Storage is one storage block: where PostgreSQL is, or "local" for the console.
type Storage struct {
	Name               string
	Type               string // remote | local
	Endpoints          []Endpoint
	TLS                string // disable | allow | prefer | require | verify_ca | verify_full
	TLSCAFile          string
	TLSCertFile        string
	TLSKeyFile         string
	TargetSessionAttrs string
	Range              hcl.Range
}

// Endpoint is one PostgreSQL address. Host "" or starting with "/" means a
// unix socket in that directory (or in UnixSocketDir when empty).
type Endpoint struct {
	Host string
	Port int
}

// Pool modes.
const (
	PoolSession     = "session"
	PoolTransaction = "transaction"
	PoolStatement   = "statement"
)

// Rule is one `database "d" { user "u" { ... } }` block.
type Rule struct {
	Database        string // "" when DatabaseDefault
	User            string // "" when UserDefault
	DatabaseDefault bool
	UserDefault     bool

	Authentication string // none | block | clear_text | md5 | scram-sha-256 | cert
	Password       string
	Role           string // admin | stat; only with a local storage
	AuthCommonName []string
	AuthQuery      string
	AuthQueryDB    string
	AuthQueryUser  string
	AuthPAMService string
	LDAPEndpoint   string // ldap_endpoint_name

	Storage             string
	StorageDB           string
	StorageUser         string
	StoragePassword     string
	PasswordPassthrough bool

	Pool                         string // session | transaction | statement
	PoolSize                     int    // 0: unlimited
	MinPoolSize                  int
	PoolTimeout                  time.Duration // 0: wait forever
	PoolTTL                      time.Duration // 0: never expire idle servers
	ServerLifetime               time.Duration // 0: no limit
	PoolDiscard                  bool
	PoolCancel                   bool
	PoolRollback                 bool
	PoolReservePreparedStatement bool
	ClientMax                    int // 0: unlimited
	ClientFwdError               bool
	PoolClientIdleTimeout        time.Duration
	PoolIdleInTransactionTimeout time.Duration

	Range hcl.Range // the user block's definition, for messages
}

// LDAPEndpoint is one ldap_endpoint block.
type LDAPEndpoint struct {
	Name            string
	Server          string
	Port            int
	Scheme          string // ldap | ldaps
	TLS             bool   // StartTLS
	BaseDN          string
	BindDN          string
	BindPassword    string
	SearchAttribute string
	SearchFilter    string
	Prefix          string
	Suffix          string
	TLSCAFile       string // CA for ldaps and StartTLS; "" trusts the system's CAs
	Range           hcl.Range
}

// Metrics is the metrics block.
type Metrics struct {
	Listen string
}
