#!/usr/bin/env python3
"""The officer's app (`mpp-field serve-ui`) in a real browser, end to end, with real processes.

    python3 tests/browser/run_van_app_test.py --build build/release

A server (`mpp-server init`, a staff account, `serve` on a free loopback port), a van store
(`mpp-field init`, not enrolled) served by `mpp-field serve-ui` on another free loopback port, and
Debian's Chromium driven by playwright-core, at a 10-inch tablet's 1280x800:
  phase 1 (van_app_phase1.mjs): unlock (a wrong passphrase refused), the officer, enrolment by
  the token's QR payload, live validation (which part of the NIK is wrong), the receipt slip
  with its QR code and print layouts, the duplicate warning, requests saved on the van;
  phase 2, the server down: a sync keeps retrying and is stopped; the requests stay saved;
  phase 3, the server back: a sync from the page, the requests sent (with when), English, lock;
  then staff decide on the server (`mpp-server request set-status`): one request needs
  information, another is completed;
  phase 4: the decisions arrive with a sync, the next visit's work by district and village, an
  answer, a hand-over, synced back; the server then holds the answer and who received it.
Every phase checks that the pages asked no origin but the van's own.

Everything lives in a temporary directory, removed at the end; every process this script starts
is stopped by its PID (its process group for node and the browser it launches), also on failure.
Only 127.0.0.1 is used. The whole run is bounded (240 s). Screenshots of every page visited go to
BUILD_DIR/browser-screenshots-van-app. Python's standard library only.
"""
import json
import os
import secrets
import shutil
import subprocess
import sys

import harness
from harness import CHROMIUM, Deadline, Failure, Processes, free_port, step

OVERALL_S = 240
PASSPHRASE = "sampan-biru-KR01-pagi"
NIK_A = "6112051203850001"  # a man born 12-03-1985, Batu Ampar
NIK_B = "6112054507920003"  # a woman born 05-07-1992, Batu Ampar
NOTE = "Mohon bawa fotokopi kartu keluarga"


class Run(Processes):
    def __init__(self, build, server_bin=None, field_bin=None):
        super().__init__(build, Deadline(OVERALL_S), server_bin, field_bin, prefix="mpp-van-app-")
        self.shots = os.path.join(self.build, "browser-screenshots-van-app")
        self.van_log = os.path.join(self.work, "serve-ui.log")
        self.staff_password = f"capil1-Kapuas-{secrets.token_hex(6)}"

    def start_van_app(self):
        port = free_port()
        self.van_url = f"http://127.0.0.1:{port}"
        log = open(self.van_log, "w")
        env = dict(os.environ, MPP_FIELD_DATA=self.van_data)
        env.pop("MPP_PASSPHRASE", None)  # the app asks the officer, not the environment
        print(f"$ mpp-field serve-ui --listen 127.0.0.1:{port}", flush=True)
        proc = subprocess.Popen([self.field_bin, "serve-ui", "--listen", f"127.0.0.1:{port}"],
                                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        self.background.append(proc)
        self.wait_http(proc, f"{self.van_url}/", "mpp-field serve-ui",
                       lambda status, body: status == 200 and "<html" in body)
        print(f"van app (pid {proc.pid}) on {self.van_url}", flush=True)

    def tail(self):
        out = super().tail()
        try:
            with open(self.van_log, errors="replace") as f:
                out += "\n-- serve-ui log (last lines) --\n" + "".join(f.readlines()[-40:])
        except OSError:
            pass
        return out

    def show(self, receipt):
        return json.loads(self.server_cmd("--json", "request", "show", receipt).stdout)

    def main(self):
        step("Versions: Debian's chromium and the pinned playwright-core")
        self.check_browser()
        shutil.rmtree(self.shots, ignore_errors=True)
        os.makedirs(self.shots)

        step("a. The server, a Dukcapil staff account, a token for KR01 with its QR payload")
        self.server_cmd("init")
        self.server_cmd("staff", "add", "--user", "capil1", "--agency", "dukcapil", "--role", "officer",
                        env={"MPP_STAFF_PASSWORD": self.staff_password})
        self.start_server()
        token = json.loads(self.server_cmd("--json", "token", "create", "--van-code", "KR01", "--qr",
                                           os.path.join(self.work, "kr01.svg"), "--server-url",
                                           self.url).stdout)
        print(f"  token {token['id']}, QR payload of {len(token['qr_payload'])} characters")

        step("b. The van's store (not enrolled) and `mpp-field serve-ui`")
        self.van("init", "--van-code", "KR01", "--officer", "Rahmat Hidayat", "--kdf-memory-kib", "8192",
                 passphrase=PASSPHRASE)
        self.start_van_app()
        # A 10-inch tablet's screen, as officers use the app in the van.
        common = {"VAN_URL": self.van_url, "SCREENSHOT_DIR": self.shots, "CHROMIUM": CHROMIUM,
                  "PASSPHRASE": PASSPHRASE, "VIEWPORT": "1280x800"}

        out = os.path.join(self.work, "phase1.json")
        step("c. Phase 1 in Chromium: unlock, officer, enrolment, live validation, receipts, saved")
        self.node("van_app_phase1.mjs", dict(common, QR_PAYLOAD=token["qr_payload"], NIK_A=NIK_A,
                                             NIK_B=NIK_B, OUT=out))
        with open(out) as f:
            made = json.load(f)
        siti, dewi = made["siti"], made["dewi"]

        step("d. The server goes down; phase 2: a sync keeps retrying, is stopped, nothing is lost")
        self.stop_server()
        self.node("van_app_phase2.mjs", common)

        step("e. The server is back (same address); phase 3: sync, sent with when, English, lock")
        self.start_server(self.port)
        self.node("van_app_phase3.mjs", dict(common, SITI=json.dumps(siti)))
        for who in (siti, dewi, made["again"]):
            got = self.show(who["receipt"])
            print(f"  server: {who['receipt']} {got['status']} by {got.get('officer')}")
            if got["status"] != "submitted" or got.get("officer") != "Nurul Hasanah":
                raise Failure(f"the server holds {who['receipt']} as {got['status']} by "
                              f"{got.get('officer')!r}, not submitted by Nurul Hasanah")

        step(f"f. Staff decide: {siti['receipt']} needs information, {dewi['receipt']} is completed")
        self.server_cmd("request", "set-status", siti["receipt"], "in_review", "--by", "capil1")
        self.server_cmd("request", "set-status", siti["receipt"], "needs_info", "--note", NOTE, "--by", "capil1")
        for status in ("received", "in_review", "completed"):
            self.server_cmd("request", "set-status", dewi["receipt"], status, "--by", "capil1")

        step("g. Phase 4 in Chromium: the decisions arrive, the next visit, answer, hand-over")
        self.node("van_app_phase4.mjs", dict(common, SITI=json.dumps(siti),
                                             DEWI=json.dumps(dewi), NOTE=NOTE))

        step("h. The server holds the answer and who received the document")
        answered, delivered = self.show(siti["receipt"]), self.show(dewi["receipt"])
        print(f"  {siti['receipt']}: {answered['status']}, phone {answered['fields'].get('phone')}")
        print(f"  {dewi['receipt']}: {delivered['status']}, note {delivered['status_note']!r}")
        if answered["status"] != "in_review" or answered["fields"].get("phone") != "081298765432":
            raise Failure(f"the answer did not reach the server: {answered}")
        if delivered["status"] != "delivered" or "Ahmad Fauzi" not in delivered["status_note"]:
            raise Failure(f"the hand-over did not reach the server: {delivered}")


if __name__ == "__main__":
    sys.exit(harness.main(Run, "browser_van_app", __doc__.split("\n\n")[0]))
