#!/usr/bin/env bash
# compare-traces.sh: proves that a change left the simulator's behaviour
# alone. It builds raftkv-sim twice, from a git commit (the base) and from
# the working tree (the new one), runs both on every preset for a few seeds
# with -trace, and compares the traces byte for byte. A run is a function of
# its seed and options only (sim/doc.go), so any difference is a change of
# behaviour. It prints how many traces are identical and, for each one that
# is not, its preset and seed and the first line where the two differ; the
# exit status is 0 when every trace is identical, 1 otherwise (and 2 for
# bad arguments).
#
#   sim/testdata/compare-traces.sh [flags] [COMMIT]
#
#   COMMIT           the base commit (default HEAD), built from a temporary
#                    `git worktree add --detach` under $TMPDIR that the script
#                    removes when it ends, however it ends
#   --base-bin PATH  use this raftkv-sim binary as the base instead of
#                    building a commit (or RAFTKV_SIM_BASE=PATH)
#   --seeds N        seeds per preset (default 5, or COMPARE_SEEDS)
#   --first N        first seed (default 1)
#   --presets LIST   comma-separated presets (default: every preset that the
#                    new raftkv-sim -h lists)
#   --full           full-length runs; the default passes -short (a safety
#                    phase of 4 simulated seconds): the default 45 pairs
#                    of runs then take well under a minute on 2 cores
#   -j N             runs in parallel (default: the number of cores)
#   --keep           keep the traces (and the runs' output) and say where
#
# Every run happens in a scratch directory under $TMPDIR, so nothing lands in
# the working directory, whatever either binary writes by default. GO names
# the go command (default go).
#
# The traces of a run that fails its linearizability check name the file of
# Porcupine's HTML, and so differ between two binaries that put that file in
# different places even when the runs are the same; the runs here are of
# unbugged presets, which pass.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
  exit "${1:-2}"
}

GO=${GO:-go}
base_bin=${RAFTKV_SIM_BASE:-}
seeds=${COMPARE_SEEDS:-5}
first=1
presets=
short=-short
jobs=$(nproc 2>/dev/null || echo 2)
keep=0
commit=
while [ $# -gt 0 ]; do
  case $1 in
    --base-bin) base_bin=${2:?--base-bin needs a path}; shift 2 ;;
    --seeds) seeds=${2:?--seeds needs a number}; shift 2 ;;
    --first) first=${2:?--first needs a number}; shift 2 ;;
    --presets) presets=${2:?--presets needs a list}; shift 2 ;;
    --full) short=; shift ;;
    -j) jobs=${2:?-j needs a number}; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) usage 0 ;;
    -*) echo "compare-traces: unknown flag $1" >&2; usage ;;
    *)
      [ -z "$commit" ] || { echo "compare-traces: one commit only" >&2; usage; }
      commit=$1; shift ;;
  esac
done
for n in "$seeds" "$first" "$jobs"; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "compare-traces: $n is not a number" >&2; exit 2; }
done
(( seeds > 0 && jobs > 0 )) || { echo "compare-traces: --seeds and -j must be positive" >&2; exit 2; }
if [ -n "$base_bin" ] && [ -n "$commit" ]; then
  echo "compare-traces: give a commit or --base-bin, not both" >&2
  exit 2
fi

root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(cd "$(mktemp -d "${TMPDIR:-/tmp}/compare-traces.XXXXXX")" && pwd)
worktree=
cleanup() {
  status=$?
  # Runs still going (interrupted): stop them before removing their files.
  # shellcheck disable=SC2046 # one pid a word
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "$worktree" ]; then
    git -C "$root" worktree remove --force "$worktree" 2>/dev/null || rm -rf "$worktree"
    git -C "$root" worktree prune 2>/dev/null || true
  fi
  if [ "$keep" = 1 ]; then
    rm -rf "$tmp/src"
    echo "compare-traces: kept the traces in $tmp/base and $tmp/new" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$tmp/bin" "$tmp/base" "$tmp/new"
if [ -n "$base_bin" ]; then
  [ -x "$base_bin" ] || { echo "compare-traces: $base_bin is not an executable" >&2; exit 2; }
  base_bin=$(cd "$(dirname "$base_bin")" && pwd)/$(basename "$base_bin")
  base_name=$base_bin
else
  rev=$(git -C "$root" rev-parse --verify --quiet "${commit:-HEAD}^{commit}") ||
    { echo "compare-traces: ${commit:-HEAD} is not a commit" >&2; exit 2; }
  base_name="commit $(git -C "$root" rev-parse --short "$rev")"
  echo "compare-traces: building the base from $base_name"
  worktree=$tmp/src
  git -C "$root" worktree add --detach --quiet "$worktree" "$rev"
  (cd "$worktree" && "$GO" build -o "$tmp/bin/base" ./cmd/raftkv-sim)
  base_bin=$tmp/bin/base
fi
echo "compare-traces: building the new one from the working tree $root"
(cd "$root" && "$GO" build -o "$tmp/bin/new" ./cmd/raftkv-sim)
new_bin=$tmp/bin/new

if [ -z "$presets" ]; then
  # The -preset line of the usage (-h exits 1): "option preset: swarm,
  # default, ... (...".
  presets=$({ "$new_bin" -h 2>&1 || true; } | sed -n 's/.*option preset: \([^(]*\) (.*/\1/p' | tr -d ' ')
  [ -n "$presets" ] || { echo "compare-traces: no presets in raftkv-sim -h; give --presets" >&2; exit 2; }
fi
IFS=, read -r -a preset_list <<<"$presets"

# run_one SIDE BIN PRESET SEED writes $tmp/SIDE/PRESET-SEED.jsonl, the run's
# output in .out and, if it exited other than 0, its status in .status. The
# exit status says how the run went (2, 3, 4: it failed a check, which both
# sides should do alike); only a missing trace is the script's concern.
run_one() {
  local dir=$tmp/$1 name=$3-$4 status=0
  # shellcheck disable=SC2086 # $short is one flag or none
  (cd "$dir" && "$2" -seed "$4" -preset "$3" $short -trace "$name.jsonl" >"$name.out" 2>&1) || status=$?
  [ "$status" = 0 ] || echo "$status" >"$dir/$name.status"
}

runs=$(( ${#preset_list[@]} * seeds ))
echo "compare-traces: base $base_name against the working tree: ${#preset_list[@]} presets ($presets)" \
  "× seeds $first..$((first + seeds - 1)), ${short:-full length}, $jobs in parallel"
start=$SECONDS
running=0
for preset in "${preset_list[@]}"; do
  for ((seed = first; seed < first + seeds; seed++)); do
    for side in base new; do
      bin=$base_bin
      [ "$side" = new ] && bin=$new_bin
      run_one "$side" "$bin" "$preset" "$seed" &
      running=$((running + 1))
      if (( running >= jobs )); then
        wait -n
        running=$((running - 1))
      fi
    done
  done
done
wait

# clip LINE: a trace line can be kilobytes long; show its start.
clip() { cut -c1-240; }

same=0
for preset in "${preset_list[@]}"; do
  for ((seed = first; seed < first + seeds; seed++)); do
    name=$preset-$seed
    b=$tmp/base/$name.jsonl n=$tmp/new/$name.jsonl
    if [ -s "$b" ] && [ -s "$n" ] && cmp -s "$b" "$n"; then
      same=$((same + 1))
      continue
    fi
    echo "DIFFERS: preset $preset seed $seed (raftkv-sim -seed $seed -preset $preset $short)"
    missing=0
    for side in base new; do
      if [ ! -s "$tmp/$side/$name.jsonl" ]; then
        missing=1
        echo "  $side wrote no trace (exit $(cat "$tmp/$side/$name.status" 2>/dev/null || echo 0)):"
        tail -n 3 "$tmp/$side/$name.out" | sed 's/^/    /'
      fi
    done
    [ "$missing" = 0 ] || continue
    # cmp says "FILE1 FILE2 differ: byte B, line L", or "EOF on FILE after
    # byte B, line L" when one trace is the start of the other.
    out=$(cmp "$b" "$n" 2>&1 || true)
    line=$(sed -n 's/.* line \([0-9]*\).*/\1/p' <<<"$out")
    if [[ $out == *"EOF on"* ]]; then
      echo "  one trace is the start of the other: base $(wc -l <"$b") lines, new $(wc -l <"$n") lines"
      continue
    fi
    echo "  first difference at line $line:"
    echo "  base: $(sed -n "${line}p" "$b" | clip)"
    echo "  new:  $(sed -n "${line}p" "$n" | clip)"
  done
done

echo "compare-traces: $same of $runs traces identical ($((SECONDS - start))s of runs)"
if (( same != runs )); then
  echo "compare-traces: $((runs - same)) differ; rerun with --keep to inspect them" >&2
  exit 1
fi
