"""The redis-py client behind a Django cache: primary reads, and what its connections are set to.

Authentication reads go to the primary. With replicas configured (django-redis or Django's
``RedisCache`` with several ``LOCATION`` entries), their ordinary reads go to a replica, which may
lag: a session revoked on the primary could still read "active" there, and anything read from it
could be kept in the per-process copy. :func:`get_many` asks the primary instead, through the
backend's own client and serializer. Every other backend is read the ordinary way.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from django.core.cache import BaseCache
from redis.exceptions import NoPermissionError, ResponseError

# Backends whose client is redis-py (the per-process copy and primary reads need one).
REDIS_BACKENDS = (
    "django_redis.cache.RedisCache",
    "django.core.cache.backends.redis.RedisCache",
)


def client_for(cache: BaseCache) -> Any:
    """The redis-py client of the cache's primary, or ``None`` for another backend."""
    client = getattr(cache, "client", None)  # django-redis
    if client is not None and hasattr(client, "get_client"):
        try:
            return client.get_client(write=True)
        except NotImplementedError:  # django-redis's ShardClient: no single primary
            return None
    inner = getattr(cache, "_cache", None)  # django.core.cache.backends.redis
    if inner is not None and hasattr(inner, "get_client"):
        return inner.get_client(None, write=True)
    return None


def get_many(cache: BaseCache, keys: Iterable[str]) -> dict[str, Any]:
    """``cache.get_many(keys)``, read from the primary when the cache has replicas.

    Raises whatever the client raises (the caller treats it as an outage).
    """
    keys = list(keys)
    client = getattr(cache, "client", None)  # django-redis: its get_many takes the client
    if client is not None and hasattr(client, "get_client") and hasattr(client, "get_many"):
        try:
            primary = client.get_client(write=True)
        except NotImplementedError:
            return dict(cache.get_many(keys))
        return dict(client.get_many(keys, client=primary))
    inner = getattr(cache, "_cache", None)  # Django's RedisCache: mget on the write pool
    serializer = getattr(inner, "_serializer", None)
    if inner is not None and serializer is not None and hasattr(cache, "make_and_validate_key"):
        names = {cache.make_and_validate_key(key): key for key in keys}
        if not names:
            return {}
        values = inner.get_client(None, write=True).mget(list(names))
        return {
            key: serializer.loads(value)
            for key, value in zip(names.values(), values, strict=True)
            if value is not None
        }
    return dict(cache.get_many(keys))


def _default(connection_class: type, name: str) -> Any:
    """The default of a connection keyword argument, from the first class in the MRO naming it."""
    for klass in connection_class.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameter = inspect.signature(init).parameters.get(name)
        if parameter is not None and parameter.default is not inspect.Parameter.empty:
            return parameter.default
    return None


def socket_timeouts(cache: BaseCache) -> tuple[float | None, float | None] | None:
    """``(socket_timeout, socket_connect_timeout)`` the cache's connections use, in seconds
    (``None``: wait forever), or ``None`` if the cache is not a Redis cache. Opens no connection.
    """
    client = client_for(cache)
    pool = getattr(client, "connection_pool", None)
    if pool is None:
        return None
    kwargs = getattr(pool, "connection_kwargs", {})
    klass = getattr(pool, "connection_class", object)
    timeout = kwargs.get("socket_timeout", _default(klass, "socket_timeout"))
    connect = kwargs.get("socket_connect_timeout", _default(klass, "socket_connect_timeout"))
    if connect is None:
        connect = timeout  # redis-py: the connect timeout defaults to the socket timeout
    return (
        None if timeout is None else float(timeout),
        None if connect is None else float(connect),
    )


def is_refusal(error: BaseException) -> bool:
    """True when Redis refused a command outright (an ACL's NOPERM, a renamed or disabled
    command), as opposed to failing this one call. ``error`` may be a backend's wrapper of it
    (django-redis raises ``ConnectionInterrupted`` from the redis-py error)."""
    cause = error if isinstance(error, ResponseError) else error.__cause__
    if not isinstance(cause, ResponseError):
        return False
    if isinstance(cause, NoPermissionError):
        return True
    # redis-py strips the "ERR " prefix: "unknown command 'EVAL', with args beginning with: ..."
    # (backquotes before Redis 6.2). Not "Unknown Redis command called from script": that is
    # a script running, and failing.
    return str(cause).lower().startswith("unknown command")


def set_many(cache: BaseCache, entries: dict[str, Any], timeout: int) -> None:
    """``cache.set_many(entries, timeout)``; one ``set`` per entry where Redis refuses it.

    django-redis and Django's ``RedisCache`` send ``set_many`` as ``MULTI``/``EXEC``. Where an
    ACL refuses transactions (``-@transaction``), every such write failed: a process then owed
    its refusal writes for good, never read the cache again and counted logins on its own, the
    login limit becoming one per worker (red team, 2026-11-30).
    """
    try:
        cache.set_many(entries, timeout)
    except Exception as error:
        if not is_refusal(error):
            raise
        for key, value in entries.items():
            cache.set(key, value, timeout)
