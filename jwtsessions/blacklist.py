"""The ``jti`` blacklist in the cache: both verdicts cached, absence reads the database.

There is no "the whole blacklist is loaded" marker: an eviction could remove one entry and
keep the marker, and absence would then read as "not blacklisted". Instead each token id has
its own entry, ``1`` (blacklisted) or ``0`` (the database said no):

* ``0`` is written with ``add`` when an access token is issued (the id is new: nothing can be
  listed yet), and after a miss from what the database said. ``add`` never overwrites, so a
  late "no" cannot replace a "yes" written meanwhile;
* ``1`` is written with ``set`` by :func:`jwtsessions.revocation.blacklist_token`, and replayed
  from the refusal log by every process if that write failed;
* a missing entry (evicted, flushed, never written) costs one indexed query, then is filled.

So the hot path stays one ``get_many`` (the entry rides along with the session's), and any
eviction policy only costs a query.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.utils import timezone

from .cachehealth import cache_call_quietly
from .cachekeys import BLACKLIST_KEY, negative_ttl

LISTED = 1
NOT_LISTED = 0


def _in_db(jti: str) -> bool:
    from .models import BlacklistedToken

    return BlacklistedToken.objects.filter(jti=jti, expires_at__gt=timezone.now()).exists()


def note_new_token(jti: str, lifetime_seconds: int) -> None:
    """Record that a just-issued token id is not blacklisted (saves its first query)."""
    ttl = max(int(lifetime_seconds) + 1, 1)
    cache_call_quietly(lambda c: c.add(BLACKLIST_KEY + jti, NOT_LISTED, ttl))


def blacklist_verdict(jti: str, cached: Mapping[str, Any] | None) -> bool:
    """Whether ``jti`` is blacklisted, from a ``get_many`` result when it holds the entry.

    ``cached`` is ``None`` when the cache could not be read: the database answers.
    """
    if cached is not None:
        value = cached.get(BLACKLIST_KEY + jti)
        if value == LISTED:
            return True
        if value == NOT_LISTED and value is not None:
            return False
    listed = _in_db(jti)
    if cached is not None:
        verdict = LISTED if listed else NOT_LISTED
        cache_call_quietly(lambda c: c.add(BLACKLIST_KEY + jti, verdict, negative_ttl()))
    return listed


def listing_writes(jti: str, expires_at: datetime) -> list[tuple[str, Any, int]]:
    """The cache write that blacklists ``jti`` until ``expires_at``."""
    ttl = max(int((expires_at - timezone.now()).total_seconds()) + 1, 1)
    return [(BLACKLIST_KEY + jti, LISTED, ttl)]
