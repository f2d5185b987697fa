#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build/fuzz) and runs them.
#
#   tools/fuzz.sh TARGET --minutes M [--jobs N]   one target for M minutes (N processes)
#   tools/fuzz.sh all --seconds S [--jobs N]      every target for S seconds each (CI smoke)
#   tools/fuzz.sh --list                          the target names
#
# Targets: envelope, push_body, pull_answer, catalog, import_line (tests/fuzz/<target>_fuzzer.cc).
# Each run starts from a copy of the seed corpus tests/fuzz/corpus/TARGET in
# build/fuzz/corpus-work/TARGET, where new inputs go (never into the repository). Crashes, leaks,
# timeouts and out-of-memory inputs are written to build/fuzz/artifacts/TARGET/. Prints the
# executions and exec/s of each target at the end; exits non-zero when a target crashed, after
# printing the path of the input that did it. Turn that input into a regression test by copying
# it to tests/fuzz/regressions/TARGET/: this script replays those first (a failure there also
# makes it exit non-zero, but the fuzzing still runs), and fuzz_regression_tests replays them
# with gcc.
# MPP_BUILD_JOBS sets the build's parallelism (default: all cores).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

all_targets=(envelope push_body pull_answer catalog import_line)

usage() {
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ $# -ge 1 ] || usage
target=$1
shift
if [ "$target" = "--list" ]; then
  printf '%s\n' "${all_targets[@]}"
  exit 0
fi
seconds=""
jobs=1
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) [ $# -ge 2 ] || usage; seconds=$(( $2 * 60 )); shift 2 ;;
    --seconds) [ $# -ge 2 ] || usage; seconds=$2; shift 2 ;;
    --jobs) [ $# -ge 2 ] || usage; jobs=$2; shift 2 ;;
    *) usage ;;
  esac
done
[ -n "$seconds" ] || usage
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -gt 0 ]] || { echo "fuzz: bad duration" >&2; exit 2; }
[[ "$jobs" =~ ^[0-9]+$ && "$jobs" -gt 0 ]] || { echo "fuzz: bad --jobs" >&2; exit 2; }

if [ "$target" = "all" ]; then
  targets=("${all_targets[@]}")
else
  case " ${all_targets[*]} " in
    *" $target "*) targets=("$target") ;;
    *) echo "fuzz: unknown target '$target' (one of: ${all_targets[*]}, all)" >&2; exit 2 ;;
  esac
fi

tools/setup.sh

build=$root/build/fuzz
sanitize="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMPP_BUILD_FUZZERS=ON -DMPP_BUILD_TESTS=OFF \
  -DCMAKE_CXX_FLAGS="$sanitize -fno-omit-frame-pointer" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
build_targets=()
for t in "${targets[@]}"; do build_targets+=("mpp_fuzz_$t"); done
cmake --build "$build" -j "${MPP_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}" \
  --target "${build_targets[@]}"

# A smaller quarantine than ASan's 256 MiB default keeps RSS under -rss_limit_mb=512 when the
# in-memory corpus holds many copies of the 144 KB catalog.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:quarantine_size_mb=64}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
summary=()
for t in "${targets[@]}"; do
  exe=$build/tests/fuzz/mpp_fuzz_$t
  work=$build/corpus-work/$t
  artifacts=$build/artifacts/$t
  logs=$build/logs/$t
  mkdir -p "$work" "$artifacts" "$logs"
  cp -f "$root/tests/fuzz/corpus/$t/"* "$work/"
  dict=()
  [ -f "$root/tests/fuzz/dict/$t.dict" ] && dict=("-dict=$root/tests/fuzz/dict/$t.dict")
  # First the inputs of bugs found before: each must pass (fuzz_regression_tests replays them with
  # gcc too, but only clang's UBSan sees some undefined behaviour, e.g. float-cast-overflow).
  regressions=()
  if [ -d "$root/tests/fuzz/regressions/$t" ]; then
    while IFS= read -r -d '' f; do regressions+=("$f"); done \
      < <(find "$root/tests/fuzz/regressions/$t" -type f -print0 | sort -z)
  fi
  if [ ${#regressions[@]} -gt 0 ]; then
    if ! "$exe" -rss_limit_mb=512 -timeout=10 "${regressions[@]}" >"$logs/regressions.log" 2>&1; then
      failed=1
      bad=$(sed -n 's/^Running: //p' "$logs/regressions.log" | tail -1)
      echo "fuzz: $t fails on a known regression input: $bad (log: $logs/regressions.log)" >&2
      grep -m1 -E 'ERROR: |runtime error|fuzz property violated' "$logs/regressions.log" >&2 || true
      summary+=("$(printf '%-12s FAILS on regression input %s' "$t" "$bad")")
    fi
  fi
  echo "fuzz: $t for ${seconds}s with $jobs process(es), corpus $work" >&2
  pids=()
  for ((j = 0; j < jobs; j++)); do
    "$exe" -rss_limit_mb=512 -max_len=1048576 -timeout=10 -max_total_time="$seconds" \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" "$work" \
      >"$logs/$j.log" 2>&1 &
    pids+=($!)
  done
  status=0
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
  execs=0
  rate=0
  for ((j = 0; j < jobs; j++)); do
    e=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$j.log" | tail -1)
    r=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$j.log" | tail -1)
    execs=$((execs + ${e:-0}))
    rate=$((rate + ${r:-0}))
  done
  if [ "$status" -ne 0 ]; then
    failed=1
    summary+=("$(printf '%-12s CRASHED after %s executions' "$t" "$execs")")
    for ((j = 0; j < jobs; j++)); do
      crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$logs/$j.log" | tail -1)
      if [ -n "$crash" ]; then
        echo "fuzz: $t crashed; input: $crash (log: $logs/$j.log)" >&2
        grep -m1 -E 'ERROR: |runtime error|fuzz property violated|SUMMARY' "$logs/$j.log" >&2 || true
      elif grep -q . "$logs/$j.log"; then
        echo "fuzz: $t failed without an input file; log: $logs/$j.log" >&2
        tail -5 "$logs/$j.log" >&2
      fi
    done
  else
    summary+=("$(printf '%-12s %12s executions %8s exec/s' "$t" "$execs" "$rate")")
  fi
done

echo "fuzz: results (${seconds}s per target, $jobs process(es))"
printf '  %s\n' "${summary[@]}"
exit "$failed"
