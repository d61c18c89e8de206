"""The cache's log mark: how far into the refusal log the cache is known to hold its refusals.

A refusal written to the cache successfully is owed by nobody. If the cache then goes back in
time (Redis restarts from a snapshot older than the write, a replica that had not received it
is promoted, ``FLUSHALL``, a new empty instance) the stale "active" entry would be served again
until it expires. So the cache carries one more key, ``jws:logmark``, without a TTL: the highest
:class:`~jwtsessions.models.RefusalLog` id whose refusal, and every earlier one, a process wrote
to *this* cache. It goes back in time with the rest of the cache, which is the point: a process
whose catch-up is due reads it, and when it is missing or lower than what that process has
applied, the cache lost refusals and :mod:`jwtsessions.sync` writes them again.

The mark is only ever raised, and only if it did not go back since the process read it (a
Lua script, atomic in Redis): a process that read the mark just before a rollback cannot then
vouch for refusals the rolled-back cache no longer holds. Other backends have no mark (``None``):
a per-process cache cannot go back in time behind the process's back.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import BaseCache
from redis.exceptions import ResponseError

from . import redisclient

LOG_MARK = "jws:logmark"
MISSING = -1

# KEYS[1]: the mark; ARGV[1]: the new value; ARGV[2]: the value read before (-1: missing).
# Raise only if the mark is still at least what was read, and only upwards.
_RAISE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '-1') or -1
if current < tonumber(ARGV[2]) then return 0 end
if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""


def _client(cache: BaseCache) -> Any:
    return redisclient.client_for(cache)


def read(cache: BaseCache) -> int | None:
    """The mark from the primary (:data:`MISSING` if absent), or ``None`` without Redis.

    Raises whatever the client raises.
    """
    client = _client(cache)
    if client is None:
        return None
    value = client.get(cache.make_key(LOG_MARK))
    if value is None:
        return MISSING
    try:
        return int(value)
    except ValueError:
        return MISSING


def raise_to(cache: BaseCache, value: int, read_before: int) -> bool:
    """Raise the mark to ``value`` unless it went back below ``read_before`` meanwhile.

    ``True`` when the mark now stands at ``value`` or above. Raises whatever the client raises.
    """
    client = _client(cache)
    if client is None:
        return False
    key = cache.make_key(LOG_MARK)
    try:
        return bool(client.eval(_RAISE, 1, key, value, read_before))
    except ResponseError:
        # EVAL refused (an ACL without scripting, a proxy that forbids it). Without a mark
        # every scan would take the cache for rolled back and replay the whole window each
        # interval, so raise it without the script: the same checks, not atomic. The window
        # this leaves (a rollback between the GET and the SET) costs at most the replay that
        # the next rollback check does anyway.
        current = read(cache)
        if current is None or current < read_before:
            return False
        if current < value:
            client.set(key, value)
        return True


def force(cache: BaseCache, value: int) -> None:
    """Set the mark to ``value``, even downwards: for a mark no refusal-log id can explain
    (higher than every id in the database: a restored database, or two deployments sharing one
    cache), which would otherwise switch the rollback check off for good.
    """
    client = _client(cache)
    if client is not None:
        client.set(cache.make_key(LOG_MARK), value)
