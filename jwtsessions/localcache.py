"""A per-process copy of credentials accepted moments ago, dropped the moment anything is revoked.

One Redis round trip per request is most of what a revocable credential costs over a stateless
one. This module lets a process skip it for a session, API key or service token it accepted
moments ago, without giving up immediate revocation:

* Every process holds one extra Redis connection, made by the cache's own pool, subscribed to an
  invalidation channel (:mod:`jwtsessions.subscriber`).
* Whatever revokes or changes a credential (sessions, blacklist, API keys, their owners) clears
  this process's copy, writes the cache, publishes on the channel, then makes one more round
  trip. Redis writes a published message to every subscriber's socket before it serves the
  publisher's next command, so when the revoking call returns, the message already sits in every
  subscriber's socket buffer.
* Before answering from its copy, a process polls that socket (one non-blocking syscall). Any
  message, a closed connection or an error clears the whole copy. A request that finds the
  message waiting asks Redis, which already holds the refusal.
* The copy is trusted only while the subscription is *proven* live end to end: a heartbeat
  nonce published through the primary client at most :data:`LIVENESS_WINDOW` ago came back on
  the subscription (see :mod:`jwtsessions.subscriber`). A frozen or unreachable Redis, a
  blackholed link, or a subscription left on a demoted primary stops every process from
  answering from its copy within that window; a heartbeat the primary delivered to nobody, or
  one unanswered for :data:`DEAD_AFTER`, makes it resubscribe through the pool (which follows
  Sentinel). One ``PUBLISH`` per process per half window, never per request.
* :func:`jwtsessions.sync.catch_up` runs first: a process that cannot vouch for having applied
  the refusals committed to the database does not use its copy.

The copy needs a Redis cache (django-redis or Django's own); with any other backend, or with
``LOCAL_CACHE_SIZE = 0``, it is off and every request asks the cache. Entries are never older
than ``SESSION_CACHE_TTL``, and only what the primary (or the database) said is ever kept.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Hashable
from typing import Any

from django.core.cache import BaseCache, caches

from . import cachehealth, redisclient, sync
from .settings import jwt_settings
from .subscriber import Subscriber

logger = logging.getLogger("jwtsessions.localcache")

CHANNEL = "jws:invalidate"
# The copy is used only while a heartbeat published through the primary at most this long ago
# came back on the subscription (seconds; never more than REVOCATION_SYNC_INTERVAL).
LIVENESS_WINDOW = 1.0
# A heartbeat not back after this long means the link is dead: resubscribe.
DEAD_AFTER = 5.0
# With a Sentinel pool, how often (seconds) to ask Sentinel whether the primary moved.
PRIMARY_CHECK = 2.0

# A session entry: (user id, expires_at, refreshed_at, last seen, valid until).
Entry = tuple[str, int, int, int, float]


@dataclasses.dataclass
class _State:
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    # key -> (value, valid until as a time.time() stamp)
    entries: dict[Hashable, tuple[Any, float]] = dataclasses.field(default_factory=dict)
    subscriber: Subscriber | None = None
    # The cache's primary client: heartbeats go through it, as announcements do.
    primary: Any = None
    pid: int = dataclasses.field(default_factory=os.getpid)
    retry_at: float = 0.0
    # Bumped whenever entries are dropped: a remember() based on an older read is ignored.
    generation: int = 0
    # Why the copy is off in this process (``None`` while it works or was never tried).
    failure: str | None = None


_state = _State()
_sub = _state  # the earlier name, read by bench/revocation_delay.py


def _channel(cache: BaseCache) -> str:
    # Two projects sharing one Redis with different KEY_PREFIXes do not invalidate each other.
    return cache.make_key(CHANNEL)


def _window() -> float:
    return min(LIVENESS_WINDOW, jwt_settings.REVOCATION_SYNC_INTERVAL.total_seconds())


def describe(exc: BaseException) -> str:
    """An error's type and first line, without anything that looks like a URL's credentials."""
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    if "@" in text or "://" in text:
        text = ""  # a connection URL may carry a password
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _forget_entries() -> None:
    _state.entries.clear()
    _state.generation += 1


def _drop_subscriber() -> None:
    subscriber, _state.subscriber = _state.subscriber, None
    _forget_entries()
    if subscriber is not None:
        subscriber.close()


def _subscribe() -> Subscriber | None:
    cache = caches[jwt_settings.CACHE_ALIAS]
    client = redisclient.client_for(cache)
    if client is None:
        _state.retry_at = float("inf")  # not a Redis cache: never try again with this config
        _state.failure = "the cache is not a Redis cache"
        return None
    subscriber = Subscriber(client.connection_pool, _channel(cache))
    subscriber.open()
    _state.primary = client
    return subscriber


def _start() -> bool:
    """Subscribe if due; ``True`` once subscribed. Hold the lock."""
    if time.monotonic() < _state.retry_at or jwt_settings.LOCAL_CACHE_SIZE <= 0:
        return False
    _forget_entries()
    try:
        subscriber = _subscribe()
    except Exception as exc:
        backoff = jwt_settings.CACHE_OUTAGE_BACKOFF.total_seconds()
        _state.retry_at = time.monotonic() + max(backoff, 0.1)
        reason = describe(exc)
        if _state.failure != reason:
            logger.warning(
                "the per-process copy is off in process %d: cannot subscribe to the "
                "invalidation channel (%s). Every authenticated request costs one cache round "
                "trip until it can; retrying every %.1fs.",
                os.getpid(),
                reason,
                backoff,
            )
        _state.failure = reason
        return False
    if subscriber is None:
        return False
    if _state.failure is not None:
        logger.info("the per-process copy is on again in process %d", os.getpid())
    _state.subscriber, _state.failure = subscriber, None
    return True


def _synchronised() -> bool:
    """Apply pending invalidations; ``True`` if the copy may be trusted. Hold the lock."""
    if _state.pid != os.getpid():
        # A forked child shares the parent's socket: forget it without touching it.
        _state.pid, _state.subscriber = os.getpid(), None
        _forget_entries()
    subscriber = _state.subscriber
    if subscriber is None:
        if not _start():
            return False
        subscriber = _state.subscriber
        assert subscriber is not None
    now = time.monotonic()
    window = _window()
    try:
        subscriber.ask_sentinel(now, PRIMARY_CHECK)
        subscriber.check_primary()
        if subscriber.drain():
            _forget_entries()
        if subscriber.heartbeat_token is None:
            # Not while the cache is in its back-off window: a hanging primary would cost this
            # request a timeout (the copy is not trusted meanwhile: the proof goes stale).
            if now - subscriber.proven_at >= window / 2 and not cachehealth.in_backoff():
                subscriber.heartbeat(now, _state.primary)
                # Usually back already (Redis writes it out before answering PUBLISH).
                if subscriber.drain(force=True):
                    _forget_entries()
        elif now - subscriber.heartbeat_sent > max(DEAD_AFTER, window):
            raise ConnectionError("no heartbeat back on the invalidation channel")
    except Exception as exc:
        # Closed, broken or silent: messages may have been lost. Start again from nothing.
        logger.info("invalidation channel lost (%s); resubscribing", describe(exc))
        _drop_subscriber()
        return False
    if now - subscriber.proven_at > window:
        # Not proven live lately (a frozen or unreachable Redis looks just like a quiet one).
        _forget_entries()
        return False
    return True


def get(key: Hashable, now: float) -> tuple[Any, int]:
    """The value remembered under ``key`` if still trustworthy, and the generation to hand to
    :func:`remember` (``-1``: the copy cannot be used at all). ``now`` is ``time.time()``.
    """
    if not sync.catch_up():
        return None, -1
    with _state.lock:
        if not _synchronised():
            return None, -1
        found = _state.entries.get(key)
        if found is not None and found[1] <= now:
            del _state.entries[key]
            found = None
        return (found[0] if found is not None else None), _state.generation


def remember(key: Hashable, value: Any, valid_until: float, generation: int) -> None:
    """Remember ``value`` until ``valid_until``, unless anything was dropped since the
    :func:`get` that returned ``generation`` (the read it is based on may be stale).

    Only values read from the primary or the database belong here, never from a replica.
    """
    with _state.lock:
        if _state.subscriber is None or generation != _state.generation or generation < 0:
            return
        entries = _state.entries
        limit = jwt_settings.LOCAL_CACHE_SIZE
        while entries and len(entries) >= limit:
            # Oldest first: dicts keep insertion order.
            del entries[next(iter(entries))]
        if limit > 0:
            entries[key] = (value, valid_until)


def lookup(session_id: str, jti: str, now: float) -> tuple[Entry | None, int]:
    """The entry for a session and token accepted moments ago (see :func:`get`)."""
    entry, generation = get(("s", session_id, jti), now)
    return entry, generation


def put(session_id: str, jti: str, entry: Entry, generation: int) -> None:
    """Remember an accepted session and token (see :func:`remember`); ``entry[4]`` is its
    validity limit.
    """
    remember(("s", session_id, jti), entry, entry[4], generation)


def clear() -> None:
    """Forget every entry in this process (the subscription stays)."""
    with _state.lock:
        _forget_entries()


def announce(cache: BaseCache) -> None:
    """Tell every process to drop its copy; returns once the message is in their sockets.

    Call after the refusal is in the cache, so a process that drops its copy finds it there.
    """
    clear()
    client = redisclient.client_for(cache)
    if client is None:
        return
    client.publish(_channel(cache), b"1")
    # Redis flushes the published message to subscribers before it serves our next command.
    client.ping()


def failure() -> str | None:
    """Why the copy is off in this process, if it is (``None`` while it works)."""
    return _state.failure


def is_live() -> bool:
    """Whether this process's copy is subscribed and proven live now (applies invalidations)."""
    with _state.lock:
        return _synchronised()


def probe(cache: BaseCache, timeout: float = 2.0) -> str | None:
    """Subscribe on a throwaway connection and prove it live; the reason if that fails.

    For system checks: it leaves this process's own subscription alone.
    """
    client = redisclient.client_for(cache)
    if client is None:
        return "the cache is not a Redis cache"
    subscriber = Subscriber(client.connection_pool, _channel(cache))
    try:
        subscriber.open(confirm_timeout=timeout)
        subscriber.ping(time.monotonic())
        if not subscriber.wait_for_proof(timeout):
            return f"no answer to PING on the subscription within {timeout:g}s"
    except Exception as exc:
        return describe(exc)
    finally:
        subscriber.close()
    return None


def reset() -> None:
    """Close the subscription and forget everything (settings changed, tests)."""
    with _state.lock:
        _drop_subscriber()
        _state.retry_at = 0.0
        _state.failure = None


jwt_settings.on_reload(reset)
# Catching up from the refusal log (jwtsessions.sync) empties the copy when it finds any.
sync.on_refusals(clear)
sync.on_rollback(announce)
