#!/usr/bin/env python3
"""Benchmark django-jwtsessions against its peers, side by side, in one run.

    python3 bench/peers.py            # full run (about 6 minutes), SQLite
    python3 bench/peers.py --quick    # smoke run
    python3 bench/peers.py --database-url postgres://postgres@127.0.0.1:5432/bench

The first run creates bench/.venv with this package (-e .) and the peers. Each run starts a
private redis-server on a free port and a fresh SQLite file, prepares one user and one
credential per scheme, then measures, with the schemes shuffled in every round so that a
noisy neighbour hits all of them alike:

1. authentication alone: ``authenticate()`` + ``has_permission()`` on a prepared request;
2. a full request through Django's WSGI handler, in process (no socket);
3. HTTP through gunicorn on 127.0.0.1, driven by ``wrk`` for a bounded time.

The report (markdown) is printed and saved under bench/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = HERE / ".venv"
PEERS = [
    "djangorestframework-simplejwt",
    "django-rest-knox",
    "djangorestframework-api-key",
    "gunicorn",
    "hiredis",
    "psycopg[binary]",
]
FLOOR, SJWT = "floor", "simplejwt_stateless"


# --- environment ----------------------------------------------------------------------------


def ensure_venv() -> None:
    """Re-run this script inside bench/.venv, creating it on first use."""
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not python.exists():
        print(f"creating {VENV} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    # Reinstall when the list of peers changed since the last run.
    stamp, wanted = VENV / ".installed", "\n".join(PEERS)
    if not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-e", str(ROOT), *PEERS], check=True
        )
        stamp.write_text(wanted)
    os.execv(str(python), [str(python), os.path.abspath(sys.argv[0]), *sys.argv[1:]])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


@contextlib.contextmanager
def private_redis(workdir: Path) -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server not found (apt-get install -y redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def setup_django(sqlite: Path, redis_url: str, database_url: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchsite.settings"
    os.environ["BENCH_SQLITE"] = str(sqlite)
    os.environ["BENCH_REDIS_URL"] = redis_url
    os.environ["BENCH_DATABASE_URL"] = database_url
    sys.path.insert(0, str(HERE))
    import django

    django.setup()
    from django.core.management import call_command

    if database_url:
        call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)


# --- credentials ----------------------------------------------------------------------------


def make_credentials() -> dict[str, dict[str, str]]:
    """One HTTP header set per scheme, for the same user."""
    from benchsite.views import SCHEMES
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends import cache as cache_sessions
    from django.contrib.sessions.backends import db as db_sessions
    from knox.models import AuthToken
    from rest_framework.authtoken.models import Token
    from rest_framework_api_key.models import APIKey
    from rest_framework_simplejwt.tokens import AccessToken

    from jwtsessions.sessions import create_session

    user = User.objects.create_user("bench", "bench@example.com", "unused-password-123")

    def session_cookie(store_class: Any) -> str:
        store = store_class()
        store.update(
            {
                SESSION_KEY: str(user.pk),
                BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                HASH_SESSION_KEY: user.get_session_auth_hash(),
            }
        )
        store.save(must_create=True)
        return f"sessionid={store.session_key}"

    _, knox_token = AuthToken.objects.create(user)
    _, drf_api_key = APIKey.objects.create_key(name="bench")
    creds = {
        FLOOR: {},
        SJWT: {"Authorization": f"Bearer {AccessToken.for_user(user)}"},
        "simplejwt_user": {"Authorization": f"Bearer {AccessToken.for_user(user)}"},
        "knox": {"Authorization": f"Token {knox_token}"},
        "drf_token": {"Authorization": f"Token {Token.objects.create(user=user).key}"},
        "drf_session_db": {"Cookie": session_cookie(db_sessions.SessionStore)},
        "drf_session_redis": {"Cookie": session_cookie(cache_sessions.SessionStore)},
        "drf_api_key": {"Authorization": f"Api-Key {drf_api_key}"},
        "ours_session": {"Authorization": f"Bearer {create_session(user).access}"},
    }
    if "ours_api_key" in SCHEMES or "ours_service_token" in SCHEMES:
        creds.update(our_key_credentials(user))
    return {name: creds[name] for name in SCHEMES if name in creds}


def our_key_credentials(user: Any) -> dict[str, dict[str, str]]:
    """API key and service token of ours, through the public endpoints (their API is theirs)."""
    from django.test import Client

    from jwtsessions.sessions import create_session

    client = Client()
    access = create_session(user).access
    out: dict[str, dict[str, str]] = {}
    r = client.post(
        "/api/auth/api-keys/",
        # API_KEY_REQUIRE_PASSWORD: the user's current password (set in the setup above).
        {"name": "bench", "scopes": ["bench:read"], "password": "unused-password-123"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {access}",
    )
    if r.status_code != 201:
        print(f"ours_api_key: cannot create a key ({r.status_code}); skipped", file=sys.stderr)
        return out
    key = r.json()["key"]
    out["ours_api_key"] = {"Authorization": f"Api-Key {key}"}
    r = client.post(
        "/api/auth/service-token/",
        {"scope": "bench:read"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )
    if r.status_code == 200:
        out["ours_service_token"] = {"Authorization": f"Bearer {r.json()['access']}"}
    else:
        print(f"ours_service_token: no token ({r.status_code}); skipped", file=sys.stderr)
    return out


def meta_of(headers: dict[str, str]) -> dict[str, str]:
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}


# --- 1. authentication alone ----------------------------------------------------------------


def auth_call(name: str, headers: dict[str, str]) -> Callable[[], None]:
    """One ``authenticate()`` + ``has_permission()``, as DRF runs it for a request.

    Session schemes also pay for what their middleware does per request (a fresh session
    store and lazy user): that is their authentication.
    """
    from benchsite.middleware import _CACHE, _DB
    from benchsite.views import SCHEMES
    from django.contrib.auth import get_user
    from django.test import RequestFactory
    from django.utils.functional import SimpleLazyObject
    from rest_framework.request import Request
    from rest_framework.views import APIView

    authentication, permissions = SCHEMES[name]
    django_request = RequestFactory().get(f"/{name}/", **meta_of(headers))
    request = Request(django_request)
    authenticators = [cls() for cls in authentication]
    checks = [cls() for cls in permissions]
    view = APIView()
    store = _CACHE if name == "drf_session_redis" else _DB
    session_key = django_request.COOKIES.get("sessionid")

    def call() -> None:
        if session_key is not None:
            django_request.session = store(session_key)
            django_request.user = SimpleLazyObject(lambda: get_user(django_request))
        for authenticator in authenticators:
            result = authenticator.authenticate(request)
            if result is not None:
                request.user, request.auth = result
                break
        for check in checks:
            if not check.has_permission(request, view):
                raise RuntimeError(f"{name}: permission refused")

    return call


def time_per_call(call: Callable[[], None], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - start) / n * 1e6


def interleaved(calls: dict[str, Callable[[], None]], rounds: int, n: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        time_per_call(call, max(n // 4, 5))  # warm: caches filled, code paths imported
    for _ in range(rounds):
        order = list(calls)
        random.shuffle(order)
        for name in order:
            samples[name].append(time_per_call(calls[name], n))
    return {name: statistics.median(values) for name, values in samples.items()}


# --- 2. full request in process -------------------------------------------------------------


def wsgi_call(handler: Any, name: str, headers: dict[str, str]) -> Callable[[], None]:
    base = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": f"/{name}/",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **meta_of(headers),
    }
    statuses: list[str] = []

    def start_response(status: str, _headers: Any, _exc: Any = None) -> None:
        statuses.append(status)

    def call() -> None:
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO(b"")
        response = handler(environ, start_response)
        b"".join(response)
        response.close()
        if not statuses.pop().startswith("200"):
            raise RuntimeError(f"{name}: not 200")

    return call


def count_backend_calls(
    calls: dict[str, Callable[[], None]], redis_url: str, n: int = 20
) -> dict[str, tuple[float, float]]:
    """SQL queries and Redis commands per request, after warm-up."""
    import redis
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = redis.Redis.from_url(redis_url)

    def redis_commands() -> int:
        stats = client.info("commandstats")
        return sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")

    counts: dict[str, tuple[float, float]] = {}
    for name, call in calls.items():
        call()
        before = redis_commands()
        with CaptureQueriesContext(connection) as queries:
            for _ in range(n):
                call()
        commands = redis_commands() - before
        counts[name] = (len(queries) / n, commands / n)
    return counts


# --- 3. HTTP through gunicorn ---------------------------------------------------------------


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def wrk(
    port: int, name: str, headers: dict[str, str], seconds: float, connections: int
) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency"]
    for header, value in headers.items():
        command += ["-H", f"{header}: {value}"]
    command.append(f"http://127.0.0.1:{port}/{name}/")
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{name}: {errors.group(1)} non-2xx responses over HTTP")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p50": p50, "p99": p99}


@contextlib.contextmanager
def gunicorn(workers: int) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            str(VENV / "bin" / "gunicorn"),
            "benchsite.wsgi:application",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--chdir",
            str(HERE),
            "--log-level",
            "warning",
        ],
        env=os.environ.copy(),
    )
    try:
        wait_for_port(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(15)


def http_rounds(
    creds: dict[str, dict[str, str]], rounds: int, seconds: float, workers: int, connections: int
) -> dict[str, dict[str, float]]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found (apt-get install -y wrk), or run with --skip-http")
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in creds}
    with gunicorn(workers) as port:
        for name, headers in creds.items():
            wrk(port, name, headers, 1, connections)  # warm every worker
        for number in range(rounds):
            order = list(creds)
            random.shuffle(order)
            for name in order:
                samples[name].append(wrk(port, name, headers_of(creds, name), seconds, connections))
            print(f"  http round {number + 1}/{rounds} done", file=sys.stderr)
    return {
        name: {k: statistics.median(s[k] for s in runs) for k in ("rps", "p50", "p99")}
        for name, runs in samples.items()
    }


def headers_of(creds: dict[str, dict[str, str]], name: str) -> dict[str, str]:
    return creds[name]


# --- report ---------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    import sqlite3
    from importlib.metadata import version

    out = {"Python": platform.python_version()}
    for dist in (
        "Django",
        "djangorestframework",
        "PyJWT",
        "djangorestframework-simplejwt",
        "django-rest-knox",
        "djangorestframework-api-key",
        "django-redis",
        "redis",
        "hiredis",
        "gunicorn",
    ):
        out[dist] = version(dist)
    out["SQLite"] = sqlite3.sqlite_version
    out["redis-server"] = (
        subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
        .stdout.split()[2]
        .removeprefix("v=")
    )
    if shutil.which("wrk"):
        out["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()[1]
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "jwtsessions"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    out["django-jwtsessions"] = f"{commit}{' (+ uncommitted changes)' if dirty else ''}"
    return out


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.1f} GiB RAM"
    return f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs{memory}"


def ratio(value: float | None, base: float | None) -> str:
    return "—" if not value or not base else f"{value / base:.2f}x"


def report(
    args: argparse.Namespace,
    auth: dict[str, float],
    inproc: dict[str, float],
    counts: dict[str, tuple[float, float]],
    http: dict[str, dict[str, float]],
    token_length: int,
    revocation: str,
) -> str:
    database = "PostgreSQL" if args.database_url else "SQLite (file)"
    lines = [
        f"# django-jwtsessions vs peers — {time.strftime('%Y-%m-%d %H:%M %Z')}",
        "",
        f"Machine: {machine()}. Database: {database}. Cache: private redis-server on 127.0.0.1 "
        f"(django-redis + hiredis). HTTP: gunicorn {args.workers} sync workers, "
        f"`wrk -t1 -c{args.connections} -d{args.http_seconds}s`.",
        f"Rounds: {args.rounds} interleaved (auth alone, {args.calls} calls each; in process, "
        f"{args.requests} requests each), {args.http_rounds} over HTTP; medians shown.",
        "",
        "Auth ratios are to simplejwt stateless (the floor has no authentication to time). "
        "Throughput ratios: higher is better. Time ratios: lower is better.",
        "",
        "| scheme | auth µs/call | auth xsjwt | in-proc µs/req | xfloor | xsjwt | HTTP req/s | "
        "xfloor | xsjwt | p50 ms | p99 ms | SQL/req | Redis cmds/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in auth:
        h = http.get(name, {})
        sql, cmds = counts.get(name, (0.0, 0.0))
        lines.append(
            f"| {name} | {auth[name]:.1f} | "
            f"{ratio(auth[name], auth[SJWT]) if name != FLOOR else '—'} "
            f"| {inproc[name]:.0f} | {ratio(inproc[name], inproc[FLOOR])} | "
            f"{ratio(inproc[name], inproc[SJWT])} | "
            f"{h.get('rps', 0):.0f} | {ratio(h.get('rps'), http.get(FLOOR, {}).get('rps'))} | "
            f"{ratio(h.get('rps'), http.get(SJWT, {}).get('rps'))} | "
            f"{h.get('p50', 0):.2f} | {h.get('p99', 0):.2f} | {sql:g} | {cmds:g} |"
        )
    lines += ["", "## Targets", ""]
    lines += targets(auth, http, token_length)
    lines += ["", revocation, "## Versions", ""]
    lines += [f"- {k}: {v}" for k, v in versions().items()]
    lines += ["", f"Command: `python3 bench/peers.py {' '.join(sys.argv[1:])}`".rstrip()]
    return "\n".join(lines) + "\n"


def targets(
    auth: dict[str, float], http: dict[str, dict[str, float]], token_length: int
) -> list[str]:
    rows = ["| target | measured | met |", "|---|---:|:---:|"]

    def row(label: str, value: float | None, goal: float, higher_is_better: bool) -> None:
        if value is None:
            rows.append(f"| {label} | not measured | — |")
            return
        met = value >= goal if higher_is_better else value <= goal
        rows.append(f"| {label} | {value:.2f} | {'yes' if met else 'NO'} |")

    def rps(name: str) -> float | None:
        return http.get(name, {}).get("rps")

    def div(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    row(
        "session endpoint HTTP req/s ≥ 0.95 x simplejwt stateless",
        div(rps("ours_session"), rps(SJWT)),
        0.95,
        True,
    )
    row(
        "session endpoint HTTP req/s ≥ 1.5 x knox", div(rps("ours_session"), rps("knox")), 1.5, True
    )
    row(
        "authentication alone ≤ 1.2 x simplejwt stateless",
        div(auth.get("ours_session"), auth.get(SJWT)),
        1.2,
        False,
    )
    row(
        "API-key endpoint HTTP req/s ≥ 1.2 x drf-api-key",
        div(rps("ours_api_key"), rps("drf_api_key")),
        1.2,
        True,
    )
    rows.append(
        f"| access token length ≤ 230 chars (default claims, HS256) | {token_length} | "
        f"{'yes' if token_length <= 230 else 'NO'} |"
    )
    return rows


# --- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=400, help="auth calls per scheme per round")
    parser.add_argument("--requests", type=int, default=150, help="in-process requests per round")
    parser.add_argument("--http-rounds", type=int, default=3)
    parser.add_argument("--http-seconds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--revocation-trials", type=int, default=200)
    parser.add_argument("--database-url", default="", help="postgres://... (default: SQLite)")
    parser.add_argument("--output", type=Path, help="report path (default: bench/results/...)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.calls, args.requests = 3, 100, 40
        args.http_rounds, args.http_seconds, args.revocation_trials = 1, 2, 20

    with tempfile.TemporaryDirectory(prefix="jwtsessions-bench-") as tmp:
        workdir = Path(tmp)
        with private_redis(workdir) as redis_url:
            setup_django(workdir / "bench.db", redis_url, args.database_url)
            from django.core.handlers.wsgi import WSGIHandler

            creds = make_credentials()
            print(f"schemes: {', '.join(creds)}", file=sys.stderr)
            token_length = len(creds["ours_session"]["Authorization"].split()[1])

            print("1/3 authentication alone ...", file=sys.stderr)
            auth = interleaved(
                {name: auth_call(name, headers) for name, headers in creds.items()},
                args.rounds,
                args.calls,
            )
            print("2/3 full request in process ...", file=sys.stderr)
            handler = WSGIHandler()
            wsgi_calls = {name: wsgi_call(handler, name, h) for name, h in creds.items()}
            inproc = interleaved(wsgi_calls, args.rounds, args.requests)
            counts = count_backend_calls(wsgi_calls, redis_url)
            http: dict[str, dict[str, float]] = {}
            if not args.skip_http:
                print("3/3 HTTP through gunicorn ...", file=sys.stderr)
                from django.db import connections

                connections.close_all()
                http = http_rounds(
                    creds, args.http_rounds, args.http_seconds, args.workers, args.connections
                )
            print("cross-process revocation ...", file=sys.stderr)
            import revocation_delay

            revocation = revocation_delay.markdown(revocation_delay.measure(args.revocation_trials))

    text = report(args, auth, inproc, counts, http, token_length, revocation)
    print(text)
    output = args.output
    if output is None:
        suffix = "postgres" if args.database_url else "sqlite"
        output = (
            HERE
            / "results"
            / f"{time.strftime('%Y%m%d-%H%M')}-{suffix}{'-quick' if args.quick else ''}.md"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(
        f"saved {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    ensure_venv()
    main()
