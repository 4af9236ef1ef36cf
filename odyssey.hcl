# odyssey.hcl — the configuration `make run` uses.
#
# One pooler on 127.0.0.1:6432 in front of one PostgreSQL. `make run` starts
# a throwaway PostgreSQL on 127.0.0.1:5432 when nothing answers there; point
# the pooler at another server with ODYSSEY_PG_HOST and ODYSSEY_PG_PORT.
#
# Check a file without starting anything: bin/odyssey --check odyssey.hcl
# More complete setups are in examples/.

# Logging: text for people, json for log shippers. log_level is one of
# debug | info | warn | error. Durations are strings with a unit ("5s").
log_format     = "text"
log_level      = "info"
log_session    = true    # a line per client connect and disconnect
stats_interval = "5s"    # how often per-pool statistics are logged

# Where clients connect. Repeat the block to listen on more addresses;
# host = "*" listens on every address.
listen {
  host = "127.0.0.1"
  port = 6432
}

# Where PostgreSQL is. env("NAME") is "" for an unset variable, and
# coalesce() picks the first non-empty value, so these fall back to the
# local server. host may also list several endpoints ("h1:5432,h2:5433") or
# name a unix socket directory ("/var/run/postgresql").
storage "postgres" {
  type = "remote"
  host = coalesce(env("ODYSSEY_PG_HOST"), "127.0.0.1")
  port = tonumber(coalesce(env("ODYSSEY_PG_PORT"), "5432"))
}

# The admin console is a storage of type "local": a database routed there
# talks to the pooler itself (SHOW POOLS; RELOAD; ...), not to PostgreSQL.
storage "local" {
  type = "local"
}

# psql -h 127.0.0.1 -p 6432 -U anyone console
# No password here because make run is a local playground: in production use
# authentication = "scram-sha-256" and password = env("ODYSSEY_ADMIN_PASSWORD").
database "console" {
  user default {
    authentication = "none"
    role           = "admin"   # admin may pause, reload, kill; stat may only SHOW
    storage        = "local"
    pool           = "session"
  }
}

# The same console under PgBouncer's name, for pgbouncer_exporter and the
# scripts written for PgBouncer.
database "pgbouncer" {
  user default {
    authentication = "none"
    role           = "stat"
    storage        = "local"
    pool           = "session"
  }
}

# Every other database and user (`default` matches any name): transaction
# pooling with at most 20 server connections per (database, user). The
# client's database and user name are used at the server, and the throwaway
# cluster trusts them.
database default {
  user default {
    authentication = "none"
    storage        = "postgres"
    pool           = "transaction"
    pool_size      = 20
    pool_timeout   = "30s"     # a client waiting longer for a server gets ERROR 53300
  }
}
