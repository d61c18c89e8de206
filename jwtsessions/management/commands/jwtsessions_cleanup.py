"""``manage.py jwtsessions_cleanup``: keep the blacklist and session tables small."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from jwtsessions import cleanup
from jwtsessions.settings import jwt_settings

# At verbosity 1, at most one progress line per this many seconds per kind of row.
PROGRESS_INTERVAL = 2.0


def _non_negative_float(value: str) -> float:
    number = float(value)
    if number < 0:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Delete expired blacklist entries, and sessions that expired or were revoked longer ago "
        "than the retention (JWTSESSIONS['CLEANUP_RETENTION'], default 7 days), in short "
        "primary-key batches. Safe to run while the site serves traffic, and twice at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=cleanup.DEFAULT_BATCH_SIZE,
            help="Rows per delete statement and transaction "
            f"(default {cleanup.DEFAULT_BATCH_SIZE}, at most {cleanup.MAX_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--sleep",
            type=_non_negative_float,
            default=0.0,
            help="Seconds to pause between batches, to leave room for other writers (default 0).",
        )
        parser.add_argument(
            "--sessions-older-than",
            type=int,
            metavar="DAYS",
            default=None,
            help="Delete sessions expired or revoked more than DAYS days ago "
            "(default: the CLEANUP_RETENTION setting).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size: int = options["batch_size"]
        if not 1 <= batch_size <= cleanup.MAX_BATCH_SIZE:
            raise CommandError(f"--batch-size must be between 1 and {cleanup.MAX_BATCH_SIZE}.")
        days: int | None = options["sessions_older_than"]
        if days is not None and days < 0:
            raise CommandError("--sessions-older-than must be 0 or more days.")
        retention = timedelta(days=days) if days is not None else jwt_settings.CLEANUP_RETENTION
        targets = [
            cleanup.Target("expired blacklist entries", cleanup.expired_blacklist()),
            *cleanup.stale_session_targets(retention),
            cleanup.stale_refusal_log(),
        ]
        try:
            if options["dry_run"]:
                self._dry_run(targets)
            else:
                self._delete(targets, batch_size, options["sleep"], options["verbosity"])
        except DatabaseError as exc:
            # The driver's message says what failed (lock timeout, lost connection); no traceback.
            raise CommandError(f"cleanup failed: {type(exc).__name__}: {exc}") from exc

    def _dry_run(self, targets: list[cleanup.Target]) -> None:
        for target in targets:
            self.stdout.write(f"Would delete {cleanup.count(target)} {target.label}.")
        self.stdout.write("Dry run: nothing was deleted.")

    def _delete(
        self, targets: list[cleanup.Target], batch_size: int, sleep: float, verbosity: int
    ) -> None:
        started = time.monotonic()
        last_line = {"at": started}

        def progress(label: str, total: int) -> None:
            now = time.monotonic()
            if verbosity >= 2 or (verbosity >= 1 and now - last_line["at"] >= PROGRESS_INTERVAL):
                last_line["at"] = now
                self.stdout.write(f"  {label}: {total} deleted so far…")

        totals: list[tuple[str, int]] = []
        for target in targets:
            deleted = cleanup.delete_in_batches(
                target.queryset, batch_size, sleep, progress, target.label
            )
            totals.append((target.label, deleted))
            self.stdout.write(f"Deleted {deleted} {target.label}.")
        elapsed = time.monotonic() - started
        overall = sum(n for _, n in totals)
        self.stdout.write(self.style.SUCCESS(f"Done: {overall} rows deleted in {elapsed:.1f}s."))
