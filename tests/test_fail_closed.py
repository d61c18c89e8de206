"""Red-team finding F4: a process that cannot read the database must not trust its cache.

A revocation committed to the database is enforced by every process within
``REVOCATION_SYNC_INTERVAL``, whatever the cache does; a process learns of the refusals the
cache missed only by catching up from the refusal log. When it cannot read the database, the
stale "active" entry in Redis (or its per-process copy) used to answer for the whole partition
(measured: every probe of a 15 s partition admitted, sessions and API keys). Now a process
without a successful catch-up within the interval plus a grace admits nothing: 503
``temporarily_unavailable`` with ``Retry-After``, never a 500, and service resumes as soon as a
catch-up succeeds. See jwtsessions/freshness.py.
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction

from jwtsessions import freshness, sync
from tests.fault_rows import api_key_header, bearer, setup_user
from tests.faults import LiveServer, free_port, live_environment, manage, redis_cache
from tests.live import _sqlite_template, lab, live_database  # noqa: F401

pytestmark = [pytest.mark.live_server, pytest.mark.django_db(transaction=True)]

INTERVAL = 1.0


def _needs_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the database link to cut (or lock) is PostgreSQL's; SQLite has none")


def _get(server: LiveServer, path: str, headers: dict[str, str]) -> tuple[int, Any, str | None]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        return response.status, body, response.getheader("Retry-After")
    finally:
        conn.close()


def test_f4_db_partition_admits_nothing_after_the_bound_then_serves_again(lab, live_database):  # noqa: F811
    _needs_postgresql()
    redis = lab.redis()
    db_link = lab.proxy(int(live_database.get("PORT") or 5432))
    cache = redis_cache(redis.url)
    settings = {"REVOCATION_SYNC_INTERVAL": INTERVAL}
    web_env = live_environment(dict(live_database, PORT=str(db_link.port)), cache, settings)
    server = LiveServer(web_env, workers=3)
    lab.callback(server.stop)
    server.start()
    # The revoker reaches the database but not Redis: its cache writes fail (exit status 3).
    revoker_env = lab.env(redis_cache(f"redis://127.0.0.1:{free_port()}/0"), **settings)

    user = setup_user(server, "f4")
    status, body = server.request(
        "POST", "/api/auth/service-token/", {}, headers=api_key_header(user["api_key"])
    )
    assert status == 200, body
    credentials = {
        "session": ("/faults/probe/", bearer(user["access"])),
        "api_key": ("/faults/probe/", api_key_header(user["api_key"])),
        "service_token": ("/api/machine/service-only/", bearer(body["access"])),
    }
    # Every worker holds each credential in Redis and in its per-process copy.
    for _ in range(12):
        for path, headers in credentials.values():
            assert _get(server, path, headers)[0] == 200

    db_link.reset()  # the web host loses the database
    done = manage(revoker_env, "jwtsessions_revoke", "--session", user["session_id"])
    assert done.returncode == 3, done.stderr
    assert "every process that can read the database" in done.stderr
    assert "503" in done.stderr
    done = manage(
        revoker_env,
        "shell",
        "-c",
        f"from jwtsessions.revocation import revoke_api_key; revoke_api_key({user['api_key_id']})",
    )
    assert done.returncode == 0, done.stderr
    revoked = time.monotonic()

    deadline = revoked + INTERVAL + freshness.GRACE
    probes: list[tuple[float, str, int, Any, str | None]] = []
    while time.monotonic() < deadline + 2.0:
        for kind, (path, headers) in credentials.items():
            started = time.monotonic()
            probes.append((started, kind, *_get(server, path, headers)))
    after = [p for p in probes if p[0] > deadline]
    assert len(after) >= 15
    assert {p[1] for p in after} == set(credentials)
    assert [p for p in probes if p[2] >= 500 and p[2] != 503] == []
    assert [p for p in after if p[2] == 200] == [], after
    for _started, _kind, status, body, retry_after in after:
        assert status == 503
        assert set(body) == {"detail", "code"}
        assert body["code"] == "temporarily_unavailable"
        assert retry_after is not None
        assert int(retry_after) >= 1

    # The endpoints that need the database answer "try again" in the contract's shape too.
    for path, payload in (
        ("/api/auth/login/", {"username": user["username"], "password": "pw-" + user["username"]}),
        ("/api/auth/refresh/", {"refresh": user["refresh"]}),
    ):
        status, body = server.request("POST", path, payload)
        assert status == 503, (path, status, body)
        assert body == {"detail": body["detail"], "code": "temporarily_unavailable"}, body

    db_link.passthrough()
    give_up = time.monotonic() + 10
    while _get(server, *credentials["session"])[0] == 503 and time.monotonic() < give_up:
        time.sleep(0.1)
    time.sleep(INTERVAL + freshness.GRACE)  # every worker has caught up by now
    expected = {"session": "session_revoked", "api_key": "api_key_revoked"}
    expected["service_token"] = "api_key_revoked"
    for _ in range(6):
        for kind, (path, headers) in credentials.items():
            status, body, _ = _get(server, path, headers)
            assert (status, body["code"]) == (401, expected[kind]), (kind, status, body)
    fresh = setup_user(server, "f4-after")
    for _ in range(6):
        assert _get(server, "/faults/probe/", bearer(fresh["access"]))[0] == 200
        assert _get(server, "/faults/probe/", api_key_header(fresh["api_key"]))[0] == 200


def test_f4_a_failed_catch_up_inside_a_transaction_leaves_it_usable(settings):
    """On PostgreSQL a failed statement aborts the transaction it ran in; the catch-up runs in
    a savepoint, so a request inside ``atomic()`` (``ATOMIC_REQUESTS``) carries on."""
    _needs_postgresql()
    settings.JWTSESSIONS = {"REVOCATION_SYNC_INTERVAL": INTERVAL}
    sync.reset()
    locker = connections.create_connection("default")
    try:
        with locker.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("LOCK TABLE jwtsessions_refusallog IN ACCESS EXCLUSIVE MODE")
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '100ms'")
            assert sync.catch_up() is False
            # The caller's transaction still answers.
            assert get_user_model().objects.filter(pk=-1).count() == 0
    finally:
        locker.close()
    time.sleep(INTERVAL)  # a failed catch-up is retried at the next interval
    assert sync.catch_up() is True
