"""The cache is an accelerator: with it unreachable everything still answers correctly from
the database, and when it returns with stale entries, revocations made meanwhile still hold.

The cache link is cut for real: django-redis talks to Redis through a TCP proxy that the test
closes (connections refused) or stalls (connections hang until the client's timeout).
"""

from __future__ import annotations

import time

import pytest
from django.core.cache import caches

from jwtsessions import revocation, store
from tests.factories import bearer, login, make_user

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
