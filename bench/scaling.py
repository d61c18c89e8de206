#!/usr/bin/env python3
"""The session endpoint across workers: gunicorn with 1 and 2 sync workers, uvicorn (Django's
ASGI handler) with 1 and 2 workers, at the same concurrency, in interleaved rounds.

    python3 bench/scaling.py                    # plain install (no hiredis)
    python3 bench/scaling.py --install hiredis
    python3 bench/scaling.py --quick

On a 2-core machine the load generator needs CPU too, so a 2-worker server cannot get two full
cores. Every run therefore also records the CPU time the server's processes, wrk, redis-server
and everything else on the machine used, and the report gives requests per CPU-second of the
server next to requests per second: if that figure holds from 1 to 2 workers, the workers do
not slow each other down and what is missing from 2x is CPU they could not get.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402

CONFIGS = (("gunicorn", 1), ("gunicorn", 2), ("uvicorn", 1), ("uvicorn", 2))
ENDPOINTS = ("ours_session", "floor")


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def one_run(
    srv: harness.Server,
    path: str,
    headers: dict[str, str],
    seconds: float,
    connections: int,
    redis_pid: int,
) -> dict[str, float]:
    by_pid_before, busy_before = srv.cpu_by_pid(), machine_busy_seconds()
    redis_before = process_cpu_seconds(redis_pid)
    started = time.monotonic()
    result = harness.wrk(srv.port, path, headers, seconds, connections)
    elapsed = time.monotonic() - started
    by_pid = srv.cpu_by_pid()
    used = {pid: cpu - by_pid_before.get(pid, 0.0) for pid, cpu in by_pid.items()}
    server = sum(used.values())
    # How the work spread over the workers (the master, srv.proc, only supervises).
    # With a single worker uvicorn serves from its master process.
    workers = sorted((cpu for pid, cpu in used.items() if pid != srv.proc.pid), reverse=True)
    workers = workers or [server]
    redis_cpu = process_cpu_seconds(redis_pid) - redis_before
    busy = machine_busy_seconds() - busy_before
    result.update(
        server_cores=server / elapsed,
        busiest_worker_share=workers[0] / server if server and workers else 0.0,
        client_cores=result["client_cpu"] / elapsed,
        redis_cores=redis_cpu / elapsed,
        other_cores=max(busy - server - result["client_cpu"] - redis_cpu, 0.0) / elapsed,
        per_cpu_second=result["rps"] * elapsed / server if server else 0.0,
    )
    return result


@contextlib.contextmanager
def all_servers() -> Iterator[dict[tuple[str, int], harness.Server]]:
    with contextlib.ExitStack() as stack:
        yield {config: stack.enter_context(harness.server(*config)) for config in CONFIGS}


def measure(
    args: argparse.Namespace, headers: dict[str, dict[str, str]], redis_pid: int
) -> dict[tuple[str, str, int], dict[str, float]]:
    samples: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    with all_servers() as servers:
        for srv in servers.values():
            for endpoint in ENDPOINTS:  # warm every worker: imports, connections, local copy
                harness.wrk(srv.port, f"/{endpoint}/", headers[endpoint], 1, args.connections)
        runs = [(endpoint, *config) for endpoint in ENDPOINTS for config in CONFIGS]
        for number in range(args.rounds):
            random.shuffle(runs)
            for endpoint, kind, workers in runs:
                sample = one_run(
                    servers[(kind, workers)],
                    f"/{endpoint}/",
                    headers[endpoint],
                    args.seconds,
                    args.connections,
                    redis_pid,
                )
                samples.setdefault((endpoint, kind, workers), []).append(sample)
            print(f"  round {number + 1}/{args.rounds} done", file=sys.stderr)
    out: dict[tuple[str, str, int], dict[str, float]] = {}
    for key, runs_of_key in samples.items():
        out[key] = {k: statistics.median(r[k] for r in runs_of_key) for k in runs_of_key[0]}
        out[key]["errors"] = sum(r["errors"] for r in runs_of_key)
    return out


def report(args: argparse.Namespace, results: dict[tuple[str, str, int], dict[str, float]]) -> str:
    lines = [
        f"# Scaling across workers — {args.install} install — {time.strftime('%Y-%m-%d %H:%M %Z')}",
        "",
        f"Install: **{args.install}**. Machine: {harness.machine()}. Load average at the end: "
        f"{harness.load_average()}. Every server up at once; `wrk -t1 -c{args.connections} "
        f"-d{args.seconds}s` per run, {args.rounds} rounds, every (endpoint, server) pair once "
        "per round in a new random order; medians. gunicorn: sync workers (WSGI). uvicorn: "
        "Django's ASGI handler (`get_asgi_application`), `uvicorn[standard]`.",
        "",
        "Cores: CPU-seconds per second of the run, from /proc: the server's processes, wrk, "
        "redis-server, and everything else on the machine (other work sharing it). "
        "req/server-CPU-s: requests per CPU-second the server used; scaling: req/s of 2 workers "
        "over 1 worker of the same server, and the same for req/server-CPU-s. Busiest worker's "
        "share: of the server's CPU time, how much its busiest worker used (50% = even).",
        "",
        "| endpoint | server | workers | req/s | p50 ms | p99 ms | errors | server cores | "
        "busiest worker's share | wrk cores | redis cores | other cores | req/server-CPU-s | "
        "scaling req/s | scaling per CPU-s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for endpoint in ENDPOINTS:
        for kind, workers in CONFIGS:
            r = results[(endpoint, kind, workers)]
            one = results[(endpoint, kind, 1)]
            scaling = scaling_cpu = "—"
            if workers == 2:
                scaling = harness.ratio(r["rps"], one["rps"])
                scaling_cpu = harness.ratio(r["per_cpu_second"], one["per_cpu_second"])
            lines.append(
                f"| {endpoint} | {kind} | {workers} | {r['rps']:.0f} | {r['p50']:.2f} | "
                f"{r['p99']:.2f} | {r['errors']:g} | {r['server_cores']:.2f} | "
                f"{r['busiest_worker_share']:.0%} | "
                f"{r['client_cores']:.2f} | {r['redis_cores']:.2f} | {r['other_cores']:.2f} | "
                f"{r['per_cpu_second']:.0f} | {scaling} | {scaling_cpu} |"
            )
    lines += ["", "## Versions", ""]
    lines += [f"- {k}: {v}" for k, v in harness.versions().items()]
    lines += ["", f"Command: `python3 bench/scaling.py {' '.join(sys.argv[1:])}`".rstrip()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--install", choices=harness.INSTALLS, default="plain")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 2
    harness.check_install(args.install)
    with (
        tempfile.TemporaryDirectory(prefix="jwtsessions-scaling-") as tmp,
        harness.private_redis(Path(tmp)) as redis_url,
    ):
        harness.setup_django(Path(tmp) / "bench.db", redis_url, "")
        from django.contrib.auth.models import User
        from django.db import connections

        from jwtsessions.sessions import create_session

        user = User.objects.create_user("scaling", "", "unused-password-123")
        headers = {
            "ours_session": {"Authorization": f"Bearer {create_session(user).access}"},
            "floor": {},
        }
        connections.close_all()
        redis_pid = harness.redis_pid(redis_url)
        results = measure(args, headers, redis_pid)
    text = report(args, results)
    print(text)
    output = args.output or harness.results_path("scaling", args.install, "", args.quick)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    raw = [
        {"endpoint": endpoint, "server": kind, "workers": workers, **values}
        for (endpoint, kind, workers), values in results.items()
    ]
    output.with_suffix(".json").write_text(json.dumps(raw, indent=1, sort_keys=True) + "\n")
    print(f"saved {output}", file=sys.stderr)


if __name__ == "__main__":
    harness.ensure_venv()
    main()
