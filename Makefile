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

# Allocation bounds (files built with !race) hold for the binary as
# shipped, not under the race detector: a second, short run without it.
test: lint
	$(GO) test $(TESTFLAGS) ./...
	$(GO) test -count=1 -run 'Allocs$$' ./server/

lint: fmt vet staticcheck

fmt:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(STATICCHECK) ./...

# raftkv-bench against a fresh local 3-member cluster (ports 2379/22379/32379):
# PUT at concurrency 1, 16, 64, 256, GET, quorum GET and local GET at 64, then a table.
# The table gives CPU per request of each member and of the generator (from
# /proc), fsyncs and peer messages per request (from /metrics).
# BENCH_COMPARE=/path/to/etcd alternates runs with a cluster of another v2
# server and prints both with their ratio; BENCH_RUNS=3 prints medians.
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

# The visualizer as a static folder that any web host serves as it is
# (SITE, default site/, emptied first): the page, the live simulator
# (live/raftkv.wasm built for GOOS=js GOARCH=wasm, with the wasm_exec.js of
# the same Go beside it) and sample traces (traces/, opened with
# index.html?trace=traces/NAME.jsonl). raftkv-sim -live -site $(SITE)
# serves it on loopback.
SITE ?= site
.PHONY: site
site:
	rm -rf "$(SITE)" && mkdir -p "$(SITE)/traces"
	cp -R visualizer/static/. "$(SITE)/"
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags='-s -w' -o "$(SITE)/live/raftkv.wasm" ./visualizer/wasm
	cp "$$($(GO) env GOROOT)/lib/wasm/wasm_exec.js" "$(SITE)/live/"
	$(GO) build -o "$(SITE)/raftkv-sim.tmp" ./cmd/raftkv-sim
	cd "$(SITE)/traces" && ../raftkv-sim.tmp -seed 1 -preset default -short -trace default-1.jsonl >/dev/null \
	  && ../raftkv-sim.tmp -seed 3 -preset figure8 -short -trace figure8-3.jsonl >/dev/null \
	  && ../raftkv-sim.tmp -seed 2 -preset churn -short -trace churn-2.jsonl >/dev/null
	rm "$(SITE)/raftkv-sim.tmp"
	@printf 'site: %s (live/raftkv.wasm: %s bytes, %s gzipped)\n' "$(SITE)" \
	  "$$(wc -c <"$(SITE)/live/raftkv.wasm")" "$$(gzip -9 -c "$(SITE)/live/raftkv.wasm" | wc -c)"

# A long simulator swarm: SEEDS seeds of the swarm preset on all cores.
SEEDS ?= 10000
.PHONY: swarm
swarm:
	$(GO) run ./cmd/raftkv-sim -swarm -seeds $(SEEDS)

# The nemesis (needs root: network namespaces, iptables): RUNS runs of
# DURATION each against MEMBERS real raftkv processes under partitions,
# crashes, pauses, delay and loss, each history checked by Porcupine.
# SEED fixes the first run's seed (run i uses SEED+i); NEMESIS_ARGS passes
# more flags (-compose 0.5, -faults split,pause, -q); see the README.
DURATION ?= 60s
RUNS     ?= 1
MEMBERS  ?= 5
SEED     ?= 0
.PHONY: nemesis
nemesis:
	$(GO) run ./cmd/raftkv-nemesis -duration $(DURATION) -runs $(RUNS) -members $(MEMBERS) -seed $(SEED) $(NEMESIS_ARGS)

# The reproductions of published Raft results in papers/: Figure 16 of the
# Raft paper, then Pre-Vote and CheckQuorum against disruptions. Each
# regenerates its folder's CSV data, SVG and PNG plots and results.md, with
# its trials on every core and a progress bar (papers/*/README.md).
.PHONY: papers
papers:
	$(GO) run ./papers/raft-fig16
	$(GO) run ./papers/raft-disruption
