"""The ``jti`` blacklist: one Redis entry per listed token, and a complete list per process.

There is no "the whole blacklist is loaded" marker in the cache any more: an eviction could
remove one entry and keep the marker, and absence would then read as "not blacklisted".
Instead:

* :func:`jwtsessions.revocation.blacklist_token` writes ``1`` under the token id with ``set``
  (and announces it), so with a healthy cache every process refuses it before the call
  returns. The entry rides along in the request's one ``get_many``.
* Every process also keeps the complete list of unexpired blacklisted ids in memory
  (:func:`jwtsessions.sync.is_listed`): loaded from the table when the process starts, then
  kept by the refusal log it catches up from at most once per ``REVOCATION_SYNC_INTERVAL``.
  Process memory is not evicted, so a missing Redis entry is never taken as "not listed":
  the in-process list answers, and when this process cannot vouch for it (the database could
  not be read), the database does.

So a request costs no query and no extra cache command for the blacklist, a refresh writes
nothing for it, and no ``maxmemory-policy`` can make a listed token pass. The list costs memory
in proportion to the tokens blacklisted within the longest token lifetime.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.utils import timezone

from . import sync
from .cachekeys import BLACKLIST_KEY

LISTED = 1


def _in_db(jti: str) -> bool:
    from .models import BlacklistedToken

    return BlacklistedToken.objects.filter(jti=jti, expires_at__gt=timezone.now()).exists()


def blacklist_verdict(jti: str, cached: Mapping[str, Any] | None) -> bool:
    """Whether ``jti`` is blacklisted: the cache's entry from the request's ``get_many``
    (``cached``, ``None`` when the cache could not be read), else this process's list, else
    the database.
    """
    if cached is not None and cached.get(BLACKLIST_KEY + jti) == LISTED:
        return True
    known = sync.is_listed(jti)
    if known is not None:
        return known
    return _in_db(jti)


def listing_writes(jti: str, expires_at: datetime) -> list[tuple[str, Any, int]]:
    """The cache write that blacklists ``jti`` until ``expires_at``."""
    ttl = max(int((expires_at - timezone.now()).total_seconds()) + 1, 1)
    return [(BLACKLIST_KEY + jti, LISTED, ttl)]
