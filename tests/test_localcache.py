"""The per-process session copy: no Redis round trip when warm, and never stale after a
revocation announced by any process (the announcement arrives over a separate connection,
exactly as it does from another process).
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings

from jwtsessions import localcache, store
from tests.factories import bearer, login, make_user
from tests.redis_monitor import CommandLog, subscriber_addresses

pytestmark = pytest.mark.django_db


def _redis() -> Any:
    return redis.Redis.from_url(settings.REDIS_URL)


def _warm(client: Any) -> dict[str, Any]:
    body = login(client, make_user())
    for _ in range(2):
        assert client.get("/api/whoami/", **bearer(body["access"])).status_code == 200
    return body


def _refuse_behind_the_copys_back(session_id: str) -> None:
    """A refusal in Redis that nobody announced (as a raw write from elsewhere would be)."""
    caches["default"].set(store.SESSION_KEY + session_id, ("", store.REVOKED), 60)


def test_warm_request_makes_no_redis_round_trip(client):
    body = _warm(client)
    # The subscriber's liveness PINGs are per process, not per request: counted apart.
    subscriber = subscriber_addresses(settings.REDIS_URL)
    with CommandLog(settings.REDIS_URL) as log:
        assert client.get("/api/whoami/", **bearer(body["access"])).status_code == 200
    assert log.warm(subscriber) == []


def test_announcement_from_another_connection_is_applied_on_the_next_request(client):
    body = _warm(client)
    _refuse_behind_the_copys_back(body["session_id"])
    # Not announced yet: the copy answers (this is what makes a warm request cheap).
    assert client.get("/api/whoami/", **bearer(body["access"])).status_code == 200

    channel = caches["default"].make_key(localcache.CHANNEL)
    assert _redis().publish(channel, b"1") >= 1
    r = client.get("/api/whoami/", **bearer(body["access"]))
    assert r.status_code == 401
    assert r.json()["code"] == "session_revoked"


def test_revocation_through_the_api_is_seen_at_once(client):
    body = _warm(client)
    other = _warm(client)
    assert client.post("/api/auth/logout/", **bearer(body["access"])).status_code == 204
    assert client.get("/api/whoami/", **bearer(body["access"])).status_code == 401
    # Everything else was dropped too, and is simply read from Redis again.
    assert client.get("/api/whoami/", **bearer(other["access"])).status_code == 200


def test_losing_the_subscription_drops_the_copy(client):
    body = _warm(client)
    _refuse_behind_the_copys_back(body["session_id"])
    # Messages sent while disconnected would be lost: the copy must not outlive the link.
    assert _redis().client_kill_filter(_type="pubsub") >= 1
    r = client.get("/api/whoami/", **bearer(body["access"]))
    assert r.status_code == 401
    assert r.json()["code"] == "session_revoked"


def test_blacklisting_a_token_is_seen_at_once(client):
    from jwtsessions.revocation import blacklist_token

    body = _warm(client)
    blacklist_token(body["access"])
    r = client.get("/api/whoami/", **bearer(body["access"]))
    assert r.status_code == 401
    assert r.json()["code"] == "token_revoked"


def test_size_zero_turns_the_copy_off(client):
    with override_settings(JWTSESSIONS={"LOCAL_CACHE_SIZE": 0}):
        body = _warm(client)
        _refuse_behind_the_copys_back(body["session_id"])
        r = client.get("/api/whoami/", **bearer(body["access"]))
        assert r.status_code == 401
