"""Deleting rows nobody needs any more, in primary-key batches that keep transactions short.

Used by the ``jwtsessions_cleanup`` command and the admin's ``delete_expired`` action.

Each batch is a single ``DELETE ... WHERE pk IN (SELECT pk ... LIMIT n)`` statement in its own
transaction: no model instance is built, no deletion collector runs, and locks are held for one
batch only, so the application keeps writing while millions of rows go. On databases with
``SKIP LOCKED`` the inner select skips rows another cleanup is deleting, so two runs at once
split the work instead of waiting on each other. Databases that cannot select from the table
they delete from (MySQL) get the same batches in two statements.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import connections, models, router, transaction
from django.utils import timezone

from .models import BlacklistedToken, Session
from .settings import jwt_settings

DEFAULT_BATCH_SIZE = 5000
# Stay below every backend's bound-parameter limit when ids are sent back (two-statement path).
MAX_BATCH_SIZE = 10000

Progress = Callable[[str, int], None]


@dataclasses.dataclass(frozen=True)
class Target:
    """One kind of row to delete: a label for output and the query that finds them."""

    label: str
    queryset: models.QuerySet[models.Model]


def blacklist_cutoff(now: datetime | None = None) -> datetime:
    """Entries expiring before this refuse nothing any more.

    ``LEEWAY`` lets a token be accepted a little after its ``exp``; its entry must outlive that.
    """
    return (now or timezone.now()) - jwt_settings.LEEWAY


def expired_blacklist(now: datetime | None = None) -> models.QuerySet[BlacklistedToken]:
    return BlacklistedToken.objects.filter(expires_at__lt=blacklist_cutoff(now))


def stale_session_targets(retention: timedelta, now: datetime | None = None) -> list[Target]:
    """Sessions that expired, or were revoked, longer than ``retention`` ago.

    A revoked or expired session row is what lets a replayed refresh token be recognised as
    reuse (and an access token answered ``session_revoked``); within the retention window the
    row stays. Two queries rather than one ``OR`` so each walks its own index.
    """
    cutoff = (now or timezone.now()) - retention
    return [
        Target("expired sessions", Session.objects.filter(expires_at__lt=cutoff)),
        Target("revoked sessions", Session.objects.filter(revoked_at__lt=cutoff)),
    ]


def stale_refusal_log(now: datetime | None = None) -> Target:
    """Refusal-log rows no process can still need (see :mod:`jwtsessions.sync`).

    A process only reads rows it has not seen, and one that starts reads back
    ``SESSION_CACHE_TTL`` plus the gap window; a day is far past both.
    """
    from .models import RefusalLog

    cutoff = (now or timezone.now()) - max(
        timedelta(days=1), jwt_settings.SESSION_CACHE_TTL + timedelta(hours=1)
    )
    return Target("old refusal log entries", RefusalLog.objects.filter(created_at__lt=cutoff))


def count(target: Target) -> int:
    return target.queryset.order_by().count()


def delete_batch(
    queryset: models.QuerySet[models.Model], batch_size: int, after: Any = None
) -> tuple[int, Any]:
    """Delete at most ``batch_size`` rows of ``queryset`` in one short transaction.

    Returns how many rows went and where the next batch may start (``after``, a primary key,
    or ``None`` when the database needs no such hint).
    """
    model = queryset.model
    alias = router.db_for_write(model)
    connection = connections[alias]
    table = connection.ops.quote_name(model._meta.db_table)
    pk_name = model._meta.pk.column if model._meta.pk is not None else None
    if pk_name is None:
        raise TypeError(f"{model.__name__} has no primary key column")
    pk_column = connection.ops.quote_name(pk_name)
    ids = queryset.using(alias).order_by().values_list("pk", flat=True)
    # PostgreSQL keeps deleted rows in its indexes until VACUUM, so a batch that searched from
    # the start again would re-read every earlier batch's dead entries: the time would grow
    # with the square of the rows. Walking the primary key from where the last batch stopped
    # reads each entry once.
    walk = connection.vendor == "postgresql"
    if walk:
        ids = ids.order_by("pk")
        if after is not None:
            ids = ids.filter(pk__gt=after)
    if connection.features.has_select_for_update_skip_locked:
        ids = ids.select_for_update(skip_locked=True)
    ids = ids[:batch_size]
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        if connection.features.update_can_self_select:
            inner, params = ids.query.get_compiler(using=alias).as_sql()
            # Identifiers are quoted by the backend; values travel as parameters.
            sql = f"DELETE FROM {table} WHERE {pk_column} IN ({inner})"  # noqa: S608
            if walk:
                # ``= ANY(ARRAY(...))`` runs the select first and then deletes by primary key;
                # with ``IN`` the planner may join the select with a scan of the whole table.
                sql = f"DELETE FROM {table} WHERE {pk_column} = ANY(ARRAY({inner}))"  # noqa: S608
                cursor.execute(f"{sql} RETURNING {pk_column}", params)
                deleted = [row[0] for row in cursor.fetchall()]
                return len(deleted), max(deleted, default=after)
            cursor.execute(sql, params)
        else:
            chosen = list(ids)
            if not chosen:
                return 0, after
            marks = ", ".join(["%s"] * len(chosen))
            cursor.execute(f"DELETE FROM {table} WHERE {pk_column} IN ({marks})", chosen)  # noqa: S608
        return max(int(cursor.rowcount), 0), None


def delete_in_batches(
    queryset: models.QuerySet[models.Model],
    batch_size: int = DEFAULT_BATCH_SIZE,
    sleep: float = 0.0,
    progress: Progress | None = None,
    label: str = "",
) -> int:
    """Delete every row of ``queryset``, batch by batch; return how many were deleted.

    Stops when a batch comes back short, so rows another run deleted meanwhile end the loop
    rather than spinning on it. ``progress(label, total_so_far)`` is called after each batch.
    """
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch size must be between 1 and {MAX_BATCH_SIZE}")
    total = 0
    after: Any = None
    while True:
        deleted, after = delete_batch(queryset, batch_size, after)
        total += deleted
        if progress is not None and deleted:
            progress(label, total)
        if deleted < batch_size:
            return total
        if sleep:
            time.sleep(sleep)
