"""The cache is an accelerator: with it unreachable everything still answers correctly from
the database, and when it returns with stale entries, revocations made meanwhile still hold.

The cache link is cut for real: django-redis talks to Redis through a TCP proxy that the test
closes (connections refused) or stalls (connections hang until the client's timeout), or to a
test-owned Redis frozen with SIGSTOP behind a proxy that counts the bytes sent to it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.core.cache import caches
from django.db import transaction
from django.utils import timezone

from jwtsessions import cachehealth, revocation, store, sync
from jwtsessions.models import Session
from tests.factories import bearer, login, make_user
from tests.faults import FaultProxy, RedisServer
from tests.own_redis import django_redis, own_redis, using_cache

pytestmark = pytest.mark.django_db

BACKOFF = 0.3


@pytest.fixture
def proxy_settings():
    """``proxy`` (tests/conftest.py) with a short back-off: the tests wait it out."""
    return {"CACHE_OUTAGE_BACKOFF": BACKOFF}


def whoami(client, access):
    return client.get("/api/whoami/", **bearer(access))


def refresh(client, token):
    return client.post("/api/auth/refresh/", {"refresh": token}, content_type="application/json")


def test_every_endpoint_answers_from_the_database_while_the_cache_is_down(client, proxy):
    user = make_user()
    proxy.down()
    body = login(client, user)
    assert whoami(client, body["access"]).status_code == 200
    new = refresh(client, body["refresh"])
    assert new.status_code == 200
    new_body = new.json()
    assert whoami(client, new_body["access"]).status_code == 200
    r = client.get("/api/auth/sessions/", **bearer(new_body["access"]))
    assert r.status_code == 200
    assert len(r.json()) == 1
    assert client.post("/api/auth/logout/", **bearer(new_body["access"])).status_code == 204
    r = whoami(client, new_body["access"])
    assert r.status_code == 401
    assert r.json()["code"] == "session_revoked"
    # Throttling needs the cache: without it, a wrong password is still just refused.
    r = client.post(
        "/api/auth/login/",
        {"username": user.username, "password": "wrong"},
        content_type="application/json",
    )
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_credentials"


def test_revocation_during_outage_survives_the_stale_entry(client, proxy):
    body = login(client, make_user())
    assert whoami(client, body["access"]).status_code == 200  # Redis holds "active"
    key = store.SESSION_KEY + body["session_id"]
    assert caches["flaky"].get(key)[0] != ""

    proxy.down()
    assert client.post("/api/auth/logout/", **bearer(body["access"])).status_code == 204
    assert whoami(client, body["access"]).status_code == 401

    proxy.up()
    time.sleep(BACKOFF + 0.1)
    # Redis came back with the old "active" entry; the replay must win over it.
    r = whoami(client, body["access"])
    assert r.status_code == 401
    assert r.json()["code"] == "session_revoked"
    assert caches["flaky"].get(key) == ("", store.REVOKED)


def test_revocation_by_api_during_outage_with_warm_entries_elsewhere(client, proxy):
    user = make_user()
    a, b = login(client, user), login(client, user)
    for body in (a, b):
        assert whoami(client, body["access"]).status_code == 200
    proxy.down()
    assert revocation.revoke_user_sessions(user, reason="incident") == 2
    proxy.up()
    time.sleep(BACKOFF + 0.1)
    for body in (a, b):
        assert whoami(client, body["access"]).json()["code"] == "session_revoked"


def test_blacklist_during_outage_is_replayed(client, proxy):
    body = login(client, make_user())
    assert whoami(client, body["access"]).status_code == 200
    proxy.down()
    revocation.blacklist_token(body["access"])
    proxy.up()
    time.sleep(BACKOFF + 0.1)
    assert whoami(client, body["access"]).json()["code"] == "token_revoked"


def test_a_hanging_cache_costs_one_timeout_per_backoff_window(client, proxy, settings):
    settings.JWTSESSIONS = {**settings.JWTSESSIONS, "CACHE_OUTAGE_BACKOFF": 60}
    body = login(client, make_user())
    proxy.stall()
    assert whoami(client, body["access"]).status_code == 200  # pays the timeout once
    attempts = proxy.accepted
    for _ in range(5):
        assert whoami(client, body["access"]).status_code == 200
    assert proxy.accepted == attempts  # the cache was not even tried again


INTERVAL = 0.3


@pytest.fixture
def counted() -> Iterator[tuple[RedisServer, FaultProxy]]:
    """A test-owned Redis behind a proxy that counts the bytes this process sends it; the
    default cache goes through the proxy, with a back-off no test outlasts.
    """
    with own_redis() as server:
        link = FaultProxy(server.port)
        try:
            entry = django_redis(link.url, SOCKET_TIMEOUT=0.5, SOCKET_CONNECT_TIMEOUT=0.5)
            with using_cache(entry, CACHE_OUTAGE_BACKOFF=60, REVOCATION_SYNC_INTERVAL=INTERVAL):
                yield server, link
        finally:
            link.close()


def _due_catch_up() -> None:
    """Wait out the interval, then catch up: the scan runs (it is due), and succeeds."""
    before = sync.caught_up_at()
    time.sleep(INTERVAL)
    assert sync.catch_up()
    assert sync.caught_up_at() != before


def _freeze_into_back_off(server: RedisServer) -> None:
    """Freeze Redis; the next due scan pays one socket timeout and starts the back-off."""
    server.freeze()
    _due_catch_up()
    assert cachehealth.in_backoff()


def test_a_due_catch_up_during_back_off_does_not_wait_on_the_cache(counted):
    """A due scan reads the cache's log mark first. During the back-off it must not: a hung
    cache would hold one request per interval per process for a socket timeout.
    """
    server, link = counted
    assert sync.catch_up()  # healthy: the mark is read and set
    _freeze_into_back_off(server)
    sent = link.from_clients
    _due_catch_up()
    _due_catch_up()
    assert link.from_clients == sent  # nothing sent to the frozen cache


def test_a_due_catch_up_during_back_off_owes_what_it_finds_and_writes_it_after(client, counted):
    """A scan that finds a refusal during the back-off owes it instead of waiting on the cache:
    it is enforced here from the database meanwhile, and written once the window ends.
    """
    server, link = counted
    body = login(client, make_user())
    key = store.SESSION_KEY + body["session_id"]
    assert whoami(client, body["access"]).status_code == 200  # Redis holds "active"
    assert sync.catch_up()
    _freeze_into_back_off(server)
    # Another process revokes; its cache write failed: only the database knows.
    with transaction.atomic():
        Session.objects.filter(pk=body["session_id"]).update(revoked_at=timezone.now())
        sync.record("s", [body["session_id"]], store.REVOKED)
    sent = link.from_clients
    _due_catch_up()
    assert link.from_clients == sent  # not written to the frozen cache...
    assert not cachehealth.reads_allowed()  # ...owed: this process does not read the cache
    r = whoami(client, body["access"])
    assert r.status_code == 401
    assert r.json()["code"] == "session_revoked"

    server.thaw()
    cachehealth._health.down_until = 0.0  # the window ends (without waiting 60 s)
    assert sync.catch_up()  # not due: writes what it owes first
    assert cachehealth.reads_allowed()
    assert caches["default"].get(key) == ("", store.REVOKED)
