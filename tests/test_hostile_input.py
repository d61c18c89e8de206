"""Issue 10 finding 6: hostile bytes get a 4xx in the contract's shape, never a 500.

Every case was a 500 (or Django's HTML 400) from an unauthenticated or ordinary client, several
only on PostgreSQL: run this file with ``DATABASE_URL`` set too. The Django test client re-raises
a view's exception, so a case that would be a 500 fails loudly here.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings

from jwtsessions import sessions, tokens
from jwtsessions.apikeys import create_api_key
from jwtsessions.models import Session
from tests.factories import DEFAULT_PASSWORD, bearer, login, make_user

pytestmark = pytest.mark.django_db

JSON = "application/json"
DEEP_JSON = {
    "deep array": "[" * 100_000 + "]" * 100_000,
    "deep object": '{"a":' * 50_000 + "1" + "}" * 50_000,
    "deep inside a field": '{"username": ' + "[" * 100_000 + "]" * 100_000 + ', "password": "x"}',
}


def assert_contract_4xx(response: Any, status: int | None = None) -> dict[str, Any]:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:200])
    if status is not None:
        assert response.status_code == status, response.content[:200]
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert {"detail", "code"} <= set(body), body
    return dict(body)


@pytest.fixture
def credentials(client: Client) -> Any:
    """``credentials(kind)``: headers for no credential, a session token or an API key."""

    def make(kind: str) -> dict[str, str]:
        user = make_user()
        if kind == "session":
            return bearer(sessions.create_session(user).access)
        if kind == "api_key":
            return {"HTTP_AUTHORIZATION": f"Api-Key {create_api_key(user, 'k', ['a'])[1]}"}
        return {}

    return make


JSON_VIEWS = [
    ("post", "/api/auth/login/", "none"),
    ("post", "/api/auth/refresh/", "none"),
    ("post", "/api/auth/logout/", "session"),
    ("post", "/api/auth/logout-all/", "session"),
    ("post", "/api/auth/api-keys/", "session"),
    ("post", "/api/auth/service-token/", "api_key"),
    ("get", "/api/auth/sessions/", "session"),
]


@pytest.mark.parametrize(("method", "path", "auth"), JSON_VIEWS)
@pytest.mark.parametrize("body", list(DEEP_JSON.values()), ids=list(DEEP_JSON))
def test_finding_6_deeply_nested_json_is_a_400_on_every_json_view(
    client, credentials, method, path, auth, body
):
    response = client.generic(method.upper(), path, body, content_type=JSON, **credentials(auth))
    if response.status_code < 300:
        return  # a view that never reads the body (logout, sessions) may just work
    assert_contract_4xx(response)


FORWARDED = [
    # (the entry the trusted proxy wrote, the address stored)
    ("198.51.100.7", "198.51.100.7"),
    ("198.51.100.7:5678", "198.51.100.7"),
    ("[2001:db8::1]:443", "2001:db8::1"),
    ("[2001:db8::1]", "2001:db8::1"),
    ("2001:DB8:0:0::1", "2001:db8::1"),
    ("::ffff:198.51.100.7", "198.51.100.7"),
    ("fe80::1%eth0", "fe80::1"),
    ("unknown", "10.0.0.1"),
    ("junk", "10.0.0.1"),
    ("_hidden", "10.0.0.1"),
    ("198.51.100.7:99999", "10.0.0.1"),
    ("198.51.100.7.5", "10.0.0.1"),
    ("999.1.1.1", "10.0.0.1"),
    ("[2001:db8::1", "10.0.0.1"),
    ("[2001:db8::1]x", "10.0.0.1"),
    ("' OR 1=1 --", "10.0.0.1"),
    ("1.2.3.4\x00", "10.0.0.1"),
    ("x" * 2000, "10.0.0.1"),
]


@pytest.mark.parametrize(("entry", "stored"), FORWARDED, ids=[f[0][:20] for f in FORWARDED])
@override_settings(JWTSESSIONS={"NUM_PROXIES": 1})
def test_finding_6_x_forwarded_for_entries_that_are_not_bare_addresses(client, entry, stored):
    user = make_user()
    r = client.post(
        "/api/auth/login/",
        {"username": user.username, "password": DEFAULT_PASSWORD},
        content_type=JSON,
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR=f"203.0.113.9, {entry}",
    )
    assert r.status_code == 200, r.content[:200]
    assert Session.objects.get(pk=r.json()["session_id"]).ip_address == stored


@pytest.mark.parametrize(
    ("agent", "stored"),
    [
        ("Mozilla/5.0\x00evil", "Mozilla/5.0evil"),
        ("a\x01b\x1fc\x7fd\x85e", "abcde"),
        ("\x00" * 300, ""),
        ("é" * 300, "é" * 256),
        ("\ttab\r\nnewline", "tabnewline"),
    ],
    ids=["nul", "controls", "only-nul", "long", "whitespace-controls"],
)
def test_finding_6_control_characters_in_the_user_agent(client, agent, stored):
    user = make_user()
    r = client.post(
        "/api/auth/login/",
        {"username": user.username, "password": DEFAULT_PASSWORD},
        content_type=JSON,
        HTTP_USER_AGENT=agent,
    )
    assert r.status_code == 200, r.content[:200]
    assert Session.objects.get(pk=r.json()["session_id"]).user_agent == stored


SESSION_IDS = ["%00", "a%00b", "%2E%2E", "x" * 33, "..", "%E2%80%AE", "a%20b", "%FF", "%C0%80"]


@pytest.mark.parametrize("session_id", SESSION_IDS)
@pytest.mark.parametrize("method", ["get", "delete"])
def test_finding_6_malformed_session_ids_are_404(client, credentials, method, session_id):
    response = getattr(client, method)(
        f"/api/auth/sessions/{session_id}/", **credentials("session")
    )
    assert_contract_4xx(response, 404)


API_KEY_IDS = ["x", "1.5", "-1", "%00", "1%00", "%EF%BC%91", "9" * 19, "0x10", "%20%31"]


@pytest.mark.parametrize("key_id", API_KEY_IDS)
@pytest.mark.parametrize("method", ["get", "delete"])
def test_redteam_api_key_ids_that_are_not_numbers_get_the_json_404(
    client, credentials, method, key_id
):
    """Red team, 2026-11-30: ``DELETE api-keys/x/`` matched no URL pattern (``<int:>``) and got
    the project's HTML 404 page instead of the contract's ``{"detail", "code"}``."""
    response = getattr(client, method)(f"/api/auth/api-keys/{key_id}/", **credentials("session"))
    assert assert_contract_4xx(response, 404)["code"] == "not_found"


def _signed(claims: dict[str, Any], token_type: str = tokens.ACCESS_TOKEN_TYPE) -> str:
    return tokens.encode(
        {**tokens.standard_claims(tokens.jwt_settings.ACCESS_TOKEN_LIFETIME), **claims}, token_type
    )


@pytest.mark.parametrize(
    "claims",
    [
        {"sid": "\x00"},
        {"sid": "abc\x00def"},
        {"jti": "\x00"},
        {"sub": "1\x00"},
        {"sub": "not-a-number"},
        {"sid": "../../etc"},
    ],
    ids=["sid-nul", "sid-inner-nul", "jti-nul", "sub-nul", "sub-not-a-pk", "sid-junk"],
)
@pytest.mark.parametrize("path", ["/api/whoami/", "/api/auth/logout/", "/api/auth/sessions/"])
def test_finding_6_a_signed_token_with_hostile_ids(client, claims, path):
    user = make_user()
    session_id = sessions.create_session(user).session.pk
    token = _signed({"sub": str(user.pk), "sid": session_id, **claims})
    response = (
        client.post(path, **bearer(token))
        if "logout" in path
        else client.get(path, **bearer(token))
    )
    body = assert_contract_4xx(response, 401)
    assert body["code"] in ("token_invalid", "session_revoked")
    assert Session.objects.get(pk=session_id).revoked_at is None


def test_finding_6_a_refresh_token_or_logout_proof_with_a_nul(client):
    body = login(client, make_user())
    session_id, generation, secret, tag = body["refresh"].split(".")
    for refresh in (f"{session_id}\x00.{generation}.{secret}.{tag}", "\x00", "a.b.c.\x00"):
        r = client.post("/api/auth/refresh/", {"refresh": refresh}, content_type=JSON)
        assert_contract_4xx(r)
    assert sessions.session_of_logout_proof("\x00." + "A" * 22) is None


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (JSON, '{"username": "a", "password": "' + "p" * 5000 + '"}'),
        ("application/x-www-form-urlencoded", "username=a&password=" + "p" * 5000),
        ("application/x-www-form-urlencoded", "&".join(f"f{i}=1" for i in range(50))),
    ],
    ids=["json-too-big", "form-too-big", "form-too-many-fields"],
)
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2000, DATA_UPLOAD_MAX_NUMBER_FIELDS=20)
@pytest.mark.parametrize("cookie_mode", [False, True], ids=["header-mode", "cookie-mode"])
def test_finding_6_bodies_over_djangos_limits(client, settings, content_type, body, cookie_mode):
    if cookie_mode:
        settings.JWTSESSIONS = {"AUTH_COOKIE": "access"}
    r = client.generic("POST", "/api/auth/login/", body, content_type=content_type)
    body_json = assert_contract_4xx(r, 400)
    assert body_json["code"] == "invalid_request"


class _BrokenStream:
    """A client that went away mid-body."""

    def read(self, *args: Any) -> bytes:
        raise OSError("connection reset")

    def readline(self, *args: Any) -> bytes:
        raise OSError("connection reset")


def test_finding_6_an_unreadable_body(client):
    r = client.generic(
        "POST",
        "/api/auth/login/",
        "",
        CONTENT_TYPE=JSON,
        CONTENT_LENGTH="100",
        **{"wsgi.input": _BrokenStream()},
    )
    assert_contract_4xx(r, 400)


@pytest.mark.parametrize("host", ["evil.example", "bad host", "a" * 300, "[::1", "x:99999999"])
@override_settings(ALLOWED_HOSTS=["testserver"])
def test_finding_6_a_bad_host_on_the_packages_urls(client, host):
    r = client.post("/api/auth/login/", "{}", content_type=JSON, HTTP_HOST=host)
    assert_contract_4xx(r, 400)
    # Elsewhere, the project's own (here Django's) page.
    assert client.get("/admin/", HTTP_HOST=host).status_code == 400
