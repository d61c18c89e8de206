"""Red-team finding 5 (issue 10 re-test): every response that carries a credential says
``Cache-Control: no-store`` and ``Pragma: no-cache`` (RFC 6749 section 5.1), so no browser,
proxy or CDN keeps a token: login and refresh (header and cookie mode), the simplejwt-migration
refresh, a new API key, a service token, the CSRF token.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings

from tests.factories import DEFAULT_PASSWORD, bearer, login, make_user

pytestmark = pytest.mark.django_db

COOKIES = {"AUTH_COOKIE": "access_token", "COOKIE_SECURE": False}


def _post(client: Any, path: str, body: dict[str, Any], **extra: Any) -> Any:
    return client.post(f"/api/auth/{path}", body, content_type="application/json", **extra)


def _login(client: Any) -> Any:
    user = make_user()
    return _post(client, "login/", {"username": user.username, "password": DEFAULT_PASSWORD})


def _refresh(client: Any) -> Any:
    body = login(client, make_user())
    return _post(client, "refresh/", {"refresh": body["refresh"]})


def _cookie_login(client: Any) -> Any:
    with override_settings(JWTSESSIONS=COOKIES):
        client.get("/api/auth/csrf/")
        token = client.cookies["csrftoken"].value
        user = make_user()
        return _post(
            client,
            "login/",
            {"username": user.username, "password": DEFAULT_PASSWORD},
            HTTP_X_CSRFTOKEN=token,
        )


def _cookie_refresh(client: Any) -> Any:
    assert _cookie_login(client).status_code == 200
    with override_settings(JWTSESSIONS=COOKIES):
        return _post(client, "refresh/", {}, HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)


def _api_key(client: Any) -> Any:
    body = login(client, make_user())
    return _post(
        client, "api-keys/", {"name": "ci", "password": DEFAULT_PASSWORD}, **bearer(body["access"])
    )


def _service_token(client: Any) -> Any:
    key = _api_key(client).json()["key"]
    return _post(client, "service-token/", {}, HTTP_AUTHORIZATION=f"Api-Key {key}")


def _csrf(client: Any) -> Any:
    return client.get("/api/auth/csrf/")


RESPONSES = {
    "login": _login,
    "refresh": _refresh,
    "cookie login": _cookie_login,
    "cookie refresh": _cookie_refresh,
    "new API key": _api_key,
    "service token": _service_token,
    "csrf token": _csrf,
}


@pytest.mark.parametrize("make", list(RESPONSES.values()), ids=list(RESPONSES))
def test_redteam_5_token_responses_are_never_cached(make: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    response = make(client)
    assert 200 <= response.status_code < 300, response.content
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"


def test_redteam_5_the_simplejwt_migration_refresh_is_never_cached(client) -> None:
    pytest.importorskip("rest_framework_simplejwt")
    from rest_framework_simplejwt.tokens import RefreshToken

    user = make_user()
    with override_settings(JWTSESSIONS={"SIMPLEJWT_MIGRATION": True}):
        response = _post(client, "refresh/", {"refresh": str(RefreshToken.for_user(user))})
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"
