# Transaction pooling for a web shop: a busy web application, a background
# job runner and a reporting user in front of a primary and a standby.
#
# In transaction mode a client holds a server connection only for the length
# of one transaction, so thousands of application connections share a few
# dozen server connections. Session settings (SET, startup parameters)
# follow each client to whatever server it gets; named prepared statements
# are re-prepared where needed (pool_reserve_prepared_statement).
#
# Secrets come from the environment: export SHOP_WEB_PASSWORD,
# SHOP_JOBS_PASSWORD, SHOP_REPORTS_PASSWORD and ODYSSEY_ADMIN_PASSWORD
# before starting (an unset variable reads as "").

workers        = "auto"      # one OS thread per CPU
client_max     = 5000        # all clients together; more get FATAL 53300
log_format     = "json"      # one JSON object per line for the log shipper
log_session    = false       # no connect/disconnect lines at this scale
stats_interval = "60s"

graceful_shutdown_timeout = "60s"   # SIGTERM waits this long for transactions
backend_connect_timeout   = "5s"    # per attempt to reach PostgreSQL

listen {
  host                 = "*"       # every address
  port                 = 6432
  backlog              = 1024
  client_login_timeout = "10s"     # startup and authentication must finish by then
}

storage "primary" {
  type = "remote"
  # Two endpoints: whichever is writable serves this storage, so a
  # failover needs no config change.
  host                 = "db1.internal:5432,db2.internal:5432"
  target_session_attrs = "read-write"
  tls                  = "verify_full"
  tls_ca_file          = "/etc/odyssey/root.crt"
}

storage "standby" {
  type                 = "remote"
  host                 = "db2.internal"
  port                 = 5432
  target_session_attrs = "prefer-standby"
  tls                  = "require"
}

storage "local" {
  type = "local"
}

# The console, under PgBouncer's name too, so pgbouncer_exporter works
# unchanged. The stat role may SHOW but not PAUSE or KILL.
database "console" {
  user "admin" {
    authentication = "scram-sha-256"
    password       = env("ODYSSEY_ADMIN_PASSWORD")
    role           = "admin"
    storage        = "local"
    pool           = "session"
  }
}

database "pgbouncer" {
  user "exporter" {
    authentication = "md5"
    # An md5 hash as pg_shadow stores it: "md5" + md5(password + user name),
    # here of the password "change-me". Plain passwords work too.
    password       = "md57156fcbe79895667eb87679396119c59"
    role           = "stat"
    storage        = "local"
    pool           = "session"
  }
}

database "shop" {
  # The web application: up to 2 000 clients on at most 40 servers.
  user "web" {
    authentication   = "scram-sha-256"
    password         = env("SHOP_WEB_PASSWORD")   # checks the client ...
    storage          = "primary"
    storage_user     = "web"
    storage_password = env("SHOP_WEB_PASSWORD")   # ... and logs in to PostgreSQL
    pool             = "transaction"
    pool_size        = 40
    min_pool_size    = 5          # kept open even when idle
    pool_timeout     = "5s"       # then ERROR 53300 and the session goes on
    pool_ttl         = "5m"       # idle servers above min_pool_size close after this
    server_lifetime  = "1h"       # and every server is recycled after this
    client_max       = 2000
    pool_idle_in_transaction_timeout = "60s"   # a forgotten BEGIN costs a server
  }

  # Background jobs: statement mode, since every job is a single statement
  # outside any transaction block.
  user "jobs" {
    authentication   = "scram-sha-256"
    password         = env("SHOP_JOBS_PASSWORD")
    storage          = "primary"
    storage_password = env("SHOP_JOBS_PASSWORD")
    pool             = "statement"
    pool_size        = 10
    pool_timeout     = "30s"
  }

  # Reports run on the standby and keep their server for the whole session
  # (temporary tables, cursors WITH HOLD); DISCARD ALL cleans it afterwards.
  user "reports" {
    authentication   = "scram-sha-256"
    password         = env("SHOP_REPORTS_PASSWORD")
    storage          = "standby"
    storage_password = env("SHOP_REPORTS_PASSWORD")
    pool             = "session"
    pool_size        = 4
    pool_discard     = true
    pool_client_idle_timeout = "30m"   # idle report sessions give their server back
  }
}

# Anyone else is refused at login with FATAL 28000.
database default {
  user default {
    authentication = "block"
    storage        = "primary"
  }
}
