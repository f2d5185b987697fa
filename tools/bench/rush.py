#!/usr/bin/env python3
"""Target 3 (and the server side of 5) of issue 5: the evening rush. 500 vans, each with 200 new
requests and some status changes to pull, sync at once against one `mpp-server` process; all
must complete with zero errors, p99 sync duration at most 5 s, server peak RSS under 500 MB.

On SQLite (the default), or with --postgres on a throwaway PostgreSQL cluster (a fresh database
per run), with --servers N server processes on that one database, the vans spread over them
(van i syncs through process i % N).

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
    p.add_argument("--servers", type=int, default=1,
                   help="mpp-server processes on the one PostgreSQL database (needs --postgres)")
    args = p.parse_args()
    if args.servers != 1 and not args.postgres:
        sys.exit("bench: several server processes share a PostgreSQL database: add --postgres")
    if args.smoke:
        args.vans, args.backlog, args.status_changes, args.runs = 5, 20, 2, 1
    bins = benchlib.Binaries(args.build)
    if not os.access(bins.fleet, os.X_OK):
        sys.exit(f"bench: {bins.fleet} is missing: build first")
    runs = []
    with benchlib.cluster_for(args) as cluster:
        for run in range(args.runs):
            db = ["--db", cluster.new_database("rush"), "--servers", str(args.servers)] \
                if cluster else []
            out = benchlib.run(
                [bins.fleet, "run", "--server-bin", bins.server, "--vans", str(args.vans),
                 "--backlog", str(args.backlog), "--status-changes", str(args.status_changes),
                 "--start-jitter-ms", str(args.start_jitter_ms), "--seed", str(run + 1),
                 "--json"] + db,
                timeout=3600)
            result = json.loads(out.strip().splitlines()[-1])
            if result["errors"] != 0:
                sys.exit(f"bench: {result['errors']} vans failed in the rush")
            runs.append(result)
    med = benchlib.median

    def col(key):
        return [r[key] for r in runs]

    database = "postgresql" if args.postgres else "sqlite"
    name = "rush" if not args.postgres else f"rush_postgres_{args.servers}"
    benchlib.summary(
        name, "500 vans x 200 requests at once: 0 errors, p99 <= 5 s, server RSS < 500 MB",
        {"vans": args.vans, "backlog": args.backlog, "status_changes": args.status_changes,
         "runs": args.runs, "database": database, "servers": args.servers, "errors": 0,
         "p50_ms": med(col("p50_ms")), "p99_ms": med(col("p99_ms")), "max_ms": med(col("max_ms")),
         "total_ms": med(col("total_ms")), "server_peak_rss_mb": med(col("server_peak_rss_mb")),
         "server_cpu_ms": med(col("server_cpu_ms")), "fleet_cpu_ms": med(col("fleet_cpu_ms"))},
        [(f"{args.vans} x {args.backlog}, {database} x {args.servers}: p50 ms", col("p50_ms"), ""),
         ("p99 sync ms", col("p99_ms"), "<= 5,000"),
         ("slowest van ms", col("max_ms"), ""),
         ("whole rush ms", col("total_ms"), ""),
         ("server peak RSS MB (largest process)", col("server_peak_rss_mb"), "< 500"),
         ("server CPU ms in the rush (all processes)", col("server_cpu_ms"), "")],
        args)


if __name__ == "__main__":
    main()
