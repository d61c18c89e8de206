"""HasScope: all required scopes, for API keys and service tokens, composed with & and |."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from jwtsessions.apikeys import ApiKeyAuth, create_api_key
from jwtsessions.permissions import HasScope
from tests.factories import bearer, login, make_user
from tests.test_apikeys import key_header
from tests.test_service_tokens import service_token

pytestmark = pytest.mark.django_db

DENIED = {"detail": "The credential lacks a required scope.", "code": "insufficient_scope"}


def credentials(client: Any, scopes: list[str]) -> list[dict[str, str]]:
    """An API key and a service token with ``scopes``, as request headers."""
    _, key = create_api_key(make_user(), "k", scopes)
    headers = [key_header(key)]
    if scopes:
        headers.append(bearer(service_token(client, key)))
    return headers


@pytest.mark.parametrize(
    ("path", "scopes", "allowed"),
    [
        ("/api/items/", ["items:read"], True),
        ("/api/items/", ["items:read", "other"], True),
        ("/api/items/", ["items:write"], False),
        ("/api/items/", ["items:readx"], False),
        ("/api/items/write/", ["items:read"], False),
        ("/api/items/write/", ["items:write"], False),
        ("/api/items/write/", ["items:write", "items:read"], True),
        ("/api/items/unlisted/", ["items:read"], False),
    ],
)
def test_every_required_scope_is_needed(client, path, scopes, allowed):
    for headers in credentials(client, scopes):
        r = client.get(path, **headers)
        if allowed:
            assert r.status_code == 200, r.content
        else:
            assert r.status_code == 403
            assert r.json() == DENIED


def test_key_without_scopes_is_denied(client):
    (headers,) = credentials(client, [])
    r = client.get("/api/items/", **headers)
    assert r.status_code == 403
    assert r.json() == DENIED


def test_session_token_has_no_scopes(client):
    access = login(client, make_user())["access"]
    r = client.get("/api/items/", **bearer(access))
    assert r.status_code == 403
    assert r.json() == DENIED


def test_anonymous_is_401_not_403(client):
    r = client.get("/api/items/")
    assert r.status_code == 401
    assert r.json()["code"] == "not_authenticated"


def test_or_composition(client):
    for headers in credentials(client, ["items:admin"]):
        assert client.get("/api/items/admin/", **headers).status_code == 200
    for headers in credentials(client, ["items:read"]):
        r = client.get("/api/items/admin/", **headers)
        assert r.status_code == 403
        assert r.json() == DENIED
    admin = make_user(is_staff=True)
    access = login(client, admin)["access"]
    assert client.get("/api/items/admin/", **bearer(access)).status_code == 200


def test_and_composition(client):
    for headers in credentials(client, ["items:write", "items:read"]):
        assert client.get("/api/items/and/", **headers).status_code == 200
    for headers in credentials(client, ["items:read"]):
        r = client.get("/api/items/and/", **headers)
        assert r.status_code == 403
        assert r.json() == DENIED


def test_permission_object_directly(rf):
    class View(APIView):
        required_scopes = ["a", "b"]

    request = Request(rf.get("/"))
    request.user = make_user()
    permission = HasScope()
    request.auth = ApiKeyAuth("AAAAAAAAAAAA", "1", ("a", "b", "c"), None)
    assert permission.has_permission(request, View())
    request.auth = ApiKeyAuth("AAAAAAAAAAAA", "1", ("a",), None)
    assert not permission.has_permission(request, View())
    # Anything that merely looks scoped is not trusted.
    request.auth = type("Fake", (), {"scopes": ("a", "b")})()
    assert not permission.has_permission(request, View())
    assert (HasScope & IsAuthenticated)().has_permission(request, View()) is False
