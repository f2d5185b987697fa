#!/usr/bin/env python3
"""Target 3 (and the server side of 5) of issue 5: the evening rush. 500 vans, each with 200 new
requests and some status changes to pull, sync at once against one `mpp-server` process; all
must complete with zero errors, p99 sync duration at most 5 s, server peak RSS under 500 MB.

A thin wrapper over tools/fleet (`mpp-fleet run`), which does the work and the checks.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def main():
    p = benchlib.common_args(__doc__.splitlines()[0])
    p.add_argument("--vans", type=int, default=500)
    p.add_argument("--backlog", type=int, default=200)
    p.add_argument("--status-changes", type=int, default=5)
    p.add_argument("--start-jitter-ms", type=int, default=0)
    args = p.parse_args()
    if args.smoke:
        args.vans, args.backlog, args.status_changes, args.runs = 5, 20, 2, 1
    bins = benchlib.Binaries(args.build)
    if not os.access(bins.fleet, os.X_OK):
        sys.exit(f"bench: {bins.fleet} is missing: build first")
    runs = []
    for run in range(args.runs):
        out = benchlib.run(
            [bins.fleet, "run", "--server-bin", bins.server, "--vans", str(args.vans),
             "--backlog", str(args.backlog), "--status-changes", str(args.status_changes),
             "--start-jitter-ms", str(args.start_jitter_ms), "--seed", str(run + 1), "--json"],
            timeout=3600)
        result = json.loads(out.strip().splitlines()[-1])
        if result["errors"] != 0:
            sys.exit(f"bench: {result['errors']} vans failed in the rush")
        runs.append(result)
    med = benchlib.median

    def col(key):
        return [r[key] for r in runs]

    benchlib.summary(
        "rush", "500 vans x 200 requests at once: 0 errors, p99 <= 5 s, server RSS < 500 MB",
        {"vans": args.vans, "backlog": args.backlog, "status_changes": args.status_changes,
         "runs": args.runs, "errors": 0, "p50_ms": med(col("p50_ms")),
         "p99_ms": med(col("p99_ms")), "max_ms": med(col("max_ms")),
         "total_ms": med(col("total_ms")), "server_peak_rss_mb": med(col("server_peak_rss_mb"))},
        [(f"{args.vans} vans x {args.backlog}: p50 sync ms", col("p50_ms"), ""),
         ("p99 sync ms", col("p99_ms"), "<= 5,000"),
         ("slowest van ms", col("max_ms"), ""),
         ("whole rush ms", col("total_ms"), ""),
         ("server peak RSS MB", col("server_peak_rss_mb"), "< 500")],
        args)


if __name__ == "__main__":
    main()
