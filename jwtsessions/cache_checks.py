"""System checks about the cache as the hot store: the per-process copy and socket timeouts.

Registered by :mod:`jwtsessions.checks` (ids ``jwtsessions.W010`` and ``jwtsessions.W011``).
The W010 check opens one short-lived Redis connection (a subscription, a ``PING``), so that
``manage.py check``, ``runserver`` and ``migrate`` say at startup when the per-process copy
cannot start, instead of each worker finding out at its first request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings as django_settings
from django.core import checks
from django.core.cache import caches

from .redisclient import REDIS_BACKENDS, socket_timeouts
from .settings import SETTING_NAME, Config, load

# Longer than this, a frozen or unreachable Redis holds every request that long (see
# docs/redis.md): redis-py's default is 5 s, and without one a request can wait forever.
MAX_SOCKET_TIMEOUT = 2.0
_PROCESS_LOCAL = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)
_COST = (
    "every request with a session, API key or service token then makes one cache round trip "
    "instead of none"
)


def _config() -> Config:
    return load(getattr(django_settings, SETTING_NAME, None))


def _backend(alias: str) -> str | None:
    entry = getattr(django_settings, "CACHES", {}).get(alias)
    return None if entry is None else str(entry.get("BACKEND", ""))


def check_local_copy(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """W010: the per-process copy is off (not a Redis cache) or cannot subscribe."""
    from . import localcache

    config = _config()
    backend = _backend(config.CACHE_ALIAS)
    if backend is None or config.LOCAL_CACHE_SIZE <= 0 or backend in _PROCESS_LOCAL:
        return []  # E005, a deliberate 0, or W003 (a process-local cache) say enough
    if backend not in REDIS_BACKENDS:
        return [
            checks.Warning(
                f"the per-process copy is off: the cache {config.CACHE_ALIAS!r} ({backend}) "
                f"is not a Redis cache, so {_COST}.",
                hint="Use django-redis or django.core.cache.backends.redis.RedisCache.",
                id="jwtsessions.W010",
            )
        ]
    try:
        reason = localcache.probe(caches[config.CACHE_ALIAS])
    except Exception as exc:  # a broken cache configuration: say so, never crash a check
        reason = localcache.describe(exc)
    if reason is None:
        return []
    return [
        checks.Warning(
            f"the per-process copy cannot start: subscribing to the invalidation channel on "
            f"the cache {config.CACHE_ALIAS!r} failed ({reason}). Authentication stays correct, "
            f"but {_COST}; each process retries every CACHE_OUTAGE_BACKOFF.",
            hint="Check that Redis is reachable and allows SUBSCRIBE and PUBLISH (ACL "
            "&channels) for this user; see docs/redis.md.",
            id="jwtsessions.W010",
        )
    ]


def check_socket_timeouts(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """W011: the Redis cache has no socket timeout, or a long one."""
    config = _config()
    if _backend(config.CACHE_ALIAS) not in REDIS_BACKENDS:
        return []
    try:
        timeouts = socket_timeouts(caches[config.CACHE_ALIAS])
    except Exception:  # reported by W010 or Django itself
        return []
    if timeouts is None:
        return []
    messages: list[checks.CheckMessage] = []
    for name, value in zip(("socket timeout", "connect timeout"), timeouts, strict=True):
        if value is None or value > MAX_SOCKET_TIMEOUT:
            shown = "none" if value is None else f"{value:g}s"
            messages.append(
                checks.Warning(
                    f"the cache {config.CACHE_ALIAS!r} has a Redis {name} of {shown}: while "
                    f"Redis hangs (frozen, or packets dropped), every request waits that long "
                    f"before authentication falls back to the database.",
                    hint=f"Set it to {MAX_SOCKET_TIMEOUT:g}s or less (django-redis: OPTIONS "
                    "SOCKET_TIMEOUT and SOCKET_CONNECT_TIMEOUT; Django's RedisCache: OPTIONS "
                    "socket_timeout and socket_connect_timeout); see docs/redis.md.",
                    id="jwtsessions.W011",
                )
            )
    return messages
