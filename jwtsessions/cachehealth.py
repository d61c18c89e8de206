"""Calling the cache: reads that may skip a failing cache, and refusal writes that never do.

The cache only speeds the database up, so a failed call is never an error: the caller answers
from the database. Three kinds of call:

* :func:`cache_call` (reads) raises :class:`CacheUnavailable` when the cache fails, during the
  ``CACHE_OUTAGE_BACKOFF`` window after a failure (so a hanging cache costs one timeout per
  window, not one per request), and while this process still owes the cache refusals it could
  not write (see :mod:`jwtsessions.sync`): a read must not find the stale entry a missed
  refusal would have replaced.
* :func:`cache_call_quietly` (fills, "last seen"): best effort, skipped during the window.
* :func:`cache_write` (refusals): always tried, even inside the window, so a revocation made
  while the cache is healthy again takes effect before the revoking call returns. Its failure
  is reported to :func:`jwtsessions.revocation.track_cache_writes` blocks.

Nothing here is the safety net: a refusal the cache missed is still enforced by every process
within ``REVOCATION_SYNC_INTERVAL`` from the database's refusal log (:mod:`jwtsessions.sync`).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

from django.core.cache import BaseCache, caches

from .settings import jwt_settings

logger = logging.getLogger("jwtsessions.store")

T = TypeVar("T")


class CacheUnavailable(Exception):
    """The cache failed, is in its back-off window, or cannot be trusted yet; use the database."""


class WriteReport(Protocol):
    cache_ok: bool


class _Health:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.down_until = 0.0
        # Refusals this process failed to write are still owed to the cache.
        self.owes_replay = False
        # Counts failures and resets: what this process learned about the server before a
        # change of this number may no longer hold (see :func:`epoch`).
        self.epoch = 0


_health = _Health()
# Reports of the enclosing ``track_cache_writes`` blocks (innermost last).
_reports: contextvars.ContextVar[tuple[WriteReport, ...]] = contextvars.ContextVar(
    "jwtsessions_cache_reports", default=()
)


def _cache() -> BaseCache:
    return caches[jwt_settings.CACHE_ALIAS]


def in_backoff() -> bool:
    """True while this process avoids the cache after a failure."""
    until = _health.down_until
    return bool(until) and time.monotonic() < until


def reads_allowed() -> bool:
    """True when a read may be answered from the cache (or the per-process copy)."""
    return not in_backoff() and not _health.owes_replay


def cache_call(operation: Callable[[BaseCache], T]) -> T:
    """Run a read on the cache, or raise :class:`CacheUnavailable`."""
    if not reads_allowed():
        raise CacheUnavailable
    return _attempt(operation)


def cache_call_quietly(operation: Callable[[BaseCache], Any]) -> None:
    """A best-effort write (a fill, a "last seen" stamp): skipped when the cache is failing."""
    if in_backoff():
        return
    with contextlib.suppress(CacheUnavailable):
        _attempt(operation)


def cache_write(operation: Callable[[BaseCache], Any]) -> bool:
    """Write a refusal: tried whatever happened before. ``False`` (and reported) on failure."""
    try:
        _attempt(operation)
    except CacheUnavailable:
        for report in _reports.get():
            report.cache_ok = False
        return False
    return True


def _attempt(operation: Callable[[BaseCache], T]) -> T:
    try:
        result = operation(_cache())
    except Exception as exc:
        mark_down(exc)
        raise CacheUnavailable from None
    if _health.down_until:
        with _health.lock:
            _health.down_until = 0.0
    return result


def mark_down(exc: BaseException) -> None:
    backoff = jwt_settings.CACHE_OUTAGE_BACKOFF.total_seconds()
    with _health.lock:
        _health.down_until = time.monotonic() + backoff
        _health.epoch += 1
    # The exception text may carry a URL with a password: log its type only.
    logger.warning(
        "cache %r unavailable (%s); reading from the database for %.1fs",
        jwt_settings.CACHE_ALIAS,
        type(exc).__name__,
        backoff,
    )


def set_owes_replay(value: bool) -> None:
    _health.owes_replay = value


@contextlib.contextmanager
def tracking(report: WriteReport) -> Iterator[WriteReport]:
    """Mark ``report.cache_ok`` False if any :func:`cache_write` inside the block fails."""
    token = _reports.set((*_reports.get(), report))
    try:
        yield report
    finally:
        _reports.reset(token)


def reset_health() -> None:
    """Forget any remembered failure (tests, and after reconfiguring the cache)."""
    with _health.lock:
        _health.down_until = 0.0
        _health.owes_replay = False
        _health.epoch += 1


def epoch() -> int:
    """A number that changes whenever this process sees the cache fail or is reset (settings
    changed): a failure is what a reconnect or a failover usually looks like from here, so
    whatever was learned about the server before it is to be learned again."""
    return _health.epoch


jwt_settings.on_reload(reset_health)
