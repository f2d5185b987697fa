#!/usr/bin/env bash
# The main job on the embedded default, on one machine: a van registers citizens' requests
# offline, imports a day's batch, corrects one, cancels one, and lists what it holds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

field="$root/build/release/field_client/mpp-field"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export MPP_FIELD_DATA="$work/van-kr01"
export MPP_PASSPHRASE="demo-passphrase-kr01"

step() { printf '\n== %s\n' "$*"; }

step "Initialise van KR01 (store, device key, default catalog)"
"$field" init --van-code KR01 --officer "Rahmat Hidayat"

step "The catalog: agencies and services of MPP Kubu Raya (first lines)"
"$field" catalog | head -n 8

step "Register a KTP-el request in a village with no signal"
"$field" request new --service dukcapil.ktp-el \
  --set nik=6112054507920003 --set name="Siti Aminah" --set birth_date=1992-07-05 \
  --set address="Jl. Sungai Raya Dalam No. 12, RT 003/RW 002, Desa Sungai Raya" \
  --set village_code=61.12.05.2001 --set phone=081234567890 \
  --set alasan=baru --set pekerjaan=petani

step "A malformed NIK is refused, saying which part is wrong"
"$field" request new --service dukcapil.ktp-el \
  --set nik=6112057507920003 --set name="Budi" --set birth_date=1992-07-35 \
  --set address="Desa Kuala Dua" --set village_code=61.12.05.2002 || true

step "Import the day's batch (tools/workload, 500 requests with a few bad lines)"
python3 tools/workload --n 500 --seed 1 --bad-rate 0.01 > "$work/day.jsonl"
"$field" request import --file "$work/day.jsonl"

first=$("$field" request list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["receipt"])')
step "Correct the phone number of $first, then cancel it at the citizen's wish"
"$field" request update "$first" --set phone=085612345678
"$field" request cancel "$first" --reason "pemohon membatalkan"
"$field" request show "$first"

step "Find a citizen by NIK (a keyed index: the NIK is not stored in the clear)"
"$field" request list --nik 6112054507920003

step "Van status"
"$field" status

step "What a thief sees: the NIK does not appear in the database files"
if grep -rqa 6112054507920003 "$MPP_FIELD_DATA"; then
  echo "NIK FOUND IN CLEAR TEXT" && exit 1
else
  echo "grep for the NIK in $MPP_FIELD_DATA: no match"
fi
