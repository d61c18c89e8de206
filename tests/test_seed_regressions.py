"""The seed article's own mistakes, each as a test that would fail if we made it."""

from __future__ import annotations

import time

import pytest
from django.core.cache import caches

from jwtsessions import tokens
from jwtsessions.models import Session
from tests.factories import bearer, login, make_user

pytestmark = pytest.mark.django_db


def test_iat_in_milliseconds_is_refused(client):
    user = make_user()
    body = login(client, user)
    now_ms = int(time.time() * 1000)
    forged = tokens.encode(
        {
            "sub": str(user.pk),
            "sid": body["session_id"],
            "jti": "j" * 16,
            "iat": now_ms,
            "exp": now_ms + 900,
        },
        tokens.ACCESS_TOKEN_TYPE,
    )
    r = client.get("/api/whoami/", **bearer(forged))
    assert r.status_code == 401
    assert r.json()["code"] == "token_invalid"
    # Our own tokens use integer seconds.
    claims = tokens.decode(
        body["access"],
        tokens.ACCESS_TOKEN_TYPE,
        required=["sid"],
        max_lifetime=tokens.jwt_settings.ACCESS_TOKEN_LIFETIME,
    )
    assert abs(claims["iat"] - time.time()) < 60


def test_missing_session_is_not_read_as_valid(client):
    user = make_user()
    body = login(client, user)
    Session.objects.filter(pk=body["session_id"]).delete()
    caches["default"].clear()
    r = client.get("/api/whoami/", **bearer(body["access"]))
    assert r.status_code == 401
    assert r.json()["code"] == "session_revoked"
    # A validly signed token naming a session that never existed.
    claims = {
        "sub": str(user.pk),
        "sid": "never-existed",
        **tokens.standard_claims(tokens.jwt_settings.ACCESS_TOKEN_LIFETIME),
    }
    r = client.get("/api/whoami/", **bearer(tokens.encode(claims, tokens.ACCESS_TOKEN_TYPE)))
    assert r.status_code == 401


def test_validation_cache_does_not_outlive_revocation(client):
    body = login(client, make_user())
    for _ in range(3):  # a validation cache would now hold this token as good
        assert client.get("/api/whoami/", **bearer(body["access"])).status_code == 200
    client.post("/api/auth/logout/", **bearer(body["access"]))
    assert client.get("/api/whoami/", **bearer(body["access"])).status_code == 401


def test_refresh_rotation_cannot_be_won_twice(client):
    body = login(client, make_user())
    first = client.post(
        "/api/auth/refresh/", {"refresh": body["refresh"]}, content_type="application/json"
    )
    second = client.post(
        "/api/auth/refresh/", {"refresh": body["refresh"]}, content_type="application/json"
    )
    assert sorted([first.status_code, second.status_code]) == [200, 401]


def test_logout_does_more_than_clear_a_cookie(client):
    body = login(client, make_user())
    client.post("/api/auth/logout/", **bearer(body["access"]))
    assert Session.objects.get(pk=body["session_id"]).revoked_at is not None


def test_token_lifetime_is_minutes_not_a_year(client):
    body = login(client, make_user())
    assert body["expires_in"] == 15 * 60


def test_subject_must_match_the_session_user(client):
    mallory, victim = make_user(), make_user()
    victim_session = login(client, victim)["session_id"]
    claims = {
        "sub": str(mallory.pk),
        "sid": victim_session,
        **tokens.standard_claims(tokens.jwt_settings.ACCESS_TOKEN_LIFETIME),
    }
    r = client.get("/api/whoami/", **bearer(tokens.encode(claims, tokens.ACCESS_TOKEN_TYPE)))
    assert r.status_code == 401
    assert r.json()["code"] == "token_invalid"
