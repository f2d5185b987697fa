#!/usr/bin/env python3
"""The C API's test program (tests/capi/capi_test.c) against a real mpp-server, on loopback.

    python3 tests/capi/run_capi_test.py --server-bin BUILD/server_stub/mpp-server \
        --test-bin BUILD/tests/capi_test

`mpp-server init`, a staff account (rina, dukcapil officer), an enrolment token for KR01, then
`serve` on a free 127.0.0.1 port; capi_test drives the van through libmppfield and makes the
staff's changes with `mpp-server request set-status`. Everything lives in a temporary directory,
removed at the end; the server is stopped by its PID, also on failure. The whole run is bounded
(OVERALL_S). Python's standard library only.
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

OVERALL_S = 240
DEADLINE = time.monotonic() + OVERALL_S


class Failure(Exception):
    pass


def remaining(cap):
    left = DEADLINE - time.monotonic()
    if left <= 1:
        raise Failure(f"the test ran past its {OVERALL_S} s bound")
    return min(cap, left)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(argv, env, timeout=60):
    print("$ " + " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(argv)),
          flush=True)
    try:
        p = subprocess.run(argv, env=env, capture_output=True, text=True,
                           timeout=remaining(timeout), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise Failure(f"{argv[0]} took longer than {e.timeout:.0f} s")
    if p.returncode != 0:
        raise Failure(f"{' '.join(argv)} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p.stdout


def stop(proc):
    """Stops the one server this script started, by its PID, with a bound."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def wait_healthy(proc, url):
    end = time.monotonic() + remaining(30)
    last = ""
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise Failure(f"mpp-server serve exited {proc.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            last = str(e)
        time.sleep(0.05)  # polling a condition (the server answers), bounded by `end`
    raise Failure(f"GET /healthz did not answer within 30 s (last: {last})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--test-bin", required=True)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="mpp-capi-")
    server = None
    log_path = os.path.join(work, "server.log")
    env = dict(os.environ, MPP_SERVER_DATA=os.path.join(work, "server"))
    try:
        fingerprint = run([args.server_bin, "init"], env).strip().splitlines()[-1].strip()
        run([args.server_bin, "staff", "add", "--user", "rina", "--agency", "dukcapil",
             "--role", "officer"], dict(env, MPP_STAFF_PASSWORD="rina-Kapuas-2026-capi"))
        token = run([args.server_bin, "token", "create", "--van-code", "KR01"],
                    env).strip().splitlines()[-1]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with open(log_path, "w") as log:
            server = subprocess.Popen([args.server_bin, "serve", "--listen", f"127.0.0.1:{port}"],
                                      env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        wait_healthy(server, url)
        print(f"server (pid {server.pid}) healthy on {url}", flush=True)
        limit = remaining(180)
        print("$ capi_test ...", flush=True)
        try:
            p = subprocess.run([args.test_bin, url, fingerprint, token, args.server_bin, work],
                               env=env, stdin=subprocess.DEVNULL, timeout=limit)
        except subprocess.TimeoutExpired:
            raise Failure(f"capi_test took longer than {limit:.0f} s")
        if p.returncode != 0:
            raise Failure(f"capi_test exited {p.returncode}")
    except Failure as e:
        print(f"FAILED: {e}", file=sys.stderr)
        try:
            with open(log_path, errors="replace") as f:
                print("server log (tail):\n" + "".join(f.readlines()[-30:]), file=sys.stderr)
        except OSError:
            pass
        return 1
    finally:
        stop(server)
        shutil.rmtree(work, ignore_errors=True)
    print("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
