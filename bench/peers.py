#!/usr/bin/env python3
"""Benchmark django-jwtsessions against its peers, side by side, in one run.

    python3 bench/peers.py                      # plain install (no hiredis), SQLite
    python3 bench/peers.py --install hiredis    # the same with redis-py's C parser
    python3 bench/peers.py --database-url postgres://postgres@127.0.0.1:5432/bench
    python3 bench/peers.py --quick              # smoke run

The first run of an install creates its virtualenv (bench/.venv/<install>, see harness.py).
Each run starts a private redis-server on a free port and a fresh SQLite file (or flushes the
PostgreSQL database it is given), prepares one user and one credential per scheme, then
measures, with the schemes shuffled in every round so that a noisy neighbour hits all of them
alike:

1. authentication alone: ``authenticate()`` + ``has_permission()`` on a prepared request;
2. a full request through Django's WSGI handler, in process (no socket), including login and
   refresh (see flows.py), with the SQL queries and Redis commands each request makes;
3. HTTP through gunicorn on 127.0.0.1, driven by ``wrk`` for a bounded time, read endpoints,
   logins and refresh chains interleaved in the same rounds.

The report (markdown) is printed and saved under bench/results/.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import flows  # noqa: E402
import harness  # noqa: E402

ROOT = harness.ROOT
FLOOR, SJWT = "floor", "simplejwt_stateless"
# The rows of issue 12's targets; --schemes core keeps only these (and the floor).
CORE = (FLOOR, SJWT, "knox", "drf_api_key", "ours_session", "ours_api_key", "ours_service_token")


# --- credentials ----------------------------------------------------------------------------


def make_credentials(wanted: set[str] | None = None) -> tuple[dict[str, dict[str, str]], Any]:
    """One HTTP header set per scheme (all, or those in ``wanted``), for the same user."""
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

    user = User.objects.create_user(flows.USERNAME, "bench@example.com", flows.PASSWORD)

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
    return {
        name: creds[name] for name in SCHEMES if name in creds and (not wanted or name in wanted)
    }, user


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
        {"name": "bench", "scopes": ["bench:read"], "password": flows.PASSWORD},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {access}",
    )
    if r.status_code != 201:
        print(
            f"ours_api_key: no key ({r.status_code} {r.content[:200]!r}); skipped", file=sys.stderr
        )
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


# Not per request: every process does some work once per interval whatever the traffic, the
# heartbeat that proves the per-process copy's subscription live (a PUBLISH through the primary,
# jwtsessions.localcache.LIVENESS_WINDOW) and the catch-up on the refusal log (one indexed query
# and one GET of the log mark, REVOCATION_SYNC_INTERVAL). The heartbeat's commands are counted
# apart; a counting window in which a catch-up ran is counted again (issue 11 allows one catch-up
# per interval per process, issue 12 asks 0 commands per warm request).
PERIODIC = ("cmdstat_ping", "cmdstat_publish")
ATTEMPTS = 5


def _caught_up_at() -> float | None:
    try:
        from jwtsessions import sync
    except ImportError:  # a peer's settings without this package
        return None
    return sync.caught_up_at()


def count_backend_calls(
    calls: dict[str, Callable[[], None]], redis_url: str, n: int = 20
) -> tuple[dict[str, tuple[float, float]], int]:
    """SQL queries and Redis commands per request, after warm-up, in a window without a
    catch-up; and the heartbeat commands seen while counting (left out of the figures)."""
    import redis
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = redis.Redis.from_url(redis_url)

    def redis_commands() -> tuple[int, int]:
        stats = client.info("commandstats")
        periodic = sum(stats.get(name, {}).get("calls", 0) for name in PERIODIC)
        commands = sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")
        return commands - periodic, periodic

    counts: dict[str, tuple[float, float]] = {}
    heartbeats = 0
    for name, call in calls.items():
        call()
        for _attempt in range(ATTEMPTS):
            caught_up = _caught_up_at()
            before, periodic_before = redis_commands()
            with CaptureQueriesContext(connection) as queries:
                for _ in range(n):
                    call()
            after, periodic_after = redis_commands()
            heartbeats += periodic_after - periodic_before
            if _caught_up_at() == caught_up:
                break
        counts[name] = (len(queries) / n, (after - before) / n)
    return counts, heartbeats


# --- 3. HTTP through gunicorn ---------------------------------------------------------------

HttpRun = Callable[[int, float, int], dict[str, float]]


def http_rounds(
    targets: dict[str, HttpRun], rounds: int, seconds: float, workers: int, connections: int
) -> dict[str, dict[str, float]]:
    """Every target once per round, in a new random order each round; medians, errors summed."""
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    with harness.server("gunicorn", workers) as srv:
        for run in targets.values():
            run(srv.port, 1, connections)  # warm every worker
        for number in range(rounds):
            order = list(targets)
            random.shuffle(order)
            for name in order:
                samples[name].append(targets[name](srv.port, seconds, connections))
            print(f"  http round {number + 1}/{rounds} done", file=sys.stderr)
    out: dict[str, dict[str, float]] = {}
    for name, runs in samples.items():
        out[name] = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99")}
        out[name]["errors"] = sum(r["errors"] for r in runs)
    return out


def http_targets(
    creds: dict[str, dict[str, str]], flow_map: dict[str, flows.Flow], workdir: Path
) -> dict[str, HttpRun]:
    def get(name: str) -> HttpRun:
        return lambda port, seconds, c: harness.wrk(port, f"/{name}/", creds[name], seconds, c)

    def post(flow: flows.Flow) -> HttpRun:
        return lambda port, seconds, c: flows.http_run(flow, port, seconds, c, workdir)

    targets = {name: get(name) for name in creds}
    targets.update({name: post(flow) for name, flow in flow_map.items()})
    return targets


# --- report ---------------------------------------------------------------------------------

ratio = harness.ratio


def report(
    args: argparse.Namespace,
    auth: dict[str, float],
    inproc: dict[str, float],
    counts: dict[str, tuple[float, float]],
    http: dict[str, dict[str, float]],
    token_length: int,
    revocation: str,
    context: dict[str, str],
) -> str:
    database = "PostgreSQL" if args.database_url else "SQLite (file)"
    parser = "hiredis (C parser)" if args.install == "hiredis" else "no hiredis (pure Python)"
    lines = [
        f"# django-jwtsessions vs peers — {args.install} install, {database} — "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}",
        "",
        f"Install: **{args.install}** (redis-py {context['redis']}, {parser}). "
        f"Machine: {harness.machine()}. Database: {database}. Cache: private redis-server on "
        f"127.0.0.1 (django-redis). HTTP: gunicorn {args.workers} sync workers, "
        f"`wrk -t1 -c{args.connections} -d{args.http_seconds}s`. "
        f"Load average before / after: {context['load_before']} / {harness.load_average()}.",
        f"Rounds: {args.rounds} interleaved (auth alone, {args.calls} calls each; in process, "
        f"{args.requests} requests each), {args.http_rounds} over HTTP (read endpoints, logins "
        "and refresh chains shuffled together in every round); medians shown.",
        "",
        "## Read endpoints",
        "",
        "Auth ratios are to simplejwt stateless (the floor has no authentication to time). "
        "Throughput ratios: higher is better. Time ratios: lower is better. SQL and Redis "
        "counts are per warm request (20 requests after one warm-up, in a window without the "
        "once-per-interval catch-up on the refusal log: one indexed query and one GET per "
        "process per `REVOCATION_SYNC_INTERVAL`, whatever the traffic); Redis commands leave "
        "out the per-process copy's heartbeat, one PUBLISH per second per process whatever the "
        f"traffic ({context['pings']} while all the rows were counted).",
        "",
        "| scheme | auth µs/call | auth xsjwt | in-proc µs/req | xfloor | xsjwt | HTTP req/s | "
        "xfloor | xsjwt | p50 ms | p99 ms | errors | SQL/req | Redis cmds/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
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
            f"{h.get('p50', 0):.2f} | {h.get('p99', 0):.2f} | {h.get('errors', 0):g} | "
            f"{sql:g} | {cmds:g} |"
        )
    lines += flow_table(inproc, counts, http, context)
    lines += ["", "## Targets (issue 12 first)", ""]
    lines += targets(auth, http, counts, token_length)
    lines += ["", revocation, "## Versions", ""]
    lines += [f"- {k}: {v}" for k, v in harness.versions().items()]
    lines += ["", f"Command: `python3 bench/peers.py {' '.join(sys.argv[1:])}`".rstrip()]
    return "\n".join(lines) + "\n"


def flow_table(
    inproc: dict[str, float],
    counts: dict[str, tuple[float, float]],
    http: dict[str, dict[str, float]],
    context: dict[str, str],
) -> list[str]:
    names = [n for n in inproc if n.endswith(("_login", "_refresh", "_refresh_blacklist"))]
    if not names:
        return []
    peer = {"refresh": "simplejwt_refresh_blacklist", "login": "simplejwt_login"}
    lines = [
        "",
        "## Login and refresh",
        "",
        "Refresh: ours against simplejwt with `ROTATE_REFRESH_TOKENS` and "
        "`BLACKLIST_AFTER_ROTATION` (its `token_blacklist` app installed); every request sends "
        "the token the previous answer handed out. Login: ours, simplejwt's "
        "`TokenObtainPairView`, knox's `LoginView` (Basic auth). Password hasher for all: "
        f"`MD5PasswordHasher` (the cheapest; Django's default PBKDF2 would add "
        f"{context['pbkdf2_ms']} ms of hashing to every login of every library alike). "
        "Ratios: ours to the peer in the same column (xsjwt: to simplejwt's rotate-and-blacklist "
        "refresh, or its login; xknox: to knox's login); in-process ratios are time (lower is "
        "better), HTTP ratios throughput (higher is better).",
        "",
        "| flow | in-proc µs/req | xsjwt | xknox | HTTP req/s | xsjwt | xknox | p50 ms | p99 ms "
        "| errors | SQL/req | Redis cmds/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        kind = "refresh" if "refresh" in name else "login"
        base = peer[kind]
        knox = "knox_login" if kind == "login" else None
        h = http.get(name, {})
        sql, cmds = counts.get(name, (0.0, 0.0))

        def x(value: float | None, other: str | None, table: str, name: str = name) -> str:
            if other is None or name == other or not name.startswith("ours"):
                return "—"
            if table == "inproc":
                return ratio(value, inproc.get(other))
            return ratio(value, http.get(other, {}).get("rps"))

        lines.append(
            f"| {name} | {inproc[name]:.0f} | {x(inproc[name], base, 'inproc')} | "
            f"{x(inproc[name], knox, 'inproc')} | {h.get('rps', 0):.0f} | "
            f"{x(h.get('rps'), base, 'http')} | {x(h.get('rps'), knox, 'http')} | "
            f"{h.get('p50', 0):.2f} | {h.get('p99', 0):.2f} | {h.get('errors', 0):g} | "
            f"{sql:g} | {cmds:g} |"
        )
    return lines


def targets(
    auth: dict[str, float],
    http: dict[str, dict[str, float]],
    counts: dict[str, tuple[float, float]],
    token_length: int,
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

    for name, label in (
        ("ours_session", "session endpoint"),
        ("ours_api_key", "API-key endpoint"),
        ("ours_service_token", "service-token endpoint"),
    ):
        row(
            f"{label} HTTP req/s ≥ 0.95 x simplejwt stateless",
            div(rps(name), rps(SJWT)),
            0.95,
            True,
        )
    row(
        "refresh HTTP req/s ≥ 2 x simplejwt rotate+blacklist",
        div(rps("ours_refresh"), rps("simplejwt_refresh_blacklist")),
        2.0,
        True,
    )
    for name, label in (
        ("ours_session", "session"),
        ("ours_api_key", "API-key"),
        ("ours_service_token", "service-token"),
    ):
        if name in counts:
            sql, cmds = counts[name]
            met = "yes" if sql == 0 and cmds == 0 else "NO"
            rows.append(
                f"| warm {label} request: 0 SQL and 0 Redis commands | {sql:g} SQL, "
                f"{cmds:g} Redis | {met} |"
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
    parser.add_argument("--install", choices=harness.INSTALLS, default="plain")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--schemes", default="all", help="'all', 'core' (issue 12's rows) or a comma list"
    )
    parser.add_argument("--skip-flows", action="store_true", help="no login/refresh rows")
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
        args.http_rounds, args.http_seconds = 1, 2
        args.revocation_trials = min(args.revocation_trials, 20)
    harness.check_install(args.install)
    wanted: set[str] | None = None
    if args.schemes == "core":
        wanted = set(CORE)
    elif args.schemes != "all":
        wanted = {FLOOR, SJWT, *args.schemes.split(",")}
    context = {"load_before": harness.load_average()}

    with tempfile.TemporaryDirectory(prefix="jwtsessions-bench-") as tmp:
        workdir = Path(tmp)
        with harness.private_redis(workdir) as redis_url:
            harness.setup_django(workdir / "bench.db", redis_url, args.database_url)
            import redis
            from django.core.handlers.wsgi import WSGIHandler

            context["redis"] = redis.__version__
            context["pbkdf2_ms"] = f"{flows.password_hash_ms():.0f}"
            creds, user = make_credentials(wanted)
            flow_map = {} if args.skip_flows else flows.make_flows(user)
            print(f"schemes: {', '.join([*creds, *flow_map])}", file=sys.stderr)
            from jwtsessions.sessions import create_session

            token_length = len(create_session(user).access)

            print("1/3 authentication alone ...", file=sys.stderr)
            auth = interleaved(
                {name: auth_call(name, headers) for name, headers in creds.items()},
                args.rounds,
                args.calls,
            )
            print("2/3 full request in process ...", file=sys.stderr)
            handler = WSGIHandler()
            wsgi_calls = {name: wsgi_call(handler, name, h) for name, h in creds.items()}
            wsgi_calls.update(
                {name: flows.wsgi_call(handler, flow) for name, flow in flow_map.items()}
            )
            inproc = interleaved(wsgi_calls, args.rounds, args.requests)
            counts, pings = count_backend_calls(wsgi_calls, redis_url)
            context["pings"] = str(pings)
            http: dict[str, dict[str, float]] = {}
            if not args.skip_http:
                print("3/3 HTTP through gunicorn ...", file=sys.stderr)
                from django.db import connections

                connections.close_all()
                http = http_rounds(
                    http_targets(creds, flow_map, workdir),
                    args.http_rounds,
                    args.http_seconds,
                    args.workers,
                    args.connections,
                )
            revocation = ""
            if args.revocation_trials:
                print("cross-process revocation ...", file=sys.stderr)
                import revocation_delay

                try:
                    revocation = revocation_delay.markdown(
                        revocation_delay.measure(args.revocation_trials)
                    )
                except Exception as exc:  # report it; never lose the run's other numbers
                    revocation = f"## Cross-process revocation\n\nFAILED: {exc!r}\n"

    text = report(args, auth, inproc, counts, http, token_length, revocation, context)
    print(text)
    output = args.output or harness.results_path(
        "peers", args.install, args.database_url, args.quick
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    raw = {
        "install": args.install,
        "database": "postgres" if args.database_url else "sqlite",
        "auth_us": auth,
        "inprocess_us": inproc,
        "counts": {name: {"sql": c[0], "redis": c[1]} for name, c in counts.items()},
        "http": http,
        "token_length": token_length,
        "load_before": context["load_before"],
        "load_after": harness.load_average(),
        "liveness_pings": int(context["pings"]),
    }
    output.with_suffix(".json").write_text(json.dumps(raw, indent=1, sort_keys=True) + "\n")
    print(
        f"saved {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    harness.ensure_venv()
    main()
