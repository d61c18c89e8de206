"""Refresh rotation: single use, grace for honest races, reuse revokes the session."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from jwtsessions.models import Session
from jwtsessions.signals import refresh_token_reused
from tests.factories import bearer, login, make_user

pytestmark = pytest.mark.django_db


def refresh(client, token):
    return client.post("/api/auth/refresh/", {"refresh": token}, content_type="application/json")


def test_refresh_token_is_single_use_and_opaque(client):
    body = login(client, make_user())
    assert body["refresh"].count(".") == 3
    assert len(body["refresh"].split(".")[2]) >= 43  # 256 bits, base64url
    first = refresh(client, body["refresh"])
    assert first.status_code == 200
    # The database keeps only a hash of the current token.
    row = Session.objects.get(pk=body["session_id"])
    assert first.json()["refresh"] not in row.refresh_hash
    assert body["refresh"] not in row.refresh_hash


def test_predecessor_within_grace_is_refused_but_session_lives(client):
    body = login(client, make_user())
    new = refresh(client, body["refresh"]).json()
    again = refresh(client, body["refresh"])
    assert again.status_code == 401
    assert again.json()["code"] == "refresh_invalid"
    assert client.get("/api/whoami/", **bearer(new["access"])).status_code == 200
    assert refresh(client, new["refresh"]).status_code == 200


@override_settings(JWTSESSIONS={"REFRESH_REUSE_GRACE": 0})
def test_reuse_after_grace_revokes_the_session_and_fires_the_signal(client):
    seen = []

    def receiver(sender, session, request, **kwargs):
        seen.append(session.pk)

    refresh_token_reused.connect(receiver)
    try:
        body = login(client, make_user())
        new = refresh(client, body["refresh"]).json()
        reused = refresh(client, body["refresh"])
    finally:
        refresh_token_reused.disconnect(receiver)
    assert reused.status_code == 401
    assert reused.json()["code"] == "refresh_reused"
    assert seen == [body["session_id"]]
    # The thief's and the owner's tokens are all dead now.
    r = client.get("/api/whoami/", **bearer(new["access"]))
    assert r.status_code == 401
    assert r.json()["code"] == "session_revoked"
    assert refresh(client, new["refresh"]).json()["code"] == "session_revoked"


def test_older_generation_is_reuse_even_within_grace(client):
    body = login(client, make_user())
    second = refresh(client, body["refresh"]).json()
    refresh(client, second["refresh"])
    reused = refresh(client, body["refresh"])  # two rotations old
    assert reused.json()["code"] == "refresh_reused"
    assert Session.objects.get(pk=body["session_id"]).revoked_at is not None


def test_forged_or_garbled_refresh_tokens_never_revoke(client):
    body = login(client, make_user())
    sid, gen, secret, tag = body["refresh"].split(".")
    forged = [
        f"{sid}.{gen}.{'A' * len(secret)}.{tag}",  # real session, wrong secret
        f"{sid}.0.{secret}.{'A' * len(tag)}",  # wrong tag
        f"{sid}.-1.{secret}.{tag}",
        "",
        "x" * 5000,
        "a.b.c",
        f"{sid}.{gen}.{secret}.{tag}.extra",
    ]
    for token in forged:
        r = refresh(client, token)
        assert r.status_code in (400, 401), token
        assert r.json()["code"] in ("refresh_invalid", "invalid_request")
    assert Session.objects.get(pk=body["session_id"]).revoked_at is None
    assert refresh(client, body["refresh"]).status_code == 200


def test_non_string_refresh_is_a_clean_400(client):
    for payload in ({"refresh": 123}, {"refresh": ["a"]}, {"refresh": None}, []):
        r = client.post("/api/auth/refresh/", json.dumps(payload), content_type="application/json")
        assert r.status_code in (400, 401)
        assert set(r.json()) >= {"detail", "code"}


def test_refresh_never_extends_the_absolute_lifetime(client):
    body = login(client, make_user())
    session = Session.objects.get(pk=body["session_id"])
    expires = session.expires_at
    Session.objects.filter(pk=session.pk).update(expires_at=timezone.now() + timedelta(seconds=5))
    new = refresh(client, body["refresh"]).json()
    assert Session.objects.get(pk=session.pk).expires_at < expires
    Session.objects.filter(pk=session.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    r = refresh(client, new["refresh"])
    assert r.status_code == 401
    assert r.json()["code"] == "refresh_invalid"


@override_settings(JWTSESSIONS={"SESSION_IDLE_TIMEOUT": timedelta(minutes=30)})
def test_idle_session_cannot_refresh_or_authenticate(client):
    body = login(client, make_user())
    Session.objects.filter(pk=body["session_id"]).update(
        refreshed_at=timezone.now() - timedelta(minutes=31)
    )
    # Stands for the 30 minutes passing: the cached entry never outlives the idle deadline.
    caches["default"].clear()
    r = client.get("/api/whoami/", **bearer(body["access"]))
    assert r.status_code == 401
    assert r.json()["code"] == "session_expired"
    assert refresh(client, body["refresh"]).json()["code"] == "refresh_invalid"


def _post_json(url: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_refreshes_over_http_exactly_one_wins(live_server):
    if connection.vendor != "postgresql":
        pytest.skip("real row-level concurrency needs PostgreSQL (CI runs this on PostgreSQL)")
    user = make_user()
    status, body = _post_json(
        f"{live_server.url}/api/auth/login/",
        {"username": user.username, "password": "correct horse battery staple"},
    )
    assert status == 200
    barrier = threading.Barrier(16)
    results: list[tuple[int, dict]] = []

    def attempt() -> None:
        barrier.wait()
        results.append(
            _post_json(f"{live_server.url}/api/auth/refresh/", {"refresh": body["refresh"]})
        )

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(status for status, _ in results)
    assert statuses.count(200) == 1, statuses
    assert all(s == 401 for s in statuses if s != 200), statuses
    losers = {b["code"] for s, b in results if s == 401}
    assert losers == {"refresh_invalid"}  # honest race: inside the grace window
    winner = next(b for s, b in results if s == 200)
    request = urllib.request.Request(
        f"{live_server.url}/api/whoami/", headers={"Authorization": f"Bearer {winner['access']}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    status, _ = _post_json(f"{live_server.url}/api/auth/refresh/", {"refresh": winner["refresh"]})
    assert status == 200
