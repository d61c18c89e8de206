"""Service tokens: exchange, claims, scope narrowing, type separation, blacklist, outages."""

from __future__ import annotations

import base64
import itertools
import json
import secrets
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jwtsessions import cachehealth, tokens
from jwtsessions.apikeys import codec, create_api_key
from jwtsessions.authentication import (
    ApiKeyAuthentication,
    JWTSessionAuthentication,
    ServiceTokenAuthentication,
)
from jwtsessions.revocation import blacklist_token, revoke_api_key
from tests.factories import bearer, login, make_user
from tests.test_apikeys import (
    CountingCache,
    _proxied_cache_settings,
    default_cache_link,  # noqa: F401 (fixture)
    key_header,
)

pytestmark = pytest.mark.django_db

SCOPES = ["items:read", "items:write"]


def exchange(client: Any, key: str, scope: str | None = None) -> Any:
    payload = {} if scope is None else {"scope": scope}
    return client.post(
        "/api/auth/service-token/", payload, content_type="application/json", **key_header(key)
    )


def service_token(client: Any, key: str, scope: str | None = None) -> str:
    r = exchange(client, key, scope)
    assert r.status_code == 200, r.content
    return str(r.json()["access"])


def service_only(client: Any, token: str) -> Any:
    """GET the view that admits service tokens only."""
    return client.get("/api/machine/service-only/", **bearer(token))


def segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def test_exchange_shape_and_claims(client):
    user = make_user()
    api_key, key = create_api_key(user, "svc", SCOPES)
    r = exchange(client, key)
    assert r.status_code == 200, r.content
    body = r.json()
    assert set(body) == {"access", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "items:read items:write"
    assert r["Cache-Control"] == "no-store"
    header, claims = segment(body["access"], 0), segment(body["access"], 1)
    assert header["typ"] == tokens.SERVICE_TOKEN_TYPE
    assert claims["sub"] == f"apikey:{api_key.public_id}"
    assert claims["scope"] == "items:read items:write"
    assert claims["exp"] - claims["iat"] == 3600
    assert set(claims) == {"sub", "scope", "jti", "iat", "exp"}
    # No personal data of the owner.
    text = json.dumps(claims)
    assert user.username not in text
    assert user.email not in text
    other = service_token(client, key)
    assert segment(other, 1)["jti"] != claims["jti"]


@override_settings(JWTSESSIONS={"SERVICE_TOKEN_LIFETIME": timedelta(minutes=5)})
def test_lifetime_follows_the_setting(client):
    _, key = create_api_key(make_user(), "svc", SCOPES)
    r = exchange(client, key)
    assert r.json()["expires_in"] == 300
    claims = segment(r.json()["access"], 1)
    assert claims["exp"] - claims["iat"] == 300


def test_token_never_outlives_its_key(client):
    expires = timezone.now() + timedelta(minutes=10)
    _, key = create_api_key(make_user(), "svc", SCOPES, expires_at=expires)
    r = exchange(client, key)
    assert 0 < r.json()["expires_in"] <= 600
    assert segment(r.json()["access"], 1)["exp"] == int(expires.timestamp())


def test_narrowing_is_allowed(client):
    _, key = create_api_key(make_user(), "svc", SCOPES)
    r = exchange(client, key, "items:read")
    assert r.status_code == 200
    assert r.json()["scope"] == "items:read"
    token = r.json()["access"]
    assert segment(token, 1)["scope"] == "items:read"
    assert client.get("/api/items/", **bearer(token)).status_code == 200
    r = client.get("/api/items/write/", **bearer(token))
    assert r.status_code == 403
    assert r.json() == {
        "detail": "The credential lacks a required scope.",
        "code": "insufficient_scope",
    }


@pytest.mark.parametrize("scope", ["items:admin", "items:read items:admin", "items"])
def test_widening_is_refused(client, scope):
    _, key = create_api_key(make_user(), "svc", SCOPES)
    r = exchange(client, key, scope)
    # Red-team finding 6: a scope the key lacks stays 403 insufficient_scope (first release).
    assert r.status_code == 403
    assert r.json() == {
        "detail": "The credential lacks a required scope.",
        "code": "insufficient_scope",
    }


def test_redteam_6_lacking_is_403_and_no_longer_grantable_is_400(client, settings):
    _, key = create_api_key(make_user(), "svc", ["items:read", "items:admin"])
    settings.JWTSESSIONS = {"API_KEY_SCOPES": ["items:read", "items:write"]}
    # items:write is grantable but the key lacks it: 403, whatever API_KEY_SCOPES says.
    r = exchange(client, key, "items:read items:write")
    assert (r.status_code, r.json()["code"]) == (403, "insufficient_scope")
    # items:admin is on the key but no longer grantable: 400 invalid_scope.
    r = exchange(client, key, "items:admin")
    assert (r.status_code, r.json()["code"]) == (400, "invalid_scope")


@pytest.mark.parametrize("scope", ["", " ", "items:read  items:write", "a\tb", "é", "x" * 65])
def test_malformed_scope_is_400(client, scope):
    _, key = create_api_key(make_user(), "svc", SCOPES)
    r = exchange(client, key, scope)
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_request"


def test_exchange_needs_an_api_key(client):
    user = make_user()
    session = login(client, user)
    r = client.post("/api/auth/service-token/", **bearer(session["access"]))
    assert r.status_code == 401
    # The contract: the RFC 6750 form on every 401, whatever the credential.
    assert r["WWW-Authenticate"].startswith("Bearer realm=")
    r = client.post("/api/auth/service-token/")
    assert r.status_code == 401
    _, key = create_api_key(user, "svc", SCOPES)
    token = service_token(client, key)
    # A service token cannot mint another one.
    assert client.post("/api/auth/service-token/", **bearer(token)).status_code == 401


def test_revoked_or_forged_key_gets_no_token(client):
    api_key, key = create_api_key(make_user(), "svc", SCOPES)
    forged = codec.compose(api_key.public_id, codec._random(codec.SECRET_LENGTH))
    assert exchange(client, forged).json()["code"] == "api_key_invalid"
    revoke_api_key(api_key)
    assert exchange(client, key).json()["code"] == "api_key_revoked"


# --- the two token kinds never stand in for each other ----------------------------------------


def test_service_token_is_refused_by_session_authentication(client):
    _, key = create_api_key(make_user(), "svc", SCOPES)
    token = service_token(client, key)
    r = client.get("/api/whoami/", **bearer(token))
    assert r.status_code == 401
    assert r.json()["code"] == "token_invalid"


def test_session_token_is_refused_by_service_token_authentication(client):
    access = login(client, make_user())["access"]
    r = service_only(client, access)
    assert r.status_code == 401
    # Alone, the class refuses the other kind (with another bearer class listed: None).
    assert r.json()["code"] == "token_invalid"


def test_session_token_with_a_service_type_claim_is_refused(client):
    # A session token re-signed under the service type is not a service token either.
    user = make_user()
    access = login(client, user)["access"]
    claims = segment(access, 1)
    forged = tokens.encode(claims, tokens.SERVICE_TOKEN_TYPE)
    r = service_only(client, forged)
    assert r.status_code == 401
    assert r.json()["code"] == "token_invalid"


def test_one_view_can_serve_both_kinds(client):
    user = make_user()
    _, key = create_api_key(user, "svc", SCOPES)
    token = service_token(client, key, "items:read")
    r = client.get("/api/machine/", **bearer(token))
    assert r.json() == {
        "user_id": str(user.pk),
        "kind": "ServiceTokenAuth",
        "scopes": ["items:read"],
    }
    access = login(client, user)["access"]
    r = client.get("/api/machine/", **bearer(access))
    assert r.json() == {"user_id": str(user.pk), "kind": "SessionAuth", "scopes": None}


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "user:1", "scope": "items:read"},
        {"sub": "apikey:short", "scope": "items:read"},
        {"sub": "apikey:AAAAAAAAAAAA", "scope": 7},
        {"sub": "apikey:AAAAAAAAAAAA", "scope": "a  b"},
    ],
)
def test_malformed_service_claims_are_refused(client, claims):
    token = tokens.encode(
        {**claims, **tokens.standard_claims(timedelta(minutes=5))}, tokens.SERVICE_TOKEN_TYPE
    )
    r = service_only(client, token)
    assert r.status_code == 401
    assert r.json()["code"] == "token_invalid"


def test_tampered_or_expired_service_token_is_refused(client):
    api_key, key = create_api_key(make_user(), "svc", SCOPES)
    token = service_token(client, key, "items:read")
    header, _payload, signature = token.split(".")
    claims = segment(token, 1)
    claims["scope"] = "items:read items:write"
    widened = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    r = service_only(client, f"{header}.{widened}.{signature}")
    assert r.json()["code"] == "token_invalid"

    now = tokens.now_seconds()
    expired = tokens.encode(
        {
            "sub": f"apikey:{api_key.public_id}",
            "scope": "",
            "jti": "x1",
            "iat": now - 120,
            "exp": now - 60,
        },
        tokens.SERVICE_TOKEN_TYPE,
    )
    r = service_only(client, expired)
    assert r.status_code == 401
    assert r.json()["code"] == "token_expired"


# --- revocation -------------------------------------------------------------------------------


def test_blacklisted_service_token_is_refused_on_the_next_request(client):
    _, key = create_api_key(make_user(), "svc", SCOPES)
    token = service_token(client, key)
    assert service_only(client, token).status_code == 200
    assert blacklist_token(token, reason="leaked") is not None
    r = service_only(client, token)
    assert r.status_code == 401
    assert r.json() == {"detail": "The access token has been revoked.", "code": "token_revoked"}
    # Other tokens of the same key still work.
    assert service_only(client, service_token(client, key)).status_code == 200


def test_blacklisted_by_jti_with_a_cold_cache(client):
    _, key = create_api_key(make_user(), "svc", SCOPES)
    token = service_token(client, key)
    blacklist_token(segment(token, 1)["jti"])
    caches["default"].clear()
    assert service_only(client, token).json()["code"] == "token_revoked"


def test_revoking_the_key_ends_its_service_tokens(client):
    api_key, key = create_api_key(make_user(), "svc", SCOPES)
    token = service_token(client, key)
    assert service_only(client, token).status_code == 200
    revoke_api_key(api_key)
    r = service_only(client, token)
    assert r.status_code == 401
    assert r.json()["code"] == "api_key_revoked"


def test_inactive_owner_ends_service_tokens(client):
    user = make_user()
    _, key = create_api_key(user, "svc", SCOPES)
    token = service_token(client, key)
    user.is_active = False
    user.save()
    assert service_only(client, token).json()["code"] == "user_inactive"


def test_narrowing_the_key_narrows_outstanding_tokens(client):
    api_key, key = create_api_key(make_user(), "svc", SCOPES)
    token = service_token(client, key)
    assert client.get("/api/items/write/", **bearer(token)).status_code == 200
    api_key.scopes = ["items:read"]
    api_key.save()
    assert client.get("/api/items/write/", **bearer(token)).status_code == 403
    assert client.get("/api/items/", **bearer(token)).status_code == 200


# --- cost and outages ---------------------------------------------------------------------------


def test_warm_service_token_request_runs_no_sql_and_no_cache_call(client, monkeypatch):
    _, key = create_api_key(make_user(), "svc", SCOPES)
    token = service_token(client, key)
    service_only(client, token)  # loads the blacklist marker
    counting = CountingCache(caches["default"])
    monkeypatch.setattr(cachehealth, "_cache", lambda: counting)
    with CaptureQueriesContext(connection) as queries:
        r = service_only(client, token)
    assert r.status_code == 200
    assert len(queries) == 0, [q["sql"] for q in queries]
    assert counting.calls == []


def test_cache_down_service_tokens_use_the_database(client, default_cache_link):  # noqa: F811
    with override_settings(
        CACHES=_proxied_cache_settings(default_cache_link), JWTSESSIONS={"CACHE_OUTAGE_BACKOFF": 0}
    ):
        api_key, key = create_api_key(make_user(), "svc", SCOPES)
        token = service_token(client, key)
        revoked_one = service_token(client, key)
        default_cache_link.down()
        assert service_only(client, token).status_code == 200
        blacklist_token(revoked_one)
        r = service_only(client, revoked_one)
        assert r.json()["code"] == "token_revoked"
        # A new token can still be obtained with the cache down.
        fresh = service_token(client, key)
        revoke_api_key(api_key)
        assert service_only(client, fresh).json()["code"] == "api_key_revoked"
        default_cache_link.up()
        for candidate in (token, revoked_one, fresh):
            r = service_only(client, candidate)
            assert r.status_code == 401


# --- issue 10 finding 8: every order of the three authentication classes works ----------------

AUTH_CLASSES = (JWTSessionAuthentication, ApiKeyAuthentication, ServiceTokenAuthentication)


def _view_with(order: tuple[type, ...]) -> Any:
    from tests.views import MachineView

    return MachineView.as_view(authentication_classes=list(order))


@pytest.mark.parametrize(
    "order",
    list(itertools.permutations(AUTH_CLASSES)),
    ids=lambda order: "-".join(c.__name__.removesuffix("Authentication") for c in order),
)
def test_finding_8_every_order_of_the_authentication_classes_works(client, rf, order):
    """The README's order (JWTSession, ApiKey, ServiceToken) refused every service token."""
    user = make_user()
    _, key = create_api_key(user, "svc", SCOPES)
    credentials = {
        "SessionAuth": bearer(login(client, user)["access"]),
        "ApiKeyAuth": key_header(key),
        "ServiceTokenAuth": bearer(service_token(client, key, "items:read")),
    }
    view = _view_with(order)
    for kind, headers in credentials.items():
        response = view(rf.get("/api/machine/", **headers))
        assert response.status_code == 200, (kind, response.data)
        assert response.data["kind"] == kind
    # Whatever the order, a bad credential of any kind is still refused, never let through.
    other_key = create_api_key(user, "other", SCOPES)[1]
    forged_key = other_key[:20] + ("A" if other_key[20] != "A" else "B") + other_key[21:]
    refusals = {
        "garbage": ({"HTTP_AUTHORIZATION": "Bearer not.a.token"}, "token_invalid"),
        "forged api key": (key_header(forged_key), "api_key_invalid"),
        "forged session token": (
            bearer(_resigned(credentials["SessionAuth"], tokens.ACCESS_TOKEN_TYPE)),
            "token_invalid",
        ),
        "forged service token": (
            bearer(_resigned(credentials["ServiceTokenAuth"], tokens.SERVICE_TOKEN_TYPE)),
            "token_invalid",
        ),
    }
    for name, (headers, code) in refusals.items():
        response = view(rf.get("/api/machine/", **headers))
        response.render()
        assert response.status_code == 401, name
        assert json.loads(response.content)["code"] == code, name


def _resigned(headers: dict[str, str], token_type: str) -> str:
    """The same claims, signed with a key that is not the server's."""
    token = headers["HTTP_AUTHORIZATION"].split()[1]
    claims = segment(token, 1)
    with override_settings(JWTSESSIONS={"SIGNING_KEY": secrets.token_urlsafe(48)}):
        tokens._forget_keys()
        forged = tokens.encode(claims, token_type)
    tokens._forget_keys()
    return forged


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/api/machine/service-only/", "session"), ("/api/whoami/", "service")],
)
def test_finding_8_a_class_alone_still_refuses_the_other_kind(client, path, kind):
    user = make_user()
    _, key = create_api_key(user, "svc", SCOPES)
    token = login(client, user)["access"] if kind == "session" else service_token(client, key)
    r = client.get(path, **bearer(token))
    assert r.status_code == 401
    assert r.json()["code"] == "token_invalid"


# --- issue 10 finding 4: scopes only narrow --------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "status", "granted"),
    [
        (None, 200, "items:read"),  # the key's admin scope is no longer grantable: dropped
        ("items:read", 200, "items:read"),
        ("items:admin", 400, None),
        ("items:read items:admin", 400, None),
    ],
)
def test_finding_4_service_tokens_never_carry_a_scope_no_longer_grantable(
    client, settings, requested, status, granted
):
    _, key = create_api_key(make_user(), "svc", ["items:read", "items:admin"])
    settings.JWTSESSIONS = {"API_KEY_SCOPES": ["items:read", "items:write"]}
    r = exchange(client, key, requested)
    assert r.status_code == status, r.content
    if granted is None:
        assert r.json()["code"] == "invalid_scope"
    else:
        assert r.json()["scope"] == granted
        assert segment(r.json()["access"], 1)["scope"] == granted
