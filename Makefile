# brisk: make demo runs the seed game scenario, make test runs every test, make bench compares
# brisk with grpc-go and net/rpc. Nothing needs installing by hand beyond Go.
GO       ?= go
FUZZTIME ?= 5s
# Every Go module but bench/ (which bench-test covers): the core and the nested modules that
# keep heavy dependencies (registry backends, examples) out of it.
MODULES  := $(sort $(patsubst ./%,%,$(patsubst %/go.mod,%,$(shell find . -name go.mod -not -path './bench/*'))))
# Tests that need a real registry server fail instead of skipping when it is missing.
export BRISK_REQUIRE_SERVICES := 1

.PHONY: all demo test check unit fuzz bench-test bench vet fmt services tidy

all: test

demo:
	cd examples && $(GO) run ./game

test: check services unit bench-test fuzz

# Installs (once) the ZooKeeper and Redis servers the registry tests start and stop, and the
# Chromium the dashboard's browser test drives headless.
services:
	./scripts/services.sh install

check: fmt vet tidy

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go') | grep -v '\.pb\.go$$' || true); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Every module's go.mod and go.sum must be tidy: a nested module that lacks a go.sum entry its
# replaced dependency needs does not build on a clean clone.
tidy:
	@set -e; for m in $(MODULES) bench; do (cd $$m && $(GO) mod tidy -diff >/dev/null) || { echo "go mod tidy needed in $$m"; exit 1; }; done

vet:
	@set -e; for m in $(MODULES); do echo "== go vet $$m"; (cd $$m && $(GO) vet ./...); done

unit:
	@set -e; for m in $(MODULES); do echo "== go test $$m"; (cd $$m && $(GO) test -race -count=1 ./...); done

bench-test:
	cd bench && $(GO) vet ./... && $(GO) test -race -count=1 ./...

fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

bench:
	cd bench && $(GO) run ./cmd/rpcbench $(BENCHFLAGS)
