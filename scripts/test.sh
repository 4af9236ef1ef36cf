#!/usr/bin/env bash
# test.sh — `make test`: every test, then one summary. Exits non-zero when
# any step failed; later steps still run so one report shows everything.
#
#   1. scripts/deps.sh         OS packages (PostgreSQL, gcc, ...)
#   2. make build              bin/odyssey, which integration tests may run
#   3. go vet ./...
#   4. go test -race ./src/... ./integration/...
#                              the pooler's packages and the end-to-end tests,
#                              which run the pooler in-process under real
#                              load (that is where a race in the relay shows;
#                              it costs about 10 s)
#   5. go test (no -race)      console/, sqlparse/ (pg_query_go's C parser
#                              would be compiled a second time for -race)
#
# Fuzz targets run on their committed seeds in steps 4 and 5 (`make fuzz`
# explores further).
#
# Environment: GO (default go); TEST_TIMEOUT, per test binary (default 10m:
# the whole suite takes a few minutes, so a hang is cut short); TEST_RUN,
# passed to -run; ODYSSEY_TEST_PG, an existing PostgreSQL for the tests
# instead of a throwaway one (see integration/pgtest).
set -uo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
timeout=${TEST_TIMEOUT:-10m}
run=()
[[ -n ${TEST_RUN:-} ]] && run=(-run "$TEST_RUN")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
declare -a summary=()
status=0
# step NAME CMD...: run CMD, time it, and record the outcome.
step() {
	local name=$1
	shift
	local start=$SECONDS
	echo "=== $name"
	if "$@"; then
		summary+=("ok    $name ($((SECONDS - start))s)")
	else
		summary+=("FAIL  $name ($((SECONDS - start))s)")
		status=1
	fi
}

# gotest prints plain `go test` output for two runs (race on src/ and
# integration/, plain elsewhere) and one count of tests for both.
gotest() {
	local others
	"$GO" build -o "$tmp/testsum" scripts/testsum.go || return 1
	local mod
	mod=$("$GO" list -m)
	others=$("$GO" list -e ./... | grep -v -e "^$mod/src/" -e "^$mod/integration") || others=""
	{
		rc=0
		"$GO" test -json -count=1 -timeout "$timeout" "${run[@]}" -race ./src/... ./integration/... || rc=1
		if [[ -n $others ]]; then
			# shellcheck disable=SC2086 # one package path per word
			"$GO" test -json -count=1 -timeout "$timeout" "${run[@]}" $others || rc=1
		fi
		exit $rc
	} | "$tmp/testsum" "$tmp/counts"
}

step "deps" scripts/deps.sh
step "build bin/odyssey" "${MAKE:-make}" --no-print-directory build
step "go vet" "$GO" vet ./...
step "go test" gotest

echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
# The count of tests goes last: it is what a reader (or CI) looks at.
cat "$tmp/counts" 2>/dev/null || true
exit $status
