#!/usr/bin/env python3
"""The ratio tables of docs/performance.md, from the newest saved runs in bench/results.

    python3 bench/summarize.py            # prints markdown
    python3 bench/summarize.py --quick    # from --quick runs instead

Reads the JSON that ``peers.py`` and ``scaling.py`` save beside their reports (standard library
only, no virtualenv needed): the newest peers run of each install and database, and the newest
scaling run of each install.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
COLUMNS = [(i, d) for i in ("plain", "hiredis") for d in ("sqlite", "postgres")]
SJWT = "simplejwt_stateless"


def newest(pattern: str) -> Path | None:
    found = sorted(RESULTS.glob(pattern))
    return found[-1] if found else None


def _rps(run: dict[str, Any], name: str) -> float | None:
    return run["http"].get(name, {}).get("rps")


def _ratio(run: dict[str, Any] | None, name: str, base: str) -> str:
    if run is None:
        return "not run"
    a, b = _rps(run, name), _rps(run, base)
    return f"{a / b:.2f}x" if a and b else "—"


def _counts(run: dict[str, Any] | None, name: str) -> str:
    if run is None:
        return "not run"
    c = run["counts"].get(name)
    return "—" if c is None else f"{c['sql']:g} / {c['redis']:g}"


def peers_table(quick: bool) -> list[str]:
    suffix = "-quick" if quick else ""
    runs: dict[tuple[str, str], dict[str, Any] | None] = {}
    files: list[str] = []
    for install, database in COLUMNS:
        path = newest(f"*-peers-{install}-{database}{suffix}.json")
        runs[(install, database)] = json.loads(path.read_text()) if path else None
        if path:
            files.append(f"[{path.stem}](../bench/results/{path.with_suffix('.md').name})")
    header = "| row (target) | " + " | ".join(f"{i}, {d}" for i, d in COLUMNS) + " |"
    lines = [header, "|---|" + "---:|" * len(COLUMNS)]

    def row(label: str, cell: Any) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(runs[c]) for c in COLUMNS) + " |")

    row(
        "session endpoint / simplejwt stateless (≥ 0.95x)",
        lambda r: _ratio(r, "ours_session", SJWT),
    )
    row(
        "API-key endpoint / simplejwt stateless (≥ 0.95x)",
        lambda r: _ratio(r, "ours_api_key", SJWT),
    )
    row(
        "service-token endpoint / simplejwt stateless (≥ 0.95x)",
        lambda r: _ratio(r, "ours_service_token", SJWT),
    )
    row(
        "refresh / simplejwt rotate+blacklist refresh (≥ 2x)",
        lambda r: _ratio(r, "ours_refresh", "simplejwt_refresh_blacklist"),
    )
    row("login / simplejwt login (report)", lambda r: _ratio(r, "ours_login", "simplejwt_login"))
    row("login / knox login (report)", lambda r: _ratio(r, "ours_login", "knox_login"))
    row("session endpoint / knox (≥ 1.5x)", lambda r: _ratio(r, "ours_session", "knox"))
    row(
        "API-key endpoint / drf-api-key (≥ 1.2x)",
        lambda r: _ratio(r, "ours_api_key", "drf_api_key"),
    )
    for name, label in (
        ("ours_session", "warm session request"),
        ("ours_api_key", "warm API-key request"),
        ("ours_service_token", "warm service-token request"),
        ("ours_refresh", "refresh"),
        ("simplejwt_refresh_blacklist", "simplejwt refresh (rotate+blacklist)"),
        ("ours_login", "login"),
        ("simplejwt_login", "simplejwt login"),
        ("knox_login", "knox login"),
    ):
        target = (
            " (0 / 0)" if name in ("ours_session", "ours_api_key", "ours_service_token") else ""
        )
        row(f"{label}: SQL / Redis commands{target}", lambda r, n=name: _counts(r, n))
    row(
        "HTTP errors (all rows)",
        lambda r: (
            "not run" if r is None else f"{sum(v.get('errors', 0) for v in r['http'].values()):g}"
        ),
    )
    row(
        "load average before → after",
        lambda r: (
            "—" if r is None else f"{r['load_before'].split()[0]} → {r['load_after'].split()[0]}"
        ),
    )
    return [*lines, "", "From: " + ", ".join(files) + "."]


def scaling_table(quick: bool) -> list[str]:
    suffix = "-quick" if quick else ""
    lines = [
        "| install | endpoint | server | workers | req/s | p99 ms | 2 workers / 1 | "
        "per server-CPU-s, 2 / 1 | server cores | busiest worker | wrk cores | other cores |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    files = []
    for install in ("plain", "hiredis"):
        path = newest(f"*-scaling-{install}-sqlite{suffix}.json")
        if path is None:
            continue
        files.append(f"[{path.stem}](../bench/results/{path.with_suffix('.md').name})")
        rows = json.loads(path.read_text())
        by = {(r["endpoint"], r["server"], r["workers"]): r for r in rows}
        for (endpoint, server, workers), r in sorted(by.items()):
            one = by[(endpoint, server, 1)]
            scale = scale_cpu = "—"
            if workers == 2:
                scale = f"{r['rps'] / one['rps']:.2f}x"
                scale_cpu = f"{r['per_cpu_second'] / one['per_cpu_second']:.2f}x"
            lines.append(
                f"| {install} | {endpoint} | {server} | {workers} | {r['rps']:.0f} | "
                f"{r['p99']:.2f} | {scale} | {scale_cpu} | {r['server_cores']:.2f} | "
                f"{r['busiest_worker_share']:.0%} | {r['client_cores']:.2f} | "
                f"{r['other_cores']:.2f} |"
            )
    return [*lines, "", "From: " + ", ".join(files) + "."]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print("\n".join([*peers_table(args.quick), "", *scaling_table(args.quick)]))


if __name__ == "__main__":
    main()
