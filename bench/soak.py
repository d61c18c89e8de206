#!/usr/bin/env python3
"""A soak under mixed traffic while Redis is frozen, killed and failed over on a schedule.

    .venv/bin/python bench/soak.py --minutes 10               # PostgreSQL h_faults
    .venv/bin/python bench/soak.py --minutes 2 --sqlite       # a short run on a SQLite file

Topology (all test-owned, loopback): a Redis primary, its replica and one Sentinel
(``down-after-milliseconds`` 3000), gunicorn with 3 sync workers using django-redis's
``SentinelClient``, and the database. Client threads mix logins, refreshes, authenticated
requests (session tokens and API keys), logouts, API-key revocations and checks of credentials
revoked earlier; ``manage.py jwtsessions_cleanup`` runs every minute. Every ``--cycle`` seconds:

* +10 s: the primary is frozen (SIGSTOP) for 2 s (shorter than down-after: no failover);
* +25 s: the primary is killed (SIGKILL); Sentinel promotes the replica; the killed server
  is restarted on its port 10 s later and Sentinel makes it the new replica;
* +45 s: ``SENTINEL FAILOVER``.

It reports: revoked credentials admitted more than ``REVOCATION_SYNC_INTERVAL`` + 1 s after
the revoking call returned (the promise: 0), 5xx inside and outside the fault windows (a
window runs from the fault to 5 s after recovery), worker RSS over time, and Redis's key
count. Every loop is bounded by the run's deadline and a request cap.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")

from revocation_faults import git_head, postgres  # noqa: E402

from tests.fault_rows import BOUND, api_key_header, bearer, setup_user  # noqa: E402
from tests.faults import Lab, LiveServer, manage, sqlite_database, sqlite_template  # noqa: E402

MAX_REQUESTS = 2_000_000
RECOVERY_MARGIN = 5.0


class Soak:
    def __init__(self, server: LiveServer, deadline: float, users: list[dict[str, Any]]) -> None:
        self.server = server
        self.deadline = deadline
        self.users = users
        self.lock = threading.Lock()
        self.counts: collections.Counter[str] = collections.Counter()
        self.statuses: collections.Counter[str] = collections.Counter()
        self.errors: list[tuple[float, str, int]] = []  # (started, action, status)
        self.revoked: list[tuple[float, str, dict[str, str]]] = []  # (returned, kind, headers)
        self.violations: list[dict[str, Any]] = []
        self.admitted_within_bound = 0
        self.checked_revoked = 0
        self.requests = 0
        self.first_seen: dict[str, float] = {}

    # one request, recorded --------------------------------------------------------------------

    def call(
        self, action: str, method: str, path: str, body: Any = None, headers: Any = None
    ) -> tuple[int, Any, float]:
        started = time.monotonic()
        try:
            status, data = self.server.request(method, path, body, headers, timeout=20)
        except OSError:
            status, data = 0, None
        with self.lock:
            self.requests += 1
            self.counts[action] += 1
            self.statuses[f"{action} {status}"] += 1
            self.first_seen.setdefault(f"{action} {status}", started)
            if status >= 500 or status == 0:
                self.errors.append((started, action, status))
        return status, data, started

    # the client ---------------------------------------------------------------------------------

    def client(self, seed: int) -> None:
        rng = random.Random(seed)
        mine: list[dict[str, Any]] = []  # live sessions: {"access", "refresh", "user"}
        keys: list[dict[str, Any]] = []  # live API keys: {"key", "id", "user", "access"}
        while time.monotonic() < self.deadline and self.requests < MAX_REQUESTS:
            roll = rng.random()
            if not mine or roll < 0.05:
                self.login(rng, mine)
            elif roll < 0.15:
                self.refresh(rng, mine)
            elif roll < 0.70:
                s = rng.choice(mine)
                self.call("request", "GET", "/faults/probe/", headers=bearer(s["access"]))
            elif roll < 0.78:
                if keys:
                    k = rng.choice(keys)
                    self.call("api_key", "GET", "/faults/probe/", headers=api_key_header(k["key"]))
                else:
                    self.create_key(rng, mine, keys)
            elif roll < 0.82:
                self.logout(rng, mine)
            elif roll < 0.84 and keys:
                self.revoke_key(rng, keys)
            else:
                self.check_revoked(rng)

    def login(self, rng: random.Random, mine: list[dict[str, Any]]) -> None:
        user = rng.choice(self.users)
        status, data, _ = self.call(
            "login",
            "POST",
            "/api/auth/login/",
            {"username": user["username"], "password": "pw-" + user["username"]},
        )
        if status == 200:
            mine.append({"access": data["access"], "refresh": data["refresh"], "user": user})
            del mine[:-20]

    def refresh(self, rng: random.Random, mine: list[dict[str, Any]]) -> None:
        s = rng.choice(mine)
        status, data, _ = self.call(
            "refresh", "POST", "/api/auth/refresh/", {"refresh": s["refresh"]}
        )
        if status == 200:
            s["access"], s["refresh"] = data["access"], data["refresh"]
        elif status == 401:
            mine.remove(s)

    def logout(self, rng: random.Random, mine: list[dict[str, Any]]) -> None:
        s = rng.choice(mine)
        status, _, _ = self.call("logout", "POST", "/api/auth/logout/", headers=bearer(s["access"]))
        returned = time.monotonic()
        mine.remove(s)
        if status == 204:
            with self.lock:
                self.revoked.append((returned, "session", bearer(s["access"])))

    def create_key(
        self, rng: random.Random, mine: list[dict[str, Any]], keys: list[dict[str, Any]]
    ) -> None:
        s = rng.choice(mine)
        body = {"name": "soak", "scopes": [], "password": "pw-" + s["user"]["username"]}
        status, data, _ = self.call(
            "create_key", "POST", "/api/auth/api-keys/", body, bearer(s["access"])
        )
        if status == 201:
            keys.append({"key": data["key"], "id": data["id"], "access": s["access"]})
            del keys[:-10]

    def revoke_key(self, rng: random.Random, keys: list[dict[str, Any]]) -> None:
        k = rng.choice(keys)
        keys.remove(k)
        status, _, _ = self.call(
            "revoke_key", "DELETE", f"/api/auth/api-keys/{k['id']}/", headers=bearer(k["access"])
        )
        returned = time.monotonic()
        if status == 204:
            with self.lock:
                self.revoked.append((returned, "api_key", api_key_header(k["key"])))

    def check_revoked(self, rng: random.Random) -> None:
        with self.lock:
            if not self.revoked:
                return
            returned, kind, headers = rng.choice(self.revoked[-200:])
        status, _, started = self.call("check_revoked", "GET", "/faults/probe/", headers=headers)
        with self.lock:
            self.checked_revoked += 1
            if status == 200:
                if started > returned + BOUND:
                    self.violations.append(
                        {"kind": kind, "after_return_s": round(started - returned, 3)}
                    )
                elif started > returned:
                    self.admitted_within_bound += 1


class Faults:
    """The schedule; records each fault's window (start, recovered)."""

    def __init__(self, lab: Lab, topology: Any, deadline: float, cycle: float) -> None:
        self.topology = topology
        self.deadline = deadline
        self.cycle = cycle
        self.windows: list[dict[str, Any]] = []
        self.log: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        cycle = 0
        while not self.stop.is_set():
            base = started + cycle * self.cycle
            if base + 50 > self.deadline:
                return
            self.at(base + 10, self.freeze)
            self.at(base + 25, self.kill)
            self.at(base + 45, self.failover)
            cycle += 1

    def at(self, when: float, fault: Any) -> None:
        while time.monotonic() < when and not self.stop.is_set():
            time.sleep(0.05)
        if self.stop.is_set():
            return
        begin = time.monotonic()
        try:
            detail = fault()
        except Exception as exc:  # recorded; the soak goes on
            detail = f"failed: {type(exc).__name__}: {exc}"
        end = time.monotonic()
        self.windows.append(
            {"fault": fault.__name__, "start": begin, "recovered": end, "detail": detail}
        )
        self.log.append(f"{fault.__name__}: {detail} ({end - begin:.2f} s)")

    def freeze(self) -> str:
        server = self.topology.server(self.topology.primary_port())
        server.freeze()
        time.sleep(2.0)
        server.thaw()
        return f"primary :{server.port} frozen 2 s"

    def kill(self) -> str:
        old = self.topology.primary_port()
        server = self.topology.server(old)
        server.kill()
        new = self.topology.wait_primary_moved(old, timeout=60)
        moved = time.monotonic()

        def restart() -> None:
            time.sleep(10)
            if not self.stop.is_set():
                server.start()

        threading.Thread(target=restart, daemon=True).start()
        return f"primary :{old} killed; :{new} promoted; restart in 10 s ({moved:.0f})"

    def failover(self) -> str:
        old = self.topology.primary_port()
        self.topology.failover()
        new = self.topology.wait_primary_moved(old, timeout=60)
        return f"SENTINEL FAILOVER :{old} -> :{new}"


def memory_over_time(samples: list[dict[str, Any]]) -> list[str]:
    """Every worker's RSS each minute, and its growth in each half of the run (MB/min): a
    bounded per-process structure filling up shows as growth that slows to nothing, a leak as
    growth that does not."""
    pids = list(samples[0]["rss_kb"])
    marks = [s for i, s in enumerate(samples) if i == 0 or s["t"] // 60 > samples[i - 1]["t"] // 60]
    if marks[-1] is not samples[-1]:
        marks.append(samples[-1])
    header = "| t | " + " | ".join(f"{pid} MB" for pid in pids) + " |"
    rows = [header, "|---:|" + "---:|" * len(pids)]
    for sample in marks:
        cells = [sample["rss_kb"].get(pid) for pid in pids]
        shown = " | ".join(f"{c / 1024:.1f}" if c else "—" for c in cells)
        rows.append(f"| {sample['t']} s | {shown} |")
    middle = samples[len(samples) // 2]

    def rate(a: dict[str, Any], b: dict[str, Any], pid: int) -> str:
        if not (a["rss_kb"].get(pid) and b["rss_kb"].get(pid)) or b["t"] <= a["t"]:
            return "—"
        return f"{(b['rss_kb'][pid] - a['rss_kb'][pid]) / 1024 / ((b['t'] - a['t']) / 60):+.2f}"

    growth = [
        "| worker pid | first half MB/min | second half MB/min |",
        "|---|---:|---:|",
        *(
            f"| {pid} | {rate(samples[0], middle, pid)} | {rate(middle, samples[-1], pid)} |"
            for pid in pids
        ),
    ]
    return ["Worker memory over time (RSS, MB):", "", *rows, "", *growth, ""]


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--cycle", type=float, default=60.0, help="seconds per fault cycle")
    parser.add_argument("--threads", type=int, default=3)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/h_faults")
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="jwtsessions-soak-"))
    if args.sqlite:
        database, backend = sqlite_database(sqlite_template(tmp), tmp), "sqlite"
    else:
        database, backend = postgres(args.database_url), "postgres"

    with Lab(database) as lab:
        topology = lab.sentinels(1, down_after_ms=3000)
        # One client address for every user: the per-address login limit is not under test.
        env = lab.env(topology.cache(), LOGIN_FAILURE_LIMIT=1_000_000)
        server = lab.server(env, workers=3)
        users = [setup_user(server, "soak") for _ in range(30)]
        began = time.monotonic()
        deadline = began + args.minutes * 60
        soak = Soak(server, deadline, users)
        faults = Faults(lab, topology, deadline, args.cycle)
        threads = [threading.Thread(target=soak.client, args=(i,)) for i in range(args.threads)]
        scheduler = threading.Thread(target=faults.run)
        for thread in [*threads, scheduler]:
            thread.start()
        samples: list[dict[str, Any]] = []
        cleanups: list[str] = []
        next_cleanup = began + 60
        try:
            while time.monotonic() < deadline:
                pids = server.worker_pids()
                sample: dict[str, Any] = {
                    "t": round(time.monotonic() - began),
                    "rss_kb": {pid: rss_kb(pid) for pid in pids},
                    "requests": soak.requests,
                }
                try:
                    primary = topology.server(topology.primary_port())
                    sample["redis_keys"] = primary.client().dbsize()
                except Exception as exc:
                    sample["redis_keys"] = type(exc).__name__
                samples.append(sample)
                print(json.dumps(sample), file=sys.stderr, flush=True)
                if time.monotonic() >= next_cleanup:
                    done = manage(env, "jwtsessions_cleanup", timeout=120)
                    cleanups.append(f"exit {done.returncode}: {done.stdout.strip()[-120:]}")
                    next_cleanup += 60
                time.sleep(min(15.0, max(0.0, deadline - time.monotonic())))
        finally:
            faults.stop.set()
            for thread in [*threads, scheduler]:
                thread.join(60)
        duration = time.monotonic() - began
        text = report(args, backend, duration, soak, faults, samples, cleanups, began)
        text += server_errors(server.output())
    print(text)
    output = args.output or (
        ROOT / "bench" / "results" / f"{time.strftime('%Y%m%d-%H%M')}-soak-{backend}.md"
    )
    output.write_text(text)
    print(f"saved {output}", file=sys.stderr)


def server_errors(output: str) -> str:
    """The distinct exception lines in the server's log, with counts."""
    found: collections.Counter[str] = collections.Counter()
    for line in output.splitlines():
        if "Error" in line and not line.startswith((" ", "Traceback")):
            found[line.strip()[:200]] += 1
    if not found:
        return "\nServer log: no errors.\n"
    lines = ["", "Server log, error lines (count):", "", "```"]
    lines += [f"{n} x {line}" for line, n in found.most_common(20)]
    return "\n".join([*lines, "```", ""])


def report(
    args: Any,
    backend: str,
    duration: float,
    soak: Soak,
    faults: Faults,
    samples: list[dict[str, Any]],
    cleanups: list[str],
    began: float,
) -> str:
    def in_window(t: float) -> bool:
        return any(
            w["start"] - 0.5 <= t <= w["recovered"] + RECOVERY_MARGIN for w in faults.windows
        )

    inside = [e for e in soak.errors if in_window(e[0])]
    outside = [e for e in soak.errors if not in_window(e[0])]
    first, last = samples[0], samples[-1]
    rss_lines = []
    for pid, start_kb in first["rss_kb"].items():
        series = [s["rss_kb"].get(pid) for s in samples if s["rss_kb"].get(pid)]
        rss_lines.append(
            f"| {pid} | {start_kb} | {series[-1] if series else '—'} | {max(series, default=0)} |"
        )
    lines_memory = memory_over_time(samples)
    lines = [
        f"# Soak under Redis faults — {time.strftime('%Y-%m-%d %H:%M %Z')}",
        "",
        f"Code: `{git_head()}`. Database: {backend}. Duration {duration / 60:.1f} min, "
        f"{args.threads} client threads, 3 sync gunicorn workers, Redis primary + replica + 1 "
        f"Sentinel. Machine: {platform.platform()}, {os.cpu_count()} CPUs (shared with other "
        "jobs).",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| requests | {soak.requests} |",
        f"| revoked credentials checked afterwards | {soak.checked_revoked} |",
        f"| **revoked credentials admitted past the bound ({BOUND:g} s)** | "
        f"**{len(soak.violations)}** |",
        f"| revoked credentials admitted within the bound | {soak.admitted_within_bound} |",
        f"| 5xx / connection errors inside fault windows | {len(inside)} |",
        f"| **5xx / connection errors outside fault windows** | **{len(outside)}** |",
        f"| faults injected | {len(faults.windows)} |",
        "",
        "Requests by action and status:",
        "",
        "```",
        *(
            f"{k}: {v} (first at {soak.first_seen[k] - began:.1f} s)"
            for k, v in sorted(soak.statuses.items())
        ),
        "```",
        "",
        "Faults (start relative to the run's start):",
        "",
        *(f"- {w['start'] - began:6.1f} s {w['fault']}: {w['detail']}" for w in faults.windows),
        "",
        "Errors outside the windows (first 20): "
        + (json.dumps([(round(t - began, 1), a, s) for t, a, s in outside[:20]]) or "none"),
        "",
        "Violations (first 20): " + json.dumps(soak.violations[:20]),
        "",
        "Worker memory (RSS, kB; first sample, last, max):",
        "",
        "| worker pid | first | last | max |",
        "|---|---:|---:|---:|",
        *rss_lines,
        "",
        f"Worker pids at the start {sorted(first['rss_kb'])}, at the end {sorted(last['rss_kb'])}.",
        "",
        *lines_memory,
        "Redis keys on the primary over time: "
        + ", ".join(f"{s['t']}s={s['redis_keys']}" for s in samples),
        "",
        "Cleanup runs: " + ("; ".join(cleanups) or "none"),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
