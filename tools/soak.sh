#!/usr/bin/env bash
# Runs fresh seeds of the deterministic simulation for M minutes and prints how many seeds,
# mutations and faults of each kind it ran, and every invariant violation with its replay command.
#   tools/soak.sh --minutes 10 [--vans 3] [--steps 120] [--first-seed S]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target mpp-sim -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
exec "$root/build/release/tests/mpp-sim" "$@"  # with --seed S alone: replays one seed
