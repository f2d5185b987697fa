"""Shared pieces of the benchmark programs in tools/bench: the binaries, a server process, vans,
and the summary each program prints (one JSON line, then a human table).

Every process a benchmark starts is ended by PID when the benchmark ends, and every wait is
bounded. Traffic goes to 127.0.0.1 only.
"""

import argparse
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def common_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--build", default=os.path.join(ROOT, "build", "release"),
                   help="build directory holding the binaries (default build/release)")
    p.add_argument("--runs", type=int, default=5, help="repetitions; medians are reported")
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes and one run: checks the benchmark works, not how fast")
    p.add_argument("--json", action="store_true", help="only the JSON line")
    p.add_argument("--postgres", action="store_true",
                   help="the server on a throwaway PostgreSQL cluster (initdb in a temp dir, "
                        "a fresh database per run) instead of SQLite")
    return p


def pg_bindir():
    """The PostgreSQL server programs' directory (pg_config --bindir, else the newest
    /usr/lib/postgresql/*/bin), or None."""
    try:
        d = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                           timeout=10).stdout.strip()
        if os.access(os.path.join(d, "initdb"), os.X_OK):
            return d
    except (OSError, subprocess.SubprocessError):
        pass
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                   key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else 0)
    for d in reversed(found):
        if os.access(os.path.join(d, "initdb"), os.X_OK):
            return d
    return None


class PgCluster:
    """A throwaway PostgreSQL cluster: initdb in a temp dir, the postmaster on a free loopback
    port with its socket in that dir, databases made on demand; stopped by PID (fast shutdown,
    then SIGKILL after 30 s) and removed on exit. initdb and postgres refuse root: as root they
    run as `nobody` (setpriv), who owns the dir.

    Settings are PostgreSQL's defaults, durable like the SQLite server (fsync on, synchronous
    commits), except max_connections 200 (16 per server process) and dynamic shared memory in
    the data dir (no /dev/shm segments left behind). The cluster lives in the system temp dir,
    on the same disk as the benchmark's SQLite files."""

    def __init__(self):
        self.bindir = pg_bindir()
        if not self.bindir:
            sys.exit("bench: PostgreSQL server programs not found (run tools/setup.sh)")
        self.dir = tempfile.mkdtemp(prefix="mpp-bench-pg-")
        self.as_user = []
        self.uid = None
        if os.geteuid() == 0:
            import pwd
            nobody = pwd.getpwnam("nobody")
            self.uid = nobody.pw_uid
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
            self.as_user = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                            "--clear-groups", "--pdeathsig=KILL", "--"]
        self.password = secrets.token_hex(16)
        self.port = free_port()
        self.proc = None
        self.databases = 0

    def _as_server(self, argv):
        return self.as_user + ["env", "-C", self.dir] + argv

    def __enter__(self):
        try:
            pwfile = os.path.join(self.dir, "pwfile")
            with open(pwfile, "w") as f:
                f.write(self.password + "\n")
            if self.uid is not None:
                os.chown(pwfile, self.uid, -1)
            run(self._as_server(["mkdir", os.path.join(self.dir, "sock")]))
            run(self._as_server([os.path.join(self.bindir, "initdb"), "-D",
                                 os.path.join(self.dir, "data"), "-U", "mpp",
                                 "--pwfile=" + pwfile, "--auth-host=scram-sha-256",
                                 "--auth-local=trust", "-E", "UTF8", "--locale=C",
                                 "--no-instructions"]), timeout=120)
            log = open(os.path.join(self.dir, "log"), "w")
            # setpriv execs: the PID is the postmaster's.
            self.proc = subprocess.Popen(self._as_server(
                [os.path.join(self.bindir, "postgres"), "-D", os.path.join(self.dir, "data"),
                 "-p", str(self.port), "-k", os.path.join(self.dir, "sock"),
                 "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200",
                 "-c", "dynamic_shared_memory_type=mmap"]), stdout=log, stderr=log)
            pid_file = os.path.join(self.dir, "data", "postmaster.pid")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    sys.exit(f"bench: postgres exited while starting; see {self.dir}/log")
                try:
                    with open(pid_file) as f:
                        lines = f.read().splitlines()
                    if len(lines) >= 8 and lines[0] == str(self.proc.pid) and \
                            lines[7].startswith("ready"):
                        return self
                except OSError:
                    pass
                time.sleep(0.05)  # polling a condition (postmaster.pid says ready), bounded
            sys.exit("bench: postgres was not ready within 60 s")
        except BaseException:
            self.__exit__()
            raise

    def create_database(self, name):
        run([os.path.join(self.bindir, "createdb"), "-h", os.path.join(self.dir, "sock"),
             "-p", str(self.port), "-U", "mpp", name])
        return f"postgresql://mpp:{self.password}@127.0.0.1:{self.port}/{name}"

    def new_database(self, prefix="bench"):
        self.databases += 1
        return self.create_database(f"{prefix}_{self.databases}")

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class NoCluster:
    """Stands in for PgCluster when the benchmark runs on SQLite."""

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        pass


def cluster_for(args):
    return PgCluster() if getattr(args, "postgres", False) else NoCluster()


class Binaries:
    def __init__(self, build):
        self.field = os.path.join(build, "field_client", "mpp-field")
        self.server = os.path.join(build, "server_stub", "mpp-server")
        self.proxy = os.path.join(build, "tools", "flaky_proxy", "flaky-proxy")
        self.fleet = os.path.join(build, "tools", "fleet", "mpp-fleet")
        for path in (self.field, self.server):
            if not os.access(path, os.X_OK):
                sys.exit(f"bench: {path} is missing: build first (cmake --build --preset release)")


def run(cmd, env=None, timeout=600, stdin=None):
    """Runs a command to completion; returns stdout. A failure ends the benchmark with its stderr."""
    started = time.monotonic()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, stdin=stdin)
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd[:4])} ... failed ({p.returncode}): {p.stderr.strip()}")
    run.last_wall_ms = (time.monotonic() - started) * 1000
    return p.stdout


class Workdir:
    def __init__(self, keep=False):
        self.path = tempfile.mkdtemp(prefix="mpp-bench-")
        self.keep = keep

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        if not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)


class Server:
    """One `mpp-server serve` process on a free loopback port, ended by PID on exit; on SQLite
    in its data dir, or on the PostgreSQL database `db` (a URL)."""

    def __init__(self, bins, workdir, name="server", db=None):
        self.bins = bins
        self.env = dict(os.environ, MPP_SERVER_DATA=os.path.join(workdir, name))
        self.env.pop("MPP_SERVER_DB", None)
        if db:
            self.env["MPP_SERVER_DB"] = db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(workdir, name + ".log")
        self.proc = None
        self.fingerprint = run([bins.server, "init"], env=self.env).strip().splitlines()[-1]
        # The staff account `--by` names (set_status_many).
        run([bins.server, "staff", "add", "--user", "bench", "--agency", "*", "--role", "admin"],
            env=dict(self.env, MPP_STAFF_PASSWORD="bench-staff-password"))

    def __enter__(self):
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [self.bins.server, "serve", "--listen", f"127.0.0.1:{self.port}"],
            env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"bench: the server exited early; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)  # polling a condition (the port answering), bounded above
        sys.exit("bench: the server did not answer /healthz within 30 s")

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cli(self, *args):
        return run([self.bins.server, *args], env=self.env)

    def token(self, van_code):
        return self.cli("token", "create", "--van-code", van_code).strip()

    def set_status_many(self, workdir, receipts, status, by="bench"):
        """Staff change many statuses at once (`mpp-server request set-status-bulk`)."""
        path = os.path.join(workdir, "status-changes.txt")
        with open(path, "w") as f:
            f.writelines(f"{receipt} {status}\n" for receipt in receipts)
        self.cli("request", "set-status-bulk", "--file", path, "--by", by)


class Van:
    """One van store, driven through the real `mpp-field` program."""

    def __init__(self, bins, workdir, name, van_code):
        self.bins = bins
        self.env = dict(os.environ, MPP_FIELD_DATA=os.path.join(workdir, "van-" + name),
                        MPP_PASSPHRASE="bench-passphrase-" + name)
        self.field("init", "--van-code", van_code, "--officer", "Bench Officer")

    def field(self, *args, timeout=600):
        return run([self.bins.field, *args], env=self.env, timeout=timeout)

    def field_json(self, *args, timeout=600):
        return json.loads(self.field("--json", *args, timeout=timeout))

    def enroll(self, server, url=None):
        self.field("enroll", "--server", url or server.url, "--token",
                   server.token(self.van_code()), "--server-key", server.fingerprint)

    def van_code(self):
        return self.field_json("status")["van_code"]


def workload(path, n, seed):
    with open(path, "w") as out:
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "workload"), "--n", str(n),
                        "--seed", str(seed)], stdout=out, check=True, timeout=600)
    return path


def median(values):
    return statistics.median(values) if values else 0


def summary(name, target, figures, rows, args):
    """Prints the JSON line (name, target, figures) and, unless --json, a table of rows:
    (what, median, min, max, target)."""
    print(json.dumps({"bench": name, "target": target, **figures}, sort_keys=True))
    if args.json:
        return
    print(f"\n{name}")
    print(f"  {'figure':44} {'median':>12} {'min':>12} {'max':>12}   target")
    for what, values, goal in rows:
        vals = values if isinstance(values, list) else [values]
        fmt = (lambda v: f"{v:,.0f}") if max(vals) >= 100 else (lambda v: f"{v:,.2f}")
        print(f"  {what:44} {fmt(median(vals)):>12} {fmt(min(vals)):>12} {fmt(max(vals)):>12}"
              f"   {goal}")
    print()
