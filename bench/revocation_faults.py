#!/usr/bin/env python3
"""Issue 11's table, Sentinel failover and the cross-host window, against live servers.

    .venv/bin/python bench/revocation_faults.py                     # PostgreSQL h_faults
    .venv/bin/python bench/revocation_faults.py --sqlite            # a SQLite file instead
    .venv/bin/python bench/revocation_faults.py --rows replica_behind --skip-sentinel

Runs with the project's own ``.venv`` (``python3 dev.py test`` makes it: gunicorn, psycopg,
redis-py). Every row starts its own redis-server(s), proxies and a gunicorn with 3 sync workers
on loopback, revokes a credential every worker holds while the cache misbehaves, and counts
the requests admitted more than ``REVOCATION_SYNC_INTERVAL`` + 1 s after the revoking call
returned (the promise: 0). The scenarios are the tests' own (tests/fault_rows.py,
tests/fault_topology.py). The report is printed and saved under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import os  # noqa: E402

os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")  # tests.settings starts nothing

from tests import fault_rows, fault_topology  # noqa: E402
from tests.faults import Lab, live_environment, manage, sqlite_database, sqlite_template  # noqa: E402


def postgres(url: str) -> dict[str, Any]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    database = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "postgres",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or 5432),
    }
    env = live_environment(database, {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"})
    done = manage(env, "migrate", "--noinput", "-v", "0")
    if done.returncode != 0:
        raise SystemExit(f"migrate failed on {database['NAME']}: {done.stderr[-1500:]}")
    return database


def git_head() -> str:
    import subprocess

    out = subprocess.run(
        ["git", "log", "-1", "--format=%h %s"], cwd=ROOT, capture_output=True, text=True
    )
    return out.stdout.strip()


def code_under_test() -> str:
    other = os.environ.get("FAULTS_CODE_PATH")
    return f"jwtsessions from {other}" if other else git_head()


def run_rows(database: dict[str, Any], names: list[str], repeat: int) -> list[dict[str, Any]]:
    results = []
    for name in names:
        for _ in range(repeat):
            with Lab(database) as lab:
                outcome = fault_rows.ROWS[name](lab)
            summary = outcome.summary()
            summary["name"] = name
            results.append(summary)
            print(json.dumps(summary), file=sys.stderr, flush=True)
    return results


def rows_markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "## Issue 11's table (3 sync gunicorn workers)",
        "",
        f"Bound: REVOCATION_SYNC_INTERVAL ({fault_rows.SYNC_INTERVAL:g} s) + 1 s after the "
        "revoking call returned; probes from 3 threads until the bound + "
        f"{fault_rows.PROBE_AFTER_BOUND:g} s.",
        "",
        "| row | admitted after the bound | probes after the bound | admitted within the bound "
        "| workers probed after | 5xx / errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['row']} | **{r['admitted_after_bound']}** | {r['probes_after_bound']} | "
            f"{r['admitted_within_bound']} | {r['workers_probed_after_bound']}/{r['workers']} | "
            f"{r['errors']} |"
        )
    return "\n".join(lines) + "\n"


def sentinel_markdown(results: list[dict[str, Any]]) -> str:
    lines = ["## Redis Sentinel failover under traffic (3 workers, 3 client threads)", ""]
    for r in results:
        lines += [
            f"### {r['sentinels']} sentinel(s)",
            "",
            "| phase | requests | revoked admitted | 5xx | 5xx window | valid refused "
            "| refused window | slowest gap between requests | primary moved after |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for phase, moved in (
            ("sentinel_failover", "failover_s"),
            ("primary_killed", "kill_failover_s"),
        ):
            p = r[phase]
            lines.append(
                f"| {phase} | {p['requests']} | **{p['revoked_admitted']}** | {p['errors_5xx']} | "
                f"{p['error_window_s']} s | {p['valid_refused']} | {p['valid_refused_window_s']} s "
                f"| {p['slowest_gap_s']} s | {r[moved]} s |"
            )
        lines += [
            "",
            f"Workers subscribed (pub/sub clients other than the sentinels): before "
            f"{r['subscribers_before']}; after SENTINEL FAILOVER on the new primary "
            f"{r['subscribers_on_new_primary']} (on the demoted one "
            f"{r.get('subscribers_on_old_primary', '?')}); after the kill on the newest "
            f"{r['subscribers_on_newest_primary']}. Every worker was subscribed on the new "
            f"primary {r.get('resubscribed_after_s')} s after SENTINEL FAILOVER (when Sentinel "
            "turned the demoted primary into a replica and closed its clients). "
            "A session logged out after each failover: "
            f"{r['after_failover']['admitted_after_logout']} and "
            f"{r['after_kill']['admitted_after_logout']} requests admitted after the logout "
            "returned.",
            "",
        ]
    return "\n".join(lines) + "\n"


def hosts_markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "## Another host: revocation window across a latency-injecting link",
        "",
        "Host A revokes over a direct link; host B (a separate process) checks the token in a "
        "loop, its Redis traffic delayed by the proxy in each direction. Window: B's last "
        "admission start minus A's return (negative: B refused before A returned).",
        "",
        "| delay each way | trials | B admitted after A returned | window median | window max "
        "| B's first refusal after A's return, max |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['latency_ms_each_way']:g} ms | {r['trials']} | {r['admitted_after_return']} | "
            f"{r['window_ms_median']} ms | {r['window_ms_max']} ms | "
            f"{r['first_refusal_after_return_ms_max']} ms |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/h_faults")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead")
    parser.add_argument("--rows", nargs="*", default=list(fault_rows.ROWS))
    parser.add_argument("--repeat", type=int, default=1, help="runs of each row")
    parser.add_argument("--skip-sentinel", action="store_true")
    parser.add_argument("--sentinels", type=int, nargs="*", default=[1, 3])
    parser.add_argument("--skip-hosts", action="store_true")
    parser.add_argument("--host-trials", type=int, default=50)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    fault_rows.PROBE_AFTER_BOUND = 2.0
    tmp = Path(tempfile.mkdtemp(prefix="jwtsessions-faults-bench-"))
    if args.sqlite:
        database = sqlite_database(sqlite_template(tmp), tmp)
        backend = "sqlite"
    else:
        database = postgres(args.database_url)
        backend = "postgres"

    sections = []
    rows = run_rows(database, args.rows, args.repeat)
    sections.append(rows_markdown(rows))
    if not args.skip_sentinel:
        found = []
        for count in args.sentinels:
            with Lab(database) as lab:
                found.append(fault_topology.sentinel_failover(lab, sentinels=count))
            print(json.dumps(found[-1]), file=sys.stderr, flush=True)
        sections.append(sentinel_markdown(found))
    if not args.skip_hosts:
        hosts = []
        for latency in (0.0, 0.001, 0.01):
            with Lab(database) as lab:
                hosts.append(fault_topology.many_hosts(lab, latency, args.host_trials))
            print(json.dumps(hosts[-1]), file=sys.stderr, flush=True)
        sections.append(hosts_markdown(hosts))

    header = (
        f"# Revocation under cache faults — {time.strftime('%Y-%m-%d %H:%M %Z')}\n\n"
        f"Code: `{code_under_test()}`. Database: {backend}. Machine: {platform.platform()}, "
        f"{os.cpu_count()} CPUs (shared).\n\n"
    )
    text = header + "\n".join(sections)
    print(text)
    output = args.output or (
        ROOT / "bench" / "results" / f"{time.strftime('%Y%m%d-%H%M')}-faults-{backend}.md"
    )
    output.write_text(text)
    print(f"saved {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
