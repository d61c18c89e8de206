"""The names other modules (and projects) imported from ``jwtsessions.store``.

The store was split by concern; this module re-exports:

* :mod:`jwtsessions.cachehealth`: calling the cache, failures and back-off;
* :mod:`jwtsessions.cachekeys`: key prefixes, entry shapes, lifetimes, :class:`Refusal`;
* :mod:`jwtsessions.sessionstate`: the session check on the request path;
* :mod:`jwtsessions.blacklist`: the ``jti`` blacklist entries.

It still owns a few refusal writes: :func:`cache_refusals`, :func:`cache_api_key_refusals`
and :func:`cache_blacklisted` for :mod:`jwtsessions.revocation` (the writes of
:mod:`jwtsessions.logwrites`, sent by :mod:`jwtsessions.refusals`), and
:func:`refuse_everywhere` for :mod:`jwtsessions.apikeycache`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.core.cache import BaseCache

from . import localcache, refusals, sync
from .blacklist import blacklist_verdict, listing_writes
from .cachehealth import (
    CacheUnavailable,
    cache_call,
    cache_call_quietly,
    cache_write,
    reads_allowed,
    reset_health,
)
from .cachekeys import (
    API_KEY_KEY,
    BLACKLIST_KEY,
    CREDENTIAL_KEY,
    MISSING,
    REVOKED,
    SEEN_KEY,
    SESSION_KEY,
    Refusal,
    negative_ttl,
)
from .sessionstate import (
    SessionState,
    _fill_session,
    cache_session,
    check_session,
    forget_session,
    last_seen,
)

__all__ = [
    "API_KEY_KEY",
    "BLACKLIST_KEY",
    "CREDENTIAL_KEY",
    "MISSING",
    "REVOKED",
    "SEEN_KEY",
    "SESSION_KEY",
    "CacheUnavailable",
    "Refusal",
    "SessionState",
    "_fill_session",
    "blacklist_verdict",
    "cache_api_key_refusals",
    "cache_blacklisted",
    "cache_call",
    "cache_call_quietly",
    "cache_refusals",
    "cache_session",
    "cache_write",
    "check_session",
    "forget_session",
    "last_seen",
    "negative_ttl",
    "reads_allowed",
    "refuse_everywhere",
    "reset_health",
]


def cache_refusals(session_ids: Iterable[str], code: str = REVOKED) -> bool:
    """Refuse these sessions in the cache, in every process; ``False`` if the cache failed."""
    writes = [w for sid in session_ids for w in sync.writes_for("s", sid, code)]
    return refusals.refuse(writes) if writes else True


def cache_api_key_refusals(public_ids: Iterable[str], code: str = "api_key_revoked") -> bool:
    writes = [w for pid in public_ids for w in sync.writes_for("k", pid, code)]
    return refusals.refuse(writes) if writes else True


def cache_blacklisted(jti: str, expires_at: datetime) -> bool:
    return refusals.refuse(listing_writes(jti, expires_at))


def refuse_everywhere(write: Callable[[BaseCache], Any]) -> bool:
    """Run a refusal ``write`` on the cache, then make every process drop its per-process copy.

    This process forgets its copy first, whatever the cache does. A failed write is not owed
    here (it is an arbitrary callable): callers record what it enforces in the refusal log
    (:func:`jwtsessions.sync.record`), from which every process replays it.
    """
    localcache.clear()

    def run(cache: BaseCache) -> None:
        write(cache)
        localcache.announce(cache)

    return cache_write(run)
