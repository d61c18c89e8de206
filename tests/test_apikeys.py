"""API keys: format, storage, authentication, the endpoints, and the cache over the database."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jwtsessions import apikeys, cachehealth, localcache, store, sync
from jwtsessions.apikeys import codec, create_api_key
from jwtsessions.models import ApiKey
from jwtsessions.revocation import revoke_api_key
from tests.factories import DEFAULT_PASSWORD, bearer, login, make_user
from tests.services import TcpProxy

pytestmark = pytest.mark.django_db


def key_header(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Api-Key {key}"}


class CountingCache:
    """Wraps the real cache and counts every call made through it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if callable(attribute):

            def counted(*args: Any, **kwargs: Any) -> Any:
                self.calls.append(name)
                return attribute(*args, **kwargs)

            return counted
        return attribute


# --- format and hashing -------------------------------------------------------------------------


def test_key_format_and_entropy():
    public_id, key, digest = codec.generate()
    prefix, middle, tail = key.split("_")
    assert prefix == "key"
    assert middle == public_id
    assert len(public_id) == 12
    secret = tail[: codec.SECRET_LENGTH]
    assert len(secret) == 43
    assert len(tail) == 43 + 6
    assert set(secret) <= set(codec.ALPHABET)
    assert codec.parse(key) == (public_id, secret)
    assert len(digest) == 64
    assert secret not in digest
    # Distinct draws, distinct secrets.
    assert len({codec.generate()[1] for _ in range(50)}) == 50


@override_settings(JWTSESSIONS={"API_KEY_PREFIX": "acme_live"})
def test_prefix_follows_settings_even_with_an_underscore():
    public_id, key, _ = codec.generate()
    assert key.startswith("acme_live_" + public_id + "_")
    assert codec.parse(key) is not None
    assert codec.parse("key" + key[len("acme_live") :]) is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k[:-1],  # truncated
        lambda k: k + "x",  # too long
        lambda k: k[:20] + ("A" if k[20] != "A" else "B") + k[21:],  # one typo in the secret
        lambda k: k.replace("_", "-"),
        lambda k: "nope" + k[3:],
        lambda k: k[:-6] + "000000",  # wrong checksum
        lambda k: "",
    ],
)
def test_mistyped_keys_fail_the_checksum(mangle):
    _, key, _ = codec.generate()
    assert codec.parse(mangle(key)) is None


def test_digest_comparison():
    public_id, key, digest = codec.generate()
    _, secret = codec.parse(key)  # type: ignore[misc]
    assert codec.matches(digest, public_id, secret)
    other_last = "y" if secret.endswith("x") else "x"  # a secret differing in one character
    assert not codec.matches(digest, public_id, secret[:-1] + other_last)
    assert not codec.matches(digest, "A" * 12, secret)  # the digest binds the public id
    assert not codec.matches("", public_id, secret)
    assert not codec.matches("zz-not-hex", public_id, secret)


def test_database_holds_no_secret_in_any_column(client):
    user = make_user()
    tokens = login(client, user)
    r = client.post(
        "/api/auth/api-keys/",
        {"name": "ci", "scopes": ["items:read"], "password": DEFAULT_PASSWORD},
        content_type="application/json",
        **bearer(tokens["access"]),
    )
    assert r.status_code == 201, r.content
    key = r.json()["key"]
    public_id, secret = codec.parse(key)  # type: ignore[misc]
    r = client.get("/api/machine/", **key_header(key))
    assert r.status_code == 200
    ApiKey.objects.all()  # the row exists; read it raw, every column
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiKey._meta.db_table}")
        rows = cursor.fetchall()
    assert len(rows) == 1
    flat = " ".join(str(value) for value in rows[0])
    assert public_id in flat
    assert secret not in flat
    assert key not in flat
    for chunk in (secret[i : i + 12] for i in range(0, 31, 6)):
        assert chunk not in flat
    assert str(ApiKey.objects.get()).find(secret) == -1


# --- authentication ------------------------------------------------------------------------------


def test_key_authenticates_by_either_header():
    user = make_user()
    _api_key, key = create_api_key(user, "ci", ["items:read"])
    from django.test import Client

    client = Client()
    for headers in (key_header(key), {"HTTP_X_API_KEY": key}):
        r = client.get("/api/machine/", **headers)
        assert r.status_code == 200, r.content
        assert r.json() == {
            "user_id": str(user.pk),
            "kind": "ApiKeyAuth",
            "scopes": ["items:read"],
        }


def test_key_in_query_string_or_body_is_ignored(client):
    _, key = create_api_key(make_user(), "ci")
    r = client.get(f"/api/machine/?api_key={key}&key={key}")
    assert r.status_code == 401
    assert r.json()["code"] == "not_authenticated"
    r = client.generic(
        "GET", "/api/machine/", f'{{"api_key": "{key}"}}', content_type="application/json"
    )
    assert r.status_code == 401
    assert r.json()["code"] == "not_authenticated"


def test_request_auth_exposes_the_key_and_its_scopes(rf):
    from rest_framework.request import Request

    from jwtsessions.authentication import ApiKeyAuthentication

    user = make_user()
    api_key, key = create_api_key(user, "ci", ["a", "b"])
    found = ApiKeyAuthentication().authenticate(Request(rf.get("/", **key_header(key))))
    assert found is not None
    owner, auth = found
    assert owner.pk == user.pk
    assert owner.is_authenticated
    assert auth.public_id == api_key.public_id
    assert auth.scopes == ("a", "b")
    assert auth.api_key.pk == api_key.pk
    assert key not in repr(auth)


def test_other_schemes_are_left_to_other_classes(client):
    r = client.get("/api/machine/api-key-only/", HTTP_AUTHORIZATION="Bearer abc")
    assert r.status_code == 401
    assert r.json()["code"] == "not_authenticated"


def test_forged_secret_with_a_real_public_id_is_refused(client):
    api_key, key = create_api_key(make_user(), "ci")
    forged_secret = codec._random(codec.SECRET_LENGTH)
    forged = codec.compose(api_key.public_id, forged_secret)
    for _ in range(2):  # cold, then warm cache
        r = client.get("/api/machine/", **key_header(forged))
        assert r.status_code == 401
        assert r.json() == {"detail": "The API key is invalid.", "code": "api_key_invalid"}
        assert 'error_description="api_key_invalid"' in r["WWW-Authenticate"]
    assert client.get("/api/machine/", **key_header(key)).status_code == 200


def test_unknown_public_id_is_refused(client):
    _, key, _ = codec.generate()  # well-formed, never stored
    r = client.get("/api/machine/", **key_header(key))
    assert r.status_code == 401
    assert r.json()["code"] == "api_key_invalid"


@pytest.mark.parametrize("header", ["Api-Key", "Api-Key a b", "api-key \x00"])
def test_malformed_authorization_is_refused(client, header):
    r = client.get("/api/machine/", HTTP_AUTHORIZATION=header)
    assert r.status_code == 401
    assert r.json()["code"] == "api_key_invalid"


def test_mistyped_key_costs_no_query_and_no_cache_call(client, monkeypatch):
    _, key = create_api_key(make_user(), "ci")
    typo = key[:-8] + ("a" if key[-8] != "a" else "b") + key[-7:]
    counting = CountingCache(caches["default"])
    monkeypatch.setattr(cachehealth, "_cache", lambda: counting)
    with CaptureQueriesContext(connection) as queries:
        r = client.get("/api/machine/api-key-only/", **key_header(typo))
    assert r.status_code == 401
    assert r.json()["code"] == "api_key_invalid"
    assert len(queries) == 0, [q["sql"] for q in queries]
    assert counting.calls == []
    # The same wrapper does see the calls of a well-formed key (its "last used" stamp).
    client.get("/api/machine/api-key-only/", **key_header(key))
    assert counting.calls


def test_warm_request_runs_no_sql_and_no_cache_call(client, monkeypatch):
    # Counted on the real Redis in tests/test_warm_costs.py; this one counts calls made
    # through the cache object.
    _, key = create_api_key(make_user(), "ci")
    client.get("/api/machine/", **key_header(key))  # warm (also records "last used")
    counting = CountingCache(caches["default"])
    monkeypatch.setattr(cachehealth, "_cache", lambda: counting)
    with CaptureQueriesContext(connection) as queries:
        r = client.get("/api/machine/", **key_header(key))
    assert r.status_code == 200
    assert len(queries) == 0, [q["sql"] for q in queries]
    assert counting.calls == []


def test_cold_cache_costs_one_query_then_none(client):
    _, key = create_api_key(make_user(), "ci")
    caches["default"].clear()
    sync.catch_up()  # this process is up to date with the refusal log (its once-a-second query)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/machine/api-key-only/", **key_header(key)).status_code == 200
    assert len(queries) == 1
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/machine/api-key-only/", **key_header(key)).status_code == 200
    assert len(queries) == 0


def test_revocation_acts_on_the_next_request_with_a_warm_cache(client):
    api_key, key = create_api_key(make_user(), "ci")
    assert client.get("/api/machine/", **key_header(key)).status_code == 200
    assert revoke_api_key(api_key, reason="test")
    r = client.get("/api/machine/", **key_header(key))
    assert r.status_code == 401
    assert r.json() == {"detail": "The API key has been revoked.", "code": "api_key_revoked"}
    row = ApiKey.objects.get(pk=api_key.pk)
    assert row.revoked_at is not None
    assert row.revoke_reason == "test"


def test_revocation_by_admin_style_save_acts_on_the_next_request(client):
    api_key, key = create_api_key(make_user(), "ci", ["a", "b"])
    assert client.get("/api/machine/", **key_header(key)).json()["scopes"] == ["a", "b"]
    api_key.scopes = ["a"]
    api_key.save()
    assert client.get("/api/machine/", **key_header(key)).json()["scopes"] == ["a"]
    api_key.revoked_at = timezone.now()
    api_key.save()
    assert client.get("/api/machine/", **key_header(key)).json()["code"] == "api_key_revoked"


def test_expiry_acts_on_the_next_request_with_a_warm_cache(client):
    expires = timezone.now() + timedelta(seconds=2)
    api_key, key = create_api_key(make_user(), "ci", expires_at=expires)
    assert client.get("/api/machine/", **key_header(key)).status_code == 200
    # The cached entry stays warm; its own expiry time decides.
    time.sleep(max((expires - timezone.now()).total_seconds(), 0) + 0.1)
    assert caches["default"].get(store.API_KEY_KEY + api_key.public_id) is not None
    r = client.get("/api/machine/", **key_header(key))
    assert r.status_code == 401
    assert r.json() == {"detail": "The API key has expired.", "code": "api_key_expired"}


def test_expired_key_with_forged_secret_is_invalid_not_expired(client):
    past = timezone.now() - timedelta(minutes=1)
    api_key, _ = create_api_key(make_user(), "ci")
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=past)
    caches["default"].clear()
    forged = codec.compose(api_key.public_id, codec._random(codec.SECRET_LENGTH))
    assert client.get("/api/machine/", **key_header(forged)).json()["code"] == "api_key_invalid"


def test_inactive_owner_is_refused_at_once(client):
    user = make_user()
    _, key = create_api_key(user, "ci")
    assert client.get("/api/machine/", **key_header(key)).status_code == 200
    user.is_active = False
    user.save()
    r = client.get("/api/machine/", **key_header(key))
    assert r.status_code == 401
    assert r.json()["code"] == "user_inactive"
    user.is_active = True
    user.save()
    assert client.get("/api/machine/", **key_header(key)).status_code == 200


def test_deleted_owner_is_refused_at_once(client):
    user = make_user()
    _, key = create_api_key(user, "ci")
    assert client.get("/api/machine/", **key_header(key)).status_code == 200
    user.delete()
    r = client.get("/api/machine/", **key_header(key))
    assert r.status_code == 401
    assert r.json()["code"] == "api_key_invalid"


# --- last used --------------------------------------------------------------------------------


def test_last_used_is_never_written_by_authentication_and_reaches_the_list(client):
    user = make_user()
    tokens = login(client, user)
    api_key, key = create_api_key(user, "ci")
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert client.get("/api/machine/", **key_header(key)).status_code == 200
    # A catch-up inside the test's transaction runs in a savepoint: not a write.
    reads = ("SELECT", "SAVEPOINT", "RELEASE SAVEPOINT")
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith(reads)]
    assert writes == []
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at is None
    stamp = caches["default"].get(apikeys.LAST_USED_KEY + api_key.public_id)
    assert isinstance(stamp, int)

    r = client.get("/api/auth/api-keys/", **bearer(tokens["access"]))
    assert r.status_code == 200
    (listed,) = r.json()
    assert listed["last_used_at"] is not None
    stored = ApiKey.objects.get(pk=api_key.pk).last_used_at
    assert stored is not None
    assert int(stored.timestamp()) == stamp


def test_last_used_stamp_moves_at_most_once_per_interval(client):
    api_key, key = create_api_key(make_user(), "ci")
    cache = caches["default"]
    client.get("/api/machine/", **key_header(key))
    first = cache.get(apikeys.LAST_USED_KEY + api_key.public_id)
    # The stamp is moved back behind the process's back; its per-process copy (which remembers
    # its own stamp) is emptied so each request reads the cache, as it would an interval later.
    cache.set(apikeys.LAST_USED_KEY + api_key.public_id, first - 30, None)
    localcache.clear()
    client.get("/api/machine/", **key_header(key))
    assert cache.get(apikeys.LAST_USED_KEY + api_key.public_id) == first - 30
    cache.set(apikeys.LAST_USED_KEY + api_key.public_id, first - 61, None)
    localcache.clear()
    client.get("/api/machine/", **key_header(key))
    assert cache.get(apikeys.LAST_USED_KEY + api_key.public_id) >= first


# --- endpoints ---------------------------------------------------------------------------------


def test_create_list_revoke(client):
    user = make_user()
    auth = bearer(login(client, user)["access"])
    expires = (timezone.now() + timedelta(days=30)).isoformat()
    r = client.post(
        "/api/auth/api-keys/",
        {
            "name": "deploy",
            "scopes": ["items:read", "items:write"],
            "expires_at": expires,
            "password": DEFAULT_PASSWORD,
        },
        content_type="application/json",
        **auth,
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert {"id", "name", "prefix", "key", "scopes", "created_at", "expires_at"} <= set(body)
    assert body["key"].startswith(body["prefix"] + "_")
    assert body["scopes"] == ["items:read", "items:write"]
    assert body["name"] == "deploy"
    assert r["Cache-Control"] == "no-store"
    key = body["key"]
    assert client.get("/api/machine/", **key_header(key)).status_code == 200

    r = client.get("/api/auth/api-keys/", **auth)
    assert r.status_code == 200
    (listed,) = r.json()
    assert listed["id"] == body["id"]
    assert "key" not in listed
    assert listed["prefix"] == body["prefix"]
    assert key not in r.content.decode()

    r = client.get(f"/api/auth/api-keys/{body['id']}/", **auth)
    assert r.status_code == 200
    assert "key" not in r.json()

    r = client.delete(f"/api/auth/api-keys/{body['id']}/", **auth)
    assert r.status_code == 204
    assert client.get("/api/machine/", **key_header(key)).json()["code"] == "api_key_revoked"
    assert client.get("/api/auth/api-keys/", **auth).json() == []


def test_other_users_keys_are_404(client):
    mine = bearer(login(client, make_user())["access"])
    other_key, key = create_api_key(make_user(), "theirs")
    assert client.get(f"/api/auth/api-keys/{other_key.pk}/", **mine).status_code == 404
    r = client.delete(f"/api/auth/api-keys/{other_key.pk}/", **mine)
    assert r.status_code == 404
    assert set(r.json()) == {"detail", "code"}
    assert client.get("/api/machine/", **key_header(key)).status_code == 200
    assert client.get("/api/auth/api-keys/", **mine).json() == []
    assert client.delete("/api/auth/api-keys/abc/", **mine).status_code == 404


def test_key_management_needs_a_session_not_a_key(client):
    _, key = create_api_key(make_user(), "ci")
    r = client.post(
        "/api/auth/api-keys/", {"name": "x"}, content_type="application/json", **key_header(key)
    )
    assert r.status_code == 401


@pytest.mark.parametrize(
    "payload",
    [
        {"scopes": ["a"]},
        {"name": "", "scopes": ["a"]},
        {"name": "x" * 101},
        {"name": "x", "scopes": "items:read"},
        {"name": "x", "scopes": [""]},
        {"name": "x", "scopes": ["has space"]},
        {"name": "x", "scopes": ['quote"']},
        {"name": "x", "scopes": ["é"]},
        {"name": "x", "scopes": ["a" * 65]},
        {"name": "x", "scopes": [1]},
        {"name": "x", "scopes": [None]},
        {"name": "x", "scopes": [f"s{i}" for i in range(33)]},
        {"name": "x", "expires_at": "2001-01-01T00:00:00Z"},
        {"name": "x", "expires_at": "soon"},
        {"name": "\x01\x02\x7f"},
    ],
)
def test_invalid_create_requests_are_400(client, payload):
    auth = bearer(login(client, make_user())["access"])
    r = client.post("/api/auth/api-keys/", payload, content_type="application/json", **auth)
    assert r.status_code == 400, r.content
    assert r.json()["code"] == "invalid_request"
    assert ApiKey.objects.count() == 0


def test_duplicate_scopes_are_folded(client):
    auth = bearer(login(client, make_user())["access"])
    r = client.post(
        "/api/auth/api-keys/",
        {"name": "x", "scopes": ["a", "b", "a"], "password": DEFAULT_PASSWORD},
        content_type="application/json",
        **auth,
    )
    assert r.status_code == 201
    assert r.json()["scopes"] == ["a", "b"]


# --- cache outage ------------------------------------------------------------------------------


def _proxied_cache_settings(link: TcpProxy) -> dict[str, Any]:
    """The default cache through ``link``, on the suite's Redis database."""
    from urllib.parse import urlsplit

    from tests.services import redis_url

    database = urlsplit(redis_url()).path or "/0"
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{link.port}{database}",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }


@pytest.fixture
def default_cache_link():
    """A link to the suite's Redis the test can cut, for the whole default cache (conftest's
    ``proxy`` puts only the package's cache alias behind one)."""
    from urllib.parse import urlsplit

    from tests.services import redis_url

    target = urlsplit(redis_url())
    link = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)
    yield link
    link.down()


def test_cache_down_falls_back_to_the_database_and_recovers(client, default_cache_link):
    with override_settings(
        CACHES=_proxied_cache_settings(default_cache_link), JWTSESSIONS={"CACHE_OUTAGE_BACKOFF": 0}
    ):
        api_key, key = create_api_key(make_user(), "ci")
        assert client.get("/api/machine/", **key_header(key)).status_code == 200  # warm
        default_cache_link.down()
        with CaptureQueriesContext(connection) as queries:
            r = client.get("/api/machine/", **key_header(key))
        assert r.status_code == 200
        assert len(queries) == 1
        # Revoked during the outage: the database still refuses it...
        assert revoke_api_key(api_key)
        r = client.get("/api/machine/", **key_header(key))
        assert r.status_code == 401
        assert r.json()["code"] == "api_key_revoked"
        # ...and once the cache is back, the stale "usable" entry is replaced by the replay.
        default_cache_link.up()
        r = client.get("/api/machine/", **key_header(key))
        assert r.status_code == 401
        assert r.json()["code"] == "api_key_revoked"
        r = client.get("/api/machine/", **key_header(key))
        assert r.status_code == 401
        assert r.json()["code"] == "api_key_revoked"
        entry = caches["default"].get(store.API_KEY_KEY + api_key.public_id)
        assert entry == ("", "api_key_revoked")


def test_cache_down_mistyped_and_forged_keys_still_refused(client, default_cache_link):
    with override_settings(
        CACHES=_proxied_cache_settings(default_cache_link), JWTSESSIONS={"CACHE_OUTAGE_BACKOFF": 0}
    ):
        api_key, key = create_api_key(make_user(), "ci")
        default_cache_link.down()
        forged = codec.compose(api_key.public_id, codec._random(codec.SECRET_LENGTH))
        assert client.get("/api/machine/", **key_header(forged)).json()["code"] == (
            "api_key_invalid"
        )
        assert client.get("/api/machine/", **key_header(key[:-1])).json()["code"] == (
            "api_key_invalid"
        )
        assert client.get("/api/machine/", **key_header(key)).status_code == 200


# --- issue 10 finding 3: minting a key needs the current password ------------------------------


def _create(client: Any, auth: dict[str, str], address: str = "127.0.0.1", **body: Any) -> Any:
    return client.post(
        "/api/auth/api-keys/",
        {"name": "k", **body},
        content_type="application/json",
        REMOTE_ADDR=address,
        **auth,
    )


@pytest.mark.parametrize(
    "password",
    [None, "", "wrong password", DEFAULT_PASSWORD.upper(), DEFAULT_PASSWORD + " "],
    ids=["missing", "empty", "wrong", "case", "trailing-space"],
)
def test_finding_3_creating_a_key_needs_the_current_password(client, password):
    """A stolen 15-minute access token minted a key that never expires."""
    user = make_user()
    auth = bearer(login(client, user)["access"])
    body = {} if password is None else {"password": password}
    r = _create(client, auth, **body)
    assert r.status_code == 403, r.content
    assert r.json() == {
        "detail": "Confirm this action with your current password.",
        "code": "reauthentication_required",
    }
    assert ApiKey.objects.count() == 0
    assert _create(client, auth, password=DEFAULT_PASSWORD).status_code == 201


@override_settings(JWTSESSIONS={"LOGIN_FAILURE_LIMIT": 3})
def test_finding_3_wrong_passwords_count_as_failed_logins(client):
    from django.contrib.auth.signals import user_login_failed

    user = make_user()
    auth = bearer(login(client, user, REMOTE_ADDR="10.7.7.7")["access"])
    failed: list[dict[str, Any]] = []

    def record(sender: Any, credentials: dict[str, Any], **kwargs: Any) -> None:
        failed.append(credentials)

    user_login_failed.connect(record)
    try:
        for _ in range(3):
            r = _create(client, auth, password="guess", address="10.7.7.7")
            assert r.status_code == 403
    finally:
        user_login_failed.disconnect(record)
    assert len(failed) == 3
    assert failed[0]["username"] == user.username
    assert "guess" not in str(failed)
    # Throttled now, the right password included; and so is login from that address.
    r = _create(client, auth, password=DEFAULT_PASSWORD, address="10.7.7.7")
    assert r.status_code == 429
    assert r.json()["code"] == "too_many_attempts"
    r = client.post(
        "/api/auth/login/",
        {"username": user.username, "password": DEFAULT_PASSWORD},
        content_type="application/json",
        REMOTE_ADDR="10.7.7.7",
    )
    assert r.status_code == 429
    assert ApiKey.objects.count() == 0


@override_settings(JWTSESSIONS={"API_KEY_REQUIRE_PASSWORD": False})
def test_finding_3_the_requirement_can_be_turned_off(client):
    auth = bearer(login(client, make_user())["access"])
    assert _create(client, auth).status_code == 201


# --- issue 10 finding 4: users cannot grant themselves scopes ----------------------------------


def grantable_by_staff(user: Any) -> list[str]:
    """A callable API_KEY_SCOPES: staff may grant the admin scope, others may not."""
    return ["items:read", "items:admin"] if user.is_staff else ["items:read"]


@pytest.mark.parametrize(
    ("setting", "staff", "requested", "refused"),
    [
        (None, False, ["items:admin"], []),  # as before: any well-formed scope
        (["items:read"], False, ["items:read"], []),
        (["items:read"], False, ["items:admin"], ["items:admin"]),
        (("items:read",), False, ["items:read", "admin", "x"], ["admin", "x"]),
        ([], False, ["items:read"], ["items:read"]),
        (f"{__name__}.grantable_by_staff", False, ["items:admin"], ["items:admin"]),
        (f"{__name__}.grantable_by_staff", True, ["items:admin"], []),
    ],
)
def test_finding_4_scopes_outside_api_key_scopes_are_invalid_scope(
    client, settings, setting, staff, requested, refused
):
    """With `HasScope | IsAdminUser` a plain user passed by minting a key with the admin scope."""
    settings.JWTSESSIONS = {"API_KEY_SCOPES": setting}
    auth = bearer(login(client, make_user(is_staff=staff))["access"])
    r = _create(client, auth, scopes=requested, password=DEFAULT_PASSWORD)
    if not refused:
        assert r.status_code == 201, r.content
        return
    assert r.status_code == 400, r.content
    assert r.json() == {
        "detail": "A requested scope is not one you may grant.",
        "code": "invalid_scope",
        "scopes": refused,
    }
    assert ApiKey.objects.count() == 0


def test_finding_4_scope_check_comes_after_the_password(client, settings):
    """A stolen token must not learn which scopes its owner may grant."""
    settings.JWTSESSIONS = {"API_KEY_SCOPES": ["items:read"]}
    auth = bearer(login(client, make_user())["access"])
    r = _create(client, auth, scopes=["items:admin"])
    assert r.json()["code"] == "reauthentication_required"


def test_finding_6_control_characters_are_stripped_from_a_key_name(client):
    auth = bearer(login(client, make_user())["access"])
    r = _create(client, auth, name="ci\x1b[31m\tkey\x85", password=DEFAULT_PASSWORD)
    assert r.status_code == 201, r.content
    assert r.json()["name"] == "ci[31mkey"


def test_a_late_usable_write_never_overwrites_a_refusal(client):
    """Red team (2026-11-30): the "usable" entry cached for a new key was written with ``set``.
    Held by a healing network partition, it landed after the key's revocation, overwrote the
    refusal, and every worker admitted the revoked key until the entry expired."""
    from jwtsessions import apikeycache

    api_key, key = create_api_key(make_user(), "ci")
    assert revoke_api_key(api_key)
    refusal = caches["default"].get(store.API_KEY_KEY + api_key.public_id)
    assert refusal == ("", "api_key_revoked")
    apikeycache.warm(api_key)  # the write that arrives late
    assert caches["default"].get(store.API_KEY_KEY + api_key.public_id) == refusal
    assert client.get("/api/machine/", **key_header(key)).status_code == 401
