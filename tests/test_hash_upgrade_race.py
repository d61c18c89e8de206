"""Red-team finding 2 (issue 10 re-test): logins that upgrade the password hash at once are not
a password change, and leave no session refused.

Logins that load the same outdated hash each upgrade it, each to a hash of its own (a new salt).
The second used to be compared with the database's hash, already the first's upgrade (and no
longer upgradable), so it was taken for a real change: every session and API key revoked. Then
it wrote its hash over the first's, and the sessions bound to the first's were refused. Now an
upgrade is written only over the hash it was decided on (``jwtsessions.hashupgrade.upgrade_once``):
the later logins keep the first's hash and bind to it once their password checks out against it
(``jwtsessions.binding.verified_hash``). A real password change racing an upgrading login still
cuts that login's session off, and is never undone by the upgrade.
Real hashers throughout: a new hasher first in ``PASSWORD_HASHERS``, and raised PBKDF2
iterations.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import (
    PBKDF2PasswordHasher,
    check_password,
    identify_hasher,
    make_password,
)
from django.core.cache import caches
from django.db import connection, connections
from django.test import Client

from jwtsessions import binding, sessions
from jwtsessions.apikeys import create_api_key
from jwtsessions.models import ApiKey, Session
from tests.factories import bearer, make_user

ARGON2 = "django.contrib.auth.hashers.Argon2PasswordHasher"
PBKDF2 = "django.contrib.auth.hashers.PBKDF2PasswordHasher"
PASSWORD = "an old password to upgrade"
NEW_PASSWORD = "the owner's brand new password"


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
    assert second.check_password(PASSWORD)  # its upgrade is not written over the first's
    stored = manager.get(pk=user.pk).password
    assert stored == first.password != second.password
    assert not identify_hasher(stored).must_update(stored)
    _assert_everything_survives(client, earlier, key)


@pytest.mark.django_db
def test_the_login_whose_upgrade_lost_binds_to_the_first_upgrade(client, settings):
    """The second login's own hash was never written: its session takes the first's hash,
    once its password checks out against it (one more hash check, in this race only)."""
    user = _outdated_user(settings, "raised_iterations")  # PBKDF2 kept small: a fast test
    manager = get_user_model()._default_manager
    first, second = manager.get(pk=user.pk), manager.get(pk=user.pk)
    assert first.check_password(PASSWORD)
    assert second.check_password(PASSWORD)
    # Each instance holds a hash of the password it proved (Django's session auth hash and an
    # API key's verified credential rely on that): the second's is its own, not the stored one.
    assert check_password(PASSWORD, second.password)
    assert binding.verified_hash(second, PASSWORD) == first.password
    pairs = [
        sessions.create_session(first, password=PASSWORD),
        sessions.create_session(second, password=PASSWORD),
    ]
    for pair in pairs:
        assert client.get("/api/whoami/", **bearer(pair.access)).status_code == 200
    # Without the raw password nothing tells a concurrent upgrade from a password change: the
    # session is bound to the instance's own hash, and refused (fail closed).
    blind = sessions.create_session(second)
    r = client.get("/api/whoami/", **bearer(blind.access))
    assert r.json()["code"] == "session_revoked"


def _session_bound_to_current_hash(user: Any) -> dict[str, Any]:
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


def _change_password(user_id: Any) -> None:
    owner = get_user_model()._default_manager.get(pk=user_id)
    owner.set_password(NEW_PASSWORD)
    owner.save()


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("change_lands", ["before_the_upgrade", "after_the_upgrade"])
def test_a_real_change_racing_an_upgrading_login_cuts_its_session_off(
    client, settings, kind, change_lands
):
    """The login loads the outdated hash; the owner's password change commits before its
    upgrade is saved, or after it and before the login's session row is inserted."""
    user = _outdated_user(settings, kind)
    earlier = _session_bound_to_current_hash(user)
    manager = get_user_model()._default_manager
    loaded = manager.get(pk=user.pk)  # what the login's authenticate() reads
    if change_lands == "before_the_upgrade":
        _change_password(user.pk)
    assert loaded.check_password(PASSWORD)  # right against the hash it loaded: upgrades
    if change_lands == "after_the_upgrade":
        _change_password(user.pk)
    pair = sessions.create_session(loaded, password=PASSWORD)

    for flushed in (False, True):
        if flushed:
            caches["default"].clear()
        for access in (pair.access, earlier["access"]):
            r = client.get("/api/whoami/", **bearer(access))
            assert r.status_code == 401, r.content
            assert r.json()["code"] == "session_revoked"
    r = client.post(
        "/api/auth/refresh/", {"refresh": pair.refresh}, content_type="application/json"
    )
    assert r.status_code == 401
    # The change stands: the upgrade never wrote the old password's hash over it.
    stored = manager.get(pk=user.pk)
    assert check_password(NEW_PASSWORD, stored.password)
    assert not check_password(PASSWORD, stored.password)
    # Django's own session check refuses that login too (its instance holds its own hash).
    assert loaded.get_session_auth_hash() != stored.get_session_auth_hash()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("atomic_requests", [False, True], ids=["autocommit", "atomic_requests"])
def test_redteam_2_concurrent_upgrading_logins_keep_every_session(
    client, settings, monkeypatch, kind, atomic_requests
):
    """Four logins at once through the endpoint, each upgrading the hash (bounded: 4 logins)."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent logins need PostgreSQL")
    # Every thread's connection reads this dict (the handler's, not settings.DATABASES).
    monkeypatch.setitem(connections.settings["default"], "ATOMIC_REQUESTS", atomic_requests)
    user = _outdated_user(settings, kind)
    earlier = _session_bound_to_current_hash(user)
    _, key = create_api_key(user, "ci")

    results = _at_once([_login(user, PASSWORD, f"device {i}") for i in range(4)])
    assert [r.status_code for r in results] == [200] * 4
    # The classification: no session row and no key revoked, keys still work.
    assert not Session.objects.filter(revoked_at__isnull=False).exists()
    assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()
    r = client.get("/api/machine/", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert r.status_code == 200, r.content
    # The bindings: every session, the earlier one and the four new ones, on the stored hash.
    stored = get_user_model()._default_manager.get(pk=user.pk).password
    assert not identify_hasher(stored).must_update(stored)
    assert set(Session.objects.values_list("binding", flat=True)) == {binding.binding_of(stored)}
    accesses = [earlier["access"], *(r.json()["access"] for r in results)]
    for flushed in (False, True):
        if flushed:
            caches["default"].clear()
        for access in accesses:
            r = client.get("/api/whoami/", **bearer(access))
            assert r.status_code == 200, r.content


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("atomic_requests", [False, True], ids=["autocommit", "atomic_requests"])
def test_a_real_change_racing_upgrading_logins_leaves_no_old_password_session(
    client, settings, monkeypatch, atomic_requests
):
    """Three upgrading logins and the owner's password change at once (bounded: 3 rounds).

    Whatever the order, a session is usable only if the stored hash is one of the password its
    login used: once the change stands, no session of the old password is.
    """
    if connection.vendor != "postgresql":
        pytest.skip("concurrent logins need PostgreSQL")
    monkeypatch.setitem(connections.settings["default"], "ATOMIC_REQUESTS", atomic_requests)
    for round_ in range(3):
        user = _outdated_user(settings, "raised_iterations")  # fast: three rounds
        earlier = _session_bound_to_current_hash(user)
        # An address per round: the failed logins of one round count nothing against the next.
        address = f"127.0.0.{10 + round_}"
        logins = [_login(user, PASSWORD, f"device {i}", address) for i in range(3)]
        results = _at_once([*logins, functools.partial(_change_password, user.pk)])
        assert {r.status_code for r in results[:3]} <= {200, 401}  # 401: after the change
        stored = get_user_model()._default_manager.get(pk=user.pk).password
        old_password_stands = check_password(PASSWORD, stored)
        accesses = [earlier["access"]]
        accesses += [r.json()["access"] for r in results[:3] if r.status_code == 200]
        for access in accesses:
            usable = client.get("/api/whoami/", **bearer(access)).status_code == 200
            assert not usable or old_password_stands, "an old-password session outlived the change"


def _login(user: Any, password: str, device: str, address: str = "127.0.0.1") -> Any:
    def login() -> Any:
        return Client().post(
            "/api/auth/login/",
            {"username": user.get_username(), "password": password},
            content_type="application/json",
            HTTP_USER_AGENT=device,
            REMOTE_ADDR=address,
        )

    return login


def _at_once(calls: list[Any]) -> list[Any]:
    """Run ``calls`` in threads released together; their results, in order (bounded waits)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = calls[i]()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS)
def test_redteam2_an_upgrade_after_a_deactivation_does_not_announce_the_user_active(
    client, settings, kind
):
    """Red team (2026-11-30): a login loaded the user active, a deactivation committed, then the
    login's hash upgrade (a save of the password only) took the instance's stale ``is_active``
    for the truth: the user's credential entry was announced active again, and the login's new
    session answered 200 for as long as that entry lived."""
    user = _outdated_user(settings, kind)
    manager = get_user_model()._default_manager
    login_copy = manager.get(pk=user.pk)  # the login: loaded while the user was active
    admin_copy = manager.get(pk=user.pk)
    admin_copy.is_active = False
    admin_copy.save()  # the deactivation commits first
    assert login_copy.check_password(PASSWORD)  # the login's upgrade: update_fields=["password"]
    assert not manager.get(pk=user.pk).is_active
    pair = sessions.create_session(login_copy)  # the racing login's session, after the revoke
    r = client.get("/api/whoami/", **bearer(pair.access))  # answered from the cache first
    assert r.status_code == 401, r.content
    caches["default"].clear()
    r = client.get("/api/whoami/", **bearer(pair.access))
    assert r.status_code == 401, r.content


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_redteam2_a_change_between_an_upgrades_lock_and_djangos_update_is_not_overwritten(
    settings,
):
    """Red team (2026-11-30): without a transaction the upgrade's row lock ended before
    Django's own UPDATE repeated the upgraded hash, and a password change committed in between
    was overwritten by a hash of the old password. The login's password check now runs in a
    transaction (``binding.verification_transaction``): the change waits, then wins."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    from django.db.models.signals import pre_save

    user = _outdated_user(settings, "raised_iterations")
    user_model = get_user_model()
    login_copy = user_model._default_manager.get(pk=user.pk)
    in_gap = threading.Event()
    changed = threading.Event()

    def pause_after_the_upgrade_decided(sender: Any, instance: Any, **kwargs: Any) -> None:
        # Connected after jwtsessions' receiver: runs once the upgrade was written and locked,
        # before Django's UPDATE. Only the login's own save pauses.
        if instance is login_copy:
            in_gap.set()
            changed.wait(2)  # the change cannot commit while the lock holds: times out

    def change() -> None:
        try:
            in_gap.wait(10)
            _change_password(user.pk)
            changed.set()
        finally:
            connections.close_all()

    pre_save.connect(pause_after_the_upgrade_decided, sender=user_model)
    try:
        changer = threading.Thread(target=change)
        changer.start()
        with binding.verification_transaction():
            assert login_copy.check_password(PASSWORD)  # upgrades, pauses in the gap
        changer.join(15)
    finally:
        pre_save.disconnect(pause_after_the_upgrade_decided, sender=user_model)
        connections.close_all()
    stored = user_model._default_manager.get(pk=user.pk)
    assert stored.check_password(NEW_PASSWORD)
    assert not stored.check_password(PASSWORD)
