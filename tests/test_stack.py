"""The per-process copy starts, stays cheap and honours revocations on every supported stack:
django-redis and Django's own ``RedisCache``, RESP2 and RESP3 (set in the cache OPTIONS or the
URL), a django-redis ``SentinelClient`` pool; hiredis present or absent is the CI stage's choice
(JWTSESSIONS_EXPECT_HIREDIS says which one a stage claims, and is checked here).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings
from redis.utils import HIREDIS_AVAILABLE

from jwtsessions import localcache, store
from tests.factories import bearer, login, make_user
from tests.faults import Lab
from tests.redis_monitor import CommandLog, subscriber_addresses, subscriber_protocol

pytestmark = pytest.mark.django_db

TIMEOUTS = {"SOCKET_TIMEOUT": 1, "SOCKET_CONNECT_TIMEOUT": 1}


def _stacks(url: str) -> dict[str, tuple[dict[str, Any], str]]:
    """Cache settings per stack, and the RESP version the subscriber must speak."""
    return {
        "django-redis, RESP2 in OPTIONS": (
            {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": url,
                "OPTIONS": {**TIMEOUTS, "CONNECTION_POOL_KWARGS": {"protocol": 2}},
            },
            "2",
        ),
        "django-redis, RESP3 in the URL": (
            {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": url + "?protocol=3",
                "OPTIONS": TIMEOUTS,
            },
            "3",
        ),
        "Django RedisCache, RESP2 in OPTIONS": (
            {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
                "OPTIONS": {"protocol": 2, "socket_timeout": 1},
            },
            "2",
        ),
        "Django RedisCache, RESP3 in the URL": (
            {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url + "?protocol=3",
                "OPTIONS": {"socket_timeout": 1},
            },
            "3",
        ),
    }


@pytest.fixture(autouse=True)
def _fresh_django_redis_pools() -> Iterator[None]:
    # django-redis keeps one pool per URL for the whole process, whatever the OPTIONS: without
    # this, a stack would silently reuse the pool (and protocol) of the previous one.
    from django_redis.pool import ConnectionFactory

    ConnectionFactory._pools.clear()
    yield
    localcache.reset()
    ConnectionFactory._pools.clear()


def _refuse_behind_the_copys_back(session_id: str) -> None:
    caches["default"].set(store.SESSION_KEY + session_id, ("", store.REVOKED), 60)


def _prove_the_copy(client: Any, url: str) -> None:
    """Subscribed, free when warm, and emptied by an announcement from another connection."""
    body = login(client, make_user())
    headers = bearer(body["access"])
    for _ in range(2):
        assert client.get("/api/whoami/", **headers).status_code == 200
    assert localcache.is_live(), localcache.failure()
    assert localcache.failure() is None

    # The liveness heartbeat goes out through the primary and comes back on this stack.
    live = localcache._state.subscriber
    assert live is not None
    proven = live.proven_at
    time.sleep(localcache.LIVENESS_WINDOW / 2 + 0.05)
    deadline = time.monotonic() + 1
    while live.proven_at == proven:
        assert time.monotonic() < deadline, "the heartbeat never came back"
        assert localcache.is_live()
        time.sleep(0.01)
    assert localcache._state.subscriber is live

    subscriber = subscriber_addresses(url)
    with CommandLog(url) as log:
        for _ in range(5):
            assert client.get("/api/whoami/", **headers).status_code == 200
    assert log.warm(subscriber) == []

    _refuse_behind_the_copys_back(body["session_id"])
    assert client.get("/api/whoami/", **headers).status_code == 200  # not announced: the copy
    import redis

    announcer = redis.Redis.from_url(url, protocol=2)
    assert announcer.publish(caches["default"].make_key(localcache.CHANNEL), b"1") >= 1
    announcer.close()
    r = client.get("/api/whoami/", **headers)
    assert r.status_code == 401
    assert r.json()["code"] == "session_revoked"


@pytest.mark.parametrize("stack", list(_stacks("redis://x")))
def test_the_copy_works_on_each_stack(client, stack):
    url = settings.REDIS_URL
    config, resp = _stacks(url)[stack]
    with override_settings(CACHES={"default": config}):
        _prove_the_copy(client, url)
        assert subscriber_protocol(url) == resp


def test_the_suite_runs_on_the_stack_ci_says(client):
    """CI's plain stage must really lack hiredis, and its hiredis stage really use it."""
    expected = os.environ.get("JWTSESSIONS_EXPECT_HIREDIS")
    _prove_the_copy(client, settings.REDIS_URL)
    subscriber = localcache._state.subscriber
    assert subscriber is not None
    parser = type(subscriber.connection._parser).__name__
    assert ("Hiredis" in parser) == HIREDIS_AVAILABLE, parser
    if expected is None:
        pytest.skip(f"JWTSESSIONS_EXPECT_HIREDIS unset; this run uses {parser}")
    wanted = expected == "1"
    assert wanted == HIREDIS_AVAILABLE, parser


# --- Sentinel ---------------------------------------------------------------------------------


def _subscriber_port() -> int:
    subscriber = localcache._state.subscriber
    assert subscriber is not None
    return int(subscriber.connection._sock.getpeername()[1])


def test_the_copy_works_with_a_sentinel_pool_and_follows_a_failover(client):
    """A real primary, replica and Sentinel (tests/faults.py). ``SENTINEL FAILOVER`` leaves
    the old primary up as a replica with its subscribers connected; each process must move
    its subscription to the new primary (messages would otherwise arrive only through
    replication, and not at all if that link broke).
    """
    with Lab({}) as lab:
        topology = lab.sentinels(1)
        cache = topology.cache()
        with override_settings(
            CACHES={"default": cache}, JWTSESSIONS={"CACHE_OUTAGE_BACKOFF": 0.2}
        ):
            pool = caches["default"].client.get_client(write=True).connection_pool
            assert type(pool).__name__ == "SentinelConnectionPool"
            old = topology.primary_port()
            _prove_the_copy(client, f"redis://127.0.0.1:{old}/0")
            assert _subscriber_port() == old

            topology.failover()
            new = topology.wait_primary_moved(old)
            headers = bearer(login(client, make_user())["access"])
            deadline = time.monotonic() + 10
            while not (localcache.is_live() and _subscriber_port() == new):
                assert time.monotonic() < deadline, "the subscription stayed on the old primary"
                client.get("/api/whoami/", **headers)
                time.sleep(0.1)
            time.sleep(0.3)  # past any back-off the failover's first write started
            _prove_the_copy(client, f"redis://127.0.0.1:{new}/0")
