"""The main flow, end to end through the Django test client."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import bearer, login, make_user

pytestmark = pytest.mark.django_db


def test_login_use_refresh_logout(client):
    user = make_user()
    body = login(client, user)
    assert set(body) == {"access", "refresh", "token_type", "expires_in", "session_id"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900

    r = client.get("/api/whoami/", **bearer(body["access"]))
    assert r.status_code == 200
    assert r.json() == {"user_id": str(user.pk)}

    r = client.post(
        "/api/auth/refresh/", {"refresh": body["refresh"]}, content_type="application/json"
    )
    assert r.status_code == 200, r.content
    new = r.json()
    assert new["refresh"] != body["refresh"]
    assert new["session_id"] == body["session_id"]

    r = client.post("/api/auth/logout/", **bearer(new["access"]))
    assert r.status_code == 204
    r = client.get("/api/whoami/", **bearer(new["access"]))
    assert r.status_code == 401
    assert r.json() == {"detail": "The session has been revoked.", "code": "session_revoked"}
    assert r["WWW-Authenticate"].startswith('Bearer realm="api", error="invalid_token"')


def test_warm_cache_request_runs_no_sql(client):
    body = login(client, make_user())
    client.get("/api/whoami/", **bearer(body["access"]))  # warm
    with CaptureQueriesContext(connection) as queries:
        r = client.get("/api/whoami/", **bearer(body["access"]))
    assert r.status_code == 200
    assert len(queries) == 0, [q["sql"] for q in queries]


def test_other_schemes_are_left_to_other_classes(client):
    r = client.get("/api/whoami/", HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert r.status_code == 401
    assert r.json()["code"] == "not_authenticated"
    assert r["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "bearer not-a-jwt", "Bearer \x00"])
def test_malformed_bearer_headers_are_token_invalid(client, header):
    r = client.get("/api/whoami/", HTTP_AUTHORIZATION=header)
    assert r.status_code == 401
    assert r.json()["code"] == "token_invalid"


def test_request_auth_exposes_session_and_claims(rf):
    from rest_framework.request import Request

    from jwtsessions.authentication import JWTSessionAuthentication
    from jwtsessions.sessions import create_session

    user = make_user()
    pair = create_session(user)
    request = Request(rf.get("/", HTTP_AUTHORIZATION=f"Bearer {pair.access}"))
    found = JWTSessionAuthentication().authenticate(request)
    assert found is not None
    lazy_user, auth = found
    assert lazy_user.pk == user.pk
    assert lazy_user.is_authenticated
    assert auth.session_id == pair.session.pk == auth.claims["sid"]
    assert auth.session.user_id == user.pk
    assert lazy_user.username == user.username  # loads on demand


def test_last_used_is_recorded_in_the_cache_not_the_database(client):
    from jwtsessions import store
    from jwtsessions.models import Session

    body = login(client, make_user())
    before = Session.objects.get(pk=body["session_id"]).last_used_at
    assert client.get("/api/whoami/", **bearer(body["access"])).status_code == 200
    assert Session.objects.get(pk=body["session_id"]).last_used_at == before
    seen = store.last_seen([body["session_id"]])
    assert body["session_id"] in seen
    listed = client.get("/api/auth/sessions/", **bearer(body["access"])).json()
    assert listed[0]["last_used_at"] >= before.isoformat()[:19]


def test_drf_errors_on_our_views_keep_the_contract_shape(client):
    body = login(client, make_user())
    r = client.get("/api/auth/login/")
    assert r.status_code == 405
    assert r.json()["code"] == "method_not_allowed"
    r = client.get("/api/auth/sessions/nope/", **bearer(body["access"]))
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
    r = client.post("/api/auth/login/", "{", content_type="application/json")
    assert r.status_code == 400
    assert set(r.json()) >= {"detail", "code"}
