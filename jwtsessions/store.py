"""Session, blacklist and API-key state: the database is the truth, the cache makes it cheap.

The layering follows Django's ``cached_db`` session backend: every write goes to the database
first and then to the cache; every read tries the cache and falls back to the database, then
fills the cache. Differences that matter for an auth library:

* A request costs one cache round trip: the session state, the token's blacklist entry and the
  "blacklist is loaded" marker come back from one ``get_many``.
* Absent is never valid: a session or key missing from the cache is read from the database,
  and a session missing from the database is refused (and remembered as refused).
* Positive entries live at most ``SESSION_CACHE_TTL``; negative ones as long as a token could
  still be presented.
* When the cache fails, this process stops asking it for ``CACHE_OUTAGE_BACKOFF`` and answers
  from the database. Writes it could not make are replayed from the database when the cache
  answers again, so a stale "active" entry cannot bring a revoked session back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any, TypeVar

from django.core.cache import BaseCache, caches
from django.utils import timezone

from . import localcache, redisclient
from .settings import jwt_settings

logger = logging.getLogger("jwtsessions.store")

T = TypeVar("T")

SESSION_KEY = "jws:s:"
BLACKLIST_KEY = "jws:b:"
SEEN_KEY = "jws:u:"
API_KEY_KEY = "jws:k:"
# Present while every unexpired blacklist entry is known to be in the cache.
BLACKLIST_LOADED_KEY = "jws:b:*loaded"
BLACKLIST_LOADED_TTL = 300

# Negative entries: the first element is empty and the second is the refusal code.
REVOKED = "session_revoked"
MISSING = "missing"


class CacheUnavailable(Exception):
    """The cache failed or is in its back-off window; the caller uses the database."""


@dataclasses.dataclass
class _Health:
    down_until: float = 0.0
    outage_since: datetime | None = None
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


_health = _Health()


def _cache() -> BaseCache:
    return caches[jwt_settings.CACHE_ALIAS]


def cache_call(operation: Callable[[BaseCache], T]) -> T:
    """Run ``operation`` on the cache, or raise :class:`CacheUnavailable`.

    A failure starts a back-off window in which the cache is not tried at all, so an outage
    costs one timeout per window instead of one per request. The first call after an outage
    first replays what the database changed meanwhile, so the operation never reads an entry
    the outage left stale.
    """
    if _health.down_until and time.monotonic() < _health.down_until:
        raise CacheUnavailable
    try:
        if _health.outage_since is not None:
            _recover()
        return operation(_cache())
    except Exception as exc:
        _mark_down(exc)
        raise CacheUnavailable from None


def cache_call_quietly(operation: Callable[[BaseCache], Any]) -> None:
    """A cache write whose failure is covered by the replay after the outage."""
    with contextlib.suppress(CacheUnavailable):
        cache_call(operation)


def _mark_down(exc: Exception) -> None:
    backoff = jwt_settings.CACHE_OUTAGE_BACKOFF.total_seconds()
    with _health.lock:
        _health.down_until = time.monotonic() + backoff
        if _health.outage_since is None:
            # A margin before the first failure covers writes that raced with it.
            _health.outage_since = timezone.now() - timedelta(seconds=1)
    # The exception text may carry a URL with a password: log its type only.
    logger.warning(
        "cache %r unavailable (%s); using the database for %.1fs",
        jwt_settings.CACHE_ALIAS,
        type(exc).__name__,
        backoff,
    )


def _recover() -> None:
    """Replay the database's refusals since the outage began; raise if the cache fails again."""
    with _health.lock:
        since = _health.outage_since
    if since is None:
        return
    replay_since(since)
    with _health.lock:
        if _health.outage_since == since:
            _health.outage_since = None
            _health.down_until = 0.0
    logger.info("cache %r is back; replayed changes since %s", jwt_settings.CACHE_ALIAS, since)


def reset_health() -> None:
    """Forget any remembered outage (tests, and after reconfiguring the cache)."""
    with _health.lock:
        _health.down_until = 0.0
        _health.outage_since = None


jwt_settings.on_reload(reset_health)


def _ts(value: datetime) -> int:
    return int(value.timestamp())


# --- sessions -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SessionState:
    """What authentication needs to know about a session, small enough to cache."""

    session_id: str
    user_id: str
    expires_at: int
    refreshed_at: int
    last_seen: int | None = None


def _state_value(state: SessionState) -> tuple[str, int, int]:
    return (state.user_id, state.expires_at, state.refreshed_at)


def _positive_ttl(state: SessionState, now: int) -> int:
    config = jwt_settings.config
    ttl = min(int(config.SESSION_CACHE_TTL.total_seconds()), state.expires_at - now)
    if config.SESSION_IDLE_TIMEOUT is not None:
        idle_deadline = state.refreshed_at + int(config.SESSION_IDLE_TIMEOUT.total_seconds())
        ttl = min(ttl, idle_deadline - now)
    return max(ttl, 1)


def negative_ttl() -> int:
    """How long a refusal must be remembered: as long as any token for it can be unexpired."""
    config = jwt_settings.config
    lifetime = max(config.ACCESS_TOKEN_LIFETIME, config.SERVICE_TOKEN_LIFETIME)
    return int((lifetime + config.LEEWAY).total_seconds()) + 1


def cache_session(state: SessionState) -> None:
    """Write the state of a session just created by login."""
    now = int(time.time())
    ttl = _positive_ttl(state, now)
    cache_call_quietly(lambda c: c.set(SESSION_KEY + state.session_id, _state_value(state), ttl))


def _fill_session(state: SessionState) -> None:
    """Fill a cache miss with what the database said, unless a refusal got there first.

    ``add`` (set-if-absent): a revocation that committed after our read has written its
    refusal with ``set``, and this late "active" must not overwrite it.
    """
    now = int(time.time())
    ttl = _positive_ttl(state, now)
    cache_call_quietly(lambda c: c.add(SESSION_KEY + state.session_id, _state_value(state), ttl))


def forget_session(session_id: str) -> None:
    """Drop a session's cached state after a refresh; the next request reads the database.

    Deleting instead of writing the new state: a revocation racing with the refresh may have
    written its refusal between our database update and this call, and must win.
    """
    cache_call_quietly(lambda c: c.delete(SESSION_KEY + session_id))


def refuse_everywhere(write: Callable[[BaseCache], Any]) -> None:
    """Write a refusal to the cache, then make every process drop its local copy of sessions.

    This process forgets its copy first, whether or not the cache answers.
    """
    localcache.clear()

    def run(cache: BaseCache) -> None:
        write(cache)
        localcache.announce(cache)

    cache_call_quietly(run)


def cache_refusals(session_ids: Iterable[str], code: str = REVOKED) -> None:
    """Remember that these sessions are refused, with the code to answer."""
    entries = {SESSION_KEY + sid: ("", code) for sid in session_ids}
    if entries:
        ttl = negative_ttl()
        refuse_everywhere(lambda c: c.set_many(entries, ttl))


class Refusal(Exception):
    """Authentication refused with a contract error code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _load_session(session_id: str) -> SessionState | str:
    """The session from the database, or the refusal code that describes it."""
    from .models import Session

    row = (
        Session.objects.filter(pk=session_id)
        .values_list("user_id", "expires_at", "refreshed_at", "revoked_at", "user__is_active")
        .first()
    )
    if row is None:
        return MISSING
    user_id, expires_at, refreshed_at, revoked_at, is_active = row
    if revoked_at is not None:
        return REVOKED
    if not is_active:
        return "user_inactive"
    return SessionState(session_id, str(user_id), _ts(expires_at), _ts(refreshed_at))


def _is_blacklisted_in_db(jti: str) -> bool:
    from .models import BlacklistedToken

    return BlacklistedToken.objects.filter(jti=jti, expires_at__gt=timezone.now()).exists()


def load_blacklist_into_cache() -> None:
    """Copy every unexpired blacklist entry to the cache, then mark the cache as complete."""
    from .models import BlacklistedToken

    now = timezone.now()
    entries: dict[str, Any] = {}
    ttls: dict[int, dict[str, Any]] = {}
    for jti, expires_at in (
        BlacklistedToken.objects.filter(expires_at__gt=now)
        .values_list("jti", "expires_at")
        .iterator()
    ):
        ttl = max(int((expires_at - now).total_seconds()) + 1, 1)
        ttls.setdefault(ttl, {})[BLACKLIST_KEY + jti] = 1
        entries[jti] = ttl

    def write(cache: BaseCache) -> None:
        for ttl, group in ttls.items():
            cache.set_many(group, ttl)
        cache.set(BLACKLIST_LOADED_KEY, 1, BLACKLIST_LOADED_TTL)

    cache_call_quietly(write)


def blacklist_verdict(jti: str, cached: Mapping[str, Any] | None) -> bool:
    """Whether ``jti`` is blacklisted, from a ``get_many`` result when it can tell."""
    if cached is not None:
        if BLACKLIST_KEY + jti in cached:
            return True
        if BLACKLIST_LOADED_KEY in cached:
            return False
    blacklisted = _is_blacklisted_in_db(jti)
    if cached is not None:
        load_blacklist_into_cache()
    return blacklisted


def check_session(session_id: str, subject: str, jti: str) -> SessionState:
    """Authenticate an access token's session, or raise :class:`Refusal`.

    One ``get_many`` in the common case, none when this process accepted the same token
    moments ago (see :mod:`jwtsessions.localcache`); the database only on a cache miss or outage.
    """
    now = int(time.time())
    generation = -1
    if _health.outage_since is None:
        entry, generation = localcache.lookup(session_id, jti, now)
        if (
            entry is not None
            and entry[0] == subject
            and now - entry[3] < jwt_settings.LAST_USED_INTERVAL.total_seconds()
        ):
            hit = SessionState(session_id, entry[0], entry[1], entry[2], entry[3])
            if not _is_past_deadline(hit, now):
                return hit
    keys = [
        SESSION_KEY + session_id,
        BLACKLIST_KEY + jti,
        BLACKLIST_LOADED_KEY,
        SEEN_KEY + session_id,
    ]
    try:
        # From the primary: a replica may lag, and what is read here may enter the local copy.
        cached: dict[str, Any] | None = cache_call(lambda c: redisclient.get_many(c, keys))
    except CacheUnavailable:
        cached = None

    value = cached.get(keys[0]) if cached is not None else None
    state: SessionState | str
    if value is None:
        state = _load_session(session_id)
        if cached is not None:
            if isinstance(state, SessionState):
                _fill_session(state)
            else:
                cache_refusals([session_id], state)
    elif value[0] == "":
        state = value[1]
    else:
        state = SessionState(session_id, value[0], value[1], value[2])

    if isinstance(state, str):
        raise Refusal("session_revoked" if state == MISSING else state)
    if state.user_id != subject:
        raise Refusal("token_invalid")
    if _is_past_deadline(state, now):
        if value is not None:
            # The cache may hold an old refresh time: the database decides.
            fresh = _load_session(session_id)
            if isinstance(fresh, str):
                raise Refusal("session_revoked" if fresh == MISSING else fresh)
            state = fresh
        if _is_past_deadline(state, now):
            raise Refusal("session_expired")
    if blacklist_verdict(jti, cached):
        raise Refusal("token_revoked")

    seen = cached.get(keys[3]) if cached is not None else None
    if seen is None or now - seen >= jwt_settings.LAST_USED_INTERVAL.total_seconds():
        cache_call_quietly(
            lambda c: c.set(SEEN_KEY + session_id, now, max(state.expires_at - now, 1))
        )
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
    }


# --- blacklist ------------------------------------------------------------------------------


def cache_blacklisted(jti: str, expires_at: datetime) -> None:
    ttl = max(int((expires_at - timezone.now()).total_seconds()) + 1, 1)
    refuse_everywhere(lambda c: c.set(BLACKLIST_KEY + jti, 1, ttl))


# --- API keys -------------------------------------------------------------------------------
# Entry: (digest, user_id, expires_ts or 0, scopes tuple) when usable, ("", code) when refused.


def cache_api_key_refusals(public_ids: Iterable[str], code: str = "api_key_revoked") -> None:
    entries = {API_KEY_KEY + public_id: ("", code) for public_id in public_ids}
    if entries:
        ttl = negative_ttl()
        refuse_everywhere(lambda c: c.set_many(entries, ttl))


# --- replay after an outage -----------------------------------------------------------------

# Functions that re-write the cache from the database for changes made since a moment. Other
# modules (API keys) register theirs, so this module does not import them.
_replayers: list[Callable[[datetime], None]] = []


def register_replayer(function: Callable[[datetime], None]) -> Callable[[datetime], None]:
    _replayers.append(function)
    return function


def replay_since(since: datetime) -> None:
    """Write to the cache every refusal the database recorded since ``since``."""
    for replay in _replayers:
        replay(since)
    localcache.announce(_cache())


@register_replayer
def _replay_sessions(since: datetime) -> None:
    from .models import BlacklistedToken, Session

    revoked = list(Session.objects.filter(revoked_at__gte=since).values_list("pk", flat=True))
    entries: dict[str, Any] = {SESSION_KEY + sid: ("", REVOKED) for sid in revoked}
    cache = _cache()
    if entries:
        cache.set_many(entries, negative_ttl())
    now = timezone.now()
    for jti, expires_at in BlacklistedToken.objects.filter(
        created_at__gte=since, expires_at__gt=now
    ).values_list("jti", "expires_at"):
        cache.set(BLACKLIST_KEY + jti, 1, max(int((expires_at - now).total_seconds()) + 1, 1))


@register_replayer
def _replay_api_keys(since: datetime) -> None:
    from .models import ApiKey

    revoked = ApiKey.objects.filter(revoked_at__gte=since).values_list("public_id", flat=True)
    entries = {API_KEY_KEY + public_id: ("", "api_key_revoked") for public_id in revoked}
    if entries:
        _cache().set_many(entries, negative_ttl())
