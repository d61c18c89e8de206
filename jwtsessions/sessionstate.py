"""Session state for authentication: the database is the truth, the cache makes it cheap.

The layering follows Django's ``cached_db`` session backend: writes go to the database first,
then to the cache; reads try the cache and fall back to the database, then fill the cache.
What matters for an auth library:

* A request costs one cache round trip: the session's entry, the user's credential entry, the
  token's blacklist entry and the "last seen" stamp come back from one ``get_many``; none when
  this process accepted the same token moments ago (:mod:`jwtsessions.localcache`).
* Absent is never valid: a missing entry of any kind reads the database.
* Fills use ``add``: a refusal written meanwhile is never overwritten by a late "active".
* Every check first calls :func:`jwtsessions.freshness.vouched` (which catches up from the
  refusal log), so a refusal the cache missed is enforced within ``REVOCATION_SYNC_INTERVAL``;
  a process that cannot read the database for longer answers 503, never from a stale entry.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any

from django.contrib.auth import get_user_model
from django.db import DatabaseError

from . import binding, freshness, localcache, redisclient
from .blacklist import blacklist_verdict
from .cachehealth import CacheUnavailable, cache_call, cache_call_quietly, reads_allowed
from .cachekeys import (
    BLACKLIST_KEY,
    CREDENTIAL_KEY,
    CREDENTIAL_REFUSED,
    MISSING,
    REVOKED,
    SEEN_KEY,
    SEEN_TTL_CAP,
    SESSION_KEY,
    Refusal,
    negative_ttl,
    positive_ttl,
)
from .exceptions import TemporarilyUnavailable
from .settings import jwt_settings


@dataclasses.dataclass(frozen=True)
class SessionState:
    """What authentication needs to know about a session, small enough to cache."""

    session_id: str
    user_id: str
    expires_at: int
    refreshed_at: int
    last_seen: int | None = None
    # The session's credential binding ("": opened before bindings existed).
    binding: str = ""


def _value(state: SessionState) -> tuple[str, int, int, str]:
    return (state.user_id, state.expires_at, state.refreshed_at, state.binding)


def _positive_ttl(state: SessionState, now: int) -> int:
    ttl = min(positive_ttl(), state.expires_at - now)
    idle = jwt_settings.SESSION_IDLE_TIMEOUT
    if idle is not None:
        ttl = min(ttl, state.refreshed_at + int(idle.total_seconds()) - now)
    return max(ttl, 1)


def cache_session(state: SessionState) -> None:
    """Write the state of a session just created by login.

    Not the user's credential entry: that is filled from the database on first use, never from
    the login's copy of the user, which a concurrent password change may already have made old.
    """
    ttl = _positive_ttl(state, int(time.time()))
    cache_call_quietly(lambda c: c.add(SESSION_KEY + state.session_id, _value(state), ttl))


def _fill_session(state: SessionState) -> None:
    """Fill a miss with what the database said; ``add``, so a refusal written meanwhile wins."""
    ttl = _positive_ttl(state, int(time.time()))
    cache_call_quietly(lambda c: c.add(SESSION_KEY + state.session_id, _value(state), ttl))


def forget_session(session_id: str) -> None:
    """Drop a session's cached state; the next request reads the database.

    Deleting instead of writing a new state: a revocation racing with the caller may have
    written its refusal meanwhile, and must win.
    """
    cache_call_quietly(lambda c: c.delete(SESSION_KEY + session_id))


def _load_session(session_id: str) -> tuple[SessionState | str, str | None]:
    """The session and its user's credential entry from one query, or the refusal code."""
    from .models import Session

    row = (
        Session.objects.filter(pk=session_id)
        .values_list(
            "user_id",
            "expires_at",
            "refreshed_at",
            "revoked_at",
            "binding",
            "user__is_active",
            "user__password",
        )
        .first()
    )
    if row is None:
        return MISSING, None
    user_id, expires_at, refreshed_at, revoked_at, bound, is_active, password = row
    credential = binding.credential_value_of_row(password, is_active)
    if revoked_at is not None:
        return REVOKED, credential
    if not is_active:
        return "user_inactive", credential
    if bound and not binding.matches(bound, password):
        # The password changed after this session's login (whatever the order of the writes).
        return "password_changed", credential
    state = SessionState(
        session_id,
        str(user_id),
        int(expires_at.timestamp()),
        int(refreshed_at.timestamp()),
        # Re-expressed under the current SECRET_KEY, to compare with the credential entry.
        binding=binding.binding_of(password) if bound else "",
    )
    return state, credential


def _load_credential(user_id: str) -> str:
    model = get_user_model()
    row = model._default_manager.filter(pk=user_id).values_list("password", "is_active").first()
    if row is None:
        return CREDENTIAL_REFUSED + "user_inactive"
    return binding.credential_value_of_row(row[0], row[1])


def _from_database(session_id: str, cached: dict[str, Any] | None, stale: bool) -> SessionState:
    """The cold path: the database decides, and the cache is filled (or cleaned) after it."""
    state, credential = _load_session(session_id)
    if cached is not None:
        if isinstance(state, SessionState):
            if stale:
                forget_session(session_id)  # the next request fills it afresh
            else:
                _fill_session(state)
        elif state == "password_changed":
            if stale:
                forget_session(session_id)
        else:
            refusal = ("", state)
            key = SESSION_KEY + session_id
            cache_call_quietly(lambda c: c.set(key, refusal, negative_ttl()))
        if credential is not None and isinstance(state, SessionState):
            key = CREDENTIAL_KEY + state.user_id
            cache_call_quietly(lambda c: c.add(key, credential, positive_ttl()))
    if isinstance(state, str):
        raise Refusal("session_revoked" if state in (MISSING, "password_changed") else state)
    return state


def _credential(cached: dict[str, Any], subject: str) -> str:
    """The credential entry for ``subject`` (filled from the database on a miss)."""
    key = CREDENTIAL_KEY + subject
    credential = cached.get(key)
    if not isinstance(credential, str):
        credential = _load_credential(subject)
        value = credential
        cache_call_quietly(lambda c: c.add(key, value, positive_ttl()))
    return credential


def check_session(session_id: str, subject: str, jti: str) -> SessionState:
    """Authenticate an access token's session, or raise :class:`Refusal`.

    One ``get_many`` in the common case, none when this process accepted the same token
    moments ago; the database only on a cache miss or outage. Raises
    :class:`~jwtsessions.exceptions.TemporarilyUnavailable` (503) when this process cannot
    vouch for the refusals in the database (see :mod:`jwtsessions.freshness`).
    """
    try:
        return _check_session(session_id, subject, jti)
    except DatabaseError:
        # The database is the truth: without it, refuse to decide (503), never a 500.
        raise TemporarilyUnavailable() from None


def _check_session(session_id: str, subject: str, jti: str) -> SessionState:
    now = int(time.time())
    generation = -1
    if freshness.vouched() and reads_allowed():
        entry, generation = localcache.lookup(session_id, jti, now)
        if (
            entry is not None
            and entry[0] == subject
            and now - entry[3] < jwt_settings.LAST_USED_INTERVAL.total_seconds()
        ):
            hit = SessionState(session_id, entry[0], entry[1], entry[2], entry[3])
            if not _is_past_deadline(hit, now):
                return hit
    keys = [SESSION_KEY + session_id, CREDENTIAL_KEY + subject, SEEN_KEY + session_id]
    wanted = [*keys, BLACKLIST_KEY + jti]
    try:
        # From the primary: a replica may lag, and what is read here may enter the local copy.
        cached: dict[str, Any] | None = cache_call(lambda c: redisclient.get_many(c, wanted))
    except CacheUnavailable:
        cached = None

    value = cached.get(keys[0]) if cached is not None else None
    state: SessionState
    from_cache = False
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "":
        raise Refusal("session_revoked" if value[1] == MISSING else str(value[1]))
    if cached is not None and isinstance(value, tuple) and len(value) == 4:
        state = SessionState(session_id, value[0], value[1], value[2], binding=value[3])
        if state.user_id != subject:
            raise Refusal("token_invalid")
        credential = _credential(cached, subject)
        if credential.startswith(CREDENTIAL_REFUSED):
            raise Refusal(credential[len(CREDENTIAL_REFUSED) :])
        if state.binding and state.binding != credential:
            # Changed password, a hash upgrade or a key rotation: the database decides.
            state = _from_database(session_id, cached, stale=True)
        else:
            from_cache = True
    else:
        state = _from_database(session_id, cached, stale=value is not None)

    if state.user_id != subject:
        raise Refusal("token_invalid")
    if _is_past_deadline(state, now):
        if from_cache:
            # The cache may hold an old refresh time: the database decides.
            state = _from_database(session_id, None, stale=False)
        if _is_past_deadline(state, now):
            raise Refusal("session_expired")
    if blacklist_verdict(jti, cached):
        raise Refusal("token_revoked")

    seen = cached.get(keys[2]) if cached is not None else None
    if not isinstance(seen, int) or now - seen >= jwt_settings.LAST_USED_INTERVAL.total_seconds():
        ttl = max(min(state.expires_at - now, SEEN_TTL_CAP), 1)
        cache_call_quietly(lambda c: c.set(keys[2], now, ttl))
        seen = now
    if cached is not None and generation >= 0:
        valid_until = now + jwt_settings.SESSION_CACHE_TTL.total_seconds()
        entry = (state.user_id, state.expires_at, state.refreshed_at, seen, valid_until)
        localcache.put(session_id, jti, entry, generation)
    return dataclasses.replace(state, last_seen=seen)


def _is_past_deadline(state: SessionState, now: int) -> bool:
    if state.expires_at <= now:
        return True
    idle = jwt_settings.SESSION_IDLE_TIMEOUT
    return idle is not None and state.refreshed_at + idle.total_seconds() <= now


def last_seen(session_ids: list[str]) -> dict[str, datetime]:
    """When each session was last used, as recorded in the cache (``{}`` if unavailable)."""
    if not session_ids:
        return {}
    try:
        found = cache_call(lambda c: c.get_many([SEEN_KEY + sid for sid in session_ids]))
    except CacheUnavailable:
        return {}
    return {
        key[len(SEEN_KEY) :]: datetime.fromtimestamp(value, tz=dt_timezone.utc)
        for key, value in found.items()
        if isinstance(value, int)
    }
