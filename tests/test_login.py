"""Login: one answer for every failure, a new session per login, throttling in the cache."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from jwtsessions.models import Session
from tests.factories import DEFAULT_PASSWORD, login, make_user

pytestmark = pytest.mark.django_db


def attempt(client, username, password, **extra):
    return client.post(
        "/api/auth/login/",
        {"username": username, "password": password},
        content_type="application/json",
        **extra,
    )


def test_unknown_user_wrong_password_and_inactive_user_get_the_same_answer(client):
    make_user("alice")
    make_user("bob", is_active=False)
    answers = [
        attempt(client, "nobody", DEFAULT_PASSWORD),
        attempt(client, "alice", "wrong password"),
        attempt(client, "bob", DEFAULT_PASSWORD),
    ]
    assert {r.status_code for r in answers} == {401}
    assert {r.content for r in answers} == {
        b'{"detail":"Unable to log in with the provided credentials.","code":"invalid_credentials"}'
    }
    assert all(r["WWW-Authenticate"].startswith("Bearer") for r in answers)


def test_each_login_creates_its_own_session(client):
    user = make_user()
    a, b = login(client, user), login(client, user)
    assert a["session_id"] != b["session_id"]
    assert Session.objects.filter(user=user).count() == 2


def test_access_token_carries_nothing_personal(client):
    import base64

    user = make_user("carol", email="carol@example.com", first_name="Carol")
    body = login(client, user)
    payload = body["access"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert set(claims) == {"sub", "sid", "jti", "iat", "exp"}
    assert claims["sub"] == str(user.pk)
    assert claims["exp"] - claims["iat"] == 900
    assert "carol" not in json.dumps(claims).lower()


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"username": "x"},
        {"username": ["a"], "password": "b"},
        {"username": "a", "password": "p" * 5000},
        [],
        "not json",
    ],
)
def test_malformed_login_is_a_contract_shaped_400(client, payload):
    r = client.post("/api/auth/login/", json.dumps(payload), content_type="application/json")
    assert r.status_code == 400
    assert {"detail", "code"} <= set(r.json())


def test_broken_json_is_a_contract_shaped_400(client):
    r = client.post("/api/auth/login/", "{", content_type="application/json")
    assert r.status_code == 400
    assert {"detail", "code"} <= set(r.json())


@override_settings(JWTSESSIONS={"LOGIN_FAILURE_LIMIT": 3})
def test_account_lockout_even_with_the_right_password(client):
    user = make_user()
    for i in range(3):
        # Different addresses: only the per-account counter reaches the limit.
        r = attempt(client, user.username, "wrong", REMOTE_ADDR=f"10.0.0.{i + 1}")
        assert r.status_code == 401
    r = attempt(client, user.username, DEFAULT_PASSWORD, REMOTE_ADDR="10.0.0.9")
    assert r.status_code == 429
    assert r.json() == {
        "detail": "Too many failed login attempts. Try again later.",
        "code": "too_many_attempts",
    }
    assert 0 < int(r["Retry-After"]) <= 15 * 60
    other = make_user()
    assert (
        attempt(client, other.username, DEFAULT_PASSWORD, REMOTE_ADDR="10.0.0.9").status_code == 200
    )


@override_settings(JWTSESSIONS={"LOGIN_FAILURE_LIMIT": 3})
def test_address_lockout_across_accounts(client):
    users = [make_user() for _ in range(3)]
    for user in users:
        assert attempt(client, user.username, "wrong", REMOTE_ADDR="10.9.9.9").status_code == 401
    fresh = make_user()
    assert (
        attempt(client, fresh.username, DEFAULT_PASSWORD, REMOTE_ADDR="10.9.9.9").status_code == 429
    )
    assert (
        attempt(client, fresh.username, DEFAULT_PASSWORD, REMOTE_ADDR="10.9.9.10").status_code
        == 200
    )


@override_settings(JWTSESSIONS={"LOGIN_FAILURE_LIMIT": 3})
def test_success_resets_the_account_counter(client):
    user = make_user()
    for _ in range(2):
        attempt(client, user.username, "wrong", REMOTE_ADDR="10.1.1.1")
    assert (
        attempt(client, user.username, DEFAULT_PASSWORD, REMOTE_ADDR="10.1.1.2").status_code == 200
    )
    for _ in range(2):
        attempt(client, user.username, "wrong", REMOTE_ADDR="10.1.1.3")
    assert (
        attempt(client, user.username, DEFAULT_PASSWORD, REMOTE_ADDR="10.1.1.4").status_code == 200
    )


def test_argon2_is_the_password_hasher(client):
    user = make_user()
    assert user.password.startswith("argon2")
