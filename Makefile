# brisk: make demo runs the seed game scenario, make test runs every test, make bench compares
# brisk with grpc-go and net/rpc. Nothing needs installing by hand beyond Go.
GO       ?= go
FUZZTIME ?= 5s

.PHONY: all demo test check unit fuzz bench-test bench vet fmt

all: test

demo:
	$(GO) run ./examples/game

test: check unit bench-test fuzz

check: fmt vet

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go') | grep -v '\.pb\.go$$' || true); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

bench-test:
	cd bench && $(GO) vet ./... && $(GO) test -race -count=1 ./...

fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

bench:
	cd bench && $(GO) run ./cmd/rpcbench $(BENCHFLAGS)
