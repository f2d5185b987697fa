#!/usr/bin/env bash
# Runs every benchmark of issue 5 and prints the table that goes into README's "Performance".
#   tools/bench.sh            full sizes, 5 runs each (about 15 minutes on 2 cores)
#   tools/bench.sh --smoke    tiny sizes, one run: checks they work (CI), not how fast
#   tools/bench.sh --build DIR   binaries from another build directory (default build/release)
#   tools/bench.sh --postgres    also the server on PostgreSQL (a throwaway cluster): push of
#                                10,000, the rush on one server process and on two
#   --smoke also runs a tiny PostgreSQL case (push, and a rush on two server processes) when the
#   PostgreSQL server programs are installed.
# Each benchmark prints one JSON line of its figures, then a human table; bench.sh keeps the
# JSON lines in bench-results.jsonl (or $MPP_BENCH_OUT).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

build="$root/build/release"
extra=()
postgres=0
smoke=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --smoke) smoke=1; extra+=("$1"); shift ;;
    --json) extra+=("$1"); shift ;;
    --runs) extra+=("$1" "$2"); shift 2 ;;
    --postgres) postgres=1; shift ;;
    *) echo "bench.sh: unknown option $1 (use --smoke, --runs N, --build DIR, --postgres)" >&2; exit 2 ;;
  esac
done
# MPP_BENCH_SMOKE_POSTGRES=0 (the sanitizer build's bench_smoke) leaves the PostgreSQL case to
# the ordinary build: the same scripts, run once per CI.
if [ "$smoke" = 1 ] && [ "$postgres" = 0 ] && [ "${MPP_BENCH_SMOKE_POSTGRES:-1}" != 0 ]; then
  if pg_bindir=$(pg_config --bindir 2>/dev/null) && [ -x "$pg_bindir/initdb" ] ||
     ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    postgres=1
  else
    echo "bench.sh: PostgreSQL server programs not found: the PostgreSQL smoke case is skipped"
  fi
fi
if [ "$build" = "$root/build/release" ]; then
  tools/setup.sh
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
fi

out=${MPP_BENCH_OUT:-$root/bench-results.jsonl}
: > "$out"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo)," \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
benches=(local_work push_pull slow_link backlog rush)
if [ "$postgres" = 1 ] && [ "$smoke" = 1 ]; then
  benches+=("push_pull --postgres" "rush --postgres --servers 2")
elif [ "$postgres" = 1 ]; then
  benches+=("push_pull --postgres" "rush --postgres" "rush --postgres --servers 2")
fi
for bench in "${benches[@]}"; do
  read -r -a words <<< "$bench"
  python3 "tools/bench/${words[0]}.py" "${words[@]:1}" --build "$build" "${extra[@]}" | tee -a "$out.tmp"
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
