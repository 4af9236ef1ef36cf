# odyssey.hcl — the configuration `make run` uses.
#
# One pooler on 127.0.0.1:6432 in front of one PostgreSQL. `make run` starts a
# throwaway PostgreSQL on 127.0.0.1:5432 when none is configured; point the
# pooler elsewhere with ODYSSEY_PG_HOST / ODYSSEY_PG_PORT.

log_format = "text"
log_level  = "info"

# Where clients connect. Repeat the block to listen on more addresses.
listen {
  host = "127.0.0.1"
  port = 6432
}

# Where PostgreSQL is. host may list several endpoints: "h1:5432,h2:5433".
storage "postgres" {
  type = "remote"
  host = coalesce(env("ODYSSEY_PG_HOST"), "127.0.0.1")
  port = tonumber(coalesce(env("ODYSSEY_PG_PORT"), "5432"))
}

# The admin console (a later issue). Rules on a local storage are consoles.
storage "local" {
  type = "local"
}

database "console" {
  user default {
    authentication = "none"
    role           = "admin"
    storage        = "local"
    pool           = "session"
  }
}

# Every other database and user: transaction pooling with at most 20 server
# connections per (database, user). The client's user and database are used
# at the server; authentication happens there (trust in `make run`'s
# throwaway cluster).
database default {
  user default {
    authentication = "none"
    storage        = "postgres"
    pool           = "transaction"
    pool_size      = 20
    pool_timeout   = "30s"
  }
}
