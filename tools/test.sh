#!/usr/bin/env bash
# Builds and runs every test: tools/test.sh [--asan]
# Installs missing packages first (tools/setup.sh). Warnings are errors here, as in CI.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools/setup.sh

preset=ci
# 300 SQLite seeds here (the PostgreSQL run adds 100, tests/CMakeLists.txt), 100 under the
# sanitizers, which also leave out the process-killing e2e tests (tests/CMakeLists.txt): the
# whole CI stays under 45 minutes on 2 cores. tools/soak.sh runs thousands.
export MPP_SIM_SEEDS=${MPP_SIM_SEEDS:-300}
if [ "${1:-}" = "--asan" ]; then
  preset=asan-ubsan
  export MPP_SIM_SEEDS=100
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$jobs"
# Each test has its own timeout (tests/CMakeLists.txt); the whole run stays well under CI's limit.
ctest --preset "$preset" -j "$jobs" --timeout 600
