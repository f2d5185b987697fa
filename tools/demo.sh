#!/usr/bin/env bash
# The whole loop on one machine, on the embedded default (SQLite, loopback):
#   two vans register citizens' requests while the server is down, the server starts, the vans
#   enrol and sync, an administrator changes a status and corrects a field, the vans sync and
#   show it, and one deliberate conflict shows on both sides; then the officer's app of one van
#   (`mpp-field serve-ui`) beside the staff dashboard.
# Starts one server process and the app and stops them (by PID) on exit, whatever happens.
#
#   tools/demo.sh --postgres    the same loop on a throwaway PostgreSQL cluster (initdb in a temp
#                               dir, as nobody when run as root; socket in that dir, a free
#                               loopback port) with TWO server processes on its database, the vans
#                               syncing through one and then the other (`mpp-field sync --server`);
#                               the cluster and both servers are stopped by PID on exit.
#   tools/demo.sh --no-wait     exit at the end instead of leaving the server (and its staff
#                               dashboard) running until Enter is pressed (for tests and scripts).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
postgres=0
wait_at_end=1
for arg in "$@"; do
  case "$arg" in
    --postgres) postgres=1 ;;
    --no-wait) wait_at_end=0 ;;
    *) echo "demo.sh: unknown option $arg (use --postgres, --no-wait)" >&2; exit 2 ;;
  esac
done
tools/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

field="$root/build/release/field_client/mpp-field"
server="$root/build/release/server_stub/mpp-server"
work=$(mktemp -d)
server_pid=""
server2_pid=""
app_pid=""
pg_pid=""
pg_dir=""
stop_pid() {  # PID, signal: ends one process this script started, with a bound
  local pid=$1 sig=$2
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_pid "$server_pid" TERM
  stop_pid "$server2_pid" TERM
  stop_pid "$app_pid" TERM
  stop_pid "$pg_pid" INT  # PostgreSQL's fast shutdown
  rm -rf "$work"
  [ -z "$pg_dir" ] || rm -rf "$pg_dir"
}
trap cleanup EXIT
trap 'exit 130' INT  # so that cleanup runs on Ctrl-C and kill too
trap 'exit 143' TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
van() { local name=$1; shift; MPP_FIELD_DATA="$work/van-$name" MPP_PASSPHRASE="sampan-biru-$name-pagi" "$field" "$@"; }
first_receipt() { python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["receipt"])'; }

# A free loopback port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
url="http://127.0.0.1:$port"
export MPP_SERVER_DATA="$work/server"

if [ "$postgres" = 1 ]; then
  step "A throwaway PostgreSQL cluster for the central database"
  bindir=$(pg_config --bindir 2>/dev/null || true)
  [ -x "$bindir/initdb" ] || bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$bindir/initdb" ] || { echo "demo.sh: PostgreSQL server binaries not found (tools/setup.sh)"; exit 1; }
  pg_dir=$(mktemp -d)
  as_pg=()
  if [ "$(id -u)" = 0 ]; then
    # initdb and postgres refuse root: they run as nobody, who owns the cluster's dir.
    chown "$(id -u nobody):$(id -g nobody)" "$pg_dir"
    # --pdeathsig: should this script be killed outright, the postmaster goes with it.
    as_pg=(setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups --pdeathsig=KILL --)
  fi
  pg_password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  (umask 077; echo "$pg_password" > "$pg_dir/pwfile")
  [ "$(id -u)" = 0 ] && chown "$(id -u nobody)" "$pg_dir/pwfile"
  "${as_pg[@]}" mkdir "$pg_dir/sock"
  "${as_pg[@]}" env -C "$pg_dir" "$bindir/initdb" -D "$pg_dir/data" -U mpp --pwfile="$pg_dir/pwfile" \
    --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C --no-sync >"$pg_dir/initdb.log" 2>&1 \
    || { cat "$pg_dir/initdb.log"; exit 1; }
  pg_port=$(free_port)
  # setpriv execs, so $! is the postmaster itself.
  "${as_pg[@]}" env -C "$pg_dir" "$bindir/postgres" -D "$pg_dir/data" -p "$pg_port" -k "$pg_dir/sock" \
    -c listen_addresses=127.0.0.1 -c dynamic_shared_memory_type=mmap >"$pg_dir/log" 2>&1 &
  pg_pid=$!
  # Ready when the status line (the 8th) of postmaster.pid says so, as `pg_ctl start -w` waits.
  pg_ready() { case "$(sed -n 8p "$pg_dir/data/postmaster.pid" 2>/dev/null)" in ready*) return 0 ;; esac; return 1; }
  for _ in $(seq 300); do
    pg_ready && break
    kill -0 "$pg_pid" 2>/dev/null || { cat "$pg_dir/log"; exit 1; }
    sleep 0.1
  done
  pg_ready || { cat "$pg_dir/log"; exit 1; }
  "$bindir/createdb" -h "$pg_dir/sock" -p "$pg_port" -U mpp mpp
  echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') (pid $pg_pid) on 127.0.0.1:$pg_port, database mpp"
  # Every mpp-server command below, both servers and the administrator's, uses this database.
  export MPP_SERVER_DB="postgresql://mpp:$pg_password@127.0.0.1:$pg_port/mpp"
  port2=$(free_port)
  url2="http://127.0.0.1:$port2"
fi
# sync NAME ROUND: with --postgres, van number N syncs through server (ROUND + N) % 2.
sync_van() {
  local name=$1 round=$2
  if [ "$postgres" = 1 ]; then
    local n=${name#KR0} urls=("$url" "$url2")
    local through=${urls[$(( (round + n) % 2 ))]}
    echo "($name syncs through $through)"
    van "$name" sync --server "$through"
  else
    van "$name" sync
  fi
}
wait_healthz() {  # URL PID LOG
  for _ in $(seq 100); do
    curl -sf "$1/healthz" >/dev/null && return 0
    kill -0 "$2" || { cat "$3"; exit 1; }
    sleep 0.1
  done
  curl -sf "$1/healthz" >/dev/null || { cat "$3"; exit 1; }
}

step "Central server: create the database and the server key"
"$server" init | tee "$work/init.txt"
fingerprint=$(tail -n 1 "$work/init.txt")

step "Staff accounts for the dashboard, one per role (staff commands name one with --by)"
MPP_STAFF_PASSWORD=admin-demo-2026 "$server" staff add --user admin --agency '*' --role admin
MPP_STAFF_PASSWORD=rina-demo-2026 "$server" staff add --user rina --agency dukcapil --role officer
MPP_STAFF_PASSWORD=lia-demo-2026 "$server" staff add --user lia --agency dukcapil --role viewer
"$server" staff list

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
wait_healthz "$url" "$server_pid" "$work/server.log"
if [ "$postgres" = 1 ]; then
  echo "A second server process on the same database and keys: $url2"
  "$server" serve --listen "127.0.0.1:$port2" 2> "$work/server2.log" &
  server2_pid=$!
  wait_healthz "$url2" "$server2_pid" "$work/server2.log"
fi
token1=$("$server" token create --van-code KR01)
token2=$("$server" token create --van-code KR02)

step "Back in signal range: the vans enrol (pinning the server key) and sync"
van KR01 enroll --server "$url" --token "$token1" --server-key "$fingerprint"
van KR02 enroll --server "$url" --token "$token2" --server-key "$fingerprint"
sync_van KR01 0
sync_van KR02 0
"$server" device list

receipt=$(van KR01 request list --json | first_receipt)
receipt2=$(van KR02 request list --json | first_receipt)
step "Central staff: $receipt received and in review, its address corrected; $receipt2 completed"
"$server" request set-status "$receipt" received --by rina --note "berkas diterima"
"$server" request set-status "$receipt" in_review --by rina
"$server" request set "$receipt" --set address="Jl. Sungai Raya Dalam No. 12A, RT 003/RW 002, Desa Sungai Raya" --by rina
for s in received in_review completed; do "$server" request set-status "$receipt2" "$s" --by admin; done

step "A deliberate conflict: KR02, still offline, cancels $receipt2, which staff already completed"
van KR02 request cancel "$receipt2" --reason "pemohon membatalkan"

step "The vans sync and show the staff's work"
sync_van KR01 1
sync_van KR02 1
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
if [ "$postgres" = 1 ]; then
  step "Second server's log"
  tail -n 6 "$work/server2.log"
fi

step "What a thief sees: the NIK does not appear in the van's database files"
if grep -rqa 6112054507920003 "$work/van-KR01"; then
  echo "NIK FOUND IN CLEAR TEXT"; exit 1
fi
echo "grep for 6112054507920003 in $work/van-KR01: no match"

step "The officer's app on van KR01: mpp-field serve-ui (locked until the passphrase)"
app_port=$(free_port)
MPP_FIELD_DATA="$work/van-KR01" "$field" serve-ui --listen "127.0.0.1:$app_port" 2> "$work/app.log" &
app_pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$app_port/api/state" >/dev/null && break
  kill -0 "$app_pid" || { cat "$work/app.log"; exit 1; }
  sleep 0.1
done
curl -sf "http://127.0.0.1:$app_port/api/state" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print("van", s["van_code"], "officer", s["officer"], "unlocked:", s["unlocked"], "pending:", s["pending"])'

step "The staff dashboard and the officer's app"
cat <<EOF
Open http://127.0.0.1:$app_port/ for the officer's app of van KR01 (passphrase
sampan-biru-KR01-pagi): register, print the receipt slip, sync, the next visit's work.
Open $url/ in a browser (Bahasa Indonesia; "English" at the top right) and log in:
  admin / admin-demo-2026   admin: every agency, vans
  rina  / rina-demo-2026    officer of Dukcapil: changes status, corrects fields, settles conflicts
  lia   / lia-demo-2026     viewer of Dukcapil: reads only
EOF
if [ "$wait_at_end" = 1 ]; then
  # read returns at once when stdin is not a terminal (a script), like --no-wait.
  read -r -p "The server and the app keep running; press Enter to stop them. " _ || true
fi
