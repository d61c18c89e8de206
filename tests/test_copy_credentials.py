"""API keys and service tokens in the per-process copy keep the sessions' guarantee: every
revocation or change is honoured by every process before the changing call returns.

"Every process": the process that changes a credential empties its own copy first, which would
hide a missing announcement. So each test puts the copy back as another process would still
hold it (its entries, no poll since), right after the changing call returned; the next request
must then find the announcement already waiting on the subscription and refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Model
from django.utils import timezone

from jwtsessions import localcache
from jwtsessions.apikeys import create_api_key
from jwtsessions.models import ApiKey
from jwtsessions.revocation import blacklist_token, revoke_api_key
from tests.factories import bearer, make_user

pytestmark = pytest.mark.django_db

SCOPES = ["items:read", "items:write"]


def _as_another_process(change: Callable[[], Any]) -> None:
    """Run ``change``, then restore the copy this process had before it (see the module doc)."""
    with localcache._state.lock:
        held = dict(localcache._state.entries)
    assert held, "nothing was in the copy: the test would prove nothing"
    change()
    with localcache._state.lock:
        localcache._state.entries.update(held)


def _saving(instance: Model, **changes: Any) -> Callable[[], None]:
    """A change that sets ``changes`` on ``instance`` and saves it, signals and all."""

    def save() -> None:
        for name, value in changes.items():
            setattr(instance, name, value)
        instance.save()

    return save


def _key(client: Any, scopes: list[str] = SCOPES) -> tuple[ApiKey, dict[str, str]]:
    api_key, key = create_api_key(make_user(), "ci", scopes)
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}
    for _ in range(2):
        assert client.get("/api/items/", **headers).status_code == 200
    return api_key, headers


def _service_token(client: Any, scope: str = "items:read") -> tuple[ApiKey, dict[str, str]]:
    api_key, key = create_api_key(make_user(), "svc", SCOPES)
    r = client.post(
        "/api/auth/service-token/",
        {"scope": scope},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )
    assert r.status_code == 200, r.content
    headers = bearer(r.json()["access"])
    for _ in range(2):
        assert client.get("/api/items/", **headers).status_code == 200
    return api_key, headers


def _refused(client: Any, headers: dict[str, str], status: int, code: str) -> None:
    r = client.get("/api/items/", **headers)
    assert r.status_code == status, r.content
    assert r.json()["code"] == code


def test_the_copy_holds_keys_and_tokens(client):
    api_key, _ = _key(client)
    _, _ = _service_token(client)
    kinds = {key[0] for key in localcache._state.entries}
    assert kinds == {"k", "t"}
    assert ("k", api_key.public_id) in localcache._state.entries


@pytest.mark.parametrize("credential", [_key, _service_token])
def test_revoking_the_key(client, credential):
    api_key, headers = credential(client)
    _as_another_process(lambda: revoke_api_key(api_key))
    _refused(client, headers, 401, "api_key_revoked")


@pytest.mark.parametrize("credential", [_key, _service_token])
def test_narrowing_the_key_scopes(client, credential):
    api_key, headers = credential(client)
    _as_another_process(_saving(api_key, scopes=["items:write"]))
    _refused(client, headers, 403, "insufficient_scope")


@pytest.mark.parametrize("credential", [_key, _service_token])
def test_an_expiry_set_in_the_past(client, credential):
    api_key, headers = credential(client)
    _as_another_process(_saving(api_key, expires_at=timezone.now() - timedelta(seconds=1)))
    _refused(client, headers, 401, "api_key_expired")


def test_a_key_expiring_while_in_the_copy(client):
    api_key, key = create_api_key(
        make_user(), "short", SCOPES, expires_at=timezone.now() + timedelta(seconds=30)
    )
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}
    assert client.get("/api/items/", **headers).status_code == 200
    # Nobody announces the passing of time: the copy checks the expiry itself.
    (found,) = [v for k, v in localcache._state.entries.items() if k == ("k", api_key.public_id)]
    entry, seen = found[0]
    with localcache._state.lock:
        localcache._state.entries[("k", api_key.public_id)] = (
            ((entry[0], entry[1], int(timezone.now().timestamp()) - 1, entry[3]), seen),
            found[1],
        )
    _refused(client, headers, 401, "api_key_expired")


@pytest.mark.parametrize("credential", [_key, _service_token])
def test_deactivating_the_owner(client, credential):
    api_key, headers = credential(client)
    _as_another_process(_saving(api_key.user, is_active=False))
    _refused(client, headers, 401, "user_inactive")


@pytest.mark.parametrize("credential", [_key, _service_token])
def test_deleting_the_key(client, credential):
    api_key, headers = credential(client)
    _as_another_process(api_key.delete)
    _refused(client, headers, 401, "api_key_invalid")


def test_blacklisting_a_service_token(client):
    _, headers = _service_token(client)
    token = headers["HTTP_AUTHORIZATION"].split()[1]
    _as_another_process(lambda: blacklist_token(token))
    _refused(client, headers, 401, "token_revoked")


@pytest.mark.parametrize("credential", [_key, _service_token])
def test_a_password_change_of_the_owner(client, credential):
    """REVOKE_API_KEYS_ON_PASSWORD_CHANGE (on by default) revokes through revoke_api_keys."""
    api_key, headers = credential(client)

    def change_password() -> None:
        user = api_key.user
        user.set_password("a-new-password-for-this-test")
        user.save()

    _as_another_process(change_password)
    _refused(client, headers, 401, "api_key_revoked")


def test_without_an_announcement_the_copy_would_answer(client):
    """The technique above can fail: a change nobody announces is not seen by the copy."""
    api_key, headers = _key(client)
    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())  # raw ORM: no signal
    assert client.get("/api/items/", **headers).status_code == 200
