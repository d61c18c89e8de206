"""Red-team finding 2 (issue 10 re-test): two logins that both upgrade the password hash are
not a password change.

Both logins load the user with the outdated hash and both upgrade it. The second upgrade used
to be compared with the database's hash, already replaced by the first upgrade (and no longer
upgradable), so it was taken for a real change: every session and API key of the user revoked.
Real hashers throughout: a new hasher first in ``PASSWORD_HASHERS``, and raised PBKDF2
iterations.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher, identify_hasher, make_password
from django.core.cache import caches
from django.db import connection, connections

from jwtsessions.apikeys import create_api_key
from jwtsessions.models import ApiKey, Session
from tests.factories import bearer, make_user

ARGON2 = "django.contrib.auth.hashers.Argon2PasswordHasher"
PBKDF2 = "django.contrib.auth.hashers.PBKDF2PasswordHasher"
PASSWORD = "an old password to upgrade"


class RaisedPBKDF2(PBKDF2PasswordHasher):
    """PBKDF2 whose iteration count was raised (as each Django release does), kept small."""

    iterations = 2000


class OlderPBKDF2(PBKDF2PasswordHasher):
    iterations = 1000


RAISED = f"{__name__}.RaisedPBKDF2"


def _outdated_user(settings: Any, kind: str) -> Any:
    """A user whose stored hash the preferred hasher will upgrade at the next login."""
    user = make_user()
    if kind == "new_hasher":
        settings.PASSWORD_HASHERS = [PBKDF2, ARGON2]
        stored = make_password(PASSWORD)
        settings.PASSWORD_HASHERS = [ARGON2, PBKDF2]
    else:
        stored = OlderPBKDF2().encode(PASSWORD, OlderPBKDF2().salt())
        settings.PASSWORD_HASHERS = [RAISED]
    get_user_model()._default_manager.filter(pk=user.pk).update(password=stored)
    user.refresh_from_db()
    return user


def _assert_everything_survives(client: Any, earlier: dict[str, Any], key: str) -> None:
    for flushed in (False, True):
        if flushed:
            caches["default"].clear()
        r = client.get("/api/whoami/", **bearer(earlier["access"]))
        assert r.status_code == 200, r.content
        r = client.get("/api/machine/", HTTP_AUTHORIZATION=f"Api-Key {key}")
        assert r.status_code == 200, r.content
    assert not Session.objects.filter(revoked_at__isnull=False).exists()
    assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()


KINDS = ["new_hasher", "raised_iterations"]


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS)
def test_redteam_2_two_upgrades_of_one_loaded_hash_are_not_a_change(client, settings, kind):
    """The interleaving, deterministically: both logins load the old hash, then each upgrades."""
    user = _outdated_user(settings, kind)
    earlier = _session_bound_to_current_hash(user)
    _, key = create_api_key(user, "ci")

    manager = get_user_model()._default_manager
    first, second = manager.get(pk=user.pk), manager.get(pk=user.pk)  # two concurrent logins
    assert first.check_password(PASSWORD)  # upgrades and saves
    assert second.check_password(PASSWORD)  # upgrades again, over the first upgrade
    stored = manager.get(pk=user.pk).password
    assert stored == second.password != first.password
    assert not identify_hasher(stored).must_update(stored)
    _assert_everything_survives(client, earlier, key)


def _session_bound_to_current_hash(user: Any) -> dict[str, Any]:
    from jwtsessions import sessions

    pair = sessions.create_session(get_user_model()._default_manager.get(pk=user.pk))
    return {"access": pair.access, "refresh": pair.refresh, "session_id": pair.session.pk}


@pytest.mark.django_db
def test_redteam_2_a_real_change_is_still_a_change(client, settings):
    user = _outdated_user(settings, "new_hasher")
    earlier = _session_bound_to_current_hash(user)
    _, key = create_api_key(user, "ci")
    loaded = get_user_model()._default_manager.get(pk=user.pk)
    loaded.set_password("a brand new password")
    loaded.save(update_fields=["password"])  # same fields as an upgrade; _password says change
    r = client.get("/api/whoami/", **bearer(earlier["access"]))
    assert r.json()["code"] == "session_revoked"
    r = client.get("/api/machine/", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert r.json()["code"] == "api_key_revoked"


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", KINDS)
def test_redteam_2_concurrent_upgrading_logins_keep_every_session(client, settings, kind):
    """Four logins at once through the endpoint, each upgrading the hash (bounded: 4 logins)."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent logins need PostgreSQL")
    user = _outdated_user(settings, kind)
    earlier = _session_bound_to_current_hash(user)
    _, key = create_api_key(user, "ci")
    from django.test import Client

    barrier = threading.Barrier(4)
    results: list[Any] = []
    errors: list[BaseException] = []

    def one_login(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            r = Client().post(
                "/api/auth/login/",
                {"username": user.get_username(), "password": PASSWORD},
                content_type="application/json",
                HTTP_USER_AGENT=f"device {i}",
            )
            results.append(r)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one_login, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert [r.status_code for r in results] == [200] * 4
    # The classification (this finding): no session row and no key revoked, keys still work.
    assert not Session.objects.filter(revoked_at__isnull=False).exists()
    assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()
    r = client.get("/api/machine/", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert r.status_code == 200, r.content
    # The sessions' bindings: concurrent re-binds can leave a session bound to an
    # intermediate hash (jwtsessions.signals._rebind, owned by core-sync); reported, not fixed.
    accesses = [earlier["access"], *(r.json()["access"] for r in results)]
    refused = [a for a in accesses if client.get("/api/whoami/", **bearer(a)).status_code != 200]
    if refused:
        pytest.xfail(f"concurrent re-binds left {len(refused)} session(s) on an older hash")
    stored = get_user_model()._default_manager.get(pk=user.pk).password
    assert not identify_hasher(stored).must_update(stored)
