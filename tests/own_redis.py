"""A Redis server a test owns (:class:`tests.faults.RedisServer`), and cache settings for it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.test import override_settings

from tests.faults import RedisServer


@contextlib.contextmanager
def own_redis(*arguments: str) -> Iterator[RedisServer]:
    """Start a server on a free loopback port; stop it by pid (thawed first) at the end."""
    server = RedisServer(*arguments)
    try:
        yield server.start()
    finally:
        server.close()


def django_redis(location: Any, **options: Any) -> dict[str, Any]:
    """A django-redis cache entry with the suite's short timeouts (overridable)."""
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": location,
        "OPTIONS": {"SOCKET_TIMEOUT": 1, "SOCKET_CONNECT_TIMEOUT": 1, **options},
    }


def using_cache(entry: dict[str, Any], **jwtsessions: Any) -> Any:
    """``override_settings`` for a default cache (and optionally JWTSESSIONS)."""
    values: dict[str, Any] = {"CACHES": {"default": entry}}
    if jwtsessions:
        values["JWTSESSIONS"] = jwtsessions
    return override_settings(**values)
