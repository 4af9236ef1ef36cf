#!/usr/bin/env bash
# fuzz.sh — `make fuzz`: run every Fuzz* target in the module for FUZZTIME
# (default 30s) each, one after another. Targets are discovered with
# `go test -list`, so new ones are picked up without editing this file.
# Inputs that fail are written by Go to the package's testdata/fuzz/ — commit
# them as seeds once fixed. Optional: FUZZ_PKGS (default ./...) limits the
# packages, e.g. FUZZ_PKGS=./src/client.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
fuzztime=${FUZZTIME:-30s}

# `go test -list` prints the matching names of a package, then its
# "ok  <pkg> <time>" line (or "? <pkg> [no test files]"). A package that
# does not build stops the run here.
# shellcheck disable=SC2086 # FUZZ_PKGS may name several packages
listing=$("$GO" test -list '^Fuzz' ${FUZZ_PKGS:-./...})
targets=()
names=()
while read -r first second _; do
	case $first in
	Fuzz*) names+=("$first") ;;
	ok)
		for n in "${names[@]}"; do targets+=("$second $n"); done
		names=()
		;;
	*) names=() ;;
	esac
done <<<"$listing"

if ((${#targets[@]} == 0)); then
	echo "fuzz.sh: no Fuzz targets found" >&2
	exit 1
fi

failed=()
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	echo "=== $name ($pkg, $fuzztime)"
	if ! "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"; then
		failed+=("$name ($pkg)")
	fi
done

echo
echo "fuzz: ${#targets[@]} targets, ${#failed[@]} failed"
if ((${#failed[@]} > 0)); then
	printf '  FAIL %s\n' "${failed[@]}"
	exit 1
fi
