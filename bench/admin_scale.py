#!/usr/bin/env python3
"""The admin at scale: every page of the package timed at 1M sessions on PostgreSQL (issue 14).

    .venv/bin/python bench/admin_scale.py --before-tree /tmp/main   # before (main) and after
    .venv/bin/python bench/admin_scale.py                           # this tree only
    .venv/bin/python bench/admin_scale.py --quick                   # 100k sessions, to try it

Seeds a dedicated database (``--db``, default ``h_admin_scale``, dropped at the end) with SQL
(``generate_series``; about a minute): 10,000 users, 1,000,000 sessions (10% revoked, about 15%
expired), 1,000,000 blacklist entries and 100,000 API keys. Each page is loaded once to warm
up, then 5 times with Django's test client as a staff superuser; the table shows the median.

``--before-tree`` is a checkout of the code to compare with (``git worktree add --detach
/tmp/main main``, or ``git archive main | tar -x -C /tmp/main``). The rows are seeded once, with
that tree's migrations; its pages are timed; then this tree migrates the same database (the
migration's duration is reported) and its pages are timed. Each tree runs in a process of its
own. The report is printed and written to ``bench/results/admin_scale.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "admin_scale.md"
LOADS = 5
FORM = "application/x-www-form-urlencoded"
# A page slower than this on its warm-up load is timed 3 times, not 5.
SLOW_MS = 2000
# Django's own user changelist (10,000 users): the yardstick for a page of 100 rows on this
# machine, whatever else runs on it.
REFERENCE = "auth user changelist (for scale)"

SEED_SQL = """
INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email,
                       is_staff, is_active, date_joined)
SELECT g, '!', false, 'user' || g, '', '', 'user' || g || '@example.org', false, true, now()
FROM generate_series(1, %(users)s) g;
SELECT setval(pg_get_serial_sequence('auth_user', 'id'), %(users)s);

-- Columns added by later migrations than the seed knows get a default (a session's binding).
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM information_schema.columns
             WHERE table_name = 'jwtsessions_session' AND column_name = 'binding') THEN
    ALTER TABLE jwtsessions_session ALTER COLUMN binding SET DEFAULT '';
  END IF;
END $$;
INSERT INTO jwtsessions_session (id, user_id, created_at, last_used_at, refreshed_at, expires_at,
    revoked_at, revoke_reason, ip_address, user_agent, refresh_hash, refresh_generation)
SELECT substr(md5('s' || g), 1, 22), 1 + g %% %(users)s, c, c + interval '5 minutes',
       c + interval '5 minutes', c + interval '30 days',
       CASE WHEN g %% 10 = 0 THEN c + interval '1 hour' END,
       CASE WHEN g %% 10 = 0 THEN 'logout' ELSE '' END,
       ('10.' || (g / 65536) %% 256 || '.' || (g / 256) %% 256 || '.' || g %% 256)::inet,
       'Mozilla/5.0 (X11; Linux x86_64) bench/' || g %% 50, md5('h' || g) || md5('r' || g), g %% 7
FROM (SELECT g, now() - g * interval '3 seconds' AS c
      FROM generate_series(1, %(sessions)s) g) s;

INSERT INTO jwtsessions_blacklistedtoken (jti, expires_at, reason, created_at)
SELECT md5('j' || g), e, (ARRAY['logout', 'password_changed', 'stolen', 'refresh_token_reused'])
       [1 + g %% 4], e - interval '15 minutes'
FROM (SELECT g, now() - interval '10 days' + g * interval '1 second' AS e
      FROM generate_series(1, %(blacklist)s) g) b;

INSERT INTO jwtsessions_apikey (user_id, name, public_id, digest, scopes, created_at, expires_at,
                                last_used_at, revoked_at, revoke_reason)
SELECT 1 + g %% %(users)s, 'key ' || g, substr(md5('k' || g), 1, 12),
       md5('d' || g) || md5('e' || g),
       '["items:read"]'::jsonb, c, CASE WHEN g %% 2 = 0 THEN c + interval '90 days' END,
       c + interval '1 day', CASE WHEN g %% 10 = 0 THEN c + interval '2 days' END,
       CASE WHEN g %% 10 = 0 THEN 'rotated' ELSE '' END
FROM (SELECT g, now() - g * interval '30 seconds' AS c
      FROM generate_series(1, %(api_keys)s) g) k;
"""

SIZES = {
    "full": {"users": 10_000, "sessions": 1_000_000, "blacklist": 1_000_000, "api_keys": 100_000},
    "quick": {"users": 1_000, "sessions": 100_000, "blacklist": 100_000, "api_keys": 10_000},
}


# --- child side: one code tree, one process ---------------------------------------------------


def setup_django(tree: str, db: str) -> None:
    sys.path.insert(0, tree)
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only-" + "x" * 40,
        USE_TZ=True,
        ALLOWED_HOSTS=["*"],
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        ROOT_URLCONF="__main__",
        # The 10,000-row confirmation posts 10,000 primary keys (Django's default is 1,000).
        DATA_UPLOAD_MAX_NUMBER_FIELDS=20_000,
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.staticfiles",
            "rest_framework",
            "jwtsessions",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        STATIC_URL="/static/",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": db,
                "USER": "postgres",
                "HOST": "127.0.0.1",
                "PORT": "5432",
            }
        },
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        JWTSESSIONS={},
    )
    django.setup()


def urls() -> list[Any]:
    """The admin, with the user admin a project writes (the package's revoke action mixed in)."""
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.contrib.auth.admin import UserAdmin
    from django.urls import path

    from jwtsessions.admin import RevokeSessionsUserAdminMixin

    class ProjectUserAdmin(RevokeSessionsUserAdminMixin, UserAdmin):  # type: ignore[misc]
        pass

    user_model = get_user_model()
    if admin.site.is_registered(user_model):
        admin.site.unregister(user_model)
    admin.site.register(user_model, ProjectUserAdmin)
    return [path("admin/", admin.site.urls)]


def child_seed(size: dict[str, int]) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(SEED_SQL, size)
    connection.connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {"seed_seconds": round(time.perf_counter() - started, 1)}


def child_migrate() -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    migrated = time.perf_counter() - started
    connection.connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {"migrate_seconds": round(migrated, 1)}


def _pages(size: dict[str, int]) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """(label, method, url, post data) for every page of the table."""
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
    from django.contrib.admin.utils import quote

    from jwtsessions.models import ApiKey, BlacklistedToken, Session

    now = datetime.now(dt_timezone.utc)
    week = {
        "__gte": (now - timedelta(days=7)).date().isoformat(),
        "__lt": (now + timedelta(days=1)).date().isoformat(),
    }

    def dated(field: str) -> str:
        return urlencode({f"{field}{k}": v for k, v in week.items()})

    middle_user = size["users"] // 2
    session = Session.objects.filter(user_id=middle_user).order_by("pk").first()
    assert session is not None
    active = list(
        Session.objects.filter(revoked_at__isnull=True)
        .order_by()
        .values_list("pk", flat=True)[:10_000]
    )
    api_key = ApiKey.objects.filter(user_id=middle_user).order_by("pk").first()
    active_keys = list(
        ApiKey.objects.filter(revoked_at__isnull=True)
        .order_by()
        .values_list("pk", flat=True)[:10_000]
    )
    entry = BlacklistedToken.objects.order_by("pk")[size["blacklist"] // 2]
    s, k, b = (
        "/admin/jwtsessions/session/",
        "/admin/jwtsessions/apikey/",
        "/admin/jwtsessions/blacklistedtoken/",
    )
    deep_sessions = size["sessions"] // 100 // 5  # page 2,000 of 10,000 at 1M rows
    deep_keys = size["api_keys"] // 100 // 2

    def act(action: str, pks: list[Any]) -> dict[str, Any]:
        return {"action": action, ACTION_CHECKBOX_NAME: [str(pk) for pk in pks]}

    user_pks = list(range(1, 101))
    return [
        ("session changelist", "get", s, None),
        ("sessions: status active", "get", s + "?status=active", None),
        ("sessions: status revoked", "get", s + "?status=revoked", None),
        ("sessions: status expired", "get", s + "?status=expired", None),
        ("sessions: created past 7 days", "get", s + "?" + dated("created_at"), None),
        ("sessions: expires past 7 days", "get", s + "?" + dated("expires_at"), None),
        ("sessions: revoked (has date)", "get", s + "?revoked_at__isnull=False", None),
        ("sessions: search username", "get", s + f"?q=user{middle_user}", None),
        ("sessions: search email", "get", s + f"?q=user{middle_user}%40example.org", None),
        ("sessions: search session id", "get", s + f"?q={session.pk}", None),
        ("sessions: search IP", "get", s + f"?q={session.ip_address}", None),
        (f"sessions: page {deep_sessions:,}", "get", s + f"?p={deep_sessions}", None),
        ("one user's sessions", "get", s + f"?user__id__exact={middle_user}", None),
        ("session change page", "get", f"{s}{quote(session.pk)}/change/", None),
        ("revoke 1 session: confirmation", "post", s, act("revoke_selected", [session.pk])),
        ("revoke 10,000 sessions: confirmation", "post", s, act("revoke_selected", active)),
        (
            "revoke users' sessions (1 session): confirmation",
            "post",
            s,
            act("revoke_users_sessions", [session.pk]),
        ),
        ("session Revoke button page", "get", f"{s}{quote(session.pk)}/revoke/", None),
        ("API key changelist", "get", k, None),
        ("API keys: status active", "get", k + "?status=active", None),
        ("API keys: status revoked", "get", k + "?status=revoked", None),
        ("API keys: created past 7 days", "get", k + "?" + dated("created_at"), None),
        ("API keys: search public id", "get", k + f"?q={api_key.public_id}", None),
        ("API keys: search username", "get", k + f"?q=user{middle_user}", None),
        (f"API keys: page {deep_keys:,}", "get", k + f"?p={deep_keys}", None),
        ("API key change page", "get", f"{k}{api_key.pk}/change/", None),
        ("API key add page", "get", f"{k}add/", None),
        ("revoke 1 API key: confirmation", "post", k, act("revoke_selected", [api_key.pk])),
        ("revoke 10,000 API keys: confirmation", "post", k, act("revoke_selected", active_keys)),
        ("blacklist changelist", "get", b, None),
        ("blacklist: still refusing", "get", b + "?state=live", None),
        ("blacklist: expired", "get", b + "?state=expired", None),
        ("blacklist: reason", "get", b + "?reason=stolen", None),
        ("blacklist: expires past 7 days", "get", b + "?" + dated("expires_at"), None),
        ("blacklist: search jti", "get", b + f"?q={entry.jti}", None),
        (f"blacklist: page {deep_sessions:,}", "get", b + f"?p={deep_sessions}", None),
        ("blacklist change page", "get", f"{b}{entry.pk}/change/", None),
        (REFERENCE, "get", "/admin/auth/user/", None),
        (
            "user admin: revoke sessions of 1 user: confirmation",
            "post",
            "/admin/auth/user/",
            act("revoke_all_sessions_of_users", [middle_user]),
        ),
        (
            "user admin: revoke sessions of 100 users: confirmation",
            "post",
            "/admin/auth/user/",
            act("revoke_all_sessions_of_users", user_pks),
        ),
    ]


def child_measure(size: dict[str, int]) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    operator = get_user_model().objects.create_superuser(
        f"operator{time.monotonic_ns()}", "op@example.org", "x"
    )
    client = Client()
    client.force_login(operator)
    results: dict[str, Any] = {}
    queries: list[float] = []  # the durations of the last load's queries

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            queries.append(time.perf_counter() - started)

    connection.execute_wrappers.append(timed)
    load_before = os.getloadavg()[0]
    for label, method, url, data in _pages(size):
        # As a browser posts the action form: urlencoded (the test client's default, multipart,
        # takes seconds to encode and parse 10,000 fields). Encoded once, before the clock
        # starts: encoding is the browser's work (18 ms for 10,000 keys), not the server's.
        body = urlencode(data, doseq=True) if data is not None else ""

        def load(method: str = method, url: str = url, body: str = body) -> tuple[int, float]:
            queries.clear()
            started = time.perf_counter()
            if method == "get":
                response = client.get(url)
            else:
                response = client.post(url, body, content_type=FORM)
            return response.status_code, (time.perf_counter() - started) * 1000

        status, warm_up = load()
        timings: list[float] = []
        if status == 200:
            # A page slower than SLOW_MS: its warm-up counts, and 2 more loads are enough.
            timings = [warm_up] if warm_up > SLOW_MS else []
            for _ in range(3 - len(timings) if warm_up > SLOW_MS else LOADS):
                status, elapsed = load()
                timings.append(elapsed)
        results[label] = {
            "status": status,
            "median_ms": round(statistics.median(timings), 1) if timings else None,
            "loads": len(timings),
            "queries": len(queries),
            "sql_ms": round(sum(queries) * 1000, 1),
        }
        print(f"  {label}: {results[label]}", file=sys.stderr, flush=True)
    connection.execute_wrappers.remove(timed)
    operator.delete()
    return {"pages": results, "load": [round(load_before, 1), round(os.getloadavg()[0], 1)]}


def child(args: argparse.Namespace) -> int:
    setup_django(args.tree, args.db)
    urlpatterns[:] = urls()  # ROOT_URLCONF is this module
    size = SIZES[args.size]
    if args.phase == "seed":
        result = child_seed(size)
    elif args.phase == "migrate":
        result = child_migrate()
    else:
        result = child_measure(size)
    print(json.dumps(result))
    return 0


urlpatterns: list[Any] = []


# --- parent side ------------------------------------------------------------------------------


def admin_connection() -> Any:
    import psycopg

    return psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True)


def run_child(tree: Path, db: str, phase: str, size: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "child", "--tree", str(tree), "--db", db]
    command += ["--phase", phase, "--size", size]
    print(f"[{datetime.now():%H:%M:%S}] {phase} with {tree}", file=sys.stderr, flush=True)
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _commit(tree: Path) -> str:
    """The tree's commit, short, with ``+changes`` when its files differ from it."""
    git = ["git", "-C", str(tree)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    )
    commit = head.stdout.strip() or "unknown commit"
    return f"{commit}+changes" if dirty.stdout.strip() else commit


def table(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    def cell(entry: dict[str, Any] | None) -> str:
        if entry is None or entry["median_ms"] is None:
            return "—" if entry is None else f"HTTP {entry['status']}"
        return f"{entry['median_ms']:,.0f} ms"

    def sql(entry: dict[str, Any]) -> str:
        return f"{entry['queries']} / {entry['sql_ms']:,.0f} ms" if entry["median_ms"] else ""

    reference = after["pages"].get(REFERENCE, {}).get("median_ms")

    def relative(entry: dict[str, Any]) -> str:
        if not entry["median_ms"] or not reference:
            return ""
        return f"{entry['median_ms'] / reference:.2f}"

    lines = [
        "| page | before | after | after ÷ auth user changelist | after: queries / SQL time |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, entry in after["pages"].items():
        old = cell(before["pages"].get(label)) if before else "—"
        lines.append(f"| {label} | {old} | {cell(entry)} | {relative(entry)} | {sql(entry)} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    inner = sub.add_parser("child")
    inner.add_argument("--tree", required=True)
    inner.add_argument("--db", required=True)
    inner.add_argument("--phase", choices=["seed", "migrate", "measure"], required=True)
    inner.add_argument("--size", choices=sorted(SIZES), required=True)
    parser.add_argument("--before-tree", type=Path, help="a checkout of the code to compare with")
    parser.add_argument("--db", default="h_admin_scale")
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    if args.command == "child":
        return child(args)

    size = "quick" if args.quick else "full"
    with admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db}"')
        conn.execute(f'CREATE DATABASE "{args.db}"')
    try:
        first = args.before_tree or ROOT
        seeded = run_child(first, args.db, "seed", size)
        before = None
        migrated: dict[str, Any] = {}
        if args.before_tree:
            before = run_child(args.before_tree, args.db, "measure", size)
            migrated = run_child(ROOT, args.db, "migrate", size)
        after = run_child(ROOT, args.db, "measure", size)
    finally:
        if not args.keep:
            with admin_connection() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')

    rows = SIZES[size]
    import django

    report = [
        "# The admin at scale (issue 14)",
        "",
        f"Generated by `bench/admin_scale.py` on {datetime.now(dt_timezone.utc):%Y-%m-%d %H:%M}"
        f" UTC. PostgreSQL, {rows['users']:,} users, {rows['sessions']:,} sessions, "
        f"{rows['blacklist']:,} blacklist entries, {rows['api_keys']:,} API keys (seeded with "
        f"SQL in {seeded['seed_seconds']} s). Median of {LOADS} loads after one warm-up "
        f"(a page over {SLOW_MS / 1000:g} s: of 3), Django's test client, a staff superuser.",
        "",
        f"Machine: {platform.platform()}, Python {platform.python_version()}, "
        f"Django {django.get_version()}, {os.cpu_count()} CPUs (shared with other jobs).",
        "",
    ]
    if before is not None:
        report += [
            f"Before: {_commit(args.before_tree)} (`{args.before_tree}`). After: "
            f"{_commit(ROOT)}, migrated in place "
            f"(`0002_admin` at this size took {migrated.get('migrate_seconds')} s, most of it "
            "building the indexes).",
            "",
        ]
    loads = after["load"] + (before["load"] if before else [])
    report += [
        table(before, after),
        "",
        f"Load average (1 min) during the runs: {min(loads):g} to {max(loads):g} on "
        f"{os.cpu_count()} CPUs. The wall times include that contention. Two columns put it "
        "aside: each page against Django's own user changelist (10,000 users) timed in the same "
        "run, and the page's queries with their summed duration (the database's share).",
        "",
    ]
    text = "\n".join(report)
    print(text)
    if not args.quick:
        RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
