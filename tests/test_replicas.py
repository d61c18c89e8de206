"""Issue 11 item 3: authentication state is read from the primary, never from a replica.

A real primary and a real replica (two redis-server processes this test owns), replicating
through a TCP proxy in the test; cutting the proxy stops replication, and the replica keeps
serving what it had (Redis's default ``replica-serve-stale-data yes``): a replica that lags for
as long as the test wants. The cache lists both (``LOCATION: [primary, replica]``), so the
backend's ordinary reads go to the replica.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.core.cache import caches

from jwtsessions import localcache, store
from jwtsessions.apikeys import create_api_key
from jwtsessions.revocation import revoke_api_key, revoke_session
from tests.factories import bearer, login, make_user
from tests.faults import RedisServer
from tests.own_redis import own_redis, using_cache
from tests.services import TcpProxy

pytestmark = pytest.mark.django_db


def _wait(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


class Pair:
    def __init__(self, primary: RedisServer, replica: RedisServer, link: TcpProxy) -> None:
        self.primary = redis.Redis(host="127.0.0.1", port=primary.port, protocol=2)
        self.replica = redis.Redis(host="127.0.0.1", port=replica.port, protocol=2)
        self.urls = [primary.url, replica.url]
        self.link = link

    def link_up(self) -> bool:
        return self.replica.info("replication").get("master_link_status") == "up"

    def in_sync(self, key: str) -> bool:
        return bool(self.primary.get(key) == self.replica.get(key))

    def close(self) -> None:
        self.primary.close()
        self.replica.close()


@pytest.fixture
def pair() -> Iterator[Pair]:
    # Diskless full sync at once (the default waits 5 s for more replicas).
    with own_redis("--repl-diskless-sync-delay", "0") as primary:
        link = TcpProxy("127.0.0.1", primary.port)
        with own_redis("--replicaof", "127.0.0.1", str(link.port)) as replica:
            servers = Pair(primary, replica, link)
            _wait(servers.link_up, "the replica never synchronised")
            yield servers
            servers.close()
        link.down()


BACKENDS = {
    "django-redis": lambda urls: {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": urls,
        "OPTIONS": {"SOCKET_TIMEOUT": 1, "SOCKET_CONNECT_TIMEOUT": 1},
    },
    "Django RedisCache": lambda urls: {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": urls,
        "OPTIONS": {"socket_timeout": 1, "socket_connect_timeout": 1},
    },
}


def _lag(pair: Pair, raw_key: str) -> None:
    """Let the replica catch up with ``raw_key``, then stop replication."""
    _wait(lambda: pair.in_sync(raw_key), "the entry never reached the replica")
    pair.link.down()
    _wait(lambda: not pair.link_up(), "the replica still thinks it is linked")


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_a_lagging_replica_never_admits_a_revoked_session(client, pair, backend):
    with using_cache(BACKENDS[backend](pair.urls)):
        body = login(client, make_user())
        headers = bearer(body["access"])
        for _ in range(3):
            assert client.get("/api/whoami/", **headers).status_code == 200
        raw_key = caches["default"].make_key(store.SESSION_KEY + body["session_id"])
        _lag(pair, raw_key)

        assert revoke_session(body["session_id"])
        # The replica still says "active": the lag is real.
        assert not pair.in_sync(raw_key)
        for _ in range(20):
            r = client.get("/api/whoami/", **headers)
            assert r.status_code == 401
            assert r.json()["code"] == "session_revoked"
        localcache.reset()


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_a_lagging_replica_never_admits_a_revoked_api_key(client, pair, backend):
    with using_cache(BACKENDS[backend](pair.urls)):
        api_key, key = create_api_key(make_user(), "ci", ["items:read"])
        headers: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}
        for _ in range(3):
            assert client.get("/api/machine/api-key-only/", **headers).status_code == 200
        raw_key = caches["default"].make_key(store.API_KEY_KEY + api_key.public_id)
        _lag(pair, raw_key)

        assert revoke_api_key(api_key)
        assert not pair.in_sync(raw_key)
        for _ in range(20):
            r = client.get("/api/machine/api-key-only/", **headers)
            assert r.status_code == 401
            assert r.json()["code"] == "api_key_revoked"
        localcache.reset()
