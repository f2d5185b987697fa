#!/usr/bin/env bash
# The whole loop on one machine, on the embedded default (SQLite, loopback):
#   two vans register citizens' requests while the server is down, the server starts, the vans
#   enrol and sync, an administrator changes a status and corrects a field, the vans sync and
#   show it, and one deliberate conflict shows on both sides.
# Starts one server process and stops it (by PID) on exit, whatever happens.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

field="$root/build/release/field_client/mpp-field"
server="$root/build/release/server_stub/mpp-server"
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" && wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
van() { local name=$1; shift; MPP_FIELD_DATA="$work/van-$name" MPP_PASSPHRASE="sampan-biru-$name-pagi" "$field" "$@"; }
first_receipt() { python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["receipt"])'; }

# A free loopback port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
export MPP_SERVER_DATA="$work/server"

step "Central server: create the database and the server key"
"$server" init | tee "$work/init.txt"
fingerprint=$(tail -n 1 "$work/init.txt")

step "Two vans (KR01, KR02) initialise their encrypted stores"
van KR01 init --van-code KR01 --officer "Rahmat Hidayat"
van KR02 init --van-code KR02 --officer "Dewi Lestari"

step "In the villages, no signal: KR01 registers a KTP-el request and imports 300 more"
van KR01 request new --service dukcapil.ktp-el \
  --set nik=6112054507920003 --set name="Siti Aminah" --set birth_date=1992-07-05 \
  --set address="Jl. Sungai Raya Dalam No. 12, RT 003/RW 002, Desa Sungai Raya" \
  --set village_code=61.12.05.2001 --set phone=081234567890 --set alasan=baru \
  --set agama=islam --set status_kawin="kawin tercatat" --set pekerjaan="petani/pekebun"
python3 tools/workload --n 300 --seed 1 > "$work/kr01.jsonl"
van KR01 request import --file "$work/kr01.jsonl"
step "KR02 imports 200 requests; a malformed NIK is refused, saying which part is wrong"
python3 tools/workload --n 200 --seed 2 > "$work/kr02.jsonl"
van KR02 request import --file "$work/kr02.jsonl"
van KR02 request new --service dukcapil.kartu-keluarga --set nik=6112057507920003 \
  --set name=Budi --set birth_date=1992-07-05 --set address="Desa Kuala Dua" \
  --set village_code=61.12.05.2002 || true

step "The server starts; the administrator makes one enrolment token per van"
"$server" serve --listen "127.0.0.1:$port" 2> "$work/server.log" &
server_pid=$!
for _ in $(seq 100); do
  curl -sf "$url/healthz" >/dev/null && break
  kill -0 "$server_pid" || { cat "$work/server.log"; exit 1; }
  sleep 0.1
done
token1=$("$server" token create --van-code KR01)
token2=$("$server" token create --van-code KR02)

step "Back in signal range: the vans enrol (pinning the server key) and sync"
van KR01 enroll --server "$url" --token "$token1" --server-key "$fingerprint"
van KR02 enroll --server "$url" --token "$token2" --server-key "$fingerprint"
van KR01 sync
van KR02 sync
"$server" device list

receipt=$(van KR01 request list --json | first_receipt)
receipt2=$(van KR02 request list --json | first_receipt)
step "Central staff: $receipt received and in review, its address corrected; $receipt2 completed"
"$server" request set-status "$receipt" received --by rina --note "berkas diterima"
"$server" request set-status "$receipt" in_review --by rina
"$server" request set "$receipt" --set address="Jl. Sungai Raya Dalam No. 12A, RT 003/RW 002, Desa Sungai Raya" --by rina
for s in received in_review completed; do "$server" request set-status "$receipt2" "$s" --by yusuf; done

step "A deliberate conflict: KR02, still offline, cancels $receipt2, which staff already completed"
van KR02 request cancel "$receipt2" --reason "pemohon membatalkan"

step "The vans sync and show the staff's work"
van KR01 sync
van KR02 sync
van KR01 request show "$receipt"
van KR02 request show "$receipt2"

step "The conflict, on the van and on the server"
van KR02 conflicts
"$server" conflicts list

step "Requests at the server for Dukcapil, and the audit check of every signed envelope"
"$server" requests list --agency dukcapil | tail -n 3
"$server" audit verify

step "Server log (one line per sync)"
tail -n 6 "$work/server.log"

step "What a thief sees: the NIK does not appear in the van's database files"
if grep -rqa 6112054507920003 "$work/van-KR01"; then
  echo "NIK FOUND IN CLEAR TEXT"; exit 1
fi
echo "grep for 6112054507920003 in $work/van-KR01: no match"
