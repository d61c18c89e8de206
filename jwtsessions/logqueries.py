"""The database reads behind catching up: refusal-log rows, in chunks, and the blacklist.

Every read here may raise (``DatabaseError`` and the like): :mod:`jwtsessions.sync` catches it
and stops vouching for the process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from .loggaps import GAP_LIFETIME
from .logwrites import Write, writes_for
from .settings import jwt_settings

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from .models import RefusalLog

# Rows read per query; a backlog (a mass revocation, a process starting) takes several.
CHUNK = 5000

# (id, kind, subject, code) of a refusal-log row.
Row = tuple[int, str, str, str]


def savepoint() -> contextlib.AbstractContextManager[Any]:
    # Inside the caller's transaction, a failed query must not abort it (PostgreSQL refuses
    # every later statement of an aborted transaction): the savepoint is rolled back instead.
    from django.db import connection, transaction

    return transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()


def in_chunks(read: Callable[[int], list[Row]], after: int = 0) -> Iterator[list[Row]]:
    """``read(after)`` for the next :data:`CHUNK` rows above ``after``, until one comes short."""
    while True:
        rows = read(after)
        yield rows
        if len(rows) < CHUNK:
            return
        after = rows[-1][0]


def unseen(high: int, gaps: Iterable[list[Any]], after: int) -> list[Row]:
    """The next chunk above ``after`` of the rows above ``high`` or inside ``gaps``."""
    from .models import RefusalLog

    condition = Q(pk__gt=high)
    for lo, hi, _since in gaps:
        condition |= Q(pk__range=(lo, hi))
    return _chunk(RefusalLog.objects.filter(condition), after)


def lost(mark: int, applied: int) -> list[Write]:
    """The writes for every recent row the cache may have lost: ``mark < id <= applied``."""
    from .models import RefusalLog

    writes: list[Write] = []
    recent = RefusalLog.objects.filter(created_at__gte=replay_window(), pk__lte=applied)
    for rows in in_chunks(lambda after: _chunk(recent, after), max(mark, 0)):
        for _pk, kind, subject, code in rows:
            writes += writes_for(kind, subject, code)
    return writes


def _chunk(rows: QuerySet[RefusalLog], after: int) -> list[Row]:
    chunk = rows.filter(pk__gt=after).order_by("pk")
    return list(chunk.values_list("pk", "kind", "subject", "code")[:CHUNK])


def replay_window() -> Any:
    """Rows older than this need no replay after a cache rollback (database clock).

    A stale "active" entry the rollback brought back was written before the refusal's commit
    and lives at most ``SESSION_CACHE_TTL``; a row commits at most :data:`GAP_LIFETIME` after
    its ``created_at`` (or is not looked for). Blacklisted ids do not depend on the cache
    (every process keeps them in memory).
    """
    return Now() - (jwt_settings.SESSION_CACHE_TTL + timedelta(seconds=GAP_LIFETIME))


def floor() -> int:
    """Where a new process starts: just before the rows of the :func:`replay_window`.

    Those are replayed, in case every process that could have replayed them died: a stale
    positive entry in the cache lives no longer than ``SESSION_CACHE_TTL``, and a row commits at
    most :data:`GAP_LIFETIME` after its ``created_at``.
    """
    from .models import RefusalLog

    # The database's clock on both sides: a process's or a revoker's clock may be off.
    older = RefusalLog.objects.filter(created_at__lt=replay_window()).order_by("-pk")
    return int(older.values_list("pk", flat=True).first() or 0)


def blacklist() -> dict[str, float]:
    """Every unexpired blacklisted jti and its expiry (Unix time)."""
    from .models import BlacklistedToken

    rows = BlacklistedToken.objects.filter(expires_at__gt=timezone.now())
    return {jti: expires.timestamp() for jti, expires in rows.values_list("jti", "expires_at")}
