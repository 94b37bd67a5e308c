#!/usr/bin/env bash
# What `make bench` runs: build raftkv, raftkv-local and raftkv-bench into a
# temporary directory, start a fresh local 3-member cluster with
# raftkv-local (client ports 2379, 22379, 32379), wait until every member's
# /health is true, run the raftkv-bench matrix against all three endpoints,
# print the table, then stop the cluster and remove its data, whatever
# happened in between.
#
# Knobs (environment): GO, BENCH_MATRIX, BENCH_DURATION, BENCH_WARMUP,
# BENCH_VALUE_SIZE, BENCH_ARGS (more raftkv-bench flags), BENCH_KEEP=1 to
# keep the temporary directory (member logs) afterwards, BENCH_COMPARE=BIN
# to start a second 3-member cluster of another v2 server binary (etcd
# 3.x, an older raftkv) and alternate runs between the two, BENCH_RUNS=N
# to run every matrix entry N times (per cluster) and print the medians.
set -euo pipefail
cd "$(dirname "$0")/../.."

GO=${GO:-go}
MATRIX=${BENCH_MATRIX:-put:1,put:1:leader,put:16,put:64,put:64:leader,put:256,get:64,qget:64,lget:64}
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-1s}
VALUE_SIZE=${BENCH_VALUE_SIZE:-256}
ENDPOINTS=http://127.0.0.1:2379,http://127.0.0.1:22379,http://127.0.0.1:32379

# Someone else's cluster on these ports would be measured instead of ours.
for port in 2379 22379 32379 2380 22380 32380; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "bench: port $port is in use (is \`make run\` going?); stop whatever holds it first" >&2
    exit 1
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/raftkv-bench.XXXXXX")
cluster=
cleanup() {
  status=$?
  if [ -n "$cluster" ] && kill -0 "$cluster" 2>/dev/null; then
    kill -TERM "$cluster" 2>/dev/null || true
    wait "$cluster" 2>/dev/null || true
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    echo "bench: kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The cluster and the generator share this machine; other work on it skews
# the numbers, so say how busy it was before we started.
if [ -r /proc/loadavg ]; then
  echo "bench: load average before the cluster starts: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
fi
echo "bench: building into $tmp/bin"
"$GO" build -o "$tmp/bin/" ./cmd/raftkv ./cmd/raftkv-local ./cmd/raftkv-bench

echo "bench: starting a 3-member cluster (data and logs in $tmp/data)"
"$tmp/bin/raftkv-local" --bin "$tmp/bin/raftkv" --data-dir "$tmp/data" --fresh >"$tmp/raftkv-local.out" 2>&1 &
cluster=$!

# raftkv-local says "running" once the cluster has a leader, and exits if a
# member cannot start (a port taken since the check above, say). Only then
# is it certain that the endpoints are this cluster's.
for _ in $(seq 600); do
  grep -q 'cluster running' "$tmp/raftkv-local.out" && break
  if ! kill -0 "$cluster" 2>/dev/null; then
    echo "bench: the cluster did not start:" >&2
    cat "$tmp/raftkv-local.out" >&2
    exit 1
  fi
  sleep 0.1
done
grep -q 'cluster running' "$tmp/raftkv-local.out" || { echo "bench: the cluster found no leader in 60s" >&2; exit 1; }

echo "bench: matrix $MATRIX, $DURATION each after $WARMUP of warm-up, $VALUE_SIZE-byte values"
compare=()
if [ -n "${BENCH_COMPARE:-}" ]; then
  compare=(--compare "$BENCH_COMPARE")
fi
# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
"$tmp/bin/raftkv-bench" --endpoints "$ENDPOINTS" --wait-healthy 30s \
  --matrix "$MATRIX" --duration "$DURATION" --warmup "$WARMUP" --value-size "$VALUE_SIZE" \
  --runs "${BENCH_RUNS:-1}" --label raftkv "${compare[@]}" ${BENCH_ARGS:-} || {
  status=$?
  echo "bench: raftkv-bench failed; raftkv-local said:" >&2
  cat "$tmp/raftkv-local.out" >&2
  exit "$status"
}
if ! kill -0 "$cluster" 2>/dev/null; then
  echo "bench: a member exited during the run, so the numbers above are not a healthy cluster's:" >&2
  cat "$tmp/raftkv-local.out" >&2
  exit 1
fi
