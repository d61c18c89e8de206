"""Red-team findings F1/F2: the cache goes back in time after a revocation was written to it.

A Redis that restarts from a snapshot taken before the revocation, a replica promoted before it
received the refusal, a ``FLUSHALL``: the refusal was written once, successfully, so no process
owes it, yet the cache serves the stale "active" entry again. Each process reads the cache's
log mark (``jws:logmark``) when its catch-up is due and replays what the cache lost.

Real servers: a test-owned ``redis-server`` saved with ``SAVE`` and SIGKILLed, then restarted on
the same port from the same file.
"""

from __future__ import annotations

import time

import pytest
from django.core.cache import caches
from django.test import Client

from jwtsessions import apikeys, logmark, revocation, sync
from tests.factories import bearer, login, make_user
from tests.faults import RedisServer

pytestmark = pytest.mark.django_db

INTERVAL = 0.3
ALIAS = "rollback"


@pytest.fixture
def server(settings):
    redis = RedisServer().start()
    settings.CACHES = {
        **settings.CACHES,
        ALIAS: {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": redis.url,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        },
    }
    settings.JWTSESSIONS = {
        "CACHE_ALIAS": ALIAS,
        "CACHE_OUTAGE_BACKOFF": 0.2,
        "REVOCATION_SYNC_INTERVAL": INTERVAL,
    }
    try:
        yield redis
    finally:
        redis.close()


def _status(client, headers):
    path = "/api/machine/" if "Api-Key" in headers.get("HTTP_AUTHORIZATION", "") else "/api/whoami/"
    return client.get(path, **headers).status_code


def _admitted_after(client, headers, bound, watch=2.0):
    """Probe for ``bound + watch`` seconds; how many admissions came after ``bound``."""
    started = time.monotonic()
    late = 0
    while time.monotonic() - started < bound + watch:
        if _status(client, headers) != 401 and time.monotonic() - started > bound:
            late += 1
        time.sleep(0.02)
    return late


def _credential(kind):
    client = Client()
    user = make_user()
    body = login(client, user)
    if kind == "api_key":
        _row, key = apikeys.create_api_key(user, "rollback")
        headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}
    else:
        headers = bearer(body["access"])
    return client, headers, body, user


def _revoke(kind, body, user):
    with revocation.track_cache_writes() as report:
        if kind == "session":
            assert revocation.revoke_session(body["session_id"])
        elif kind == "api_key":
            assert revocation.revoke_api_keys(user.jwt_api_keys.all())
        else:
            assert revocation.blacklist_token(body["access"]) is not None
    assert report.cache_ok is True  # written, so nobody owes it


@pytest.mark.parametrize("kind", ["session", "api_key", "blacklist"])
def test_f1_cache_restored_from_a_snapshot_older_than_the_revocation(server, kind):
    client, headers, body, user = _credential(kind)
    for _ in range(3):
        assert _status(client, headers) == 200
    time.sleep(INTERVAL)
    assert _status(client, headers) == 200  # a catch-up ran: the mark is in the snapshot too
    server.client().save()
    _revoke(kind, body, user)
    assert _status(client, headers) == 401
    time.sleep(INTERVAL)
    assert _status(client, headers) == 401  # this process caught up on the row: not owed
    server.kill()
    server.start()  # loads the snapshot: the credential is "active" again in Redis
    assert _admitted_after(client, headers, INTERVAL + 1) == 0


def test_f2_cache_emptied_after_the_revocation(server):
    """A FLUSHALL, a new empty instance or a promoted replica that had nothing: refusals from
    the last ``SESSION_CACHE_TTL`` are written again (the fill after it reads the database
    anyway, but the mark must come back so a later rollback is detected)."""
    client, headers, body, user = _credential("session")
    assert _status(client, headers) == 200
    _revoke("session", body, user)
    server.client().flushall()
    time.sleep(INTERVAL)
    assert _status(client, headers) == 401
    mark = caches[ALIAS].client.get_client(write=True).get(caches[ALIAS].make_key(logmark.LOG_MARK))
    assert mark is not None
    assert int(mark) >= sync._state.high


def _mark():
    raw = caches[ALIAS].client.get_client(write=True).get(caches[ALIAS].make_key(logmark.LOG_MARK))
    return None if raw is None else int(raw)


def test_redteam_final_1_a_mark_above_every_log_id_is_set_right_and_rollbacks_still_count(server):
    """A mark no refusal-log id can explain (a restored database, two deployments sharing one
    cache) used to switch the rollback check off for good: a later snapshot restore was then
    served from the stale entry until it expired."""
    client, headers, body, user = _credential("session")
    assert _status(client, headers) == 200
    time.sleep(INTERVAL)
    assert _status(client, headers) == 200
    caches[ALIAS].client.get_client(write=True).set(
        caches[ALIAS].make_key(logmark.LOG_MARK), 10**12
    )
    time.sleep(INTERVAL)
    assert _status(client, headers) == 200  # a catch-up ran and found the mark too high
    assert _mark() is not None
    assert _mark() <= (sync._state.high or 0)
    server.client().save()
    _revoke("session", body, user)
    time.sleep(INTERVAL)
    assert _status(client, headers) == 401
    server.kill()
    server.start()  # the snapshot: "active" again, and the mark from before the revocation
    assert _admitted_after(client, headers, INTERVAL + 1) == 0


def test_redteam_final_2_without_eval_the_mark_is_still_raised(server):
    """A Redis whose ACL refuses scripting made every process replay the whole window each
    interval (8x slower in the red team's run): the mark is now raised without the script."""
    server.client().execute_command("ACL", "SETUSER", "default", "-eval", "-evalsha")
    client, headers, body, user = _credential("session")
    assert _status(client, headers) == 200
    _revoke("session", body, user)
    time.sleep(INTERVAL)
    assert _status(client, headers) == 401
    time.sleep(INTERVAL)
    _status(client, headers)
    assert _mark() is not None
    assert _mark() >= (sync._state.high or 0)
