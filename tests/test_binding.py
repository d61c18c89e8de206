"""Issue 10 findings 1 and 9: a session is bound to the credential its login verified.

The race is driven deterministically: the password changes (or the user is deactivated) after
``authenticate()`` checked the old password and before ``create_session()`` inserts the row, so
the revocation that the change triggers cannot list the new session.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.hashers import identify_hasher, make_password
from django.core.cache import caches
from django.test import RequestFactory

from jwtsessions import sessions
from jwtsessions.apikeys import create_api_key
from jwtsessions.models import ApiKey, Session
from tests.factories import DEFAULT_PASSWORD, bearer, login, make_user

pytestmark = pytest.mark.django_db

ARGON2 = "django.contrib.auth.hashers.Argon2PasswordHasher"
PBKDF2 = "django.contrib.auth.hashers.PBKDF2PasswordHasher"


def whoami(client, access):
    return client.get("/api/whoami/", **bearer(access))


def refresh(client, token):
    return client.post("/api/auth/refresh/", {"refresh": token}, content_type="application/json")


def _racing_login(user, change):
    """The login checks the password, ``change`` commits, then the login inserts its row."""
    request = RequestFactory().post("/api/auth/login/")
    verified = authenticate(request, username=user.get_username(), password=DEFAULT_PASSWORD)
    assert verified is not None
    change(get_user_model()._default_manager.get(pk=user.pk))
    return sessions.create_session(verified, request)


def _change_password(user):
    user.set_password("a whole new passphrase")
    user.save()


def _deactivate(user):
    user.is_active = False
    user.save()


@pytest.mark.parametrize("cache_state", ["warm", "flushed"])
@pytest.mark.parametrize(
    ("change", "code"),
    [(_change_password, "session_revoked"), (_deactivate, "user_inactive")],
    ids=["password_change", "deactivation"],
)
def test_a_login_racing_a_credential_change_is_refused(client, cache_state, change, code):
    user = make_user()
    pair = _racing_login(user, change)
    session = Session.objects.get(pk=pair.session.pk)
    assert session.revoked_at is None  # the change's revocation could not see it
    if cache_state == "flushed":
        caches["default"].clear()
    r = whoami(client, pair.access)
    assert r.status_code == 401, r.content
    assert r.json()["code"] == code
    # Refresh refuses it too, and revokes it for good.
    r = refresh(client, pair.refresh)
    assert r.status_code == 401
    assert r.json()["code"] == code
    assert Session.objects.get(pk=pair.session.pk).revoked_at is not None


def test_the_binding_is_not_the_hash(client):
    user = make_user()
    body = login(client, user)
    stored = Session.objects.get(pk=body["session_id"]).binding
    assert stored
    assert stored not in user.password
    assert user.password.split("$")[-1] not in stored


def test_a_session_opened_after_the_change_works(client):
    user = make_user()
    _change_password(user)
    body = login(client, user, password="a whole new passphrase")
    assert whoami(client, body["access"]).status_code == 200
    caches["default"].clear()
    assert whoami(client, body["access"]).status_code == 200
    assert refresh(client, body["refresh"]).status_code == 200


def test_secret_key_rotation_keeps_sessions(client, settings):
    # Tokens signed with their own key: only the binding depends on SECRET_KEY here.
    settings.JWTSESSIONS = {"SIGNING_KEY": "a-signing-key-for-this-test-" * 3}
    body = login(client, make_user())
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "rotated-" * 8, [settings.SECRET_KEY]
    caches["default"].clear()
    assert whoami(client, body["access"]).status_code == 200
    assert whoami(client, body["access"]).status_code == 200


# --- finding 9: a hash upgrade is not a password change ----------------------------------------


@pytest.mark.parametrize("cache_state", ["warm", "flushed"])
def test_a_hash_upgrade_keeps_every_session_and_api_key(client, settings, cache_state):
    settings.PASSWORD_HASHERS = [PBKDF2, ARGON2]
    user = make_user(password="an old pbkdf2 password")
    user.password = make_password("an old pbkdf2 password")
    user.save()
    earlier = login(client, user, password="an old pbkdf2 password")
    assert whoami(client, earlier["access"]).status_code == 200
    api_key, key = create_api_key(user, "ci")

    settings.PASSWORD_HASHERS = [ARGON2, PBKDF2]  # a new preferred hasher: the next login upgrades
    later = login(client, user, password="an old pbkdf2 password")
    user.refresh_from_db()
    assert identify_hasher(user.password).algorithm == "argon2"  # upgraded for real
    if cache_state == "flushed":
        caches["default"].clear()

    for body in (earlier, later):
        r = whoami(client, body["access"])
        assert r.status_code == 200, r.content
    assert Session.objects.get(pk=earlier["session_id"]).revoked_at is None
    assert refresh(client, earlier["refresh"]).status_code == 200
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None
    assert client.get("/api/machine/", HTTP_AUTHORIZATION=f"Api-Key {key}").status_code == 200


def test_a_real_change_after_an_upgrade_still_refuses(client, settings):
    settings.PASSWORD_HASHERS = [PBKDF2, ARGON2]
    user = make_user()
    user.password = make_password(DEFAULT_PASSWORD)
    user.save()
    earlier = login(client, user)
    settings.PASSWORD_HASHERS = [ARGON2, PBKDF2]
    login(client, user)  # upgrades
    user.refresh_from_db()
    _change_password(user)
    assert whoami(client, earlier["access"]).json()["code"] == "session_revoked"


def test_a_hash_assigned_directly_counts_as_a_change(client):
    user = make_user()
    body = login(client, user)
    user.password = make_password("set by a data migration")
    user.save()
    assert whoami(client, body["access"]).json()["code"] == "session_revoked"


def test_a_hash_assigned_directly_over_an_outdated_one_counts_as_a_change(client, settings):
    """Saved exactly as Django saves an upgrade (``update_fields=["password"]``, the preferred
    hasher over an outdated hash), but nothing called ``set_password`` on the instance."""
    settings.PASSWORD_HASHERS = [PBKDF2, ARGON2]
    user = make_user()
    user.password = make_password(DEFAULT_PASSWORD)
    user.save()
    body = login(client, user)
    settings.PASSWORD_HASHERS = [ARGON2, PBKDF2]  # the stored PBKDF2 hash is now outdated
    loaded = get_user_model()._default_manager.get(pk=user.pk)
    loaded.password = make_password("set by a data migration")
    loaded.save(update_fields=["password"])
    assert whoami(client, body["access"]).json()["code"] == "session_revoked"


# --- finding 3's server half: a password change also revokes API keys -------------------------


def test_a_password_change_revokes_the_users_api_keys(client):
    user = make_user()
    other = make_user()
    api_key, key = create_api_key(user, "ci")
    _, other_key = create_api_key(other, "ci")
    assert client.get("/api/machine/", HTTP_AUTHORIZATION=f"Api-Key {key}").status_code == 200
    _change_password(user)
    r = client.get("/api/machine/", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert r.status_code == 401
    assert r.json()["code"] == "api_key_revoked"
    row = ApiKey.objects.get(pk=api_key.pk)
    assert row.revoke_reason == "password_changed"
    assert client.get("/api/machine/", HTTP_AUTHORIZATION=f"Api-Key {other_key}").status_code == (
        200
    )


def test_api_keys_survive_a_password_change_when_configured(client, settings):
    settings.JWTSESSIONS = {"REVOKE_API_KEYS_ON_PASSWORD_CHANGE": False}
    user = make_user()
    _, key = create_api_key(user, "ci")
    _change_password(user)
    assert client.get("/api/machine/", HTTP_AUTHORIZATION=f"Api-Key {key}").status_code == 200


def test_sessions_survive_a_password_change_when_configured(client, settings):
    settings.JWTSESSIONS = {"REVOKE_SESSIONS_ON_PASSWORD_CHANGE": False}
    user = make_user()
    body = login(client, user)
    assert whoami(client, body["access"]).status_code == 200
    _change_password(user)
    assert whoami(client, body["access"]).status_code == 200
    caches["default"].clear()
    assert whoami(client, body["access"]).status_code == 200
    assert refresh(client, body["refresh"]).status_code == 200


def test_deactivation_refuses_api_keys(client):
    user = make_user()
    _, key = create_api_key(user, "ci")
    assert client.get("/api/machine/", HTTP_AUTHORIZATION=f"Api-Key {key}").status_code == 200
    _deactivate(user)
    r = client.get("/api/machine/", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert r.status_code == 401
    assert r.json()["code"] == "user_inactive"


def test_while_a_rebind_is_in_flight_sessions_match_both_hashes(client):
    """The first step of a re-bind runs before the user's row is written: from then until the
    second step, the database may hold either hash, and the session must match both."""
    from jwtsessions import binding, hashupgrade

    user = make_user()
    body = login(client, user)
    old_hash, new_hash = user.password, make_password(DEFAULT_PASSWORD)
    hashupgrade.rebind(user.pk, old_hash, new_hash, phase=1)
    stored = Session.objects.get(pk=body["session_id"]).binding
    assert binding.matches(stored, old_hash)
    assert binding.matches(stored, new_hash)
    hashupgrade.rebind(user.pk, old_hash, new_hash, phase=2)
    stored = Session.objects.get(pk=body["session_id"]).binding
    assert not binding.matches(stored, old_hash)
    assert binding.matches(stored, new_hash)
