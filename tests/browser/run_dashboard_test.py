#!/usr/bin/env python3
"""The staff dashboard in a real browser, end to end, with real processes.

    python3 tests/browser/run_dashboard_test.py --build build/release

A server (`mpp-server init`, three staff accounts, `serve` on a free loopback port), a van
(`mpp-field`: enrolment, three requests, sync) and Debian's Chromium driven by playwright-core
(tests/browser/dashboard_phase1.mjs to dashboard_phase4.mjs): an officer logs in, sees only their
agency's requests, an XSS payload in a citizen's name stays text, a status change with a note
reaches the van; a conflict made on purpose is settled in the dashboard and reaches the van; an
officer of another agency sees nothing of it; the language switch works. Then the administrator
(dashboard_phase3.mjs, dashboard_phase4.mjs): the summary counts the van's requests; an internal
comment with markup in it stays text and never reaches the van; the inbox's CSV export (masked: a
UTF-8 BOM, no NIK in full) and JSON export (unmasked); an enrolment token whose QR payload enrols a
new van (KR09), after which the token shows used; a viewer account made and disabled (its login
then answers 401, as a wrong password does); the new van revoked (its sync is then refused).

Everything lives in a temporary directory, removed at the end; every process this script starts
is stopped by its PID (its process group for node and the browser it launches), also on failure.
Only 127.0.0.1 is used. The whole run is bounded (240 s). Screenshots of every page visited go to
BUILD_DIR/browser-screenshots. Python's standard library only.
"""
import json
import os
import re
import secrets
import shutil
import sys
import urllib.error
import urllib.request

import harness
from harness import CHROMIUM, Deadline, Failure, Processes, step

OVERALL_S = 240


class Run(Processes):
    def __init__(self, build, server_bin=None, field_bin=None):
        super().__init__(build, Deadline(OVERALL_S), server_bin, field_bin)
        self.shots = os.path.join(self.build, "browser-screenshots")
        self.passwords = {u: f"{u}-Kapuas-{secrets.token_hex(6)}" for u in ("admin1", "capil1", "other1")}

    def api_login(self, user, password):
        """POST /api/login as a browser would (with Origin); answers (status, body as JSON or text)."""
        req = urllib.request.Request(f"{self.url}/api/login", method="POST",
                                     data=json.dumps({"user": user, "password": password}).encode(),
                                     headers={"Content-Type": "application/json", "Origin": self.url})
        try:
            with urllib.request.urlopen(req, timeout=self.remaining(15)) as r:
                status, body = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read().decode()
        try:
            return status, json.loads(body)
        except json.JSONDecodeError:
            return status, body

    # ---- the flow

    def main(self):
        step("Versions: Debian's chromium and the pinned playwright-core")
        self.check_browser()
        shutil.rmtree(self.shots, ignore_errors=True)
        os.makedirs(self.shots)

        step("a. The server's database and keys; staff accounts admin1, capil1, other1")
        init = self.server_cmd("init").stdout
        fingerprint = init.strip().splitlines()[-1].strip()
        print(f"server key {fingerprint}")
        self.other_agency = "polres"
        for user, agency, role in (("admin1", "*", "admin"), ("capil1", "dukcapil", "officer"),
                                   ("other1", self.other_agency, "officer")):
            self.server_cmd("staff", "add", "--user", user, "--agency", agency, "--role", role,
                            env={"MPP_STAFF_PASSWORD": self.passwords[user]})

        step("b. The server starts; GET /healthz says ok")
        self.start_server()

        step("c. A van (KR01) enrols, registers three requests (one an XSS name) and syncs")
        self.van("init", "--van-code", "KR01", "--officer", "Rahmat Hidayat", "--kdf-memory-kib", "8192")
        token = self.server_cmd("token", "create", "--van-code", "KR01").stdout.strip().splitlines()[-1]
        self.van("enroll", "--server", self.url, "--token", token, "--server-key", fingerprint)
        common = ["--set", "address=Jl. Sungai Raya Dalam No. 12, Desa Sungai Raya",
                  "--set", "village_code=61.12.05.2001", "--set", "phone=081234567890"]
        self.xss_name = "<img src=x onerror=alert(1)>Budi"
        xss = self.van_json("request", "new", "--service", "dukcapil.ktp-el",
                            "--set", "nik=6112051203850001", "--set", f"name={self.xss_name}",
                            "--set", "birth_date=1985-03-12", *common, "--set", "alasan=baru",
                            "--set", "agama=islam", "--set", "status_kawin=kawin tercatat",
                            "--set", "pekerjaan=nelayan/perikanan")
        plain = self.van_json("request", "new", "--service", "dukcapil.ktp-el",
                              "--set", "nik=6112054507920003", "--set", "name=Siti Aminah",
                              "--set", "birth_date=1992-07-05", *common, "--set", "alasan=hilang",
                              "--set", "agama=islam", "--set", "status_kawin=belum kawin",
                              "--set", "pekerjaan=petani/pekebun")
        other = self.van_json("request", "new", "--service", "polres.skck",
                              "--set", "nik=6112056801900002", "--set", "name=Dewi Lestari",
                              "--set", "birth_date=1990-01-28", *common,
                              "--set", "keperluan=melamar pekerjaan", "--set", "pekerjaan=guru",
                              "--set", "agama=katolik")
        for what, r in (("XSS name", xss), ("plain", plain), (self.other_agency, other)):
            print(f"  {what}: {r['receipt']} ({r['id']})")
        self.van("sync")

        note = "Mohon lampirkan fotokopi kartu keluarga"
        common_env = {
            "BASE_URL": self.url, "SCREENSHOT_DIR": self.shots, "CHROMIUM": CHROMIUM,
            "CAPIL_USER": "capil1", "CAPIL_PASSWORD": self.passwords["capil1"],
            "OTHER_USER": "other1", "OTHER_PASSWORD": self.passwords["other1"],
            "REQ_XSS_ID": xss["id"], "REQ_XSS_RECEIPT": xss["receipt"], "REQ_XSS_NAME": self.xss_name,
            "REQ_PLAIN_ID": plain["id"], "REQ_PLAIN_RECEIPT": plain["receipt"],
            "REQ_OTHER_ID": other["id"], "REQ_OTHER_RECEIPT": other["receipt"],
            "STATUS_NOTE": note,
        }
        step("d. Phase 1 in Chromium: login, inbox, filter, XSS as text, status needs_info with a note")
        self.node("dashboard_phase1.mjs", common_env)

        step(f"e. The van syncs: {xss['receipt']} is needs_info with the note")
        self.van("sync")
        shown = self.van_json("request", "show", xss["receipt"])
        print(f"  van: status {shown['status']}, note {shown['status_note']!r}")
        if shown["status"] != "needs_info" or shown["status_note"] != note:
            raise Failure(f"the van shows {xss['receipt']} as {shown['status']} with the note "
                          f"{shown['status_note']!r}, not needs_info with {note!r}")
        if shown["fields"].get("name") != self.xss_name:
            raise Failure(f"the van's name of {xss['receipt']} changed: {shown['fields'].get('name')!r}")

        field = "address"
        step(f"f. A conflict: the van (offline) and capil1 (on the server) change {plain['receipt']}'s {field}")
        van_value = "Jl. Adisucipto Km 9, Desa Arang Limbung"
        staff_value = "Jl. Sungai Raya Dalam No. 12B, Desa Sungai Raya"
        self.van("request", "update", plain["receipt"], "--set", f"{field}={van_value}")
        self.server_cmd("request", "set", plain["receipt"], "--set", f"{field}={staff_value}", "--by", "capil1")
        self.van("sync")
        conflicts = json.loads(self.server_cmd("--json", "conflicts", "list").stdout)
        mine = [c for c in conflicts if c.get("receipt") == plain["receipt"] and c.get("field") == field]
        print(f"  server: {json.dumps(mine, ensure_ascii=False)}")
        if not mine:
            raise Failure(f"no open conflict on {plain['receipt']} {field} at the server: {conflicts}")
        rev = mine[0]["id"]
        van_conflicts = self.van_json("conflicts")
        if not any(c.get("request_id") == plain["id"] and c.get("field") == field for c in van_conflicts):
            raise Failure(f"the van reports no conflict on {plain['receipt']} {field}: {van_conflicts}")

        resolved = "Jl. Sungai Raya Dalam No. 14, Desa Sungai Raya"
        step(f"g. Phase 2 in Chromium: capil1 settles conflict #{rev} with a value of their own; "
             "other1 sees nothing of Dukcapil; the language switch")
        self.node("dashboard_phase2.mjs", dict(common_env, CONFLICT_REV=str(rev), CONFLICT_REQUEST_ID=plain["id"],
                                               CONFLICT_RECEIPT=plain["receipt"], CONFLICT_FIELD=field,
                                               RESOLVED_VALUE=resolved))

        step(f"h. The van syncs: {plain['receipt']}'s {field} is the settled value")
        self.van("sync")
        shown = self.van_json("request", "show", plain["receipt"])
        print(f"  van: {field} = {shown['fields'].get(field)!r}")
        if shown["fields"].get(field) != resolved:
            raise Failure(f"the van shows {field} = {shown['fields'].get(field)!r}, not the settled {resolved!r}")
        settled = json.loads(self.server_cmd("--json", "conflicts", "list", "--all").stdout)
        entry = [c for c in settled if c.get("id") == rev]
        print(f"  server: {json.dumps(entry, ensure_ascii=False)}")
        if not entry or entry[0].get("open"):
            raise Failure(f"conflict #{rev} is still open at the server: {entry}")

        self.admin_phases(common_env, fingerprint, xss, plain, other)

    def admin_phases(self, common_env, fingerprint, xss, plain, other):
        new_code = "KR09"
        new_data = os.path.join(self.work, f"van-{new_code}")
        new_pass = f"perahu-hijau-{new_code}-senja"
        token_out = os.path.join(self.work, "phase3-token.json")
        comment = "Cek <b>KK</b> asli & fotokopi <i>dua</i> lembar"
        admin_env = dict(common_env, ADMIN_USER="admin1", ADMIN_PASSWORD=self.passwords["admin1"])
        step(f"i. Phase 3 in Chromium: admin1: summary, an internal comment on {plain['receipt']}, "
             f"CSV (masked) and JSON exports, an enrolment token for {new_code}")
        self.node("dashboard_phase3.mjs", dict(
            admin_env, NEW_VAN_CODE=new_code, SERVER_FINGERPRINT=fingerprint, TOKEN_OUT=token_out,
            COMMENT_TEXT=comment, PHONE="081234567890",
            NIKS=json.dumps({xss["receipt"]: "6112051203850001", plain["receipt"]: "6112054507920003",
                             other["receipt"]: "6112056801900002"})))
        with open(token_out) as f:
            token = json.load(f)

        step(f"j. The comment stays internal: {plain['receipt']} at the van (after a sync) does not carry it")
        self.van("sync")
        shown = self.van("--json", "request", "show", plain["receipt"]).stdout
        if "KK</b>" in shown or "fotokopi <i>" in shown:
            raise Failure(f"the van's copy of {plain['receipt']} carries the internal comment: {shown}")
        print("  not at the van")

        step(f"k. A new van {new_code} enrols from the dashboard's QR payload and syncs")
        self.van("init", "--van-code", new_code, "--officer", "Nurul Hasanah", "--kdf-memory-kib", "8192",
                 data=new_data, passphrase=new_pass)
        enrolled = self.van("enroll", "--qr", token["payload"], data=new_data, passphrase=new_pass)
        print(f"  {(enrolled.stdout + enrolled.stderr).strip()}")
        status = self.van_json("status", data=new_data, passphrase=new_pass)
        print(f"  {new_code}: {json.dumps(status)}")
        if not status.get("enrolled") or status.get("server") != self.url or status.get("van_code") != new_code:
            raise Failure(f"{new_code} is not enrolled with {self.url} after enroll --qr: {status}")
        self.van("sync", data=new_data, passphrase=new_pass)
        old_status = self.van_json("status")

        viewer, viewer_agency = "lihat1", "dukcapil"
        viewer_password = f"{viewer}-Ambawang-{secrets.token_hex(6)}"
        step(f"l. Phase 4 in Chromium: admin1: token {token['id']} used; viewer {viewer} made and disabled; "
             f"{new_code} revoked")
        self.node("dashboard_phase4.mjs", dict(
            admin_env, TOKEN_ID=token["id"], NEW_VAN_CODE=new_code, NEW_VAN_DEVICE=status["device_id"],
            OLD_VAN_CODE="KR01", OLD_VAN_DEVICE=old_status["device_id"], VIEWER_USER=viewer,
            VIEWER_AGENCY=viewer_agency, VIEWER_PASSWORD=viewer_password))

        step(f"m. The disabled {viewer} cannot log in: POST /api/login answers 401, as a wrong password does")
        got = self.api_login(viewer, viewer_password)
        wrong = self.api_login(viewer, viewer_password + "-salah")
        print(f"  right password: {got[0]} {got[1]}\n  wrong password: {wrong[0]} {wrong[1]}")
        if got[0] != 401 or not isinstance(got[1], dict) or got[1].get("code") != "unauthenticated":
            raise Failure(f"the disabled {viewer}'s login answered {got[0]} {got[1]}, not 401 unauthenticated")
        if got != wrong:
            raise Failure(f"a disabled account's login is answered unlike a wrong password: {got} vs {wrong}")

        step(f"n. The revoked {new_code} cannot sync; KR01 still can")
        refused = self.van("sync", data=new_data, passphrase=new_pass, check=False)
        said = (refused.stdout + refused.stderr).strip()
        print(f"  {new_code} sync exited {refused.returncode}: {said}")
        if refused.returncode == 0:
            raise Failure(f"the revoked {new_code} synced (exit 0): {said}")
        # The server's one line for a device it refuses (PROTOCOL.md, refusals): revoked or unknown.
        if not re.search(r"revoked|no longer allowed", said, re.I) or "401" not in said:
            raise Failure(f"the revoked {new_code}'s sync failed without saying the device is refused: {said}")
        self.van("sync")


if __name__ == "__main__":
    sys.exit(harness.main(Run, "browser_dashboard", __doc__.split("\n\n")[0]))
