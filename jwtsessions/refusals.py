"""Writing refusals to the cache and telling every process to drop its per-process copy.

With a healthy cache this is what makes a revocation hold in every process before the revoking
call returns. When the cache does not take the write, this process owes it (and reads nothing
from the cache until it is written), and every other process replays it from the refusal log
within ``REVOCATION_SYNC_INTERVAL`` (:mod:`jwtsessions.sync`).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.cache import BaseCache

from . import cachehealth, localcache, sync


def refuse(writes: Sequence[sync.Write], *, announce: bool = True) -> bool:
    """Make ``writes`` (see :func:`jwtsessions.sync.writes_for`) and announce them.

    This process forgets its copy first, whatever the cache does. ``False`` when the cache did
    not take them (reported to :func:`jwtsessions.revocation.track_cache_writes` blocks).
    """
    localcache.clear()

    def run(cache: BaseCache) -> None:
        sync.apply(cache, writes)
        if announce:
            localcache.announce(cache)

    if cachehealth.cache_write(run):
        return True
    sync.owe(writes)
    return False
