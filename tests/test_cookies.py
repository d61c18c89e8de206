"""Cookie mode: cookie flags, CSRF, header-beats-cookie, logout with a broken cookie, prefixes.

Every request goes through ``Client(enforce_csrf_checks=True)``, so Django's CSRF check runs
exactly as it would for a browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from http.cookies import Morsel
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from jwtsessions import checks, sessions, tokens
from jwtsessions.models import Session
from tests.factories import DEFAULT_PASSWORD, bearer, login, make_user
from tests.tokenkit import expired_access_token

pytestmark = pytest.mark.django_db

ACCESS = "access_token"
REFRESH = "refresh_token"
REFRESH_PATH = "/api/auth/refresh/"
LOGOUT = "refresh_token_logout"
LOGOUT_PATH = "/api/auth/logout/"
COOKIE_MODE: dict[str, Any] = {"AUTH_COOKIE": ACCESS, "REFRESH_COOKIE": REFRESH}
ORIGIN = "http://testserver"
JSON = "application/json"


@pytest.fixture(autouse=True)
def _cookie_mode() -> Iterator[None]:
    with override_settings(JWTSESSIONS=COOKIE_MODE):
        yield


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=True)


def _bearer(access: str) -> dict[str, Any]:
    return dict(bearer(access))


def csrf_token(client: Client) -> str:
    """What a page does first: fetch the CSRF token (and cookie) from the API."""
    response = client.get("/api/auth/csrf/")
    assert response.status_code == 200
    assert response.cookies["csrftoken"].value
    return str(response.json()["csrf_token"])


def csrf_headers(client: Client) -> dict[str, Any]:
    # A JSON content type, as fetch() sends: the test client's default is multipart, which the
    # auth endpoints do not parse.
    return {"HTTP_X_CSRFTOKEN": csrf_token(client), "HTTP_ORIGIN": ORIGIN, "content_type": JSON}


def cookie_login(client: Client, user: Any) -> Any:
    response = client.post(
        "/api/auth/login/",
        {"username": user.get_username(), "password": DEFAULT_PASSWORD},
        **csrf_headers(client),
    )
    assert response.status_code == 200, response.content
    return response


def assert_flags(morsel: Morsel[str], *, path: str, secure: bool = True, domain: str = "") -> None:
    assert morsel["httponly"] is True
    assert bool(morsel["secure"]) is secure
    assert morsel["samesite"] == "Strict"
    assert morsel["path"] == path
    assert morsel["domain"] == domain


def assert_deleted(response: Any, name: str, path: str) -> None:
    morsel = response.cookies[name]
    assert morsel.value == ""
    assert morsel["max-age"] == 0
    assert_flags(morsel, path=path)


# --- login, flags and body -------------------------------------------------------------------


def test_login_sets_both_cookies_with_every_flag_and_no_tokens_in_body(browser: Client) -> None:
    response = cookie_login(browser, make_user())
    body = response.json()
    assert set(body) == {"token_type", "expires_in", "session_id"}
    access, refresh = response.cookies[ACCESS], response.cookies[REFRESH]
    assert access.value.count(".") == 2
    assert access.value not in response.content.decode()
    assert refresh.value
    assert refresh.value not in response.content.decode()
    assert_flags(access, path="/")
    assert_flags(refresh, path=REFRESH_PATH)
    assert access["max-age"] == body["expires_in"] == 900
    # The session has just started: the refresh cookie lasts (almost exactly) its 30 days.
    session = Session.objects.get(pk=body["session_id"])
    left = (session.expires_at - timezone.now()).total_seconds()
    assert left - 1 <= refresh["max-age"] <= left


def test_flags_follow_the_settings(browser: Client) -> None:
    settings = {
        **COOKIE_MODE,
        "COOKIE_SECURE": False,
        "COOKIE_SAMESITE": "Lax",
        "COOKIE_PATH": "/api/",
        "COOKIE_DOMAIN": "example.com",
        "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
    }
    with override_settings(JWTSESSIONS=settings):
        response = cookie_login(browser, make_user())
    access, refresh = response.cookies[ACCESS], response.cookies[REFRESH]
    for morsel in (access, refresh):
        assert morsel["httponly"] is True
        assert not morsel["secure"]
        assert morsel["samesite"] == "Lax"
        assert morsel["domain"] == "example.com"
    assert access["path"] == "/api/"
    assert refresh["path"] == REFRESH_PATH
    assert access["max-age"] == 300


def test_refresh_cookie_max_age_is_what_is_left_of_the_session(browser: Client) -> None:
    user = make_user()
    body = cookie_login(browser, user).json()
    end = timezone.now() + timedelta(hours=1)
    Session.objects.filter(pk=body["session_id"]).update(expires_at=end)
    response = browser.post(REFRESH_PATH, **csrf_headers(browser))
    assert response.status_code == 200, response.content
    assert 3600 - 60 <= response.cookies[REFRESH]["max-age"] <= 3600
    assert response.cookies[ACCESS]["max-age"] == 900


def test_refresh_cookie_does_not_outlive_the_idle_timeout(browser: Client) -> None:
    with override_settings(JWTSESSIONS={**COOKIE_MODE, "SESSION_IDLE_TIMEOUT": timedelta(hours=2)}):
        response = cookie_login(browser, make_user())
    assert response.cookies[REFRESH]["max-age"] == 7200


# --- refresh ---------------------------------------------------------------------------------


def test_refresh_by_cookie_rotates_both_cookies(browser: Client) -> None:
    user = make_user()
    first = cookie_login(browser, user)
    response = browser.post(REFRESH_PATH, **csrf_headers(browser))
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"token_type", "expires_in", "session_id"}
    assert response.cookies[REFRESH].value != first.cookies[REFRESH].value
    assert response.cookies[ACCESS].value != first.cookies[ACCESS].value
    assert_flags(response.cookies[REFRESH], path=REFRESH_PATH)
    # The client now holds the new cookies: they authenticate, and the old refresh is spent.
    assert browser.get("/api/whoami/").json() == {"user_id": str(user.pk)}
    replay = Client(enforce_csrf_checks=True)
    replay.cookies[REFRESH] = first.cookies[REFRESH].value
    refused = replay.post(REFRESH_PATH, **csrf_headers(replay))
    assert refused.status_code == 401
    assert refused.json()["code"] == "refresh_invalid"


def test_refresh_without_any_token_is_refused(browser: Client) -> None:
    response = browser.post(REFRESH_PATH, **csrf_headers(browser))
    assert response.status_code == 401
    assert response.json()["code"] == "refresh_invalid"


# --- CSRF ------------------------------------------------------------------------------------


def test_cookie_mode_login_needs_csrf(browser: Client) -> None:
    user = make_user()
    credentials = {"username": user.get_username(), "password": DEFAULT_PASSWORD}
    response = browser.post("/api/auth/login/", credentials, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert ACCESS not in response.cookies
    # Right token, but sent from another origin: refused too.
    token = csrf_token(browser)
    response = browser.post(
        "/api/auth/login/",
        credentials,
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
        HTTP_ORIGIN="http://evil.example",
    )
    assert response.status_code == 403
    assert "Origin" in response.json()["detail"]
    assert cookie_login(browser, user).cookies[ACCESS].value


def test_cookie_mode_refresh_needs_csrf(browser: Client) -> None:
    cookie_login(browser, make_user())
    response = browser.post(REFRESH_PATH, content_type=JSON)
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert REFRESH not in response.cookies
    # A refresh token in the body does not bypass it: the answer would still set cookies.
    response = browser.post(
        REFRESH_PATH, {"refresh": browser.cookies[REFRESH].value}, content_type="application/json"
    )
    assert response.status_code == 403


def test_cookie_authenticated_unsafe_request_needs_csrf(browser: Client) -> None:
    user = make_user()
    cookie_login(browser, user)
    assert browser.get("/api/whoami/").status_code == 200  # safe methods need no token
    response = browser.post("/api/whoami/")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "CSRF Failed: CSRF token missing.",
        "code": "csrf_failed",
    }
    response = browser.post("/api/whoami/", HTTP_X_CSRFTOKEN="x" * 32, HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 403
    response = browser.post("/api/whoami/", **csrf_headers(browser))
    assert response.status_code == 200
    assert response.json() == {"user_id": str(user.pk)}


def test_csrf_origin_and_referer_are_checked(browser: Client) -> None:
    cookie_login(browser, make_user())
    token = csrf_token(browser)
    bad_origin = browser.post(
        "/api/whoami/", HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN="http://evil.example"
    )
    assert bad_origin.status_code == 403
    # Over HTTPS without an Origin header, Django requires a same-origin Referer.
    no_referer = browser.post("/api/whoami/", HTTP_X_CSRFTOKEN=token, secure=True)
    assert no_referer.status_code == 403
    assert "Referer" in no_referer.json()["detail"]
    bad_referer = browser.post(
        "/api/whoami/", HTTP_X_CSRFTOKEN=token, secure=True, HTTP_REFERER="https://evil.example/"
    )
    assert bad_referer.status_code == 403
    good_referer = browser.post(
        "/api/whoami/", HTTP_X_CSRFTOKEN=token, secure=True, HTTP_REFERER="https://testserver/page"
    )
    assert good_referer.status_code == 200


def test_header_authenticated_requests_need_no_csrf(browser: Client) -> None:
    user = make_user()
    with override_settings(JWTSESSIONS={}):
        access = login(Client(), user)["access"]
    response = browser.post("/api/whoami/", **_bearer(access))
    assert response.status_code == 200
    assert response.json() == {"user_id": str(user.pk)}


def test_csrf_endpoint_is_not_cacheable(browser: Client) -> None:
    response = browser.get("/api/auth/csrf/")
    assert response["Cache-Control"] == "no-store"
    assert "Cookie" in response["Vary"]


# --- header beats cookie ---------------------------------------------------------------------


def test_bearer_header_beats_the_cookie(browser: Client) -> None:
    cookie_user, header_user = make_user(), make_user()
    cookie_login(browser, cookie_user)
    with override_settings(JWTSESSIONS={}):
        access = login(Client(), header_user)["access"]
    for _ in range(3):
        response = browser.get("/api/whoami/", **_bearer(access))
        assert response.json() == {"user_id": str(header_user.pk)}
    # A bad header never falls back to the cookie.
    response = browser.get("/api/whoami/", **_bearer("not-a-token"))
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"
    assert browser.get("/api/whoami/").json() == {"user_id": str(cookie_user.pk)}


# --- logout ----------------------------------------------------------------------------------


def _expired_access_token(session: Session, *, lifetime: int = 900) -> str:
    return expired_access_token(session, 60, lifetime)


def test_logout_revokes_and_deletes_both_cookies(browser: Client) -> None:
    user = make_user()
    body = cookie_login(browser, user).json()
    response = browser.post("/api/auth/logout/", **csrf_headers(browser))
    assert response.status_code == 204
    assert_deleted(response, ACCESS, "/")
    assert_deleted(response, REFRESH, REFRESH_PATH)
    assert Session.objects.get(pk=body["session_id"]).revoked_at is not None
    assert browser.get("/api/whoami/").status_code == 401


def test_logout_with_an_expired_cookie_still_revokes_the_session(browser: Client) -> None:
    user = make_user()
    body = cookie_login(browser, user).json()
    session = Session.objects.get(pk=body["session_id"])
    expired = _expired_access_token(session)
    browser.cookies[ACCESS] = expired
    assert browser.get("/api/whoami/").json()["code"] == "token_expired"
    response = browser.post("/api/auth/logout/", **csrf_headers(browser))
    assert response.status_code == 204
    assert_deleted(response, ACCESS, "/")
    assert_deleted(response, REFRESH, REFRESH_PATH)
    session.refresh_from_db()
    assert session.revoked_at is not None
    assert session.revoke_reason == "logout"


def test_logout_with_an_invalid_cookie_deletes_cookies_and_revokes_nothing(browser: Client) -> None:
    user = make_user()
    body = cookie_login(browser, user).json()
    genuine_proof = browser.cookies[LOGOUT].value
    forged_proofs = ["", "garbage", f"{body['session_id']}.AAAAAAAAAAAAAAAAAAAAAA"]
    for garbage in ("garbage", "a.b.c", _forged_token(body["session_id"], user.pk)):
        for proof in forged_proofs:
            browser.cookies[ACCESS] = garbage
            browser.cookies[LOGOUT] = proof
            response = browser.post("/api/auth/logout/", **csrf_headers(browser))
            assert response.status_code == 204
            assert_deleted(response, ACCESS, "/")
            assert_deleted(response, REFRESH, REFRESH_PATH)
            assert_deleted(response, LOGOUT, LOGOUT_PATH)
    assert Session.objects.get(pk=body["session_id"]).revoked_at is None
    # The genuine logout cookie still does its one job.
    browser.cookies[LOGOUT] = genuine_proof
    assert browser.post("/api/auth/logout/", **csrf_headers(browser)).status_code == 204
    assert Session.objects.get(pk=body["session_id"]).revoked_at is not None


def test_logout_after_the_browser_dropped_the_access_cookie(browser: Client) -> None:
    """A browser deletes the access cookie when its Max-Age runs out; the logout cookie, sent
    only to the logout endpoint, still lets logout revoke the session for real."""
    body = cookie_login(browser, make_user()).json()
    login_response_cookies = dict(browser.cookies)
    assert_flags(login_response_cookies[LOGOUT], path=LOGOUT_PATH)
    assert login_response_cookies[LOGOUT]["max-age"] == login_response_cookies[REFRESH]["max-age"]
    assert body["session_id"] in login_response_cookies[LOGOUT].value
    del browser.cookies[ACCESS]
    response = browser.post("/api/auth/logout/", **csrf_headers(browser))
    assert response.status_code == 204
    assert_deleted(response, LOGOUT, LOGOUT_PATH)
    session = Session.objects.get(pk=body["session_id"])
    assert session.revoked_at is not None
    assert session.revoke_reason == "logout"


def _forged_token(session_id: str, user_id: Any) -> str:
    # Genuine claims, signed with a key that is not ours: must not revoke anything.
    with override_settings(JWTSESSIONS={**COOKIE_MODE, "SIGNING_KEY": "another-key-" * 4}):
        tokens._forget_keys()
        claims = {
            "sub": str(user_id),
            "sid": session_id,
            **tokens.standard_claims(timedelta(minutes=15)),
        }
        forged = tokens.encode(claims, tokens.ACCESS_TOKEN_TYPE)
    tokens._forget_keys()
    return forged


def test_logout_without_any_cookie_still_answers_and_clears(browser: Client) -> None:
    response = browser.post("/api/auth/logout/", **csrf_headers(browser))
    assert response.status_code == 204
    assert_deleted(response, ACCESS, "/")


def test_logout_by_cookie_needs_csrf(browser: Client) -> None:
    body = cookie_login(browser, make_user()).json()
    response = browser.post("/api/auth/logout/", content_type=JSON)
    assert response.status_code == 403
    assert Session.objects.get(pk=body["session_id"]).revoked_at is None


def test_a_broken_cookie_never_blocks_login(browser: Client) -> None:
    user = make_user()
    browser.cookies[ACCESS] = "garbage"
    response = cookie_login(browser, user)
    assert response.cookies[ACCESS].value.count(".") == 2


def test_logout_all_and_revoking_the_current_session_delete_the_cookies(browser: Client) -> None:
    user = make_user()
    cookie_login(browser, user)
    response = browser.post("/api/auth/logout-all/", **csrf_headers(browser))
    assert response.status_code == 204
    assert_deleted(response, ACCESS, "/")
    body = cookie_login(browser, user).json()
    response = browser.delete(f"/api/auth/sessions/{body['session_id']}/", **csrf_headers(browser))
    assert response.status_code == 204
    assert_deleted(response, REFRESH, REFRESH_PATH)
    assert not Session.objects.filter(user=user, revoked_at__isnull=True).exists()


# --- cookie name prefixes --------------------------------------------------------------------


def test_host_prefix_forces_secure_root_path_and_no_domain(browser: Client) -> None:
    host_access, secure_refresh = "__Host-access", "__Secure-refresh"
    settings = {
        "AUTH_COOKIE": host_access,
        "REFRESH_COOKIE": secure_refresh,
        "COOKIE_SECURE": False,
        "COOKIE_PATH": "/api/",
        "COOKIE_DOMAIN": "example.com",
    }
    user = make_user()
    with override_settings(JWTSESSIONS=settings):
        response = cookie_login(browser, user)
        access, refresh = response.cookies[host_access], response.cookies[secure_refresh]
        assert_flags(access, path="/")
        assert_flags(refresh, path=REFRESH_PATH, domain="example.com")
        assert browser.get("/api/whoami/").json() == {"user_id": str(user.pk)}
        response = browser.post("/api/auth/logout/", **csrf_headers(browser))
        assert response.status_code == 204
        assert_deleted(response, host_access, "/")
        assert response.cookies[secure_refresh]["max-age"] == 0
        assert response.cookies[secure_refresh]["secure"] is True


def test_host_prefixed_refresh_cookie_must_live_on_the_root_path(browser: Client) -> None:
    settings = {"AUTH_COOKIE": "__Host-a", "REFRESH_COOKIE": "__Host-r"}
    with override_settings(JWTSESSIONS=settings):
        response = cookie_login(browser, make_user())
        warnings = [m for m in checks.check_cookies() if "REFRESH_COOKIE" in m.msg]
    assert_flags(response.cookies["__Host-r"], path="/")
    assert [w.id for w in warnings] == ["jwtsessions.W004"]
    with override_settings(JWTSESSIONS={**settings, "REFRESH_COOKIE": "__Secure-r"}):
        assert not [m for m in checks.check_cookies() if "REFRESH_COOKIE" in m.msg]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer garbage",
        "Bearer a.b.c",
        "Bearer " + "x" * 5000,
        "Bearer",
        "Bearer two tokens",
        "bearer \x7f",
    ],
)
def test_issue_11_cookie_mode_logout_with_a_garbage_bearer_header_is_401(
    browser: Client, header: str
) -> None:
    """Issue 11 item 5: a present Authorization header must be valid, in cookie mode too."""
    body = cookie_login(browser, make_user()).json()
    response = browser.post("/api/auth/logout/", HTTP_AUTHORIZATION=header, **csrf_headers(browser))
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "token_invalid"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert Session.objects.get(pk=body["session_id"]).revoked_at is None
    # A forged token in the header is no better, and a genuine one logs out.
    session = Session.objects.get(pk=body["session_id"])
    forged = _forged_token(session.pk, session.user_id)
    assert browser.post("/api/auth/logout/", **_bearer(forged)).status_code == 401
    access, _ = sessions.issue_access_token(session.pk, session.user_id)
    assert browser.post("/api/auth/logout/", **_bearer(access)).status_code == 204
    session.refresh_from_db()
    assert session.revoked_at is not None
