"""A fuzz pass over every endpoint: hostile JSON, bodies, headers, ids and cookies, 0 x 5xx.

Hypothesis draws requests against the package's endpoints, in header mode and cookie mode, with
no credential, a garbage one or a genuine session token, API key or service token. The Django
test client re-raises any exception a view lets out, so a would-be 500 fails here with its
traceback. Every 4xx from the package's endpoints must have the ``{"detail", "code"}`` shape.
Bounded: a fixed number of examples per mode, no deadline games; it runs in seconds.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
from django.test import Client, override_settings
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwtsessions import sessions
from jwtsessions.apikeys import KeyState, create_api_key, issue_service_token
from tests.factories import make_user

pytestmark = pytest.mark.django_db

LATIN1 = st.characters(max_codepoint=255)
text = st.text(LATIN1, max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
FIELDS = ("username", "password", "refresh", "name", "scopes", "expires_at", "scope")
json_bodies = st.one_of(
    st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, json_values)),
    json_values,
    st.integers(1, 5000).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 3000).map(lambda n: '{"username":' * n + "1" + "}" * n),
)
raw_bodies = st.tuples(
    st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/plain",
            "application/json; charset=utf-16",
            "",
            "\x00/\x00",
        ]
    ),
    st.binary(max_size=600),
)
ids = st.one_of(text, st.integers(-(2**70), 2**70).map(str), st.just("\x00"))
ENDPOINTS = [
    ("POST", "login/"),
    ("POST", "refresh/"),
    ("POST", "logout/"),
    ("POST", "logout-all/"),
    ("GET", "sessions/"),
    ("GET", "sessions/{id}/"),
    ("DELETE", "sessions/{id}/"),
    ("GET", "api-keys/"),
    ("POST", "api-keys/"),
    ("GET", "api-keys/{id}/"),
    ("DELETE", "api-keys/{id}/"),
    ("POST", "service-token/"),
    ("GET", "jwks.json"),
    ("GET", "csrf/"),
]
requests = st.fixed_dictionaries(
    {
        "endpoint": st.sampled_from(ENDPOINTS),
        "method": st.sampled_from([None, None, None, "PUT", "PATCH", "OPTIONS", "HEAD", "TRACE"]),
        "id": ids,
        "body": st.one_of(
            json_bodies.map(lambda b: ("json", b)), raw_bodies.map(lambda b: ("raw", b))
        ),
        "credential": st.sampled_from(["none", "session", "api_key", "service", "garbage"]),
        "garbage": text,
        "forwarded": st.none() | text,
        "agent": st.none() | text,
        "cookie": st.none() | text,
        "api_key_header": st.none() | text,
    }
)


def _credentials() -> dict[str, dict[str, str]]:
    user = make_user()  # no password hashing: factories hash each password once
    api_key, key = create_api_key(user, "fuzz", ["items:read"])
    state = KeyState(api_key.public_id, str(user.pk), 0, ("items:read",))
    service, _ = issue_service_token(state, ("items:read",))
    return {
        "none": {},
        "session": {"HTTP_AUTHORIZATION": f"Bearer {sessions.create_session(user).access}"},
        "api_key": {"HTTP_AUTHORIZATION": f"Api-Key {key}"},
        "service": {"HTTP_AUTHORIZATION": f"Bearer {service}"},
    }


def _is_ours(path: str) -> bool:
    try:
        # As Django routes it: percent-decoded (an id of "/" leaves the package's URLs).
        return "jwtsessions" in resolve(unquote(urlsplit(path).path)).namespaces
    except Resolver404:
        return False


def _send(client: Client, credentials: dict[str, dict[str, str]], r: dict[str, Any]) -> None:
    method, template = r["endpoint"]
    method = r["method"] or method
    path = "/api/auth/" + template.replace("{id}", quote(r["id"], safe=""))
    headers: dict[str, str] = dict(
        credentials.get(r["credential"], {"HTTP_AUTHORIZATION": r["garbage"]})
    )
    for key, value in (
        ("HTTP_X_FORWARDED_FOR", r["forwarded"]),
        ("HTTP_USER_AGENT", r["agent"]),
        ("HTTP_X_API_KEY", r["api_key_header"]),
        ("HTTP_COOKIE", None if r["cookie"] is None else _cookies(r["cookie"])),
    ):
        if value is not None:
            headers[key] = value
    kind, body = r["body"]
    if kind == "json":
        content_type, data = (
            "application/json",
            (body if isinstance(body, str) else json.dumps(body)),
        )
    else:
        content_type, data = body
    response = client.generic(method, path, data, content_type=content_type, **headers)
    assert response.status_code < 500, (method, path, response.status_code)
    if response.status_code >= 400 and _is_ours(path) and method != "HEAD":
        assert response["Content-Type"].startswith("application/json"), response.content[:200]
        assert {"detail", "code"} <= set(response.json()), response.content[:200]


def _cookies(value: str) -> str:
    names = ("access", "refresh_token", "refresh_token_logout", "csrftoken", "sessionid")
    return "; ".join(f"{name}={value}" for name in names)


@pytest.mark.parametrize(
    "mode",
    [{"NUM_PROXIES": 1}, {"AUTH_COOKIE": "access", "NUM_PROXIES": 1}],
    ids=["header-mode", "cookie-mode"],
)
def test_fuzz_every_endpoint_never_answers_5xx(mode: dict[str, Any]) -> None:
    with override_settings(JWTSESSIONS=mode):
        client = Client()

        @settings(
            max_examples=120,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(requests)
        def fuzz(r: dict[str, Any]) -> None:
            # Fresh credentials each time: an earlier example may have logged out or revoked.
            _send(client, _credentials(), r)

        fuzz()
