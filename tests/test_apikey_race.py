"""Red-team finding 1 (issue 10 re-test): an API key created while a password change is in
progress must not survive it.

``POST api-keys/`` checks the password on the user loaded at the start of the request; the
change's ``post_save`` then lists and revokes the user's keys. The interleavings are driven
deterministically: the change commits between the password check and the insert (same
connection, and a second connection on PostgreSQL), or the change starts while the key's
transaction holds the user's row (PostgreSQL). A bounded threaded stress test runs the real
endpoint against a real change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.db import connection, connections

from jwtsessions import apikeycache, store
from jwtsessions.models import ApiKey
from jwtsessions.views import api_keys as api_key_views
from tests.factories import DEFAULT_PASSWORD, bearer, login, make_user

NEW_PASSWORD = "a new passphrase after the breach"


def _change_password(user_id: Any) -> None:
    user = get_user_model()._default_manager.get(pk=user_id)
    user.set_password(NEW_PASSWORD)
    user.save()


def _deactivate(user_id: Any) -> None:
    user = get_user_model()._default_manager.get(pk=user_id)
    user.is_active = False
    user.save()


def _in_another_connection(change: Callable[[Any], None]) -> Callable[[Any], None]:
    """Run ``change`` in a thread (its own database connection) and wait for its commit."""

    def run(user_id: Any) -> None:
        errors: list[BaseException] = []

        def target() -> None:
            try:
                change(user_id)
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                connections.close_all()

        thread = threading.Thread(target=target)
        thread.start()
        thread.join(timeout=30)
        assert not errors, errors

    return run


def _create_key(client: Any, access: str) -> Any:
    return client.post(
        "/api/auth/api-keys/",
        {"name": "racing", "password": DEFAULT_PASSWORD},
        content_type="application/json",
        **bearer(access),
    )


def _usable(client: Any, key: str) -> bool:
    return client.get("/api/machine/", HTTP_AUTHORIZATION=f"Api-Key {key}").status_code == 200


def _gap_hook(monkeypatch: Any, change: Callable[[Any], None], user: Any) -> None:
    """Run ``change`` after the password check, just before the key is created."""
    original = api_key_views._check_grantable

    def check_then_change(*args: Any) -> None:
        original(*args)
        change(user.pk)

    monkeypatch.setattr(api_key_views, "_check_grantable", check_then_change)


CHANGES = {
    "password_change": (_change_password, "api_key_revoked"),
    "deactivation": (_deactivate, "user_inactive"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("which", list(CHANGES), ids=list(CHANGES))
def test_redteam_1_a_key_created_while_the_password_changes_is_refused(client, monkeypatch, which):
    change, _code = CHANGES[which]
    user = make_user()
    access = login(client, user)["access"]
    _gap_hook(monkeypatch, change, user)
    r = _create_key(client, access)
    assert r.status_code == 403, r.content
    assert r.json()["code"] == "reauthentication_required"
    assert "key" not in r.json()
    assert not ApiKey.objects.filter(user=user).exists()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("which", list(CHANGES), ids=list(CHANGES))
def test_redteam_1_the_change_committed_by_another_connection_refuses_the_key(
    client, monkeypatch, which
):
    if connection.vendor != "postgresql":
        pytest.skip("a second connection needs PostgreSQL (SQLite in-memory is one connection)")
    change, _code = CHANGES[which]
    user = make_user()
    access = login(client, user)["access"]
    _gap_hook(monkeypatch, _in_another_connection(change), user)
    r = _create_key(client, access)
    assert r.status_code == 403, r.content
    assert r.json()["code"] == "reauthentication_required"
    assert not ApiKey.objects.filter(user=user).exists()


def _waiting_on_a_lock(timeout: float) -> bool:
    """Whether another backend of this database waits on a lock, within ``timeout``."""
    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            # Inside a transaction the activity view is a snapshot: take a fresh one each time.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.02)
    return False


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("which", list(CHANGES), ids=list(CHANGES))
def test_redteam_1_a_change_that_waits_for_the_key_still_ends_it(client, monkeypatch, which):
    """The other interleaving: the key's transaction holds the user's row when the change
    starts; the change's UPDATE waits for the key's commit, then its listing revokes the key."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks between connections need PostgreSQL")
    change, code = CHANGES[which]
    user = make_user()
    access = login(client, user)["access"]
    original_warm = apikeycache.warm
    threads: list[threading.Thread] = []
    waited: list[bool] = []

    def warm_while_a_change_waits(api_key: Any) -> None:
        original_warm(api_key)  # inside the key's transaction, the user's row locked

        def target() -> None:
            try:
                change(user.pk)
            finally:
                connections.close_all()

        thread = threading.Thread(target=target)
        thread.start()
        threads.append(thread)
        waited.append(_waiting_on_a_lock(timeout=10))

    monkeypatch.setattr(apikeycache, "warm", warm_while_a_change_waits)
    r = _create_key(client, access)
    for thread in threads:
        thread.join(timeout=30)
    assert waited == [True]  # the change really waited for the key's commit
    assert r.status_code == 201, r.content  # created before the change: its listing sees it
    key = r.json()["key"]
    r = client.get("/api/machine/", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert r.status_code == 401, r.content
    assert r.json()["code"] == code
    caches["default"].clear()
    assert not _usable(client, key)
    if which == "password_change":
        assert ApiKey.objects.get(public_id=key.split("_")[1]).revoke_reason == "password_changed"


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_redteam_1_stress_no_key_outlives_a_password_change(client):
    """Six clients create keys with the old password while the password changes (bounded: at
    most 12 requests a client; they stop 1 s after the change); afterwards no key of the user
    works. The change waits for the first key, not for a fixed time (a loaded machine made the
    first creation take longer than 0.3 s)."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    user = make_user()
    access = login(client, user)["access"]
    from django.test import Client

    changed: list[float] = []
    created: list[str] = []
    statuses: list[int] = []
    errors: list[BaseException] = []
    started = threading.Barrier(7)

    def creator() -> None:
        own = Client()
        try:
            started.wait(timeout=10)
            for _ in range(12):
                if changed and time.monotonic() > changed[0] + 1:
                    break
                r = _create_key(own, access)
                statuses.append(r.status_code)
                if r.status_code == 201:
                    created.append(r.json()["key"])
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=creator) for _ in range(6)]
    for thread in threads:
        thread.start()
    started.wait(timeout=10)
    first_key = time.monotonic() + 20
    while not created and not errors and time.monotonic() < first_key:
        time.sleep(0.01)
    _change_password(user.pk)
    changed.append(time.monotonic())
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert set(statuses) <= {201, 401, 403, 429}, statuses
    assert created  # some keys were made before the change
    time.sleep(0.1)
    for key in created:
        assert not _usable(client, key), key
    caches["default"].clear()
    store.reset_health()
    for key in created:
        assert not _usable(client, key), key
    assert not ApiKey.objects.filter(user=user, revoked_at__isnull=True).exists()
