#!/usr/bin/env bash
# Runs every benchmark of issue 5 and prints the table that goes into README's "Performance".
#   tools/bench.sh            full sizes, 5 runs each (about 15 minutes on 2 cores)
#   tools/bench.sh --smoke    tiny sizes, one run: checks they work (CI), not how fast
#   tools/bench.sh --build DIR   binaries from another build directory (default build/release)
# Each benchmark prints one JSON line of its figures, then a human table; bench.sh keeps the
# JSON lines in bench-results.jsonl (or $MPP_BENCH_OUT).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

build="$root/build/release"
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --smoke|--json) extra+=("$1"); shift ;;
    --runs) extra+=("$1" "$2"); shift 2 ;;
    *) echo "bench.sh: unknown option $1 (use --smoke, --runs N, --build DIR)" >&2; exit 2 ;;
  esac
done
if [ "$build" = "$root/build/release" ]; then
  tools/setup.sh
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
fi

out=${MPP_BENCH_OUT:-$root/bench-results.jsonl}
: > "$out"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo)," \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for bench in local_work push_pull slow_link backlog rush; do
  python3 "tools/bench/$bench.py" --build "$build" "${extra[@]}" | tee -a "$out.tmp"
  head -n 1 "$out.tmp" >> "$out"
  rm -f "$out.tmp"
done
if [ -x "$build/tools/bench/micro/mpp-micro-bench" ]; then
  micro_args=(--benchmark_repetitions=5 --benchmark_report_aggregates_only=true)
  for a in "${extra[@]}"; do
    [ "$a" = "--smoke" ] && micro_args=(--benchmark_min_time=0.01)
  done
  "$build/tools/bench/micro/mpp-micro-bench" "${micro_args[@]}"
fi
echo "JSON lines: $out"
