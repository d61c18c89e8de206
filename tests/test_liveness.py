"""The per-process copy is trusted only while its subscription is proven live (issue 11 item 5).

A frozen Redis (a real SIGSTOP of a server this test owns), or a link that drops every packet
while Redis itself is fine (a blackholing proxy, tests/faults.py), leaves the subscriber
connection open and silent, exactly like a quiet one. Each test revokes behind the process's
back (the database says "revoked"; no announcement reaches it) and checks that the copy stops
answering within LIVENESS_WINDOW, so the request falls back to the database.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
from django.core.cache import caches
from django.utils import timezone

from jwtsessions import localcache, redisclient, store, sync
from jwtsessions.models import Session
from tests.factories import bearer, login, make_user
from tests.faults import FaultProxy
from tests.own_redis import django_redis, own_redis, using_cache
from tests.redis_monitor import CommandLog, subscriber_address

pytestmark = pytest.mark.django_db

QUICK = {"CACHE_OUTAGE_BACKOFF": 0.2, "LAST_USED_INTERVAL": 3600}


def _warm(client: Any) -> tuple[dict[str, Any], dict[str, str]]:
    body = login(client, make_user())
    headers = bearer(body["access"])
    for _ in range(2):
        assert client.get("/api/whoami/", **headers).status_code == 200
    assert localcache.is_live(), localcache.failure()
    return body, headers


def _revoke_in_the_database_only(session_id: str) -> None:
    """What another process's revocation leaves when its cache write could not be made."""
    Session.objects.filter(pk=session_id).update(revoked_at=timezone.now())


def test_a_frozen_redis_stops_the_copy_within_the_window(client):
    with own_redis() as server, using_cache(django_redis(server.url), **QUICK):
        body, headers = _warm(client)
        server.freeze()
        _revoke_in_the_database_only(body["session_id"])
        time.sleep(localcache.LIVENESS_WINDOW + 0.2)
        assert not localcache.is_live()
        # Redis times out (1 s), the database answers: refused, not admitted from the copy.
        r = client.get("/api/whoami/", **headers)
        assert r.status_code == 401
        assert r.json()["code"] == "session_revoked"


def test_a_blackholed_link_stops_the_copy_while_others_announce(client):
    """Redis is fine and another host revokes and announces; only this host's link drops
    packets, so the announcement is stuck on the way. The copy must stop answering anyway.
    """
    with own_redis() as server:
        link = FaultProxy(server.port)
        try:
            with using_cache(django_redis(link.url), **QUICK):
                body, headers = _warm(client)
                link.blackhole()
                _revoke_in_the_database_only(body["session_id"])
                other_host = redis.Redis(host="127.0.0.1", port=server.port, protocol=2)
                channel = caches["default"].make_key(localcache.CHANNEL)
                assert other_host.publish(channel, b"1") == 1  # sent, held by the blackhole
                other_host.close()
                time.sleep(localcache.LIVENESS_WINDOW + 0.2)
                r = client.get("/api/whoami/", **headers)
                assert r.status_code == 401
                assert r.json()["code"] == "session_revoked"
        finally:
            link.close()


def test_the_copy_answers_while_proven_live(client):
    """The same sequence without the freeze: a revocation nobody announced is (by design) not
    seen by the copy, which is what makes the test above able to fail.
    """
    with own_redis() as server, using_cache(django_redis(server.url), **QUICK):
        body, headers = _warm(client)
        _revoke_in_the_database_only(body["session_id"])
        deadline = time.monotonic() + localcache.LIVENESS_WINDOW + 0.2
        while time.monotonic() < deadline:
            assert client.get("/api/whoami/", **headers).status_code == 200
            time.sleep(0.05)
        assert localcache.is_live()


def test_liveness_comes_back_after_the_freeze(client):
    with own_redis() as server, using_cache(django_redis(server.url), **QUICK):
        _warm(client)
        server.freeze()
        time.sleep(localcache.LIVENESS_WINDOW + 0.2)
        assert not localcache.is_live()
        server.thaw()
        deadline = time.monotonic() + 3
        while not localcache.is_live():
            assert time.monotonic() < deadline, "the PONG never came back"
            time.sleep(0.05)


def test_an_unanswered_heartbeat_makes_the_process_resubscribe(client, monkeypatch):
    monkeypatch.setattr(localcache, "DEAD_AFTER", 0.5)
    with own_redis() as server, using_cache(django_redis(server.url), **QUICK):
        _warm(client)
        first = localcache._state.subscriber
        server.freeze()
        time.sleep(localcache.LIVENESS_WINDOW + 0.1)
        # Not proven lately: a heartbeat goes out through the primary, which does not answer.
        assert not localcache.is_live()
        time.sleep(localcache.LIVENESS_WINDOW + 0.1)  # DEAD_AFTER is never under the window
        assert not localcache.is_live()
        assert localcache._state.subscriber is not first  # dropped, not trusted again
        server.thaw()
        deadline = time.monotonic() + 5
        while not localcache.is_live():
            assert time.monotonic() < deadline, localcache.failure()
            time.sleep(0.1)
        assert localcache._state.subscriber is not first


def test_liveness_heartbeats_are_few_and_go_through_the_primary(client, settings):
    """About one PUBLISH per half window per process, whatever the request rate; the
    subscription itself sends nothing."""
    _body, headers = _warm(client)
    with CommandLog(settings.REDIS_URL) as log:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            assert client.get("/api/whoami/", **headers).status_code == 200
            time.sleep(0.01)
    mine = subscriber_address()
    assert [command for address, command in log.commands if address == mine] == []
    published = [command for address, command in log.commands if command == "PUBLISH"]
    # Besides heartbeats: the log-mark GET of a due catch-up (once per 1 s interval).
    assert {command for _address, command in log.commands} <= {"PUBLISH", "GET"}
    assert [command for _address, command in log.commands].count("GET") <= 2
    assert 1 <= len(published) <= 1.5 / (localcache.LIVENESS_WINDOW / 2) + 1


def test_the_copy_is_not_used_when_catch_up_cannot_vouch(client, monkeypatch, settings):
    """``sync.catch_up()`` False (the database could not be asked): every request asks Redis."""
    _body, headers = _warm(client)
    monkeypatch.setattr(sync, "catch_up", lambda: False)
    with CommandLog(settings.REDIS_URL) as log:
        for _ in range(3):
            assert client.get("/api/whoami/", **headers).status_code == 200
    assert log.excluding(set()).count("MGET") == 3


def test_f6_a_subscription_left_on_a_demoted_node_is_not_trusted_and_moves(client):
    """Red-team finding F6: a failover leaves the subscription on the old node, which keeps
    answering PING, while the primary client (and every other process) has moved on: an
    announcement published on the new primary never reaches this process. Here the failover is
    a proxy behind one address, so nothing but an end-to-end proof can tell. The heartbeat,
    published through the primary, reaches no subscriber there: the copy stops answering
    within the liveness window and the subscription is re-made on the new primary.
    """
    with own_redis() as old, own_redis() as new:
        link = FaultProxy(old.port)
        try:
            entry = django_redis(link.url)
            # No catch-up inside the test: only the subscription can tell this process.
            with using_cache(entry, REVOCATION_SYNC_INTERVAL=3600, LAST_USED_INTERVAL=3600):
                body, headers = _warm(client)
                cache = caches["default"]
                channel = localcache._channel(cache)
                primary = redisclient.client_for(cache)
                link.set_target(new.port)
                # What redis-py's Sentinel pool does when the primary moves: idle connections
                # are dropped; the subscriber's, in use, stays where it is.
                primary.connection_pool.disconnect(inuse_connections=False)
                # Another process revokes through the new primary.
                _revoke_in_the_database_only(body["session_id"])
                cache.set(store.SESSION_KEY + body["session_id"], ("", store.REVOKED), 300)
                assert primary.publish(channel, b"1") == 0  # nobody hears it on the new one
                time.sleep(localcache.LIVENESS_WINDOW + 0.1)
                r = client.get("/api/whoami/", **headers)
                assert r.status_code == 401, r.content
                assert r.json()["code"] == "session_revoked"
                deadline = time.monotonic() + 3
                while not localcache.is_live():
                    assert time.monotonic() < deadline, localcache.failure()
                    time.sleep(0.05)
                assert new.client().execute_command("PUBSUB", "NUMSUB", channel)[1] == 1
        finally:
            link.close()
