# raftkv — the two commands are `make run` and `make test`.

GO          ?= go
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
# The race detector roughly doubles CPU time; the suite is sized for 2 cores.
TESTFLAGS   ?= -race -timeout 14m
FUZZTIME    ?= 20s

.PHONY: all build build-bin demo test run bench lint fmt vet staticcheck fuzz clean

all: build

build:
	$(GO) build ./...

# A local 3-member cluster on loopback (clients on 2379, 22379, 32379); data
# in ./local.raftkv, kept between runs. Ctrl-C stops it. The binaries land
# in bin/ (raftkv, raftkvctl, raftkv-bench, ...). ARGS go to raftkv-local:
# make run ARGS=--tls starts it with client TLS and peer mTLS.
run: build-bin
	./bin/raftkv-local $(ARGS)

build-bin:
	$(GO) build -o bin/ ./cmd/...

# The in-memory demonstration of the Raft core (no processes, virtual time).
demo:
	$(GO) run ./cmd/raftkv-demo

test: lint
	$(GO) test $(TESTFLAGS) ./...

lint: fmt vet staticcheck

fmt:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(STATICCHECK) ./...

# raftkv-bench against a fresh local 3-member cluster (ports 2379/22379/32379):
# PUT at concurrency 1, 16, 64, 256, GET and quorum GET at 64, then a table.
# BENCH_DURATION, BENCH_MATRIX, BENCH_ARGS: see cmd/raftkv-bench/cluster-bench.sh.
bench:
	GO="$(GO)" bash cmd/raftkv-bench/cluster-bench.sh

# The Go microbenchmarks of the hot paths (raft, log, kv, ...).
.PHONY: bench-go
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Runs every fuzz target for FUZZTIME each (go test accepts one -fuzz target
# per package per run).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

clean:
	$(GO) clean ./...

# A long simulator swarm: SEEDS seeds of the swarm preset on all cores.
SEEDS ?= 10000
.PHONY: swarm
swarm:
	$(GO) run ./cmd/raftkv-sim -swarm -seeds $(SEEDS)
