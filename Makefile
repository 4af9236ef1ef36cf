# make run    build, then the pooler on 127.0.0.1:6432 with odyssey.hcl (and a
#             throwaway PostgreSQL on 127.0.0.1:5432 when none is configured
#             and none answers there); Ctrl-C stops both
# make test   everything CI runs: deps, build, vet, unit tests and fuzz seeds
#             (src/ under the race detector), integration tests
# make fuzz   each Fuzz* target for FUZZTIME (default 30s)
# make lint   gofmt and go vet
# make bench  pooler vs PgBouncer vs PostgreSQL under pgbench; writes
#             .bench/results.md (BENCH_QUICK=1: one short round)
# make clean  remove bin/ and .run/ (the throwaway PostgreSQL's data)
GO ?= go
export GO

.PHONY: build run test deps lint fuzz clean bench

build:
	$(GO) build -o bin/odyssey ./src/cmd/odyssey

# CONFIG=path picks another configuration file.
run:
	scripts/run.sh $(CONFIG)

deps:
	scripts/deps.sh

# scripts/test.sh runs deps and build first, then prints a summary.
test:
	scripts/test.sh

fuzz:
	scripts/fuzz.sh

# scripts/bench.sh runs deps and build first; see scripts/bench/main.go.
bench:
	scripts/bench.sh

lint:
	@out=$$(gofmt -l .) || exit 1; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin .run
