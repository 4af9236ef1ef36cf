#!/usr/bin/env bash
# make run: the pooler on 127.0.0.1:6432 with odyssey.hcl, in front of
# ODYSSEY_PG_HOST:ODYSSEY_PG_PORT, or of whatever answers on 127.0.0.1:5432,
# or else of a throwaway PostgreSQL started here in .run/pg.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ -z "${ODYSSEY_PG_HOST:-}" ] && ! "$bin/pg_isready" -q -h 127.0.0.1 -p 5432; then
  mkdir -p .run/pg
  [ "$(id -u)" = 0 ] && chown postgres .run/pg
  if [ ! -f .run/pg/data/PG_VERSION ]; then
    as_pg "$bin/initdb" -D .run/pg/data -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  as_pg "$bin/pg_ctl" -D .run/pg/data -l .run/pg/log -w \
    -o "-p 5432 -k $(pwd)/.run/pg -c listen_addresses=127.0.0.1" start >/dev/null
  trap 'as_pg "$bin/pg_ctl" -D .run/pg/data -m fast -w stop >/dev/null' EXIT
  echo "throwaway PostgreSQL on 127.0.0.1:5432 (data in .run/pg)"
fi
echo "pooler on 127.0.0.1:6432: psql -h 127.0.0.1 -p 6432 -U postgres postgres"
bin/odyssey odyssey.hcl
