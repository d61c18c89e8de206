"""Checking a presented API key or service token: per-process copy, cache, then database.

Lookup is layered like the session check (:mod:`jwtsessions.sessionstate`): a key or service
token this process accepted moments ago is answered from its per-process copy
(:mod:`jwtsessions.localcache`: no cache call, no query); otherwise one ``get_many`` on the
primary (the key's entry and its "last seen" stamp, or the token's ``jti`` blacklist entry); on
a miss or an outage the database answers and, on a miss, fills the cache
(:mod:`jwtsessions.apikeycache`). Nothing here writes to the database.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import DatabaseError

from . import apikeycache, freshness, localcache, redisclient, store
from .apikeycache import Entry
from .apikeycodec import codec
from .apikeyusage import LAST_USED_KEY, record_seen
from .credentials import KeyState
from .exceptions import TemporarilyUnavailable
from .settings import jwt_settings


def _state_from(public_id: str, entry: Any, secret: str | None) -> KeyState:
    """Turn a cache entry into a usable state or raise :class:`store.Refusal`.

    With ``secret`` given the digest is checked first, so a forged secret never learns more
    than ``api_key_invalid`` about a usable key.
    """
    if not isinstance(entry, tuple) or len(entry) not in (2, 4):
        entry = ("", "api_key_invalid")
    if len(entry) == 2:
        if secret is not None:
            codec.matches("", public_id, secret)
        raise store.Refusal(str(entry[1]))
    digest, user_id, expires, scopes = entry
    if secret is not None and not codec.matches(str(digest), public_id, secret):
        raise store.Refusal("api_key_invalid")
    if expires and expires <= time.time():
        raise store.Refusal("api_key_expired")
    return KeyState(public_id, str(user_id), int(expires), tuple(scopes))


def _local_copy_usable() -> bool:
    # As for sessions: only while this process is up to date with the refusal log and owes the
    # cache nothing (its copy may predate a refusal it has not applied). Raises
    # TemporarilyUnavailable when it cannot vouch for the log at all (jwtsessions.freshness).
    return freshness.vouched() and store.reads_allowed()


def _remember(local_key: tuple[str, ...], entry: Entry, generation: int, now: float) -> None:
    """Keep a usable entry (read from the primary or the database) in the per-process copy."""
    valid_until = now + jwt_settings.SESSION_CACHE_TTL.total_seconds()
    localcache.remember(local_key, entry, valid_until, generation)


def check_api_key(raw_key: Any) -> KeyState:
    """Authenticate a presented key, or raise :class:`store.Refusal`.

    A malformed key or a bad checksum is refused before any cache call or query. A key this
    process accepted moments ago costs no cache call and no query (the digest is still checked);
    otherwise one ``get_many`` and no query; a cold or unreachable cache costs one query.
    Never writes to the database.
    """
    parsed = codec.parse(raw_key)
    if parsed is None:
        raise store.Refusal("api_key_invalid")
    public_id, secret = parsed
    now = time.time()
    local_key = ("k", public_id)
    generation = -1
    if _local_copy_usable():
        local, generation = localcache.get(local_key, now)
        # (entry, last seen): the full path runs again once per LAST_USED_INTERVAL to stamp it.
        if local is not None and now - local[1] < jwt_settings.LAST_USED_INTERVAL.total_seconds():
            return _state_from(public_id, local[0], secret)
    entry, cached = _fetch(public_id, [LAST_USED_KEY + public_id])
    state = _state_from(public_id, entry, secret)
    if cached is not None:
        seen = record_seen(public_id, cached.get(LAST_USED_KEY + public_id), int(now))
        if generation >= 0:
            _remember(local_key, (entry, seen), generation, now)
    return state


def _fetch(public_id: str, extra_keys: list[str]) -> tuple[Entry, dict[str, Any] | None]:
    """The key's entry and ``extra_keys`` in one ``get_many`` on the primary; the database on a
    miss. The second value is the ``get_many`` result, or ``None`` when the cache is unavailable.
    """
    key = store.API_KEY_KEY + public_id
    # Refusals the cache missed are applied before it is read; a process that cannot vouch
    # for them answers 503 rather than trust the cache's entry.
    freshness.vouched()
    try:
        cached: dict[str, Any] | None = store.cache_call(
            lambda c: redisclient.get_many(c, [key, *extra_keys])
        )
    except store.CacheUnavailable:
        cached = None
    entry = cached.get(key) if cached is not None else None
    if entry is None:
        try:
            entry = apikeycache.load(public_id)
        except DatabaseError:
            raise TemporarilyUnavailable() from None
        if cached is not None:
            apikeycache.fill(public_id, entry)
    return entry, cached


def check_service_token(public_id: str, jti: str) -> KeyState:
    """The state of a service token's key and its ``jti`` blacklist entry: one ``get_many``.

    A token is refused when its ``jti`` is blacklisted (``token_revoked``) or when its key is
    revoked, expired or deleted, or its owner inactive (the key's code): revoking a key ends
    the service tokens it issued on the next request.
    """
    now = time.time()
    local_key = ("t", public_id, jti)
    generation = -1
    if _local_copy_usable():
        local, generation = localcache.get(local_key, now)
        if local is not None:
            # Accepted moments ago; a blacklisting or a change to the key since was announced
            # and would have emptied the copy. Expiry is checked again.
            return _state_from(public_id, local, None)
    entry, cached = _fetch(public_id, [store.BLACKLIST_KEY + jti])
    state = _state_from(public_id, entry, None)
    if store.blacklist_verdict(jti, cached):
        raise store.Refusal("token_revoked")
    if cached is not None and generation >= 0:
        _remember(local_key, entry, generation, now)
    return state
