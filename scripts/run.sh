#!/usr/bin/env bash
# run.sh [CONFIG] — `make run`: build, then run the pooler in the foreground
# with CONFIG (default odyssey.hcl, listening on 127.0.0.1:6432).
#
# The pooler needs a PostgreSQL. With ODYSSEY_PG_HOST set, that one is used
# (odyssey.hcl reads ODYSSEY_PG_HOST and ODYSSEY_PG_PORT). Otherwise, if
# nothing answers on 127.0.0.1:${ODYSSEY_PG_PORT:-5432}, a throwaway
# PostgreSQL is started there: data in .run/pg/data (kept for the next run;
# `make clean` removes it), trust authentication, superuser postgres, TCP on
# 127.0.0.1 only, unix socket in the data directory, log in
# .run/pg/postgres.log. Under root it runs as the postgres OS user. It is
# stopped when the pooler exits.
#
# Ctrl-C (SIGINT) stops the pooler at once, SIGTERM gracefully; SIGHUP to
# this script is passed on (reload).
#
# RUN_PG_ONLY=1 starts (or finds) the PostgreSQL and waits for Ctrl-C
# instead of running the pooler.
set -euo pipefail
cd "$(dirname "$0")/.."

config=${1:-odyssey.hcl}
pg_only=${RUN_PG_ONLY:-}
port=${ODYSSEY_PG_PORT:-5432}
data=$PWD/.run/pg/data
logfile=$PWD/.run/pg/postgres.log

scripts/deps.sh
if [[ -z $pg_only ]]; then
	make --no-print-directory build
fi

# PostgreSQL binaries: 15 (what the project targets) when present.
pgbin=""
for d in /usr/lib/postgresql/15/bin "$(pg_config --bindir 2>/dev/null || true)" \
	$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
	if [[ -n $d && -x $d/initdb ]]; then
		pgbin=$d
		break
	fi
done
if [[ -z $pgbin ]]; then
	echo "run.sh: PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql-15 or set ODYSSEY_PG_HOST" >&2
	exit 1
fi

# as_pg runs a PostgreSQL program as the postgres OS user when we are root
# (PostgreSQL refuses to run as root).
as_pg() {
	if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

started=""
stop_pg() {
	[[ -n $started ]] || return 0
	echo "run.sh: stopping the throwaway PostgreSQL" >&2
	as_pg "$pgbin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null ||
		as_pg "$pgbin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null || true
	started=""
}

start_pg() {
	mkdir -p "$(dirname "$data")"
	if [[ $(id -u) == 0 ]]; then
		chown postgres: "$(dirname "$data")"
		if ! runuser -u postgres -- test -w "$(dirname "$data")"; then
			echo "run.sh: the postgres OS user cannot write $(dirname "$data") (a parent directory is closed to it);" \
				"move the checkout or set ODYSSEY_PG_HOST" >&2
			exit 1
		fi
	fi
	if [[ ! -f $data/PG_VERSION ]]; then
		echo "run.sh: creating a throwaway PostgreSQL cluster in .run/pg/data" >&2
		as_pg "$pgbin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
	fi
	# Unix socket in the data directory, unless its path is too long for
	# sockaddr_un (TCP works regardless).
	local sockdir=$data
	((${#sockdir} + 15 > 107)) && sockdir=""
	trap stop_pg EXIT
	started=1
	if ! as_pg "$pgbin/pg_ctl" -D "$data" -l "$logfile" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$sockdir'" start >/dev/null; then
		echo "run.sh: PostgreSQL did not start; the end of $logfile:" >&2
		tail -n 20 "$logfile" >&2 || true
		exit 1
	fi
	echo "run.sh: throwaway PostgreSQL $("$pgbin/postgres" -V | awk '{print $3}') on 127.0.0.1:$port (data in .run/pg/data)" >&2
}

if [[ -z ${ODYSSEY_PG_HOST:-} ]]; then
	# pg_isready: 0 accepting, 1 rejecting (starting up), 2 no response.
	rc=0
	"$pgbin/pg_isready" -q -h 127.0.0.1 -p "$port" || rc=$?
	if ((rc == 2)); then
		start_pg
	else
		echo "run.sh: using the PostgreSQL on 127.0.0.1:$port" >&2
	fi
fi

if [[ -z $started ]]; then
	# Nothing to clean up afterwards: the pooler takes over this process.
	if [[ -n $pg_only ]]; then
		exit 0
	fi
	[[ $config == odyssey.hcl ]] && echo "run.sh: connect with: psql -h 127.0.0.1 -p 6432 -U postgres postgres" >&2
	exec bin/odyssey "$config"
fi

# We own a PostgreSQL: run the pooler (or a placeholder) as a child, pass
# signals on, and stop PostgreSQL when it ends (the EXIT trap).
if [[ -n $pg_only ]]; then
	echo "run.sh: RUN_PG_ONLY: psql -h 127.0.0.1 -p $port -U postgres postgres; Ctrl-C stops it" >&2
	sleep infinity &
else
	[[ $config == odyssey.hcl ]] && echo "run.sh: connect with: psql -h 127.0.0.1 -p 6432 -U postgres postgres" >&2
	bin/odyssey "$config" &
fi
child=$!
# A background child of a script starts with SIGINT ignored; the pooler
# installs its own handler, sleep does not, so sleep gets TERM instead.
pass() { kill -s "$([[ -n $pg_only ]] && echo TERM || echo "$1")" "$child" 2>/dev/null || true; }
trap 'pass INT' INT
trap 'pass TERM' TERM
trap 'pass HUP' HUP
status=0
while :; do
	wait "$child" && status=0 || status=$?
	kill -0 "$child" 2>/dev/null || break
done
[[ -n $pg_only ]] && status=0
stop_pg
trap - EXIT
exit "$status"
