#!/usr/bin/env bash
# Installs what the tests need when it is missing (as root with apt);
# otherwise says what to install. Fast when everything is present.
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v gcc >/dev/null || missing+=(gcc)
command -v runuser >/dev/null || missing+=(util-linux)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "missing packages: ${missing[*]} (install them, or run as root with apt)" >&2
  exit 1
fi
