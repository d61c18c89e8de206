"""A cache that went back in time: found by its log mark, repaired by a replay.

Each scan of :mod:`jwtsessions.sync` reads the cache's mark (:mod:`jwtsessions.logmark`)
before the log (:func:`read_mark`); when the mark is lower than what the process had applied,
or missing, the cache lost refusals and :func:`replay` gives the writes it needs again. Once
the process owes the cache nothing, :func:`settle` raises the mark to what it has applied,
after the per-process copies dropped what they copied from the rolled-back cache.

A failed cache call here is never an error: it marks the cache down, and the mark is read or
moved again by the next scan.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.core.cache import BaseCache

from . import cachehealth, logmark, logqueries
from .logwrites import Write
from .settings import jwt_settings

# The refusal log's logger, wherever in it the message comes from.
logger = logging.getLogger("jwtsessions.sync")

T = TypeVar("T")

_listeners: list[Callable[[BaseCache], None]] = []


def on_rollback(callback: Callable[[BaseCache], None]) -> Callable[[BaseCache], None]:
    """Call ``callback(cache)`` after refusals a cache rollback lost were written again (the
    per-process copy registers its ``announce``: every process drops what it copied from the
    rolled-back cache).
    """
    _listeners.append(callback)
    return callback


def read_mark() -> int | None:
    """The cache's mark; ``None`` without one, or when the cache failed (the next scan reads
    it again).
    """
    return _on_cache(logmark.read, None)


def replay(mark: int | None, applied: int | None, high: int | None) -> list[Write]:
    """The writes the cache may have lost; none when it did not. ``mark``: as read before
    the scan; ``applied``: the highest id applied before it; ``high``: the highest after it.

    Raises whatever the database raises.
    """
    if not _rolled_back(mark, applied, high):
        return []
    # The cache went back in time (or lost the mark): it may have lost refusals.
    logger.warning("cache %r lost refusals; replaying", jwt_settings.CACHE_ALIAS)
    with logqueries.savepoint():
        if _bogus(mark, high):
            return logqueries.lost(0, high or 0)
        return logqueries.lost(max(mark or 0, 0), applied or 0)


def settle(mark: int | None, applied: int | None, high: int | None, *, owing: bool) -> None:
    """After a successful scan (same arguments as :func:`replay`): set the mark to ``high``;
    not while this process still owes the cache writes (``owing``): it cannot vouch for them.
    """
    if _bogus(mark, high) and not owing and high is not None and _announce():
        # On failure the next scan finds the mark still too high and tries again.
        _on_cache(lambda cache: logmark.force(cache, high), None)
        return
    if mark is None or owing or high is None or mark >= high:
        return
    # Other processes may have copied the rolled-back entries: they drop their copies first.
    if not _rolled_back(mark, applied, high) or _announce():
        # On failure a lower mark only costs a replay.
        _on_cache(lambda cache: logmark.raise_to(cache, high, mark), None)


def _bogus(mark: int | None, high: int | None) -> bool:
    # A mark above every id this scan could see was not written for this database (a
    # restored database, two deployments sharing one cache): it proves nothing, and left
    # alone it would hide every later rollback. Replay the window and set it right.
    return mark is not None and high is not None and mark > high


def _rolled_back(mark: int | None, applied: int | None, high: int | None) -> bool:
    return _bogus(mark, high) or (mark is not None and applied is not None and mark < applied)


def _announce() -> bool:
    try:
        for callback in _listeners:
            callback(cachehealth._cache())
    except Exception as exc:  # the mark stays low: the next scan (here or elsewhere) retries
        cachehealth.mark_down(exc)
        return False
    return True


def _on_cache(call: Callable[[BaseCache], T], failed: T) -> T:
    """``call(cache)``, or ``failed`` when the cache raised (it is marked down)."""
    try:
        return call(cachehealth._cache())
    except Exception as exc:
        cachehealth.mark_down(exc)
        return failed
