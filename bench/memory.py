#!/usr/bin/env python3
"""Does a process's memory level off? Distinct credentials well past every per-process cap.

    python3 bench/memory.py --database-url postgres://postgres@127.0.0.1:5432/h_memory
    python3 bench/memory.py                    # SQLite in a temporary directory
    python3 bench/memory.py --quick            # every cap lowered tenfold: a minute or so

Issue 11: in a 10-minute soak the gunicorn workers' RSS grew by about 0.65 MB/min. Everything
a process keeps per token, session, key or address is meant to be bounded: the verified-token
memo (``verification._verified``), the per-process copy (``localcache``), the login throttle's
fallback while the cache is down (``throttling._fallback``), and the refusal log's state
(``sync``: blacklisted ids until they expire, refusals owed to the cache, id gaps). A bounded
structure fills up and then stays put; a leak keeps growing. This script drives, in one process
through Django's ``WSGIHandler`` (the bench site, a private redis-server, PostgreSQL or SQLite),
a bounded number of distinct credentials, ``--factor`` times the largest cap in all:

1. ``blacklist``: ids blacklisted with a short expiry (``blacklist_token``, as the admin and the
   revoke command do), between authenticated requests that catch up with the refusal log;
2. ``outage``: redis-server frozen (SIGSTOP, by pid), failed logins from as many distinct
   loopback addresses and usernames: the throttle counts in its per-process fallback;
3. ``fill``: as many distinct credentials as the largest cap: logins, refreshes, API keys,
   service tokens, and (most of them, to keep the run short) access tokens minted for live
   sessions as a refresh would; each is used once on an authenticated endpoint;
4. ``steady``: the rest of the credentials. Every cap is full all along: growth here is what
   a leak would look like.

Every ``--every`` operations it samples RSS (``/proc/self/status``), tracemalloc's traced total,
the number of objects the garbage collector tracks, and the size of each structure. The report
(``bench/results/<date>-memory-<database>.md``) has the samples, each phase's growth over its
last third, each structure's cap, largest size and approximate bytes, and the source lines whose
traced memory grew from the end of ``outage`` to the end of the run.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import random
import secrets
import signal
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import harness

PASSWORD = "memory-bench-password"
USERS = 50
BLACKLIST_EXPIRY = 10.0  # seconds: listed ids expire while the phase runs


# --- the structures ---------------------------------------------------------------------------


def structures() -> dict[str, tuple[Callable[[], Any], int | None, str]]:
    """name -> (the live object, its cap or None, what removes entries)."""
    from jwtsessions import localcache, sync, throttling, verification
    from jwtsessions.settings import jwt_settings

    fallback = throttling._fallback
    return {
        "verified": (
            lambda: verification._verified,
            verification.VERIFIED_CACHE_SIZE,
            "oldest out on insert when full; emptied on key change",
        ),
        "local copy": (
            lambda: localcache._state.entries,
            jwt_settings.LOCAL_CACHE_SIZE,
            "oldest out on insert when full; emptied on any revocation or link doubt",
        ),
        "throttle fallback": (
            lambda: (fallback._cache, fallback._expire_info),
            fallback._max_entries,
            "LocMemCache cull (a third, oldest first) on insert when full",
        ),
        "listed": (
            lambda: sync._state.listed,
            None,
            "expired ids dropped at every catch-up (ids unexpired in the database)",
        ),
        "pending": (
            lambda: sync._state.pending,
            None,
            "written to the cache once it answers (refusals owed during an outage)",
        ),
        "gaps": (lambda: sync._state.gaps, sync.MAX_GAPS, "merged past MAX_GAPS; GAP_LIFETIME"),
        "inside": (
            lambda: sync._state.inside,
            None,
            "ids outside every gap dropped at each catch-up (GAP_LIFETIME)",
        ),
    }


def entries(obj: Any) -> int:
    return len(obj[0]) if isinstance(obj, tuple) else len(obj)


def deep_size(root: Any) -> int:
    """Bytes of ``root`` and everything it holds (``sys.getsizeof``, each object once)."""
    seen: set[int] = set()
    todo = [root]
    total = 0
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            todo.extend(obj.keys())
            todo.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            todo.extend(obj)
    return total


# --- one process, sampled -----------------------------------------------------------------------


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Run:
    """Requests through Django's WSGI handler, and a sample every ``every`` operations."""

    def __init__(self, every: int) -> None:
        from django.core.handlers.wsgi import WSGIHandler

        self.handler = WSGIHandler()
        self.every = every
        self.ops = 0
        self.phase = "start"
        self.started = time.monotonic()
        self.cpu_started = time.process_time()
        self.samples: list[dict[str, Any]] = []
        self.largest: dict[str, int] = {}
        self.statuses: dict[str, int] = {}
        self.watch = structures()

    def request(
        self, method: str, path: str, body: Any = None, headers: Any = None, address: str = ""
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else b""
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(data)),
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": address or "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.input": io.BytesIO(data),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()},
        }
        got: list[str] = []
        response = self.handler(environ, lambda status, _h, _e=None: got.append(status))
        content = b"".join(response)
        response.close()
        status = int(got[0].split()[0])
        label = f"{self.phase} {method} {path.split('/')[-2] or path} {status}"
        self.statuses[label] = self.statuses.get(label, 0) + 1
        self.tick()
        return status, (json.loads(content) if content.startswith(b"{") else None)

    def tick(self) -> None:
        self.ops += 1
        if self.ops % self.every == 0:
            self.sample()

    def sample(self) -> None:
        gc.collect()  # live memory only, not garbage awaiting the collector
        sizes = {name: entries(get()) for name, (get, _cap, _how) in self.watch.items()}
        for name, size in sizes.items():
            self.largest[name] = max(self.largest.get(name, 0), size)
        self.samples.append(
            {
                "phase": self.phase,
                "ops": self.ops,
                "seconds": time.monotonic() - self.started,
                "cpu": time.process_time() - self.cpu_started,
                "rss": rss_kib() / 1024,
                "traced": tracemalloc.get_traced_memory()[0] / 2**20,
                "tracing": tracemalloc.get_tracemalloc_memory() / 2**20,
                "objects": len(gc.get_objects()),
                **sizes,
            }
        )


# --- the traffic --------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Traffic:
    """Distinct credentials, each used once; a few live sessions and keys to start from."""

    def __init__(self, run: Run, user_ids: dict[str, Any], seed: int = 1) -> None:
        self.run = run
        self.user_ids = user_ids
        self.users = sorted(user_ids)
        self.rng = random.Random(seed)
        self.sessions: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self.failures = 0

    def expect(self, status: int, wanted: int, what: str) -> bool:
        if status != wanted:
            self.failures += 1
            if self.failures > 50:
                raise SystemExit(f"{what}: {status} (50 unexpected answers so far; stopping)")
        return status == wanted

    def login(self) -> None:
        user = self.rng.choice(self.users)
        status, body = self.run.request(
            "POST", "/api/auth/login/", {"username": user, "password": PASSWORD}
        )
        if self.expect(status, 200, "login"):
            self.sessions.append({"user": user, **body})
            del self.sessions[:-100]
            self.use_session(body["access"])

    def refresh(self) -> None:
        session = self.rng.choice(self.sessions)
        status, body = self.run.request(
            "POST", "/api/auth/refresh/", {"refresh": session["refresh"]}
        )
        if self.expect(status, 200, "refresh"):
            session.update(access=body["access"], refresh=body["refresh"])
            self.use_session(body["access"])
        else:
            self.sessions.remove(session)

    def use_session(self, access: str) -> None:
        status, _ = self.run.request("GET", "/ours_session/", headers=bearer(access))
        self.expect(status, 200, "session request")

    def api_key(self) -> None:
        session = self.rng.choice(self.sessions)
        body = {"name": "memory", "password": PASSWORD}
        status, created = self.run.request(
            "POST", "/api/auth/api-keys/", body, bearer(session["access"])
        )
        if self.expect(status, 201, "create key"):
            self.keys.append(created["key"])
            del self.keys[:-100]
            header = {"Authorization": f"Api-Key {created['key']}"}
            status, _ = self.run.request("GET", "/ours_api_key/", headers=header)
            self.expect(status, 200, "api key request")

    def service_token(self) -> None:
        header = {"Authorization": f"Api-Key {self.rng.choice(self.keys)}"}
        status, body = self.run.request("POST", "/api/auth/service-token/", {}, header)
        if self.expect(status, 200, "service token"):
            status, _ = self.run.request(
                "GET", "/ours_service_token/", headers=bearer(body["access"])
            )
            self.expect(status, 200, "service token request")

    def mint(self) -> None:
        """A new access token for a live session, as a refresh would hand out (no query)."""
        from jwtsessions.sessions import issue_access_token

        session = self.rng.choice(self.sessions)
        access, _ = issue_access_token(session["session_id"], self.user_ids[session["user"]])
        self.use_session(access)

    def credentials(self, distinct: int) -> None:
        """``distinct`` new credentials, each used once: one new entry in the per-process copy.

        Most are access tokens minted for live sessions (what refreshes hand out, without their
        queries, so the run stays short); the rest go through the endpoints.
        """
        for _ in range(distinct):
            roll = self.rng.random()
            if not self.sessions or roll < 0.08:
                self.login()
            elif not self.keys or roll < 0.12:
                self.api_key()
            elif roll < 0.20:
                self.service_token()
            elif roll < 0.30:
                self.refresh()
            else:
                self.mint()

    def failed_logins(self, addresses: int) -> None:
        """One failed login from each of ``addresses`` loopback addresses, a username each."""
        for n in range(1, addresses + 1):
            address = f"127.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"  # 127/8: loopback
            body = {"username": f"nobody-{n}", "password": "wrong"}
            status, _ = self.run.request("POST", "/api/auth/login/", body, address=address)
            self.expect(status, 401, "failed login")

    def blacklist(self, count: int) -> None:
        """Blacklist ``count`` new ids for a few seconds, an authenticated request after each."""
        from django.utils import timezone

        from jwtsessions.revocation import blacklist_token

        for _ in range(count):
            expires = timezone.now() + timedelta(seconds=BLACKLIST_EXPIRY)
            blacklist_token(secrets.token_urlsafe(12), expires_at=expires, reason="memory bench")
            self.run.tick()
            self.use_session(self.rng.choice(self.sessions)["access"])


@contextlib.contextmanager
def frozen(redis_url: str) -> Iterator[None]:
    """The private redis-server stopped (SIGSTOP by pid), then resumed."""
    pid = harness.redis_pid(redis_url)
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


# --- the report -------------------------------------------------------------------------------


def growth(samples: list[dict[str, Any]], field: str) -> tuple[float, float, float]:
    """(first value, value at two thirds, growth over the last third)."""
    first, last = samples[0][field], samples[-1][field]
    at = samples[min(len(samples) - 1, (2 * len(samples)) // 3)][field]
    return first, at, last - at


def report(run: Run, args: argparse.Namespace, info: dict[str, Any]) -> str:
    database = "postgres" if args.database_url else "sqlite"
    now = time.gmtime()
    lines = [
        f"# Memory under distinct credentials — {time.strftime('%Y-%m-%d %H:%M UTC', now)}",
        "",
        f"Code: `{harness.versions()['django-jwtsessions']}`. Database: {database}. "
        f"Install: {args.install}. Machine: {harness.machine()}; load average before: "
        f"{info['load']}. One process, requests through Django's `WSGIHandler` "
        f"(`bench/benchsite`), a private redis-server; tracemalloc on (1 frame). "
        f"{'**Quick run: every cap lowered tenfold.** ' if args.quick else ''}"
        f"Run time {run.samples[-1]['seconds']:.0f} s ({run.samples[-1]['cpu']:.0f} s of CPU in "
        f"this process), {run.ops:,} operations, "
        f"a sample every {run.every}.",
        "",
        "Phases: " + "; ".join(f"`{name}`: {what}" for name, what in info["phases"]) + ".",
        "",
        "## Per phase: growth over its last third",
        "",
        "A bounded structure fills, then stays put: the last third of a phase that is past every "
        "cap should grow by about nothing.",
        "",
        "| phase | samples | RSS MB (first → 2/3) | RSS last third | traced MB (first → 2/3) "
        "| traced last third | gc objects last third |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for phase, _ in info["phases"]:
        rows = [s for s in run.samples if s["phase"] == phase]
        if len(rows) < 3:
            continue
        r0, r1, rg = growth(rows, "rss")
        t0, t1, tg = growth(rows, "traced")
        _, _, og = growth(rows, "objects")
        lines.append(
            f"| {phase} | {len(rows)} | {r0:.1f} → {r1:.1f} | {rg:+.2f} | {t0:.2f} → {t1:.2f} "
            f"| {tg:+.2f} | {og:+,} |"
        )
    whole = run.samples
    _, _, rg = growth(whole, "rss")
    _, _, tg = growth(whole, "traced")
    lines += [
        f"| **whole run** | {len(whole)} | | **{rg:+.2f}** | | **{tg:+.2f}** | |",
        "",
        "## The structures",
        "",
        "| structure | cap | largest seen | at the end | approx. MB at the end "
        "| bytes per entry | what removes entries |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, (_get, cap, how) in run.watch.items():
        size, nbytes = info["sizes"][name]
        at_full = info["full_bytes"].get(name)
        per = f"{at_full[1] / at_full[0]:.0f}" if at_full and at_full[0] else "—"
        lines.append(
            f"| `{name}` | {cap if cap is not None else 'none'} | {run.largest.get(name, 0):,} "
            f"| {size:,} | {nbytes / 2**20:.2f} | {per} | {how} |"
        )
    lines += [
        "",
        "Bytes per entry: deep `sys.getsizeof` of the structure at the end of the phase where "
        "it was largest, divided by its entries (strings it shares with other objects are "
        "counted here too).",
        "",
        "## Traced memory that grew during `steady`",
        "",
        "Every capped structure is full when `steady` starts; what grows after that and "
        "stays is what a leak would look like (top lines by growth, tracemalloc). Lines of "
        "`bench/memory.py` and `tracemalloc.py` are the bench's own records.",
        "",
        "```",
        *info["grew"],
        "```",
        "",
        "## Where the traced memory is at the end",
        "",
        "Top lines by traced memory still held (allocated since tracing started, after the "
        "warm-up).",
        "",
        "```",
        *info["held"],
        "```",
        "",
        "## Samples",
        "",
        "| phase | ops | s | CPU s | RSS MB | tracemalloc's own MB | traced MB | gc objects | "
        + " | ".join(run.watch)
        + " |",
        "|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(run.watch),
    ]
    for s in run.samples:
        lines.append(
            f"| {s['phase']} | {s['ops']:,} | {s['seconds']:.0f} | {s['cpu']:.0f} "
            f"| {s['rss']:.1f} | {s['tracing']:.1f} | {s['traced']:.2f} | {s['objects']:,} | "
            + " | ".join(f"{s[name]:,}" for name in run.watch)
            + " |"
        )
    lines += ["", "## Answers", "", "```"]
    lines += [f"{label}: {count}" for label, count in sorted(run.statuses.items())]
    lines += ["```", "", "Versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items())]
    return "\n".join(lines) + "\n"


Pairs = dict[str, tuple[int, int]]
Lines = Pairs  # source line -> (traced bytes, blocks)


def in_child(work: Callable[[], Any]) -> Any:
    """``work()``'s JSON-able answer, computed in a forked child.

    Measuring allocates: a tracemalloc snapshot of a few hundred thousand blocks, or the set of
    ids a deep size walks, takes tens of MB that the allocator would keep in this process and
    show in every later RSS sample.
    """
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write the answer and leave without any cleanup
        try:
            os.close(read)
            with os.fdopen(write, "w") as pipe:
                json.dump(work(), pipe)
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        answer = json.load(pipe)
    os.waitpid(pid, 0)
    return answer


def traced_lines() -> Lines:
    """Traced bytes and blocks per source line, now."""

    def lines() -> dict[str, tuple[int, int]]:
        root = str(harness.ROOT) + os.sep
        out: dict[str, tuple[int, int]] = {}
        for stat in tracemalloc.take_snapshot().statistics("lineno"):
            frame = stat.traceback[0]
            where = frame.filename.replace(root, "").split("site-packages/")[-1]
            out[f"{where}:{frame.lineno}"] = (stat.size, stat.count)
        return out

    return {where: (size, count) for where, (size, count) in in_child(lines).items()}


def structure_bytes(watch: dict[str, tuple[Callable[[], Any], int | None, str]]) -> Pairs:
    """Each structure's entries and deep size, now."""

    def sizes() -> dict[str, tuple[int, int]]:
        return {name: (entries(get()), deep_size(get())) for name, (get, _c, _h) in watch.items()}

    return {name: (size, nbytes) for name, (size, nbytes) in in_child(sizes).items()}


def top_lines(after: Lines, before: Lines | None = None, count: int = 10) -> list[str]:
    """The lines holding the most traced memory, or (with ``before``) grown the most."""
    base = before or {}
    rows = [
        (size - base.get(where, (0, 0))[0], blocks - base.get(where, (0, 0))[1], where)
        for where, (size, blocks) in after.items()
    ]
    if before is not None:
        rows += [
            (-size, -blocks, where) for where, (size, blocks) in base.items() if where not in after
        ]
    rows.sort(reverse=True)
    sign = "+" if before is not None else ""
    return [
        f"{size / 1024:{sign}10.1f} KiB {blocks:{sign}8d} blocks  {where}"
        for size, blocks, where in rows[:count]
    ]


# --- main ---------------------------------------------------------------------------------------


def lower_caps(divisor: int) -> None:
    """--quick: every cap divided by ``divisor``, so the same shape runs in a minute."""
    from jwtsessions import throttling, verification

    verification.VERIFIED_CACHE_SIZE //= divisor
    throttling._fallback._max_entries //= divisor


def main() -> None:
    harness.ensure_venv()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--install", choices=harness.INSTALLS, default="plain")
    parser.add_argument("--database-url", default="", help="PostgreSQL (flushed!); else SQLite")
    parser.add_argument(
        "--factor", type=float, default=2.0, help="distinct credentials, in largest caps"
    )
    parser.add_argument("--every", type=int, default=0, help="operations between samples")
    parser.add_argument("--quick", action="store_true", help="caps / 10: a smoke run")
    parser.add_argument("--output", default="", help="report path")
    args = parser.parse_args()
    harness.check_install(args.install)
    load = harness.load_average()
    with tempfile.TemporaryDirectory() as tmp, harness.private_redis(Path(tmp)) as redis_url:
        harness.setup_django(Path(tmp) / "bench.sqlite3", redis_url, args.database_url)
        print(measure(args, redis_url, load))


def measure(args: argparse.Namespace, redis_url: str, load: str) -> str:
    from django.contrib.auth import get_user_model
    from django.test.utils import override_settings

    divisor = 10 if args.quick else 1
    if args.quick:
        lower_caps(divisor)
    override_settings(JWTSESSIONS={"LOCAL_CACHE_SIZE": 10_000 // divisor}).enable()
    model = get_user_model()
    user_ids = {
        f"memory-{n}": model.objects.create_user(f"memory-{n}", password=PASSWORD).pk
        for n in range(USERS)
    }
    run = Run(args.every or (1000 // divisor))
    largest = max(cap for _get, cap, _how in run.watch.values() if cap)
    fill = int(args.factor * largest)
    listed, failed, steady = fill // 10, fill // 2, fill - largest
    phases = [
        ("blacklist", f"{listed:,} ids blacklisted for {BLACKLIST_EXPIRY:g} s each"),
        ("outage", f"{failed:,} failed logins, each from its own address (2 counters each)"),
        ("fill", f"{largest:,} distinct credentials (the largest cap)"),
        ("steady", f"{steady:,} more distinct credentials, every cap full"),
    ]
    traffic = Traffic(run, user_ids)
    traffic.credentials(200)  # warm-up: imports, connections, first allocations
    run.samples.clear()
    run.ops = 0
    gc.collect()
    tracemalloc.start(1)
    run.started, run.cpu_started = time.monotonic(), time.process_time()
    full_bytes: dict[str, tuple[int, int]] = {}

    def phase(name: str, work: Callable[[], None]) -> None:
        run.phase = name
        run.sample()
        work()
        run.sample()
        for key, (size, nbytes) in structure_bytes(run.watch).items():
            if size >= full_bytes.get(key, (0, 0))[0]:
                full_bytes[key] = (size, nbytes)
        print(f"{name}: {run.samples[-1]}", file=sys.stderr, flush=True)

    def outage() -> None:
        from jwtsessions import cachehealth

        with frozen(redis_url):
            traffic.failed_logins(failed)
        while cachehealth.in_backoff():  # at most CACHE_OUTAGE_BACKOFF (5 s)
            time.sleep(0.1)

    phase("blacklist", lambda: traffic.blacklist(listed))
    phase("outage", outage)
    phase("fill", lambda: traffic.credentials(largest))
    before = traced_lines()
    phase("steady", lambda: traffic.credentials(steady))
    after = traced_lines()
    info = {
        "load": load,
        "phases": phases,
        "sizes": structure_bytes(run.watch),
        "full_bytes": full_bytes,
        "grew": top_lines(after, before),
        "held": top_lines(after),
        "versions": harness.versions(),
    }
    text = report(run, args, info)
    database = "postgres" if args.database_url else "sqlite"
    stamp = time.strftime("%Y%m%d-%H%M")
    quick = "-quick" if args.quick else ""
    path = Path(args.output or harness.HERE / "results" / f"{stamp}-memory-{database}{quick}.md")
    path.write_text(text)
    print(f"written to {path}", file=sys.stderr)
    return text


if __name__ == "__main__":
    main()
