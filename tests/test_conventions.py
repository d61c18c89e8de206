"""Django's conventions (issue 13, item 4): login signals, LOGIN_SERIALIZER, TOKEN_CLAIMS,
MAX_SESSIONS_PER_USER, the browsable API, accurate 401s and 405s."""

from __future__ import annotations

import base64
import json
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.management import call_command
from django.http import HttpRequest
from django.test import override_settings
from django.urls import reverse
from rest_framework import serializers

from jwtsessions.apikeys import create_api_key
from jwtsessions.models import Session
from jwtsessions.serializers import LoginSerializer
from jwtsessions.signals import session_revoked
from tests.factories import DEFAULT_PASSWORD, bearer, login, make_user

pytestmark = pytest.mark.django_db


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


@contextmanager
def caught(signal: Any):
    calls: list[dict[str, Any]] = []

    def receiver(**kwargs: Any) -> None:
        calls.append(kwargs)

    signal.connect(receiver, weak=False)
    try:
        yield calls
    finally:
        signal.disconnect(receiver)


def post_login(client: Any, username: str, password: str) -> Any:
    return client.post(
        "/api/auth/login/",
        {"username": username, "password": password},
        content_type="application/json",
    )


# --- Django's login signals --------------------------------------------------------------------


def test_login_sends_user_logged_in_and_django_updates_last_login(client):
    user = make_user()
    assert user.last_login is None
    with caught(user_logged_in) as calls:
        login(client, user)
    assert len(calls) == 1
    assert calls[0]["user"].pk == user.pk
    assert isinstance(calls[0]["request"], HttpRequest)
    user.refresh_from_db()
    assert user.last_login is not None


def test_a_failed_login_sends_user_login_failed_without_the_password(client):
    make_user("alice")
    with caught(user_login_failed) as calls:
        assert post_login(client, "alice", "wrong password").status_code == 401
        assert post_login(client, "nobody", "wrong password").status_code == 401
    assert len(calls) == 2
    for call in calls:
        assert isinstance(call["request"], HttpRequest)
        assert "wrong password" not in json.dumps(call["credentials"])
        assert call["credentials"]["password"] == "********************"
    assert [c["credentials"]["username"] for c in calls] == ["alice", "nobody"]


@override_settings(JWTSESSIONS={"LOGIN_FAILURE_LIMIT": 2})
def test_a_throttled_login_also_sends_user_login_failed(client):
    make_user("bob")
    for _ in range(2):
        post_login(client, "bob", "wrong password")
    with caught(user_login_failed) as calls, caught(user_logged_in) as logged_in:
        response = post_login(client, "bob", DEFAULT_PASSWORD)
    assert response.status_code == 429
    assert not logged_in
    assert len(calls) == 1
    assert calls[0]["sender"] == "jwtsessions"
    assert calls[0]["credentials"] == {"username": "bob", "password": "********************"}


def test_no_signal_for_a_malformed_request_as_in_django(client):
    # Django's AuthenticationForm does not call authenticate() without both fields either.
    with caught(user_login_failed) as calls:
        r = client.post("/api/auth/login/", {"username": "x"}, content_type="application/json")
    assert r.status_code == 400
    assert calls == []


# --- LOGIN_SERIALIZER --------------------------------------------------------------------------


class EmailLoginSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Log in with the e-mail address; answer the user's name too."""

    email = serializers.EmailField()
    password = serializers.CharField(max_length=1024, trim_whitespace=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        from django.contrib.auth import get_user_model

        user = get_user_model()._default_manager.filter(email__iexact=attrs["email"]).first()
        return {"username": user.get_username() if user else attrs["email"], **attrs}

    def extra_response_data(self, user: Any, session: Session) -> dict[str, Any]:
        return {"user": {"username": user.get_username()}, "session_id": "overridden?"}


class PlainSubclass(LoginSerializer):
    pass


@override_settings(JWTSESSIONS={"LOGIN_SERIALIZER": "tests.test_conventions.EmailLoginSerializer"})
def test_login_serializer_shapes_the_request_and_adds_to_the_response(client):
    user = make_user("carol", email="carol@example.com")
    r = client.post(
        "/api/auth/login/",
        {"email": "carol@example.com", "password": DEFAULT_PASSWORD},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["user"] == {"username": "carol"}
    # The contract's fields always win over the serializer's.
    assert body["session_id"] == Session.objects.get(user=user).pk
    assert {"access", "refresh", "token_type", "expires_in"} <= set(body)
    r = client.post(
        "/api/auth/login/", {"username": "carol", "password": DEFAULT_PASSWORD},
        content_type="application/json",
    )  # fmt: skip
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_request"


@pytest.mark.parametrize(
    "path", ["tests.test_conventions.NoSuchThing", "tests.test_conventions.claims_of"]
)
def test_an_unusable_login_serializer_is_a_clear_503_and_a_check_error(client, path):
    make_user("dave")
    with override_settings(JWTSESSIONS={"LOGIN_SERIALIZER": path}):
        r = post_login(client, "dave", DEFAULT_PASSWORD)
        assert r.status_code == 503
        assert r.json()["code"] == "server_misconfigured"
        assert_check_fails("jwtsessions.E021")


@override_settings(JWTSESSIONS={"LOGIN_SERIALIZER": "tests.test_conventions.PlainSubclass"})
def test_a_subclass_of_the_login_serializer_works_and_passes_the_checks(client):
    login(client, make_user())
    call_command("check")


def assert_check_fails(check_id: str) -> None:
    from django.core.checks import run_checks

    ids = {message.id for message in run_checks()}
    assert check_id in ids


# --- TOKEN_CLAIMS -------------------------------------------------------------------------------


def tenant_claims(user: Any, session: Session) -> dict[str, Any]:
    return {"acme:tenant": f"t-{user.pk}", "https://example.com/roles": ["reader"]}


def reserved_claims(user: Any, session: Session) -> dict[str, Any]:
    return {"sub": "0"}


def plain_name_claims(user: Any, session: Session) -> dict[str, Any]:
    return {"tenant": "t"}


def big_claims(user: Any, session: Session) -> dict[str, Any]:
    return {"acme:blob": "x" * 2000}


def not_json_claims(user: Any, session: Session) -> dict[str, Any]:
    return {"acme:when": session.created_at}


def not_a_dict(user: Any, session: Session) -> Any:
    return [("acme:x", 1)]


@override_settings(JWTSESSIONS={"TOKEN_CLAIMS": "tests.test_conventions.tenant_claims"})
def test_token_claims_add_namespaced_claims_at_login_and_refresh(client):
    user = make_user()
    body = login(client, user)
    claims = claims_of(body["access"])
    assert claims["acme:tenant"] == f"t-{user.pk}"
    assert claims["https://example.com/roles"] == ["reader"]
    assert claims["sub"] == str(user.pk)
    r = client.post("/api/auth/refresh/", {"refresh": body["refresh"]}, "application/json")
    assert claims_of(r.json()["access"])["acme:tenant"] == f"t-{user.pk}"
    # The token still authenticates.
    assert client.get("/api/auth/sessions/", **bearer(r.json()["access"])).status_code == 200


@pytest.mark.parametrize(
    "hook",
    ["reserved_claims", "plain_name_claims", "big_claims", "not_json_claims", "not_a_dict"],
)
def test_bad_token_claims_are_a_clear_503_never_a_500_nor_a_token(client, hook, caplog):
    user = make_user()
    with override_settings(JWTSESSIONS={"TOKEN_CLAIMS": f"tests.test_conventions.{hook}"}):
        r = post_login(client, user.get_username(), DEFAULT_PASSWORD)
    assert r.status_code == 503
    assert r.json() == {
        "detail": "The server cannot issue tokens because of a configuration error.",
        "code": "server_misconfigured",
    }
    assert "TOKEN_CLAIMS" in caplog.text


def test_an_unimportable_token_claims_path_is_a_check_error(client):
    with override_settings(JWTSESSIONS={"TOKEN_CLAIMS": "tests.nowhere.claims"}):
        assert_check_fails("jwtsessions.E020")
        assert post_login(client, make_user().get_username(), DEFAULT_PASSWORD).status_code == 503


# --- MAX_SESSIONS_PER_USER ----------------------------------------------------------------------


@override_settings(JWTSESSIONS={"MAX_SESSIONS_PER_USER": 2})
def test_a_login_beyond_the_limit_revokes_the_oldest_sessions(client):
    user = make_user()
    first, second = login(client, user), login(client, user)
    with caught(session_revoked) as revoked:
        third = login(client, user)
    assert revoked == [
        {"signal": session_revoked, "sender": Session, "session_ids": [first["session_id"]],
         "reason": "session_limit"}
    ]  # fmt: skip
    assert Session.objects.get(pk=first["session_id"]).revoke_reason == "session_limit"
    r = client.get("/api/auth/sessions/", **bearer(first["access"]))
    assert r.status_code == 401
    assert r.json()["code"] == "session_revoked"
    for body in (second, third):
        assert client.get("/api/auth/sessions/", **bearer(body["access"])).status_code == 200
    # Another user's sessions are not counted.
    login(client, make_user())
    assert Session.objects.filter(user=user, revoked_at__isnull=True).count() == 2


@override_settings(JWTSESSIONS={"MAX_SESSIONS_PER_USER": 1})
def test_a_logged_out_session_frees_its_slot(client):
    user = make_user()
    first = login(client, user)
    client.post("/api/auth/logout/", **bearer(first["access"]))
    second = login(client, user)
    assert Session.objects.get(pk=second["session_id"]).revoked_at is None
    assert Session.objects.get(pk=first["session_id"]).revoke_reason == "logout"


@pytest.mark.parametrize("value", [0, -1])
def test_a_limit_below_one_is_a_check_error(value):
    with override_settings(JWTSESSIONS={"MAX_SESSIONS_PER_USER": value}):
        assert_check_fails("jwtsessions.E022")


# --- the browsable API -------------------------------------------------------------------------

BROWSABLE = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["jwtsessions.authentication.JWTSessionAuthentication"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "jwtsessions.exceptions.exception_handler",
}


@override_settings(REST_FRAMEWORK=BROWSABLE)
def test_the_auth_endpoints_render_in_the_browsable_api_when_enabled(client):
    page = client.get("/api/auth/login/", HTTP_ACCEPT="text/html")
    assert page.status_code == 405  # login is POST only, and the page says so, with its form
    assert page["Content-Type"].startswith("text/html")
    html = page.content.decode()
    assert 'name="username"' in html
    assert 'name="password"' in html
    user = make_user()
    r = client.post(
        "/api/auth/login/",
        {"username": user.get_username(), "password": DEFAULT_PASSWORD},
        HTTP_ACCEPT="text/html",
    )
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/html")
    assert "session_id" in r.content.decode()
    # JSON clients are unaffected.
    assert client.get("/api/auth/jwks.json")["Content-Type"] == "application/json"
    for name in ("refresh", "service-token"):
        assert client.get(reverse(f"jwtsessions:{name}"), HTTP_ACCEPT="text/html").status_code in (
            401,
            405,
        )


JSON_ONLY = {**BROWSABLE, "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]}


@override_settings(REST_FRAMEWORK=JSON_ONLY)
def test_without_the_browsable_api_a_browser_gets_json(client):
    r = client.get("/api/auth/jwks.json", HTTP_ACCEPT="text/html,*/*;q=0.8")
    assert r["Content-Type"] == "application/json"


# --- accurate 401s ------------------------------------------------------------------------------


def test_an_api_key_sent_to_an_endpoint_that_needs_a_session_token_is_named(client):
    user = make_user()
    _, key = create_api_key(user, "ci")
    for headers in ({"HTTP_AUTHORIZATION": f"Api-Key {key}"}, {"HTTP_X_API_KEY": key}):
        r = client.post("/api/auth/api-keys/", {"name": "x"}, "application/json", **headers)
        assert r.status_code == 401
        body = r.json()
        assert body["code"] == "credential_not_accepted"
        assert body["detail"] == (
            "An API key is not accepted here; this endpoint needs a session access token "
            "(Authorization: Bearer)."
        )
        assert r["WWW-Authenticate"].startswith("Bearer")


def test_a_session_token_sent_to_the_service_token_endpoint_is_named(client):
    body = login(client, make_user())
    r = client.post("/api/auth/service-token/", {}, "application/json", **bearer(body["access"]))
    assert r.status_code == 401
    assert r.json()["code"] == "credential_not_accepted"
    assert r.json()["detail"].startswith("A session access token is not accepted here")


@pytest.mark.parametrize("header", [None, "Basic dXNlcjpwYXNz"])
def test_missing_or_foreign_credentials(client, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    r = client.get("/api/auth/sessions/", **extra)
    assert r.status_code == 401
    if header:
        assert r.json()["code"] == "credential_not_accepted"
        assert r.json()["detail"].startswith("This Authorization scheme is not accepted here")
    else:
        assert r.json() == {
            "detail": "Authentication credentials were not provided.",
            "code": "not_authenticated",
        }


# --- 405 for unsupported methods ---------------------------------------------------------------

ENDPOINTS = [
    ("login", {}), ("refresh", {}), ("logout", {}), ("logout-all", {}), ("session-list", {}),
    ("session-detail", {"session_id": "abc"}), ("apikey-list", {}),
    ("apikey-detail", {"key_id": 1}), ("service-token", {}), ("jwks", {}), ("csrf", {}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "kwargs"), ENDPOINTS)
@pytest.mark.parametrize("method", ["TRACE", "PUT", "PATCH", "BREW"])
def test_unsupported_methods_are_405_not_401(client, name, kwargs, method):
    url = reverse(f"jwtsessions:{name}", kwargs=kwargs)
    r = client.generic(method, url)
    assert r.status_code == 405, (method, name, r.content)
    assert r.json()["code"] == "method_not_allowed"
    assert "Allow" in r


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@override_settings(JWTSESSIONS={"MAX_SESSIONS_PER_USER": 3})
def test_concurrent_logins_leave_exactly_the_newest_sessions():
    import threading

    from django.db import connection, connections

    from jwtsessions import sessions

    if connection.vendor != "postgresql":
        pytest.skip("real row-level concurrency needs PostgreSQL (CI runs this on PostgreSQL)")
    user = make_user()
    barrier = threading.Barrier(10)

    def one_login() -> None:
        try:
            barrier.wait(timeout=10)
            sessions.create_session(user)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one_login) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    every = list(Session.objects.filter(user=user).order_by("-created_at", "-pk"))
    assert len(every) == 10
    assert [s.revoked_at is None for s in every] == [True] * 3 + [False] * 7
    assert {s.revoke_reason for s in every[3:]} == {"session_limit"}
