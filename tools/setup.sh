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
  clang-format
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
