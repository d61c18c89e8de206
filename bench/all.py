#!/usr/bin/env python3
"""Every run behind docs/performance.md, one after the other, then the summary tables.

    python3 bench/all.py --database-url postgres://postgres@127.0.0.1:5432/bench
    python3 bench/all.py --database-url ... --short     # issue 12's rows, shorter rounds

Order: peers alternating the installs (plain SQLite, hiredis SQLite, plain PostgreSQL, hiredis
PostgreSQL), so a change in the machine's load over the sequence does not fall on one install
only, then scaling (plain, hiredis). Without ``--database-url`` the PostgreSQL runs are
skipped. Every run is bounded (see each script); the whole sequence takes about 15 minutes
with ``--short`` and 30 without (longer on a loaded machine).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHORT_PEERS = [
    *("--schemes", "core", "--rounds", "5", "--calls", "200", "--requests", "30"),
    *("--http-rounds", "5", "--http-seconds", "2", "--revocation-trials", "50"),
]
SHORT_SCALING = ["--rounds", "4", "--seconds", "2"]


def run(script: str, *args: str, show: bool = False) -> None:
    """Run one script; its report is saved by the script, its stdout shown only if ``show``."""
    command = [sys.executable, str(HERE / script), *args]
    print("$", " ".join(command[1:]), file=sys.stderr, flush=True)
    done = subprocess.run(command, check=False, stdout=None if show else subprocess.DEVNULL)
    if done.returncode:
        # Go on with the others: one failed run must not cost the whole sequence.
        print(f"FAILED ({done.returncode}): {' '.join(command[1:])}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="", help="postgres://... for the PostgreSQL runs")
    parser.add_argument("--short", action="store_true", help="issue 12's rows, shorter rounds")
    parser.add_argument("--skip-scaling", action="store_true")
    args = parser.parse_args()
    peers = SHORT_PEERS if args.short else []
    databases = [[]] + ([["--database-url", args.database_url]] if args.database_url else [])
    for database in databases:
        for install in ("plain", "hiredis"):
            run("peers.py", "--install", install, *database, *peers)
    if not args.skip_scaling:
        for install in ("plain", "hiredis"):
            run("scaling.py", "--install", install, *(SHORT_SCALING if args.short else []))
    run("summarize.py", show=True)


if __name__ == "__main__":
    main()
