"""The cache writes that enforce refusal-log rows, and those a process still owes the cache.

:func:`writes_for` turns one :class:`~jwtsessions.models.RefusalLog` row into cache writes,
:func:`apply` makes them; what the cache did not take is owed (:func:`owe`) and written again
(:func:`replay`) before the process reads the cache again (see :mod:`jwtsessions.sync`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from django.core.cache import BaseCache

from . import cachehealth, redisclient
from .cachekeys import (
    API_KEY_KEY,
    BLACKLIST_KEY,
    CREDENTIAL_KEY,
    REVOKED,
    SEEN_KEY,
    SESSION_KEY,
    negative_ttl,
    positive_ttl,
)
from .settings import jwt_settings

# The refusal log's logger, wherever in it the message comes from.
logger = logging.getLogger("jwtsessions.sync")

# (cache key, value, ttl); value None deletes the key.
Write = tuple[str, Any, int]
# What a process owes the cache: cache key -> (value, ttl).
Owed = dict[str, tuple[Any, int]]


def writes_for(kind: str, subject: str, code: str) -> list[Write]:
    """The cache writes that enforce one refusal-log row."""
    ttl = negative_ttl()
    if kind == "s":
        return [(SESSION_KEY + subject, ("", code or REVOKED), ttl), (SEEN_KEY + subject, None, 0)]
    if kind == "b":
        # ``code``: when the entry expires (Unix time), so the cache keeps it no longer.
        if code.isdigit():
            ttl = max(int(code) - int(time.time()) + 1, 1)
        return [(BLACKLIST_KEY + subject, 1, ttl)]
    if kind == "k":
        return [(API_KEY_KEY + subject, ("", code) if code else None, ttl)]
    if kind == "u":
        # The user's credential as the change left it (jwtsessions.binding.credential_value):
        # ``set``, so a fill that read the database before the change cannot stay behind it.
        return [(CREDENTIAL_KEY + subject, code or None, positive_ttl())]
    return []


def apply(cache: BaseCache, writes: Iterable[Write]) -> None:
    """Make ``writes`` in as few round trips as possible (one per TTL, one for deletions)."""
    by_ttl: dict[int, dict[str, Any]] = {}
    deletions: list[str] = []
    for key, value, ttl in writes:
        if value is None:
            deletions.append(key)
        else:
            by_ttl.setdefault(ttl, {})[key] = value
    for ttl, entries in by_ttl.items():
        redisclient.set_many(cache, entries, ttl)
    if deletions:
        cache.delete_many(deletions)


def owe(pending: Owed, writes: Iterable[Write]) -> None:
    """Add ``writes`` to what is owed (``pending``); the cache is not read until they are made."""
    for key, value, ttl in writes:
        pending[key] = (value, ttl)
    cachehealth.set_owes_replay(bool(pending))


def replay(pending: Owed) -> None:
    """Write what is owed (``pending``) to the cache (hold the lock that guards it)."""
    owed = dict(pending)
    if not owed:
        return
    writes = [(key, value, ttl) for key, (value, ttl) in owed.items()]
    try:
        apply(cachehealth._cache(), writes)
    except Exception as exc:
        cachehealth.mark_down(exc)
        cachehealth.set_owes_replay(True)
        return
    for key in owed:
        pending.pop(key, None)
    cachehealth.set_owes_replay(bool(pending))
    logger.info("replayed %d refusal(s) to cache %r", len(writes), jwt_settings.CACHE_ALIAS)
