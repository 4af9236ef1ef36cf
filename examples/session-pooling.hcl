# Session pooling: each client keeps one server for its whole session, like
# a direct connection, but logins are cheap and the server count is bounded.
# Useful in front of tools that rely on session state (LISTEN, advisory
# locks, SQL PREPARE) or as a connection limiter.

listen {
  host = "127.0.0.1"
  port = 6432
}

# A unix socket directory makes the pooler also listen on
# /var/run/odyssey/.s.PGSQL.6432, and lets storages without host use
# PostgreSQL's socket.
unix_socket_dir  = "/var/run/odyssey"
unix_socket_mode = "0660"

storage "local-pg" {
  type = "remote"
  host = "/var/run/postgresql"   # PostgreSQL's own unix socket directory
  port = 5432
}

database default {
  user default {
    authentication  = "none"
    storage         = "local-pg"
    pool            = "session"
    pool_size       = 100
    pool_timeout    = "10s"
    pool_discard    = true    # DISCARD ALL before the next client
    pool_client_idle_timeout = "30m"
  }
}
