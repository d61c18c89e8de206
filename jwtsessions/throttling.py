"""Login throttling per client address and per (username, address), counted atomically.

Never per username alone: a stranger who knows a username must not be able to lock its owner
out. An attempt is counted *before* the password is checked (increment, then compare), so of
any burst of parallel guesses at most ``LOGIN_FAILURE_LIMIT`` reach the password hasher; the
rest answer 429 ``too_many_attempts`` with ``Retry-After``, and so does every attempt, right
password or not, for ``LOGIN_LOCKOUT`` after the limit was passed. A successful login takes
that account's own attempts from that address off the address counter (its owner's typos)
and clears the pair counter; failures on other accounts stay counted, so logging in to one's
own account never resets a guessing run on others.

On Redis each step is one Lua script, atomic and one round trip: the attempt (read the locks,
count on both counters, lock past the limit) and the forgiving (take the pair counter and
subtract it from the address counter). Done as separate commands, a concurrent attempt counted
between a success's read and its delete of the pair counter stayed on the address counter
forever: busy addresses (a NAT, an office, a load test) drifted up to a lockout although every
login succeeded. A Redis that refuses scripts (``EVAL`` disabled, keys in different cluster
slots) gets the same steps as commands: ``INCR`` of a counter created with its lifetime (the
window starts at the first attempt) and ``GETDEL`` for the forgiving; a process
remembers the refusal for a while (:mod:`jwtsessions.scriptrefusal`) rather than asking again on
every login.
Other cache backends use ``add`` and ``incr``. When the shared cache is unreachable the counting
goes on in a bounded per-process cache: logins keep working, and guessing is still limited, per
process instead of per deployment.

IPv6 clients are counted per /64 (see :func:`jwtsessions.requestinfo.throttle_address`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from redis.exceptions import ResponseError

from . import redisclient, scriptrefusal, store
from .requestinfo import throttle_address
from .settings import jwt_settings

_PREFIX = "jws:lf:"
_LOCK = ":lock"
T = TypeVar("T")

# The per-process stand-in while the shared cache is down. Bounded: a flood of addresses can
# push counters out, but only during an outage and only within one process.
_fallback = LocMemCache("jwtsessions-throttle-fallback", {"OPTIONS": {"MAX_ENTRIES": 10_000}})


def _keys(username: str, address: str | None) -> list[str]:
    unit = throttle_address(address) or "unknown"
    # Hashed: cache keys must be safe characters and should not spell out accounts.
    pair = hashlib.sha256(f"{username.casefold()}\0{unit}".encode()).hexdigest()[:32]
    return [f"{_PREFIX}i:{unit}", f"{_PREFIX}p:{pair}"]


def _run(operation: Callable[[BaseCache], T]) -> T:
    try:
        return store.cache_call(operation)
    except store.CacheUnavailable:
        return operation(_fallback)


def _incr(cache: BaseCache, key: str, ttl: int) -> int:
    """Atomically count one more under ``key``; a new counter lives ``ttl`` seconds."""
    client = redisclient.client_for(cache)
    if client is not None:
        # Redis's own INCR, not the backend's incr: django-redis's is a Lua script, and where
        # scripts are refused its fallback fails on a missing key (TypeError). That read as an
        # outage and moved the counting into each process: a cap per worker, not per deployment.
        return _incr_on_redis(client, cache.make_key(key), ttl)
    for _attempt in range(3):
        try:
            return int(cache.incr(key))
        except ValueError:  # missing (never created, or just expired)
            if cache.add(key, 1, ttl):
                return 1
            # Another request created it between our incr and add: count on it.
    raise RuntimeError("login counter kept vanishing")  # a cache evicting within microseconds


def _incr_on_redis(client: Any, name: str, ttl: int) -> int:
    """``INCR`` a counter that is created with its lifetime, in one round trip.

    As ``INCR`` then ``EXPIRE``, a connection or worker lost between the two left a new counter
    without a lifetime: past the limit, its address or pair was locked out for good (red team,
    2026-11-30). Here ``SET NX EX`` creates it with its lifetime first, then ``INCR`` counts
    (keeping it), pipelined: a cut between them leaves a zero that expires. No ``MULTI``: an
    ACL or a renamed command may refuse it too (then the commands ran anyway, outside it, and
    every attempt counted twice). The one gap left, the counter expiring between the two and
    the connection lost before its ``TTL`` came back, is repaired by the next attempt: a counter
    found without a lifetime (or left so by an older version) gets one back.
    """
    pipe = client.pipeline(transaction=False)
    pipe.set(name, 0, ex=ttl, nx=True)
    pipe.incr(name)
    pipe.ttl(name)
    _, count, remaining = pipe.execute()
    if int(remaining) == -1:
        client.expire(name, ttl)
    return int(count)


def _read_locks(cache: BaseCache, locks: list[str]) -> dict[str, Any]:
    """The locks' deadlines, read where they are written: on Redis, from the primary (through
    the backend, reads may go to a replica, whose lag would shorten a lockout)."""
    client = redisclient.client_for(cache)
    if client is None:
        return cache.get_many(locks)
    raw = client.mget([cache.make_key(lock) for lock in locks])
    return {lock: int(v) for lock, v in zip(locks, raw, strict=True) if v and v.isdigit()}


def _wait(deadlines: dict[str, Any]) -> int | None:
    values = [v for v in deadlines.values() if isinstance(v, int)]
    if not values:
        return None
    return max(1, max(values) - int(time.time()))


# KEYS: address counter, pair counter, their locks. ARGV: limit, lockout (s), now (Unix s).
# Returns 0 when the password may be checked, else the Unix time the lock ends.
_ATTEMPT = """
local ends = 0
for i = 3, 4 do
  local v = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  if v > ends then ends = v end
end
if ends > 0 then return ends end
for i = 1, 2 do
  local n = redis.call('INCR', KEYS[i])
  if n == 1 or redis.call('TTL', KEYS[i]) == -1 then redis.call('EXPIRE', KEYS[i], ARGV[2]) end
  if n > tonumber(ARGV[1]) then
    redis.call('SET', KEYS[i + 2], tonumber(ARGV[3]) + tonumber(ARGV[2]), 'EX', ARGV[2], 'NX')
    return tonumber(redis.call('GET', KEYS[i + 2]) or ARGV[3]) or 0
  end
end
return 0
"""

# KEYS: address counter, pair counter. Takes the pair's count off the address counter, never
# below zero, and deletes the pair counter, in one step.
_FORGIVE = """
local own = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
redis.call('DEL', KEYS[2])
if own > 0 and redis.call('EXISTS', KEYS[1]) == 1 then
  local left = redis.call('DECRBY', KEYS[1], own)
  if left < 0 then redis.call('INCRBY', KEYS[1], -left) end
end
return own
"""


def _script(cache: BaseCache, source: str, keys: list[str], args: list[Any]) -> Any:
    """Run ``source`` on the cache's Redis primary; ``None`` when it cannot run scripts there
    (another backend, ``EVAL`` refused, keys in different cluster slots)."""
    client = redisclient.client_for(cache)
    # A refusal this process remembers: the commands at once, not a refused EVAL first.
    if client is None or scriptrefusal.refused():
        return None
    try:
        result = client.eval(source, len(keys), *(cache.make_key(k) for k in keys), *args)
    except ResponseError as error:
        scriptrefusal.remember(error)  # only a refusal; any other error reply is this step's
        return None
    scriptrefusal.ran()
    return result


def attempt(username: str, address: str | None) -> int | None:
    """Count a login attempt before its password is checked.

    Returns ``None`` when the password may be checked, else the seconds to wait (429).
    """
    config = jwt_settings.config
    lockout = max(int(config.LOGIN_LOCKOUT.total_seconds()), 1)
    keys = _keys(username, address)

    def count(cache: BaseCache) -> int | None:
        locks = [key + _LOCK for key in keys]
        now = int(time.time())
        ends = _script(cache, _ATTEMPT, [*keys, *locks], [config.LOGIN_FAILURE_LIMIT, lockout, now])
        if ends is not None:
            return max(1, int(ends) - now) if int(ends) else None
        wait = _wait(_read_locks(cache, locks))
        if wait is not None:
            return wait
        for key in keys:
            # One counter after the other: only attempts admitted by the address counter
            # reach the pair counter, so a burst is cut at the limit, not below it.
            if _incr(cache, key, lockout) > config.LOGIN_FAILURE_LIMIT:
                # add: the first request past the limit sets the deadline; a burst can't
                # push it further.
                cache.add(key + _LOCK, int(time.time()) + lockout, lockout)
                return _wait(_read_locks(cache, [key + _LOCK])) or lockout
        return None

    return _run(count)


def succeeded(username: str, address: str | None) -> None:
    """The attempt counted by :func:`attempt` logged in.

    The account's own attempts from this address (its owner's typos, this success included)
    are taken off the address counter and the pair counter is cleared; failures on other
    accounts from the address stay counted.
    """
    address_key, pair_key = _keys(username, address)

    def forgive(cache: BaseCache) -> None:
        if _script(cache, _FORGIVE, [address_key, pair_key], []) is not None:
            return
        client = redisclient.client_for(cache)
        if client is not None:
            _forgive_with_commands(cache, client, address_key, pair_key)
            return
        own = cache.get(pair_key)
        cache.delete(pair_key)
        if isinstance(own, int) and own > 0:
            try:
                left = int(cache.decr(address_key, own))
            except ValueError:  # the window ended meanwhile
                return
            if left < 0:  # the address window restarted meanwhile: never below zero
                cache.incr(address_key, -left)

    _run(forgive)


def _forgive_with_commands(cache: BaseCache, client: Any, address_key: str, pair_key: str) -> None:
    """:data:`_FORGIVE` without a script: ``GETDEL`` takes the pair's count atomically, so an
    attempt counted meanwhile is never deleted unforgiven."""
    pair, address = cache.make_key(pair_key), cache.make_key(address_key)
    try:
        raw = client.getdel(pair)
    except ResponseError:  # Redis before 6.2: the small race of a GET then a DEL
        raw = client.get(pair)
        client.delete(pair)
    try:
        own = int(raw or 0)
    except ValueError:
        return
    if own <= 0 or not client.exists(address):
        return
    left = int(client.decrby(address, own))
    if left < 0:  # the address window restarted meanwhile: never below zero
        client.incrby(address, -left)
        if client.ttl(address) < 0:  # recreated by the DECRBY: give it back its lifetime
            client.expire(address, max(int(jwt_settings.config.LOGIN_LOCKOUT.total_seconds()), 1))


def reset_fallback() -> None:
    """Forget the per-process counters (tests)."""
    _fallback.clear()
