# make run   builds and starts the pooler on 127.0.0.1:6432 (and a throwaway
#            PostgreSQL on 127.0.0.1:5432 when none answers there)
# make test  every test: vet, unit, fuzz seeds, race detector, integration
GO ?= go

.PHONY: build run test deps lint fuzz clean

build:
	$(GO) build -o bin/odyssey ./src/cmd/odyssey

run: build
	scripts/run.sh

deps:
	scripts/deps.sh

test: deps build
	$(GO) vet ./...
	$(GO) test -count=1 -race ./src/... ./console/... ./sqlparse/...
	$(GO) test -count=1 -timeout 15m ./integration/...

lint:
	@test -z "$$(gofmt -l src integration)" || (gofmt -l src integration; exit 1)
	$(GO) vet ./...

# Runs each fuzz target briefly; seeds live in the f.Add calls and testdata/.
fuzz:
	$(GO) test -run XXX -fuzz FuzzReader -fuzztime 30s ./src/internal/wire
	$(GO) test -run XXX -fuzz FuzzParseStartup -fuzztime 30s ./src/client
	$(GO) test -run XXX -fuzz FuzzMayChangeSettings -fuzztime 30s ./src/relay
	$(GO) test -run XXX -fuzz FuzzParse -fuzztime 30s ./src/config

clean:
	rm -rf bin .run
