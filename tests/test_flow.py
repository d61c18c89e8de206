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
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900

    r = client.get("/api/whoami/", **bearer(body["access"]))
    assert r.status_code == 200 and r.json() == {"user_id": str(user.pk)}

    r = client.post("/api/auth/refresh/", {"refresh": body["refresh"]}, content_type="application/json")
    assert r.status_code == 200, r.content
    new = r.json()
    assert new["refresh"] != body["refresh"] and new["session_id"] == body["session_id"]

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
