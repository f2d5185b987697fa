#!/usr/bin/env python3
"""Targets 1 and 2 of issue 5: push of N new requests from one van to the server over loopback
HTTP (durable on both sides, signed and verified), the bytes on the wire both ways, a pull of all
N into a freshly enrolled van of the same van code (a re-install), and a pull of 200 status
changes made by staff.

Each run starts from nothing: a new server, a new van, `tools/workload --n N --seed RUN`.
Figures come from `mpp-field sync --json`: duration_ms (first byte sent to last answer applied)
and the transport's byte counters, HTTP headers included. The process's whole wall time and the
passphrase derivation (unlock_ms) are reported beside them.

With --postgres the server keeps its data in a throwaway PostgreSQL cluster (a fresh database
per run) instead of SQLite.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def one_run(bins, n, changes, seed, cluster):
    with benchlib.Workdir() as work:
        lines = benchlib.workload(os.path.join(work, "w.jsonl"), n, seed)
        db = cluster.new_database("push_pull") if cluster else None
        with benchlib.Server(bins, work, db=db) as server:
            van = benchlib.Van(bins, work, "a", "KR01")
            imported = van.field_json("request", "import", "--file", lines)
            if imported["imported"] != n:
                sys.exit(f"bench: imported {imported['imported']} of {n}")
            van.enroll(server)
            push = van.field_json("sync")
            push_wall = benchlib.run.last_wall_ms
            if push["acknowledged"] != n:
                sys.exit(f"bench: the server acknowledged {push['acknowledged']} of {n}")

            # A re-install: a new store for the same van, enrolled afresh, pulls the van's work.
            fresh = benchlib.Van(bins, work, "b", "KR01")
            fresh.enroll(server)
            reinstall = fresh.field_json("sync")
            if reinstall["pulled"] != n:
                sys.exit(f"bench: the re-installed van pulled {reinstall['pulled']} of {n}")

            # Staff move `changes` requests on; the first van pulls just those changes.
            listed = van.field_json("request", "list")
            receipts = [r["receipt"] for r in listed[:changes]]
            server.set_status_many(work, receipts, "received")
            status = van.field_json("sync")
            if status["pulled"] != len(receipts):
                sys.exit(f"bench: pulled {status['pulled']} status changes of {len(receipts)}")
            return push, push_wall, reinstall, status, len(receipts)


def main():
    p = benchlib.common_args(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10000, help="requests pushed (default 10000)")
    p.add_argument("--changes", type=int, default=200, help="status changes pulled (default 200)")
    args = p.parse_args()
    if args.smoke:
        args.n, args.changes, args.runs = 300, 10, 1
    bins = benchlib.Binaries(args.build)

    rate, ms, wall, unlock, push_b, reinstall_b, reinstall_rate, change_b = ([] for _ in range(8))
    with benchlib.cluster_for(args) as cluster:
        for run in range(args.runs):
            push, push_wall, reinstall, status, changed = one_run(bins, args.n, args.changes,
                                                                  run + 1, cluster)
            rate.append(args.n / (push["duration_ms"] / 1000.0))
            ms.append(push["duration_ms"])
            wall.append(push_wall)
            unlock.append(push["unlock_ms"])
            push_b.append((push["bytes_sent"] + push["bytes_received"]) / args.n)
            reinstall_b.append((reinstall["bytes_sent"] + reinstall["bytes_received"]) / args.n)
            reinstall_rate.append(args.n / (reinstall["duration_ms"] / 1000.0))
            change_b.append((status["bytes_sent"] + status["bytes_received"]) / changed)

    med = benchlib.median
    database = "postgresql" if args.postgres else "sqlite"
    benchlib.summary(
        "push_pull_postgres" if args.postgres else "push_pull",
        "push >= 17600 req/s; <= 150 B/req push, <= 110 B/req re-install pull, "
        "<= 60 B per status change",
        {"n": args.n, "runs": args.runs, "database": database, "push_req_per_s": med(rate),
         "push_duration_ms": med(ms),
         "push_process_wall_ms": med(wall), "unlock_ms": med(unlock),
         "push_bytes_per_req": med(push_b), "reinstall_pull_bytes_per_req": med(reinstall_b),
         "reinstall_pull_req_per_s": med(reinstall_rate),
         "status_change_bytes_each": med(change_b)},
        [(f"push {args.n} ({database}): requests/s", rate, ">= 17,600 (aim 40,000)"),
         ("push: duration_ms", ms, ""),
         ("push: whole process wall ms", wall, ""),
         ("push: passphrase derivation ms", unlock, "reported apart"),
         ("push: bytes per request, both ways", push_b, "<= 150"),
         (f"re-install pull {args.n}: bytes per request", reinstall_b, "<= 110"),
         ("re-install pull: requests/s", reinstall_rate, ""),
         (f"pull {args.changes} status changes: bytes each", change_b, "<= 60")],
        args)


if __name__ == "__main__":
    main()
