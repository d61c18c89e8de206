#!/usr/bin/env python3
"""Benchmark ``jwtsessions_cleanup`` against a naive ``QuerySet.delete()`` of the same rows.

    .venv/bin/python bench/cleanup.py                 # 1,000,000 expired + 100,000 live rows,
                                                      # SQLite and PostgreSQL (a few minutes)
    .venv/bin/python bench/cleanup.py --quick         # 100,000 + 10,000, to try it out
    .venv/bin/python bench/cleanup.py --backends sqlite

For every backend and every way of deleting, a fresh database is filled (raw ``executemany``
on SQLite, ``COPY`` on PostgreSQL), then a *separate* Python process boots Django, deletes the
expired rows and reports its own peak RSS (``getrusage``), so one method's memory never shows
up in another's figure. The child also checks that exactly the live rows are left.

Ways of deleting:

* ``jwtsessions_cleanup``: the management command (primary-key batches, default batch size);
* ``QuerySet.delete()``: ``BlacklistedToken.objects.filter(expires_at__lt=now).delete()`` in a
  project where nothing listens to ``pre_delete``/``post_delete``: Django then takes its
  "fast delete" path, one ``DELETE ... WHERE`` statement and one transaction for every row;
* ``QuerySet.delete()`` + receiver: the same call in a project where any app listens to
  ``post_delete`` for all models (audit logs, search indexes, cache invalidation do): the
  deletion collector then loads every row as a model instance before deleting.

PostgreSQL: ``--database-url`` names a server and a database to connect to for administration
(default ``postgres://postgres@127.0.0.1:5432/test``); the benchmark creates and drops its own
database, ``--bench-db`` (default ``jwtsessions_bench``). The report is printed and written to
bench/results/cleanup.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "cleanup.md"
DEFAULT_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/test"
TABLE = "jwtsessions_blacklistedtoken"
CHUNK = 50_000

METHODS = {
    "command": "`jwtsessions_cleanup`",
    "naive": "`QuerySet.delete()`",
    "naive_receiver": "`QuerySet.delete()` + a `post_delete` receiver",
}


# --- child side: Django in a process of its own ------------------------------------------------


def database_settings(backend: str, target: str) -> dict[str, Any]:
    if backend == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": target}
    parts = urlsplit(target)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": unquote(parts.username or "postgres"),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or 5432),
    }


def setup_django(backend: str, target: str) -> None:
    sys.path.insert(0, str(ROOT))
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only-" + "x" * 40,
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "rest_framework",
            "jwtsessions",
        ],
        DATABASES={"default": database_settings(backend, target)},
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        JWTSESSIONS={},
    )
    django.setup()


def rows(expired: int, live: int, now: datetime) -> Any:
    """Expired rows spread over the last day, live ones over the next: a realistic index."""
    for i in range(expired):
        at = now - timedelta(seconds=60 + i % 86_400)
        yield (f"x{i:09d}", at, "bench", at - timedelta(minutes=15))
    for i in range(live):
        at = now + timedelta(seconds=3_600 + i % 86_400)
        yield (f"l{i:09d}", at, "bench", now)


def child_fill(backend: str, target: str, expired: int, live: int) -> dict[str, Any]:
    setup_django(backend, target)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    now = datetime.now(timezone.utc)
    started = time.perf_counter()
    connection.ensure_connection()
    raw = connection.connection
    columns = "(jti, expires_at, reason, created_at)"
    if backend == "sqlite":

        def text(value: datetime) -> str:
            # Django stores aware datetimes on SQLite as naive UTC text.
            return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ")

        # Django keeps SQLite in autocommit mode: one explicit transaction, not one per row.
        raw.execute("BEGIN")
        batch: list[tuple[str, str, str, str]] = []
        for jti, expires_at, reason, created_at in rows(expired, live, now):
            batch.append((jti, text(expires_at), reason, text(created_at)))
            if len(batch) == CHUNK:
                raw.executemany(f"INSERT INTO {TABLE} {columns} VALUES (?, ?, ?, ?)", batch)
                batch.clear()
        if batch:
            raw.executemany(f"INSERT INTO {TABLE} {columns} VALUES (?, ?, ?, ?)", batch)
        raw.execute("COMMIT")
        raw.execute("ANALYZE")
    else:
        raw.autocommit = True
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY {TABLE} {columns} FROM STDIN") as copy:
                for row in rows(expired, live, now):
                    copy.write_row(row)
            cursor.execute(f"VACUUM ANALYZE {TABLE}")
    return {"fill_seconds": time.perf_counter() - started}


def peak_rss_mb() -> float:
    import resource

    # Linux reports kilobytes, macOS bytes.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def child_delete(backend: str, target: str, method: str) -> dict[str, Any]:
    setup_django(backend, target)
    from django.core.management import call_command
    from django.db.models.signals import post_delete
    from django.utils import timezone as dj_timezone

    from jwtsessions.models import BlacklistedToken

    before = BlacklistedToken.objects.count()
    live_before = BlacklistedToken.objects.filter(expires_at__gte=dj_timezone.now()).count()
    baseline = peak_rss_mb()
    if method == "naive_receiver":

        def audit(**kwargs: Any) -> None:
            """Stands for any app that listens to every deletion."""

        post_delete.connect(audit, weak=False)
    started = time.perf_counter()
    if method == "command":
        with open(os.devnull, "w") as sink:
            call_command("jwtsessions_cleanup", stdout=sink)
    else:
        BlacklistedToken.objects.filter(expires_at__lt=dj_timezone.now()).delete()
    seconds = time.perf_counter() - started
    after = BlacklistedToken.objects.count()
    left_expired = BlacklistedToken.objects.filter(expires_at__lt=dj_timezone.now()).count()
    return {
        "deleted": before - after,
        "seconds": seconds,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak_rss_mb(),
        "live_kept": after == live_before and left_expired == 0,
    }


# --- parent side: databases, subprocesses, the report ------------------------------------------


def recreate_postgres(admin_url: str, name: str) -> str:
    import psycopg

    parts = urlsplit(admin_url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return parts._replace(path=f"/{name}").geturl()


def drop_postgres(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_child(*args: str) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def measure(
    backend: str, method: str, options: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    if backend == "sqlite":
        target = str(workdir / "bench.sqlite3")
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(target + suffix).unlink(missing_ok=True)
    else:
        target = recreate_postgres(options.database_url, options.bench_db)
    fill = run_child("fill", backend, target, str(options.rows), str(options.live))
    result = run_child("delete", backend, target, method)
    result.update(fill)
    print(
        f"  {backend:8} {method:15} {result['deleted']:>9,} rows in {result['seconds']:7.2f}s "
        f"({result['deleted'] / result['seconds']:>10,.0f} rows/s), peak RSS "
        f"{result['peak_rss_mb']:.0f} MB (baseline {result['baseline_rss_mb']:.0f} MB), "
        f"live rows kept: {result['live_kept']}",
        flush=True,
    )
    return result


def report(results: dict[str, dict[str, dict[str, Any]]], options: argparse.Namespace) -> str:
    import django

    lines = [
        "# Cleanup benchmark: `jwtsessions_cleanup` vs a naive `QuerySet.delete()`",
        "",
        f"Generated by `bench/cleanup.py` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: "
        f"{options.rows:,} expired blacklist rows + {options.live:,} live ones, fresh database "
        "per measurement, each deletion in its own process (peak RSS from `getrusage`, which "
        "includes the interpreter and Django: the baseline column is the same process just "
        "before deleting).",
        "",
        f"Machine: {platform.platform()}, Python {platform.python_version()}, "
        f"Django {django.get_version()}, {os.cpu_count()} CPUs.",
        "",
    ]
    for backend, by_method in results.items():
        lines += [
            f"## {'SQLite' if backend == 'sqlite' else 'PostgreSQL'}",
            "",
            "| method | rows deleted | seconds | rows/s | peak RSS (MB) | baseline RSS (MB) "
            "| live rows intact | command speed-up |",
            "|---|---:|---:|---:|---:|---:|---|---:|",
        ]
        command_rate = by_method["command"]["deleted"] / by_method["command"]["seconds"]
        for method, r in by_method.items():
            rate = r["deleted"] / r["seconds"]
            lines.append(
                f"| {METHODS[method]} | {r['deleted']:,} | {r['seconds']:.2f} | {rate:,.0f} "
                f"| {r['peak_rss_mb']:.0f} | {r['baseline_rss_mb']:.0f} "
                f"| {'yes' if r['live_kept'] else 'NO'} | {command_rate / rate:.2f}x |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="expired rows")
    parser.add_argument("--live", type=int, default=100_000, help="live rows")
    parser.add_argument("--quick", action="store_true", help="100,000 + 10,000 rows")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--bench-db", default="jwtsessions_bench")
    parser.add_argument("--output", type=Path, default=RESULTS)
    options = parser.parse_args()
    if options.quick:
        options.rows, options.live = 100_000, 10_000

    results: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="jwtsessions-bench-") as workdir:
        try:
            for backend in options.backends:
                print(f"{backend}:", flush=True)
                results[backend] = {
                    method: measure(backend, method, options, Path(workdir))
                    for method in options.methods
                }
        finally:
            if "postgres" in options.backends:
                drop_postgres(options.database_url, options.bench_db)
    text = report(results, options)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(text + "\n")
    print()
    print(text)
    print(f"written to {options.output}")


def child_main(argv: list[str]) -> None:
    kind, backend, target, *rest = argv
    if kind == "fill":
        result = child_fill(backend, target, int(rest[0]), int(rest[1]))
    else:
        result = child_delete(backend, target, rest[0])
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
    else:
        main()
