"""What the browser tests' runners share: a bound on the whole run, real processes started and
stopped by their PID (their process group for node and the browser it launches), the server
(`mpp-server serve` on a free loopback port) and the van's command-line program, node phases.

Every wait waits for a condition, with a bound; nothing here sleeps in place of one.
Python's standard library only.
"""
import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CHROMIUM = "/usr/bin/chromium"


class Failure(Exception):
    pass


class Deadline:
    """The bound of the whole run: remaining() fails once it is past."""

    def __init__(self, overall_s):
        self.overall_s = overall_s
        self.end = time.monotonic() + overall_s

    def remaining(self, cap=None):
        left = self.end - time.monotonic()
        if left <= 1:
            raise Failure(f"the test ran past its {self.overall_s} s bound")
        return left if cap is None else min(cap, left)


def step(text):
    print(f"\n== {text}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_pid(proc, sig=signal.SIGTERM, group=False, wait_s=10):
    """Ends one process this script started (or its process group), with a bound."""
    if proc is None or proc.poll() is not None:
        if proc is not None and group:
            try:  # what the group's leader left behind (a browser), should it outlive it
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return
    try:
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        try:
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
    if group:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class Processes:
    """The processes of one run, in a temporary directory removed at the end."""

    def __init__(self, build, deadline, server_bin=None, field_bin=None, prefix="mpp-browser-"):
        self.build = os.path.abspath(build)
        self.deadline = deadline
        self.server_bin = os.path.abspath(server_bin or os.path.join(self.build, "server_stub", "mpp-server"))
        self.field_bin = os.path.abspath(field_bin or os.path.join(self.build, "field_client", "mpp-field"))
        self.work = tempfile.mkdtemp(prefix=prefix)
        self.server_data = os.path.join(self.work, "server")
        self.van_data = os.path.join(self.work, "van-KR01")
        self.server_log = os.path.join(self.work, "server.log")
        self.server = None
        self.children = []  # node processes (each the leader of its own process group)
        self.background = []  # other long-running processes, ended by their PID

    def remaining(self, cap=None):
        return self.deadline.remaining(cap)

    def run(self, argv, env=None, timeout=60, check=True, show=True):
        full_env = dict(os.environ)
        full_env.update(env or {})
        if show:
            print("$ " + shlex.join([os.path.basename(argv[0])] + list(argv[1:])), flush=True)
        try:
            p = subprocess.run(argv, env=full_env, capture_output=True, text=True,
                               timeout=self.remaining(timeout), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise Failure(f"{' '.join(argv)} took longer than {e.timeout:.0f} s")
        if check and p.returncode != 0:
            raise Failure(f"{' '.join(argv)} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def server_cmd(self, *args, env=None, **kw):
        e = {"MPP_SERVER_DATA": self.server_data}
        e.update(env or {})
        return self.run([self.server_bin, *args], env=e, **kw)

    def van(self, *args, data=None, passphrase="sampan-biru-KR01-pagi", **kw):
        e = {"MPP_FIELD_DATA": data or self.van_data, "MPP_PASSPHRASE": passphrase}
        return self.run([self.field_bin, *args], env=e, **kw)

    def van_json(self, *args, **kw):
        out = self.van("--json", *args, **kw).stdout
        try:
            return json.loads(out)
        except json.JSONDecodeError:
            raise Failure(f"mpp-field --json {' '.join(args)} printed no JSON: {out!r}")

    def check_browser(self):
        """Debian's chromium and the pinned playwright-core are there and fit."""
        for path in (self.server_bin, self.field_bin):
            if not os.access(path, os.X_OK):
                raise Failure(f"{path} is missing: build the release preset first")
        node = shutil.which("node")
        if node is None:
            raise Failure("node is missing: run tools/setup.sh")
        p = self.run([node, os.path.join(HERE, "check_versions.mjs"), "--chromium", CHROMIUM],
                     check=False, show=False, timeout=40)
        print((p.stdout + p.stderr).strip(), flush=True)
        if p.returncode != 0:
            raise Failure("the browser and playwright-core do not fit (the line above says what to do)")

    def node(self, script, env):
        """Runs one phase script in its own process group; its output goes to ours."""
        full_env = dict(os.environ)
        full_env.update(env)
        argv = [shutil.which("node") or "node", os.path.join(HERE, script)]
        print(f"$ node tests/browser/{script}", flush=True)
        limit = self.remaining(150)
        full_env["PHASE_TIMEOUT_MS"] = str(int((limit - 5) * 1000))
        proc = subprocess.Popen(argv, env=full_env, cwd=ROOT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        self.children.append(proc)
        try:
            rc = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            raise Failure(f"node {script} took longer than {limit:.0f} s")
        finally:
            stop_pid(proc, group=True)
        if rc != 0:
            raise Failure(f"node {script} exited {rc}")

    def wait_http(self, proc, url, what, accept, bound_s=30):
        """Waits until GET url answers what accept(status, body) likes, or proc exits."""
        end = time.monotonic() + self.remaining(bound_s)
        last = ""
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise Failure(f"{what} exited {proc.returncode} before it answered")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    body = r.read().decode()
                    if accept(r.status, body):
                        return
                    last = f"{r.status} {body[:200]!r}"
            except (urllib.error.URLError, ConnectionError, OSError) as e:
                last = str(e)
            time.sleep(0.1)
        raise Failure(f"{what}: GET {url} did not answer within {bound_s} s (last: {last})")

    def start_server(self, port=None):
        """Starts `mpp-server serve` on a free port, or again on `port` (a restart)."""
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log = open(self.server_log, "a")
        env = dict(os.environ, MPP_SERVER_DATA=self.server_data)
        print(f"$ mpp-server serve --listen 127.0.0.1:{self.port}", flush=True)
        self.server = subprocess.Popen([self.server_bin, "serve", "--listen", f"127.0.0.1:{self.port}"],
                                       env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        self.wait_http(self.server, f"{self.url}/healthz", "mpp-server serve",
                       lambda status, body: status == 200 and body.strip() == "ok")
        print(f"server (pid {self.server.pid}) healthy on {self.url}", flush=True)

    def stop_server(self):
        stop_pid(self.server)
        print(f"server (pid {self.server.pid}) stopped: exit {self.server.returncode}", flush=True)
        self.server = None

    def server_tail(self, lines=40):
        try:
            with open(self.server_log, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError as e:
            return f"(no server log: {e})"

    def tail(self):
        return f"\n-- server log (last lines) --\n{self.server_tail()}"

    def cleanup(self):
        for proc in self.children:
            stop_pid(proc, group=True)
        for proc in self.background:
            stop_pid(proc)
        stop_pid(self.server)
        shutil.rmtree(self.work, ignore_errors=True)


def main(run_class, name, description):
    """The command line of a browser test: builds run_class(build, server_bin, field_bin), runs
    its main() and cleans up whatever happens; answers the exit code. run_class has `shots` (the
    screenshot folder) and tail() (the logs shown on failure)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--build", required=True, help="the build directory (e.g. build/release)")
    parser.add_argument("--server-bin", help="mpp-server (default: BUILD/server_stub/mpp-server)")
    parser.add_argument("--field-bin", help="mpp-field (default: BUILD/field_client/mpp-field)")
    args = parser.parse_args()
    run = run_class(args.build, args.server_bin, args.field_bin)

    # SIGTERM (ctest's timeout, say) ends the run through the finally below, as Ctrl-C does.
    def on_term(*_):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)
    ok = False
    try:
        run.main()
        ok = True
    except Failure as e:
        print(f"\nFAILED: {e}", flush=True)
    except KeyboardInterrupt:
        print("\nFAILED: interrupted", flush=True)
    finally:
        if not ok:
            print(run.tail(), flush=True)
        run.cleanup()
    if ok:
        print(f"\n{name}: passed (screenshots in {run.shots})", flush=True)
    return 0 if ok else 1
