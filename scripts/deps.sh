#!/usr/bin/env bash
# deps.sh — make sure the OS packages that building and testing need are here.
#
# Checks each need below; when everything is present it prints nothing and
# exits 0 without touching apt. When something is missing and we are root
# with apt-get, it runs `apt-get update` once and installs the missing
# packages non-interactively, without letting their maintainer scripts start
# services (PostgreSQL's "main" cluster, later slapd). Otherwise it says what
# to install and exits 1.
#
# To add a need, add one `need` line: the Debian package(s), then a command
# that succeeds when the need is already met.
set -euo pipefail

missing=()
# need PACKAGES CHECK...: queue PACKAGES (space separated) unless CHECK succeeds.
need() {
	local pkgs=$1
	shift
	"$@" >/dev/null 2>&1 && return 0
	local p
	for p in $pkgs; do
		[[ " ${missing[*]} " == *" $p "* ]] || missing+=("$p")
	done
}
have_glob() { compgen -G "$1" >/dev/null; }
# postgresql_pkg names the server package: PostgreSQL 15 when apt knows it
# (what the project is developed against), else the distribution's default.
postgresql_pkg() {
	if apt-cache show postgresql-15 >/dev/null 2>&1; then echo postgresql-15; else echo postgresql; fi
}

need make               command -v make
need gcc                command -v gcc                      # cgo: pg_query_go, PAM
need libpam0g-dev       test -e /usr/include/security/pam_appl.h
need postgresql-client  command -v pg_isready               # make run, psql
need @postgresql        have_glob '/usr/lib/postgresql/*/bin/initdb'  # integration tests, make run
need @postgresql        id -u postgres                      # the OS user PostgreSQL runs as under root
need slapd              test -x /usr/sbin/slapadd           # LDAP auth tests: integration/ldaptest runs slapd, slapadd
need ldap-utils         command -v ldapsearch               # ldapsearch/ldapwhoami, to look into a test directory by hand
need libpam-wrapper     have_glob '/usr/lib/*/pam_wrapper/pam_matrix.so'  # PAM auth tests (pam_matrix)
need pgbouncer          test -x /usr/sbin/pgbouncer         # make bench compares against it

if ((${#missing[@]} == 0)); then
	exit 0
fi

if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: missing OS packages: ${missing[*]//@postgresql/postgresql-15}" >&2
	echo "deps.sh: install them (Debian/Ubuntu: sudo apt-get install ${missing[*]//@postgresql/postgresql-15}) or run as root with apt-get" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "deps.sh: missing ${missing[*]//@postgresql/postgresql}; apt-get update" >&2
apt-get update -qq >&2 || { echo "deps.sh: apt-get update failed" >&2; exit 1; }

# Resolve the PostgreSQL placeholder now that the package lists are fresh,
# and drop duplicates.
declare -A seen=()
pkgs=()
for p in "${missing[@]}"; do
	[[ $p == @postgresql ]] && p=$(postgresql_pkg)
	[[ -n ${seen[$p]:-} ]] && continue
	seen[$p]=1
	pkgs+=("$p")
done

# Keep packages from starting their services (invoke-rc.d honours
# policy-rc.d exit 101): the tests start their own servers on their own ports.
# An existing policy-rc.d is the machine's and is left alone.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi

echo "deps.sh: apt-get install ${pkgs[*]}" >&2
# dpkg's progress is long; it is shown only when the install fails.
log=$(mktemp)
if ! apt-get install -y -q --no-install-recommends "${pkgs[@]}" >"$log" 2>&1; then
	cat "$log" >&2
	rm -f "$log"
	echo "deps.sh: apt-get install ${pkgs[*]} failed" >&2
	exit 1
fi
rm -f "$log"
echo "deps.sh: installed ${pkgs[*]}" >&2
