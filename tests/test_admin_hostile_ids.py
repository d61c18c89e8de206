"""Red-team finding 4 (issue 10 re-test): a NUL or junk object id in an admin URL is a 404 (or
Django's "does not exist" redirect), never a 500. On PostgreSQL a NUL in a query parameter is
a database error, so the id's shape is checked before any query: run with ``DATABASE_URL``.
"""

from __future__ import annotations

import pytest

from tests.factories import login, make_user

pytestmark = pytest.mark.django_db

HOSTILE_IDS = ["%00", "abc%00def", "%00%01", "..%2F..", "a" * 300, "%E2%80%AE", "-1", "1.5"]
MODELS = ["session", "apikey", "blacklistedtoken"]
VIEWS = ["change/", "delete/", "history/", "revoke/"]


@pytest.fixture
def operator(client):
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("object_id", HOSTILE_IDS)
def test_redteam_4_a_hostile_object_id_in_the_admin_is_not_found(operator, model, view, object_id):
    url = f"/admin/jwtsessions/{model}/{object_id}/{view}"
    for response in (operator.get(url), operator.post(url, {"reason": "x", "post": "yes"})):
        assert response.status_code == 302 or 400 <= response.status_code < 500, url
        if response.status_code == 302:  # Django's "doesn't exist" redirect, to the admin
            assert response["Location"].startswith("/admin/")


def test_redteam_4_a_real_session_still_opens(operator, client):
    from django.test import Client

    body = login(Client(), make_user())
    r = operator.get(f"/admin/jwtsessions/session/{body['session_id']}/change/")
    assert r.status_code == 200


ACTIONS = [
    ("session", "revoke_selected"),
    ("session", "revoke_users_sessions"),
    ("apikey", "revoke_selected"),
    ("blacklistedtoken", "delete_expired"),
]


@pytest.mark.parametrize(("model", "action"), ACTIONS)
@pytest.mark.parametrize("object_id", ["a\x00b", "\x00", "abc", "1.5", "-", "a" * 300])
def test_admin_10k_a_hostile_id_among_the_ticked_boxes_is_dropped(
    operator, model, action, object_id
):
    """Found while speeding up the 10,000-row confirmation: a NUL in a ticked session id
    (PostgreSQL) or "abc" for an API key's integer id was a 500 from Django's own
    ``filter(pk__in=...)``. A box of the wrong shape is dropped (none left: Django's "Items
    must be selected" redirect); one of the right shape that matches nothing has nothing to
    revoke."""
    url = f"/admin/jwtsessions/{model}/"
    r = operator.post(url, {"action": action, "_selected_action": [object_id], "index": 0})
    assert r.status_code in (200, 302), r.status_code
    if r.status_code == 302:
        assert r["Location"].startswith("/admin/")
    else:
        assert b"Nothing to revoke" in r.content


def test_admin_10k_a_real_id_beside_a_hostile_one_is_still_confirmed(operator):
    from django.test import Client

    body = login(Client(), make_user())
    r = operator.post(
        "/admin/jwtsessions/session/",
        {"action": "revoke_selected", "_selected_action": ["x\x00y", body["session_id"]]},
    )
    assert r.status_code == 200
    assert b"This revokes 1 session of 1 user." in r.content
