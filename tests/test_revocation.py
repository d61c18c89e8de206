"""Every way of revoking cuts an access token off on the very next request."""

from __future__ import annotations

import time

import pytest
from django.core.cache import caches

from jwtsessions import revocation
from jwtsessions.models import BlacklistedToken, Session
from jwtsessions.signals import session_revoked
from tests.factories import bearer, login, make_user

pytestmark = pytest.mark.django_db


def whoami(client, access):
    return client.get("/api/whoami/", **bearer(access))


@pytest.fixture(params=["warm", "flushed"])
def cache_state(request):
    """Run each case with the cache holding the session as active, and with it flushed."""
    return request.param


def _prepare(client, cache_state, access):
    assert whoami(client, access).status_code == 200  # the cache now holds "active"
    return cache_state


def _after(client, cache_state):
    if cache_state == "flushed":
        caches["default"].clear()


def assert_refused(client, access, code="session_revoked"):
    r = whoami(client, access)
    assert r.status_code == 401, r.content
    assert r.json()["code"] == code
    assert "WWW-Authenticate" in r


def test_logout(client, cache_state):
    body = login(client, make_user())
    _prepare(client, cache_state, body["access"])
    assert client.post("/api/auth/logout/", **bearer(body["access"])).status_code == 204
    _after(client, cache_state)
    assert_refused(client, body["access"])


def test_logout_all(client, cache_state):
    user = make_user()
    a, b = login(client, user), login(client, user)
    other = login(client, make_user())
    _prepare(client, cache_state, b["access"])
    assert client.post("/api/auth/logout-all/", **bearer(a["access"])).status_code == 204
    _after(client, cache_state)
    assert_refused(client, a["access"])
    assert_refused(client, b["access"])
    assert whoami(client, other["access"]).status_code == 200


def test_delete_own_session_and_not_others(client, cache_state):
    user = make_user()
    phone, laptop = login(client, user), login(client, user)
    stranger = login(client, make_user())
    _prepare(client, cache_state, phone["access"])
    r = client.delete(f"/api/auth/sessions/{stranger['session_id']}/", **bearer(laptop["access"]))
    assert r.status_code == 404
    assert set(r.json()) == {"detail", "code"}
    r = client.delete(f"/api/auth/sessions/{phone['session_id']}/", **bearer(laptop["access"]))
    assert r.status_code == 204
    _after(client, cache_state)
    assert_refused(client, phone["access"])
    assert whoami(client, laptop["access"]).status_code == 200
    assert whoami(client, stranger["access"]).status_code == 200


def test_password_change_by_set_password(client, cache_state):
    user = make_user()
    body = login(client, user)
    _prepare(client, cache_state, body["access"])
    user.set_password("a whole new passphrase")
    user.save()
    _after(client, cache_state)
    assert_refused(client, body["access"])
    assert Session.objects.get(pk=body["session_id"]).revoke_reason == "password_changed"


def test_saving_a_user_without_password_change_revokes_nothing(client):
    user = make_user()
    body = login(client, user)
    user.first_name = "Ada"
    user.save()
    assert whoami(client, body["access"]).status_code == 200


def test_deactivation(client, cache_state):
    user = make_user()
    body = login(client, user)
    _prepare(client, cache_state, body["access"])
    user.is_active = False
    user.save()
    _after(client, cache_state)
    assert_refused(client, body["access"])


def test_deleted_user(client, cache_state, django_capture_on_commit_callbacks):
    user = make_user()
    body = login(client, user)
    _prepare(client, cache_state, body["access"])
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    _after(client, cache_state)
    assert_refused(
        client, body["access"], "user_inactive" if cache_state == "warm" else "session_revoked"
    )


def test_revoke_session_api_and_signal(client, cache_state):
    body = login(client, make_user())
    _prepare(client, cache_state, body["access"])
    received = []

    def receiver(sender, session_ids, reason, **kwargs):
        received.append((session_ids, reason))

    session_revoked.connect(receiver)
    try:
        assert revocation.revoke_session(body["session_id"], reason="incident") is True
        assert revocation.revoke_session(body["session_id"]) is False  # already revoked
    finally:
        session_revoked.disconnect(receiver)
    assert received == [([body["session_id"]], "incident")]
    _after(client, cache_state)
    assert_refused(client, body["access"])


def test_revoke_user_sessions_keeps_one(client):
    user = make_user()
    keep, drop = login(client, user), login(client, user)
    assert revocation.revoke_user_sessions(user, reason="x", keep=keep["session_id"]) == 1
    assert whoami(client, keep["access"]).status_code == 200
    assert_refused(client, drop["access"])


def test_blacklisted_jti(client, cache_state):
    body = login(client, make_user())
    _prepare(client, cache_state, body["access"])
    entry = revocation.blacklist_token(body["access"], reason="leaked")
    assert entry is not None
    assert BlacklistedToken.objects.filter(jti=entry.jti).exists()
    _after(client, cache_state)
    assert_refused(client, body["access"], "token_revoked")
    # The session itself lives: a refreshed token works.
    r = client.post(
        "/api/auth/refresh/", {"refresh": body["refresh"]}, content_type="application/json"
    )
    assert whoami(client, r.json()["access"]).status_code == 200


def test_blacklist_refuses_foreign_tokens():
    with pytest.raises(ValueError):
        revocation.blacklist_token("aaa.bbb.ccc")


def test_sessions_list_shows_only_own_active_sessions(client):
    user = make_user()
    a = login(client, user, HTTP_USER_AGENT="Phone/1.0", REMOTE_ADDR="10.1.2.3")
    b = login(client, user, HTTP_USER_AGENT="Laptop/2.0")
    c = login(client, user)
    login(client, make_user())
    revocation.revoke_session(c["session_id"])
    r = client.get("/api/auth/sessions/", **bearer(b["access"]))
    assert r.status_code == 200
    rows = {row["id"]: row for row in r.json()}
    assert set(rows) == {a["session_id"], b["session_id"]}
    assert rows[b["session_id"]]["current"] is True
    assert rows[a["session_id"]]["current"] is False
    assert rows[a["session_id"]]["user_agent"] == "Phone/1.0"
    assert rows[a["session_id"]]["ip_address"] == "10.1.2.3"
    assert set(rows[a["session_id"]]) == {
        "id",
        "created_at",
        "last_used_at",
        "expires_at",
        "ip_address",
        "user_agent",
        "current",
    }


def test_a_late_cache_fill_never_overwrites_a_refusal(client):
    """A request that read "active" from the database just before a revocation committed
    must not put "active" back over the refusal the revocation wrote."""
    from jwtsessions import store

    user = make_user()
    body = login(client, user)
    stale = store.SessionState(body["session_id"], str(user.pk), 2**31, int(time.time()))
    revocation.revoke_session(body["session_id"])
    store._fill_session(stale)  # the late writer of the race
    assert_refused(client, body["access"])


def test_a_refresh_racing_a_revocation_leaves_no_active_entry(client):
    """Refresh drops the cached state instead of writing it: whatever the interleaving with a
    revocation, the next request sees the refusal."""
    from jwtsessions import store

    body = login(client, make_user())
    assert whoami(client, body["access"]).status_code == 200
    revocation.revoke_session(body["session_id"])
    store.forget_session(body["session_id"])  # the refresh's cache step, arriving late
    assert_refused(client, body["access"])


def test_blacklist_entry_outlives_the_token_by_the_leeway(client, settings):
    from datetime import datetime, timedelta
    from datetime import timezone as dt_timezone

    from jwtsessions import tokens

    settings.JWTSESSIONS = {"LEEWAY": 30}
    body = login(client, make_user())
    entry = revocation.blacklist_token(body["access"])
    claims = tokens.decode(
        body["access"],
        tokens.ACCESS_TOKEN_TYPE,
        required=["jti"],
        max_lifetime=timedelta(minutes=15),
    )
    accepted_until = datetime.fromtimestamp(claims["exp"] + 30, tz=dt_timezone.utc)
    assert entry is not None
    assert entry.expires_at > accepted_until


# --- issue 11 item 2: absence never means "allowed" -------------------------------------------


def test_an_evicted_blacklist_entry_is_still_refused(client):
    """The cache lost the entry (what an LRU eviction under ``maxmemory`` leaves behind):
    the database answers, whatever else the cache still holds."""
    from jwtsessions import store

    body = login(client, make_user())
    other = login(client, make_user())
    for access in (body["access"], other["access"]):
        assert whoami(client, access).status_code == 200
    entry = revocation.blacklist_token(body["access"], reason="leaked")
    assert entry is not None
    assert caches["default"].delete(store.BLACKLIST_KEY + entry.jti)
    for _ in range(2):
        assert_refused(client, body["access"], "token_revoked")
    assert whoami(client, other["access"]).status_code == 200
    # A process that starts after the eviction knows it too (it loads the list from the table).
    from jwtsessions import sync

    sync.reset()
    assert_refused(client, body["access"], "token_revoked")
    assert whoami(client, other["access"]).status_code == 200


def test_an_evicted_session_or_credential_entry_reads_the_database(client):
    from jwtsessions import store

    user = make_user()
    body = login(client, user)
    assert whoami(client, body["access"]).status_code == 200
    revocation.revoke_session(body["session_id"])
    for key in (store.SESSION_KEY + body["session_id"], store.CREDENTIAL_KEY + str(user.pk)):
        caches["default"].delete(key)
        assert_refused(client, body["access"])


# --- issue 11 item 5: "last seen" keys do not pile up -----------------------------------------


def test_last_seen_keys_are_capped_and_deleted_on_revocation(client):
    from jwtsessions import store

    body = login(client, make_user())
    assert whoami(client, body["access"]).status_code == 200
    key = store.SEEN_KEY + body["session_id"]
    assert 0 < caches["default"].ttl(key) <= 24 * 3600
    revocation.revoke_session(body["session_id"])
    assert caches["default"].get(key) is None


# --- issue 10 finding 10: logout takes an expired token only for a bounded time -----------------


def _token_expired_ago(session: Session, seconds: int) -> str:
    from tests.tokenkit import expired_access_token

    return expired_access_token(session, seconds)


@pytest.mark.parametrize(
    ("expired_ago", "grace", "revoked"),
    [
        (60, None, True),  # a client whose token just ran out still logs out for real
        (59 * 60, None, True),
        (61 * 60, None, False),  # default grace: one hour
        (21 * 24 * 3600, None, False),  # a token leaked weeks ago
        (30, 0, False),
        (5 * 60, 10 * 60, True),
        (11 * 60, 10 * 60, False),
    ],
)
def test_finding_10_logout_accepts_an_expired_token_only_within_the_grace(
    client, settings, expired_ago, grace, revoked
):
    if grace is not None:
        settings.JWTSESSIONS = {"LOGOUT_EXPIRED_TOKEN_GRACE": grace}
    body = login(client, make_user())
    session = Session.objects.get(pk=body["session_id"])
    r = client.post("/api/auth/logout/", **bearer(_token_expired_ago(session, expired_ago)))
    session.refresh_from_db()
    if revoked:
        assert r.status_code == 204
        assert session.revoked_at is not None
    else:
        assert r.status_code == 401
        assert r.json() == {"detail": "The access token has expired.", "code": "token_expired"}
        assert 'error_description="token_expired"' in r["WWW-Authenticate"]
        assert session.revoked_at is None


def test_revocations_record_who_revoked(client):
    """The audit trail (issue 14): the owner who logs out, or nobody (the system) with a reason."""
    user = make_user()
    first, second, third = login(client, user), login(client, user), login(client, user)
    client.post("/api/auth/logout/", **bearer(first["access"]))
    client.delete(f"/api/auth/sessions/{second['session_id']}/", **bearer(third["access"]))
    for body in (first, second):
        assert Session.objects.get(pk=body["session_id"]).revoked_by_id == user.pk
    user.set_password("a new password for the audit test")
    user.save()
    revoked = Session.objects.get(pk=third["session_id"])
    assert revoked.revoked_by_id is None
    assert revoked.revoke_reason == "password_changed"
