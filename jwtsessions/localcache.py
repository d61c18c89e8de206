"""A per-process copy of recently accepted sessions, dropped the moment anything is revoked.

One Redis round trip per request is most of what a revocable token costs over a stateless one.
This module lets a process skip it for a session it accepted moments ago, without giving up
immediate revocation:

* Every process holds one extra Redis connection subscribed to an invalidation channel.
* Whatever revokes (:mod:`jwtsessions.revocation` through :mod:`jwtsessions.store`) clears this
  process's copy, writes the refusal to Redis, publishes on the channel, then makes one more
  round trip. Redis writes a published message to every subscriber's socket before it serves
  the publisher's next command, so when the revoking call returns, the message already sits in
  every subscriber's socket buffer.
* Before answering from its copy, a process polls that socket (one non-blocking syscall). Any
  message, a closed connection or an error clears the whole copy. A request that finds the
  message waiting asks Redis, which already holds the refusal.

So no request that starts after a revoking call has returned is admitted from a stale copy, in
any process that shares the cache. The copy is used only while the subscription is known to be
live and the cache is healthy; entries also expire after ``SESSION_CACHE_TTL`` like the Redis
ones. It needs a Redis cache (django-redis or Django's own); with any other backend, or with
``LOCAL_CACHE_SIZE = 0``, it is off and every request asks the cache.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import BaseCache, caches

from .settings import jwt_settings

logger = logging.getLogger("jwtsessions.store")

CHANNEL = "jws:invalidate"

# (session id, jti) -> (user id, expires_at, refreshed_at, last seen, valid until)
Entry = tuple[str, int, int, int, float]


class _Subscription:
    """The invalidation channel, as seen by this process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[tuple[str, str], Entry] = {}
        self.connection: Any = None
        self.readable: Callable[[], bool] | None = None
        self.pid = os.getpid()
        self.retry_at = 0.0
        self.channel = CHANNEL
        # Bumped whenever entries are dropped: a put() based on an older read is ignored.
        self.generation = 0


_sub = _Subscription()


def _redis_client(cache: BaseCache) -> Any:
    """The redis-py client behind a Redis cache backend, or ``None``."""
    client = getattr(cache, "client", None)  # django-redis
    if client is not None and hasattr(client, "get_client"):
        return client.get_client(write=True)
    inner = getattr(cache, "_cache", None)  # django.core.cache.backends.redis
    if inner is not None and hasattr(inner, "get_client"):
        return inner.get_client(None, write=True)
    return None


def _channel(cache: BaseCache) -> str:
    # Two projects sharing one Redis with different KEY_PREFIXes do not invalidate each other.
    return cache.make_key(CHANNEL)


def _forget_entries() -> None:
    _sub.entries.clear()
    _sub.generation += 1


def _drop_connection() -> None:
    connection, _sub.connection, _sub.readable = _sub.connection, None, None
    _forget_entries()
    if connection is not None:
        # Already broken, or fine to close; redis-py only shuts the socket down in the
        # process that opened it.
        with contextlib.suppress(Exception):
            connection.disconnect()


def _poller(sock: Any) -> Callable[[], bool]:
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
        return lambda: bool(poller.poll(0))
    return lambda: bool(select.select([sock], [], [], 0)[0])  # pragma: no cover - Windows


def _subscribe() -> bool:
    """Open the subscriber connection and wait for Redis to confirm the subscription."""
    cache = caches[jwt_settings.CACHE_ALIAS]
    client = _redis_client(cache)
    if client is None:
        _sub.retry_at = float("inf")  # not a Redis cache: never try again with this config
        return False
    pool = client.connection_pool
    kwargs = dict(pool.connection_kwargs)
    kwargs["protocol"] = 2  # plain RESP2 pub/sub replies, whatever the pool negotiates
    kwargs.pop("cache", None)
    kwargs.pop("cache_config", None)
    connection = pool.connection_class(**kwargs)
    channel = _channel(cache)
    connection.connect()
    connection.send_command("SUBSCRIBE", channel)
    reply = connection.read_response()
    if not (isinstance(reply, list) and reply and reply[0] in (b"subscribe", "subscribe")):
        connection.disconnect()
        raise ConnectionError("unexpected reply to SUBSCRIBE")
    _sub.connection = connection
    _sub.readable = _poller(connection._sock)
    _sub.channel = channel
    return True


def _synchronised() -> bool:
    """Apply pending invalidations; ``True`` if the copy may be trusted. Hold the lock."""
    if _sub.pid != os.getpid():
        # A forked child shares the parent's socket: forget it without touching it.
        _sub.pid, _sub.connection, _sub.readable = os.getpid(), None, None
        _forget_entries()
    if _sub.connection is None:
        if time.monotonic() < _sub.retry_at or jwt_settings.LOCAL_CACHE_SIZE <= 0:
            return False
        _forget_entries()
        try:
            return _subscribe()
        except Exception as exc:
            _drop_connection()
            _sub.retry_at = time.monotonic() + jwt_settings.CACHE_OUTAGE_BACKOFF.total_seconds()
            logger.warning("invalidation channel unavailable (%s)", type(exc).__name__)
            return False
    readable = _sub.readable
    if readable is not None and readable():
        _forget_entries()
        try:
            connection = _sub.connection
            sock = connection._sock
            while connection.can_read(timeout=0):
                connection.read_response()
            if connection._sock is not sock or sock is None:
                raise ConnectionError("reconnected")
        except Exception:
            # Closed or broken: messages may have been lost. Start again from nothing.
            _drop_connection()
            return False
    return True


def lookup(session_id: str, jti: str, now: float) -> tuple[Entry | None, int]:
    """The entry for a session and token accepted moments ago, if still trustworthy, and the
    generation to hand to :func:`put` (``-1``: the copy cannot be used at all).
    """
    with _sub.lock:
        if not _synchronised():
            return None, -1
        entry = _sub.entries.get((session_id, jti))
        if entry is not None and entry[4] <= now:
            del _sub.entries[(session_id, jti)]
            entry = None
        return entry, _sub.generation


def put(session_id: str, jti: str, entry: Entry, generation: int) -> None:
    """Remember an accepted session and token, unless anything was dropped since the
    :func:`lookup` that returned ``generation`` (the read it is based on may be stale).
    """
    with _sub.lock:
        if _sub.connection is None or generation != _sub.generation:
            return
        entries = _sub.entries
        if len(entries) >= jwt_settings.LOCAL_CACHE_SIZE:
            # Oldest first: dicts keep insertion order.
            del entries[next(iter(entries))]
        entries[(session_id, jti)] = entry


def clear() -> None:
    """Forget every entry in this process (the subscription stays)."""
    with _sub.lock:
        _forget_entries()


def announce(cache: BaseCache) -> None:
    """Tell every process to drop its copy; returns once the message is in their sockets.

    Call after the refusal is in the cache, so a process that drops its copy finds it there.
    """
    clear()
    client = _redis_client(cache)
    if client is None:
        return
    client.publish(_channel(cache), b"1")
    # Redis flushes the published message to subscribers before it serves our next command.
    client.ping()


def reset() -> None:
    """Close the subscription and forget everything (settings changed, tests)."""
    with _sub.lock:
        _drop_connection()
        _sub.retry_at = 0.0


jwt_settings.on_reload(reset)
