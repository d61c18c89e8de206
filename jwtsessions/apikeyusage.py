"""When each API key was last used: stamped in the cache by requests, copied to the database.

``last_used_at`` is never written by authentication: the request stores a timestamp in the
cache at most once per ``LAST_USED_INTERVAL`` (:func:`record_seen`), and
:func:`persist_last_used` copies those stamps to the database when keys are listed (or from a
periodic job).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

from . import store
from .models import ApiKey
from .settings import jwt_settings

# "When was this key last used": written by requests, read by persist_last_used.
LAST_USED_KEY = "jws:ku:"
# Long enough that a key used once and listed weeks later still shows the right date.
LAST_USED_TTL = int(timedelta(days=90).total_seconds())


def record_seen(public_id: str, seen: Any, now: int) -> int:
    """Stamp the key's last use at most once per ``LAST_USED_INTERVAL``; the stamp in force."""
    interval = jwt_settings.LAST_USED_INTERVAL.total_seconds()
    if isinstance(seen, int) and now - seen < interval:
        return seen
    key = LAST_USED_KEY + public_id
    store.cache_call_quietly(lambda c: c.set(key, now, LAST_USED_TTL))
    return now


def last_seen(public_ids: list[str]) -> dict[str, datetime]:
    """When each key was last used, as recorded in the cache (``{}`` if unavailable)."""
    if not public_ids:
        return {}
    try:
        found = store.cache_call(lambda c: c.get_many([LAST_USED_KEY + p for p in public_ids]))
    except store.CacheUnavailable:
        return {}
    return {
        key[len(LAST_USED_KEY) :]: datetime.fromtimestamp(value, tz=dt_timezone.utc)
        for key, value in found.items()
        if isinstance(value, int)
    }


def persist_last_used(api_keys: Sequence[ApiKey]) -> None:
    """Copy the cached "last used" stamps of ``api_keys`` to their rows (and the instances).

    Called when keys are listed, so the database catches up without any write on the request
    path. One ``UPDATE`` per key whose stamp moved, at most once per ``LAST_USED_INTERVAL``.
    """
    seen = last_seen([k.public_id for k in api_keys])
    for api_key in api_keys:
        stamp = seen.get(api_key.public_id)
        if stamp is None or (api_key.last_used_at is not None and api_key.last_used_at >= stamp):
            continue
        ApiKey.objects.filter(pk=api_key.pk).exclude(last_used_at__gte=stamp).update(
            last_used_at=stamp
        )
        api_key.last_used_at = stamp
