# Transaction pooling for a web application and a reporting job.
#
# The application's many connections share a few server connections: a
# server is attached for one transaction at a time. Session settings (SET,
# startup parameters) follow each client to whatever server it gets.

workers        = "auto"        # one OS thread per core
client_max     = 5000          # all clients together; then 53300
log_session    = false         # no connect/disconnect lines at this scale

listen {
  host = "*"
  port = 6432
  client_login_timeout = "10s"
}

storage "primary" {
  type = "remote"
  host = "10.0.0.5"
  port = 5432
}

storage "local" {
  type = "local"
}

database "console" {
  user default {
    authentication = "none"
    role           = "stat"
    storage        = "local"
    pool           = "session"
  }
}

# The web application: 2 000 clients, 40 server connections.
database "shop" {
  user "web" {
    authentication   = "none"
    storage          = "primary"
    storage_user     = "web"
    storage_password = env("SHOP_WEB_PASSWORD")  # never written in the file
    pool             = "transaction"
    pool_size        = 40
    min_pool_size    = 5          # kept warm
    pool_timeout     = "5s"       # then ERROR 53300 and the session goes on
    pool_ttl         = "5m"       # idle servers closed after this
    server_lifetime  = "1h"       # and recycled after this
    client_max       = 2000
    pool_idle_in_transaction_timeout = "60s"
  }

  # Reports keep their server for the whole session (temporary tables,
  # cursors WITH HOLD), and clean it with DISCARD ALL afterwards.
  user "reports" {
    authentication   = "none"
    storage          = "primary"
    storage_password = env("SHOP_REPORTS_PASSWORD")
    pool             = "session"
    pool_size        = 4
    pool_discard     = true
  }
}

# Anyone else is refused at login with FATAL 28000.
database default {
  user default {
    authentication = "block"
    storage        = "primary"
  }
}
