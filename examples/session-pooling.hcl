# Session pooling on one host: each client keeps one server connection for
# its whole session, exactly like a direct connection, but logins are cheap
# (servers are reused) and the number of servers is bounded.
#
# Use it in front of software that relies on session state the pooler
# cannot move between servers (LISTEN/NOTIFY, session advisory locks, SQL
# PREPARE, temporary tables), or simply as a connection limiter.
#
# Secrets come from the environment: export APP_PASSWORD, APP_DB_PASSWORD,
# and ODYSSEY_ADMIN_PASSWORD before starting. The TLS key pair is read from
# /etc/odyssey when the pooler starts.

log_level   = "info"
log_session = true           # a line per client connect and disconnect
client_max  = 500
pid_file    = "/run/odyssey/odyssey.pid"

# A unix socket directory makes the pooler also listen on
# /run/odyssey/.s.PGSQL.6432, so local clients can use
# psql -h /run/odyssey; a storage without host uses the same directory.
unix_socket_dir  = "/run/odyssey"
unix_socket_mode = "0660"    # owner and group only

# TCP clients must use TLS; local unix-socket clients need not.
listen {
  host          = "0.0.0.0"
  port          = 6432
  tls           = "require"
  tls_cert_file = "/etc/odyssey/server.crt"
  tls_key_file  = "/etc/odyssey/server.key"
}

# PostgreSQL on the same host, through its own unix socket directory.
storage "local-pg" {
  type = "remote"
  host = "/var/run/postgresql"
  port = 5432
}

storage "local" {
  type = "local"
}

# The console for the operator. An md5 or scram-sha-256 rule needs a
# password (or auth_query); the check refuses the file otherwise.
database "console" {
  user "admin" {
    authentication = "scram-sha-256"
    password       = env("ODYSSEY_ADMIN_PASSWORD")
    role           = "admin"
    storage        = "local"
    pool           = "session"
  }
}

# The application: the pooler checks the client's password, then logs in to
# PostgreSQL as a different, unprivileged role.
database "app" {
  user "app" {
    authentication   = "scram-sha-256"
    password         = env("APP_PASSWORD")
    storage          = "local-pg"
    storage_user     = "app_rw"
    storage_password = env("APP_DB_PASSWORD")
    pool             = "session"
    pool_size        = 100
    min_pool_size    = 10      # kept open so the first clients log in fast
    pool_timeout     = "10s"   # wait for a free server, then ERROR 53300
    pool_discard     = true    # DISCARD ALL before the next client gets the server
    client_max       = 300
    pool_client_idle_timeout = "30m"   # close sessions idle this long
  }
}

# Every other user of every database logs in with its own PostgreSQL
# password, which the pooler asks PostgreSQL for (auth_query), and is pooled
# under its own name.
database default {
  user default {
    authentication  = "md5"
    auth_query      = "SELECT usename, passwd FROM pg_shadow WHERE usename = $1"
    auth_query_db   = "postgres"
    auth_query_user = "odyssey_auth"
    storage         = "local-pg"
    pool            = "session"
    pool_size       = 10
    pool_timeout    = "10s"
  }
}
