#!/usr/bin/env python3
"""Target 5 (van side) of issue 5: a van syncing a backlog of 100,000 pending requests stays
under 100 MB of resident memory, because batches stream from the store.

The figure is the peak RSS (ru_maxrss) of the `mpp-field sync` process alone.
"""

import os
import json
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def sync_peak_rss(van, work):
    """Runs `mpp-field sync --json`; returns (report, peak RSS MB) of that process alone."""
    out_path = os.path.join(work, "sync.json")
    with open(out_path, "w") as out, open(out_path + ".err", "w") as err:
        p = subprocess.Popen([van.bins.field, "--json", "sync"], env=van.env, stdout=out,
                             stderr=err)
        # wait4 reports this child's own rusage; bounded by the sync's own attempts and timeouts.
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        with open(out_path + ".err") as f:
            sys.exit(f"bench: sync failed: {f.read().strip()}")
    with open(out_path) as f:
        return json.loads(f.read()), usage.ru_maxrss / 1024.0


def main():
    p = benchlib.common_args(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100000, help="pending requests (default 100000)")
    args = p.parse_args()
    if args.smoke:
        args.n, args.runs = 2000, 1
    bins = benchlib.Binaries(args.build)
    rss, rate = [], []
    for run in range(args.runs):
        with benchlib.Workdir() as work:
            lines = benchlib.workload(os.path.join(work, "w.jsonl"), args.n, run + 1)
            with benchlib.Server(bins, work) as server:
                van = benchlib.Van(bins, work, "a", "KR01")
                van.field_json("request", "import", "--file", lines, timeout=1800)
                van.enroll(server)
                report, peak = sync_peak_rss(van, work)
                if report["acknowledged"] != args.n:
                    sys.exit(f"bench: acknowledged {report['acknowledged']} of {args.n}")
                rss.append(peak)
                rate.append(args.n / (report["duration_ms"] / 1000.0))
    med = benchlib.median
    benchlib.summary(
        "backlog", "van syncing 100,000 pending requests < 100 MB RSS",
        {"n": args.n, "runs": args.runs, "van_peak_rss_mb": med(rss), "req_per_s": med(rate)},
        [(f"van peak RSS MB, syncing {args.n}", rss, "< 100"),
         ("push requests/s", rate, "")],
        args)


if __name__ == "__main__":
    main()
