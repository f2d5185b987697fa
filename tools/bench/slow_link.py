#!/usr/bin/env python3
"""Target 4 of issue 5: a day's work (200 requests) synced through tools/flaky-proxy at
64 kbit/s with a 300 ms round trip and a cut every 50 KB, exactly once, in at most 15 s.

"Exactly once" is checked on both sides: the server holds each request once and the van's
outbox is empty. The proxy's own counters say how many connections it cut.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def one_run(bins, n, seed, cut_every_bytes):
    with benchlib.Workdir() as work:
        lines = benchlib.workload(os.path.join(work, "w.jsonl"), n, seed)
        with benchlib.Server(bins, work) as server:
            stats_file = os.path.join(work, "proxy.json")
            proxy = subprocess.Popen(
                [bins.proxy, "--listen", "127.0.0.1:0", "--target", f"127.0.0.1:{server.port}",
                 "--rate-kbit", "64", "--latency-ms", "150", "--cut-every-bytes",
                 str(cut_every_bytes),
                 "--seed", str(seed), "--stats-file", stats_file],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            try:
                first = proxy.stdout.readline().split()  # "listening 127.0.0.1:PORT"
                if len(first) != 2 or first[0] != "listening":
                    sys.exit("bench: flaky-proxy did not say where it listens")
                van = benchlib.Van(bins, work, "a", "KR01")
                van.field_json("request", "import", "--file", lines)
                van.enroll(server, url="http://" + first[1])
                report = van.field_json("sync", timeout=300)
                wall = benchlib.run.last_wall_ms
            finally:
                proxy.terminate()
                proxy.wait(timeout=30)
            on_server = json.loads(server.cli("--json", "requests", "list"))
            ids = [r["id"] for r in on_server]
            pending = van.field_json("status")["pending"]
            if len(ids) != n or len(set(ids)) != n or pending != 0:
                sys.exit(f"bench: not exactly once: server holds {len(ids)} "
                         f"({len(set(ids))} distinct) of {n}, van has {pending} pending")
            cuts = 0
            if os.path.exists(stats_file):
                with open(stats_file) as f:
                    cuts = json.load(f).get("cuts", 0)
            return report, wall, cuts


def main():
    p = benchlib.common_args(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200, help="requests (default 200)")
    args = p.parse_args()
    if args.smoke:
        args.n, args.runs = 20, 1
    bins = benchlib.Binaries(args.build)
    duration, wall, sent, cuts = [], [], [], []
    # The target's link, and a harsher one: a day's work now fits in well under 50 KB, so the
    # first never cuts a sync; the second cuts every 8 KB to show the sync still gets through.
    harsh_duration, harsh_cuts = [], []
    for run in range(args.runs):
        report, w, c = one_run(bins, args.n, run + 1, 51200)
        duration.append(report["duration_ms"] / 1000.0)
        wall.append(w / 1000.0)
        sent.append(report["bytes_sent"] + report["bytes_received"])
        cuts.append(c)
        report, _, c = one_run(bins, args.n, run + 1, 8192)
        harsh_duration.append(report["duration_ms"] / 1000.0)
        harsh_cuts.append(c)
    med = benchlib.median
    benchlib.summary(
        "slow_link", "200 requests at 64 kbit/s, 300 ms RTT, cut every 50 KB: exactly once, <= 15 s",
        {"n": args.n, "runs": args.runs, "sync_s": med(duration), "process_wall_s": med(wall),
         "bytes": med(sent), "cuts": med(cuts), "exactly_once": True,
         "cut_8k_sync_s": med(harsh_duration), "cut_8k_cuts": med(harsh_cuts)},
        [(f"sync of {args.n} (duration_ms) s", duration, "<= 15"),
         ("whole process wall s", wall, ""),
         ("bytes on the wire, both ways", sent, ""),
         ("connections cut by the proxy", cuts, ""),
         ("same, cut every 8 KB: sync s", harsh_duration, "exactly once"),
         ("same, cut every 8 KB: connections cut", harsh_cuts, "")],
        args)


if __name__ == "__main__":
    main()
