#!/usr/bin/env bash
# Installs every Debian package the project needs. Idempotent: when all are present it only
# checks and returns (no apt-get update, no network).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git python3
  libsqlite3-dev sqlite3
  postgresql libpq-dev
  libcurl4-openssl-dev
  libcereal-dev
  libssl-dev
  libgtest-dev libgmock-dev
  libzstd-dev
  libcpp-httplib-dev
  nlohmann-json3-dev
  libcli11-dev
  libbenchmark-dev
  librapidcheck-dev
  libargon2-dev
  libboost-dev
  libutf8proc-dev
  libzxcvbn-dev
  libqrencode-dev
  clang-format
  clang libclang-rt-14-dev
  chromium nodejs npm
)

missing=()
for p in "${packages[@]}"; do
  # A nodejs package that bundles npm (NodeSource's: "Provides: npm", and it conflicts with
  # Debian's npm) already gives the command; asking apt for Debian's npm then would fail.
  [ "$p" = npm ] && command -v npm >/dev/null 2>&1 && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -ne 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# The browser tests' npm packages (tests/browser/package-lock.json), when absent. Playwright
# drives Debian's /usr/bin/chromium: it never downloads a browser of its own.
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -d "$root/tests/browser/node_modules/playwright-core" ]; then
  echo "setup: installing the npm packages of tests/browser" >&2
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$root/tests/browser" --no-audit --no-fund >&2
fi
