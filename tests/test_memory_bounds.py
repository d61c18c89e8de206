"""Issue 11: what a process keeps per token, session, key or address has a cap it never passes,
however many distinct credentials it sees, and what has no cap leaves once it expires.

Memory itself (RSS) is noise and is not asserted here: ``bench/memory.py`` measures it. These
tests count entries after a cap's worth of distinct inserts and more, made through the code that
fills each structure. The refusal log's id gaps have theirs in ``test_sync.py``
(``test_f3_gap_ranges_are_bounded_and_never_lose_or_repeat_an_id``).
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jwtsessions import apikeys, localcache, sessions, sync, throttling, tokens, verification
from jwtsessions.authentication import _ACCESS_CLAIMS
from jwtsessions.revocation import blacklist_token
from jwtsessions.settings import jwt_settings
from tests.factories import bearer, login, make_user
from tests.services import free_port

MORE = 100  # distinct inserts past each cap


def _access_token(session_id: str = "s" * 22, user_id: Any = 1) -> str:
    """A new access token, as a login or a refresh hands out."""
    return sessions.issue_access_token(session_id, user_id)[0]


def _verify(token: str) -> None:
    """What authentication does with a bearer token (signature, form, claims)."""
    tokens.decode(
        token,
        tokens.ACCESS_TOKEN_TYPE,
        required=_ACCESS_CLAIMS,
        max_lifetime=jwt_settings.ACCESS_TOKEN_LIFETIME,
    )


def test_verified_token_memo_never_exceeds_its_cap():
    issued = [_access_token() for _ in range(verification.VERIFIED_CACHE_SIZE + MORE)]
    for token in issued:
        _verify(token)
    remembered = {token for token, _type in verification._verified}
    assert len(remembered) == verification.VERIFIED_CACHE_SIZE
    # The oldest went first; the newest are all there.
    assert issued[-1] in remembered
    assert not set(issued[:MORE]) & remembered


def test_verified_token_memo_stays_within_its_cap_when_threads_race_to_evict():
    """Regression: each insert into a full memo evicted at most one entry, and two threads
    evicting the same oldest entry at once made the second eviction a no-op, so the memo grew
    past its cap by one entry per such race, for good (a slow leak in threaded workers)."""
    threads, each = 8, 2000
    for _ in range(verification.VERIFIED_CACHE_SIZE):
        _verify(_access_token())  # full: from here every insert must evict
    batches = [[_access_token() for _ in range(each)] for _ in range(threads)]

    def verify_all(batch: list[str]) -> None:
        for token in batch:
            _verify(token)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch between any two steps: races happen
    try:
        workers = [threading.Thread(target=verify_all, args=(b,)) for b in batches]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(interval)
    # Racing inserts may overshoot for a moment; the next insert brings it back under the cap.
    _verify(_access_token())
    assert len(verification._verified) <= verification.VERIFIED_CACHE_SIZE


@pytest.mark.django_db
def test_per_process_copy_never_exceeds_local_cache_size(client, settings):
    cap = 40
    settings.JWTSESSIONS = {"LOCAL_CACHE_SIZE": cap}
    user = make_user()
    body = login(client, user)
    # Sessions' access tokens, API keys and service tokens share one copy, and one cap.
    for _ in range(cap + MORE):
        access = _access_token(body["session_id"], user.pk)
        assert client.get("/api/whoami/", **bearer(access)).status_code == 200
    for _ in range(10):
        _, key = apikeys.create_api_key(user, "bounded")
        header = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}
        assert client.get("/api/machine/", **header).status_code == 200
        answer = client.post("/api/auth/service-token/", {}, "application/json", **header)
        token = answer.json()["access"]
        assert client.get("/api/machine/service-only/", **bearer(token)).status_code == 200
    kinds = [key[0] for key in localcache._state.entries]
    assert len(kinds) == cap
    assert kinds[-2:] == ["k", "t"]  # the newest are kept, whatever their kind


def test_login_throttle_fallback_never_exceeds_its_cap_during_an_outage(settings):
    """With the cache unreachable, attempts are counted in a per-process LocMemCache: a flood
    of distinct addresses and usernames culls it, never grows it past MAX_ENTRIES."""
    settings.CACHES = {
        **settings.CACHES,
        "dead": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        },
    }
    settings.JWTSESSIONS = {"CACHE_ALIAS": "dead", "CACHE_OUTAGE_BACKOFF": 600}
    cap = throttling._fallback._max_entries
    # Two counters per attempt: one for the address, one for (username, address).
    for n in range(cap // 2 + MORE):
        address = f"127.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
        assert throttling.attempt(f"guesser{n}", address) is None
        assert len(throttling._fallback._cache) <= cap
    # Still counting after the culls: the newest address is locked once past the limit.
    limit = jwt_settings.LOGIN_FAILURE_LIMIT
    answers = [throttling.attempt("guesser-last", "127.255.255.254") for _ in range(limit + 1)]
    assert answers[:limit] == [None] * limit
    assert answers[-1] is not None
    assert len(throttling._fallback._cache) <= cap


@pytest.mark.django_db
def test_blacklisted_ids_leave_process_memory_once_they_expire(settings):
    """The in-process blacklist has no cap (memory must never drop a listed id), so it must
    shed what expired: at the next catch-up after the expiry."""
    settings.JWTSESSIONS = {"REVOCATION_SYNC_INTERVAL": 0.1}
    assert sync.catch_up()
    expires = timezone.now() + timedelta(seconds=1)
    listed = [tokens.new_jti() for _ in range(MORE)]
    for jti in listed:
        blacklist_token(jti, expires_at=expires)
    assert all(sync.is_listed(jti) for jti in listed)
    deadline = time.monotonic() + 10
    while set(listed) & sync._state.listed.keys() and time.monotonic() < deadline:
        time.sleep(0.2)
        assert sync.catch_up()
    assert not set(listed) & sync._state.listed.keys()
