"""Login throttling per account and per client address, kept in the cache.

After ``LOGIN_FAILURE_LIMIT`` failures for an account or from an address, login answers 429
``too_many_attempts`` with ``Retry-After`` for ``LOGIN_LOCKOUT``, even with the right password.
With the cache unreachable, throttling is skipped (logged) rather than locking everyone out.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from . import store
from .settings import jwt_settings

_PREFIX = "jws:lf:"


def _keys(username: str, ip: str | None) -> list[str]:
    # Hash the username: cache keys must be safe characters and should not spell out accounts.
    account = hashlib.sha256(username.casefold().encode()).hexdigest()[:32]
    keys = [f"{_PREFIX}a:{account}"]
    if ip:
        keys.append(f"{_PREFIX}i:{ip}")
    return keys


def retry_after(username: str, ip: str | None) -> int | None:
    """Seconds until login may be tried again, or ``None`` if it may be tried now."""
    locks = [key + ":lock" for key in _keys(username, ip)]
    try:
        found: dict[str, Any] = store.cache_call(lambda c: c.get_many(locks))
    except store.CacheUnavailable:
        return None
    if not found:
        return None
    return max(1, max(int(deadline) for deadline in found.values()) - int(time.time()))


def record_failure(username: str, ip: str | None) -> None:
    config = jwt_settings.config
    lockout = int(config.LOGIN_LOCKOUT.total_seconds())

    def count(cache: Any) -> None:
        for key in _keys(username, ip):
            cache.add(key, 0, lockout)
            try:
                failures = cache.incr(key)
            except ValueError:  # expired between add() and incr()
                cache.set(key, 1, lockout)
                failures = 1
            if failures >= config.LOGIN_FAILURE_LIMIT:
                cache.set(key + ":lock", int(time.time()) + lockout, lockout)
                cache.delete(key)

    store.cache_call_quietly(count)


def record_success(username: str) -> None:
    key = _keys(username, None)[0]
    store.cache_call_quietly(lambda c: c.delete(key))
