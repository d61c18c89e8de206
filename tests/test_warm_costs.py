"""What a warm request costs, counted for real: SQL queries (CaptureQueriesContext) and the
commands the test's own Redis executes (MONITOR), for each credential.

Counted on whatever stack the suite runs on; CI runs it once on a plain install (no hiredis, the
newest redis-py) and once with hiredis (see tests/test_stack.py). The liveness heartbeats (a
``PUBLISH`` through the primary about once per half ``LIVENESS_WINDOW``) are a per-process cost,
not a per-request one: they are counted apart and must be the only commands sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from jwtsessions import localcache
from jwtsessions.apikeys import create_api_key
from tests.factories import bearer, login, make_user
from tests.redis_monitor import CommandLog, subscriber_addresses

pytestmark = pytest.mark.django_db

WARM_REQUESTS = 20
SCOPES = ["items:read"]


@pytest.fixture(autouse=True)
def _quiet_intervals() -> Iterator[None]:
    # Intervals longer than the test, so nothing periodic (a "last used" stamp, a catch-up with
    # the database) falls inside the counted requests by chance.
    with override_settings(
        JWTSESSIONS={"LAST_USED_INTERVAL": 3600, "REVOCATION_SYNC_INTERVAL": 3600}
    ):
        yield


def _session(client: Any) -> Callable[[], Any]:
    headers = bearer(login(client, make_user())["access"])
    return lambda: client.get("/api/whoami/", **headers)


def _api_key(client: Any) -> Callable[[], Any]:
    _, key = create_api_key(make_user(), "ci", SCOPES)
    return lambda: client.get("/api/machine/api-key-only/", HTTP_AUTHORIZATION=f"Api-Key {key}")


def _service_token(client: Any) -> Callable[[], Any]:
    _, key = create_api_key(make_user(), "svc", SCOPES)
    r = client.post(
        "/api/auth/service-token/",
        {},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )
    assert r.status_code == 200, r.content
    headers = bearer(r.json()["access"])
    return lambda: client.get("/api/machine/service-only/", **headers)


@pytest.mark.parametrize("credential", [_session, _api_key, _service_token])
def test_warm_requests_cost_no_sql_and_no_redis_command(client, credential):
    request = credential(client)
    for _ in range(2):
        assert request().status_code == 200
    assert localcache.is_live(), localcache.failure()
    subscriber = subscriber_addresses(settings.REDIS_URL)
    assert len(subscriber) == 1

    started = time.monotonic()
    with CaptureQueriesContext(connection) as queries, CommandLog(settings.REDIS_URL) as log:
        for _ in range(WARM_REQUESTS):
            assert request().status_code == 200
    elapsed = time.monotonic() - started

    assert [q["sql"] for q in queries] == []
    # The subscriber only proves itself live: a few heartbeats at most over the whole run.
    heartbeats = log.warm(subscriber)
    assert set(heartbeats) <= {"PUBLISH"}
    assert len(heartbeats) <= elapsed / (localcache.LIVENESS_WINDOW / 2) + 1
    assert {command for _, command in log.commands} <= {"PUBLISH"}


@pytest.mark.parametrize("credential", [_session, _api_key, _service_token])
def test_a_cold_request_does_ask_redis(client, credential):
    """The counting above can fail: without the per-process copy each request asks Redis."""
    request = credential(client)
    assert request().status_code == 200
    with (
        override_settings(JWTSESSIONS={"LOCAL_CACHE_SIZE": 0, "LAST_USED_INTERVAL": 3600}),
        CommandLog(settings.REDIS_URL) as log,
    ):
        for _ in range(3):
            assert request().status_code == 200
    assert log.excluding(set()).count("MGET") == 3
