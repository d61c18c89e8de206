"""The admin's revocation actions under an outside red team (2026-11-30, live gunicorn with
three workers on PostgreSQL): one test per finding, each failing on the code it was found in.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from jwtsessions.apikeys import create_api_key
from jwtsessions.models import ApiKey, Session
from tests.factories import login, make_user

pytestmark = pytest.mark.django_db

SESSIONS = "/admin/jwtsessions/session/"
API_KEYS = "/admin/jwtsessions/apikey/"
PROJECT_USERS = "/project-admin/auth/user/"  # tests.test_admin's user admin with the mixin
FORM = "application/x-www-form-urlencoded"


def post(client, url, fields):
    """Post form fields in order (repeated names included), as a browser does."""
    return client.post(url, urlencode(fields), content_type=FORM)


def hidden_fields(html):
    """The confirmation form's hidden inputs, as the browser posts them back on "Yes"."""
    return re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)


def yes(client, url, page):
    fields = [(n, v) for n, v in hidden_fields(page.content.decode()) if n != "csrfmiddlewaretoken"]
    return post(client, url, [*fields, ("reason", "red team")])


def test_finding_1_yes_runs_the_action_the_page_described(client, operator):
    """With two action bars a form posts two ``action`` values; Django ran the one of the bar
    whose Go was pressed, and the page posted back the last one: "revoke 1 session" revoked
    all of the user's sessions."""
    alice = make_user("alice")
    first, *_ = [login(client.__class__(), alice) for _ in range(3)]
    page = post(
        client,
        SESSIONS,
        [
            ("action", "revoke_selected"),
            ("action", "revoke_users_sessions"),
            ("index", "0"),
            (ACTION_CHECKBOX_NAME, first["session_id"]),
        ],
    )
    assert "This revokes 1 session of 1 user." in page.content.decode()
    yes(client, SESSIONS, page)
    assert list(Session.objects.filter(revoked_at__isnull=False).values_list("pk", flat=True)) == [
        first["session_id"]
    ]


@override_settings(ROOT_URLCONF="tests.test_admin")
def test_finding_1_yes_on_the_user_admin_never_deletes_users(client, operator):
    bob = make_user("bob")
    login(client.__class__(), bob)
    page = post(
        client,
        PROJECT_USERS,
        [
            ("action", "revoke_all_sessions_of_users"),
            ("action", "delete_selected"),
            ("index", "0"),
            (ACTION_CHECKBOX_NAME, str(bob.pk)),
        ],
    )
    assert "This revokes 1 session of 1 user." in page.content.decode()
    yes(client, PROJECT_USERS, page)
    assert get_user_model().objects.filter(pk=bob.pk).exists()
    assert Session.objects.get(user=bob).revoked_at is not None


@pytest.mark.parametrize("across", ["true", "on", "True"])
def test_finding_2_select_across_is_read_as_django_reads_it(client, operator, across):
    """Django's action form takes "true" for select-all; the page took only "1", so it counted
    the whole list and posted back the one ticked session."""
    users = [make_user(f"user{i}") for i in range(3)]
    for user in users:
        login(client.__class__(), user)
    one = Session.objects.filter(user=users[0]).get().pk
    page = post(
        client,
        SESSIONS,
        [("action", "revoke_selected"), ("select_across", across), (ACTION_CHECKBOX_NAME, one)],
    )
    assert "This revokes 3 sessions of 3 users." in page.content.decode()
    yes(client, SESSIONS, page)
    assert not Session.objects.filter(revoked_at__isnull=True).exists()


@override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=5000)
def test_finding_3_many_api_keys_are_revoked_in_one_statement_and_logged(client, operator):
    """One by one, 10,000 keys outlasted gunicorn's 30 s timeout: a 500 halfway, no audit."""
    owner = make_user("owner")
    ApiKey.objects.bulk_create(
        ApiKey(user=owner, name=f"k{i}", public_id=f"pub{i:08d}", digest="0" * 64)
        for i in range(1500)
    )
    ticked = list(ApiKey.objects.values_list("pk", flat=True))
    fields = [("action", "revoke_selected"), *((ACTION_CHECKBOX_NAME, str(pk)) for pk in ticked)]
    page = post(client, API_KEYS, fields)
    assert "This revokes 1,500 API keys of 1 user." in page.content.decode()
    with CaptureQueriesContext(connection) as queries:
        done = yes(client, API_KEYS, page)
    assert done.status_code == 302
    # Bounded whatever the count: the revocation is one statement, the audit 1,000 rows a batch.
    assert len(queries) < 40
    assert not ApiKey.objects.filter(revoked_at__isnull=True).exists()
    assert LogEntry.objects.filter(user=operator, change_message__contains="red team").count() == (
        1500
    )


@override_settings(ROOT_URLCONF="tests.test_admin")
@pytest.mark.parametrize("junk", ["abc", "\x00", "1e3", "9" * 30])
def test_finding_4_junk_ticked_beside_a_user_is_dropped(client, operator, junk):
    bob = make_user("bob")
    login(client.__class__(), bob)
    page = post(
        client,
        PROJECT_USERS,
        [
            ("action", "revoke_all_sessions_of_users"),
            (ACTION_CHECKBOX_NAME, junk),
            (ACTION_CHECKBOX_NAME, str(bob.pk)),
        ],
    )
    assert page.status_code == 200
    assert "This revokes 1 session of 1 user." in page.content.decode()


@pytest.mark.parametrize("huge", ["9223372036854775808", "-9223372036854775809", "9" * 30])
def test_finding_5_an_integer_id_no_column_holds_is_dropped(client, operator, huge):
    """SQLite raised OverflowError for it (a 500); PostgreSQL fell back to a plain IN."""
    api_key, _ = create_api_key(make_user("owner"), "ci")
    real = api_key.pk
    page = post(
        client,
        API_KEYS,
        [("action", "revoke_selected"), (ACTION_CHECKBOX_NAME, huge), (ACTION_CHECKBOX_NAME, real)],
    )
    assert page.status_code == 200
    assert "This revokes 1 API key of 1 user." in page.content.decode()


def test_finding_6_the_revoke_page_does_not_tell_who_exists(client):
    """Staff without the permission got 403 for an id that exists and 404 for one that does
    not: API key ids are sequential, so they could be counted."""
    create_api_key(make_user("owner"), "ci")
    real = ApiKey.objects.get().pk
    staff = make_user("staff", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename="view_apikey"))
    client.force_login(staff)
    existing = client.get(f"{API_KEYS}{real}/revoke/")
    missing = client.get(f"{API_KEYS}{real + 1000}/revoke/")
    assert existing.status_code == missing.status_code == 403
    # Second round: Django's own History page told them apart too (403 against a redirect),
    # to staff with no permission on API keys at all.
    nobody = make_user("nobody", is_staff=True)
    nobody.user_permissions.add(*Permission.objects.filter(codename="view_session"))
    client.force_login(nobody)
    existing = client.get(f"{API_KEYS}{real}/history/")
    missing = client.get(f"{API_KEYS}{real + 1000}/history/")
    assert existing.status_code == missing.status_code == 403


@override_settings(ROOT_URLCONF="tests.test_admin")
def test_no_revoke_action_where_django_offers_no_actions(client, operator):
    """Second round: the mixin added its action to popup windows (raw-id and autocomplete
    pickers), where Django shows no action bar."""
    assert client.get(PROJECT_USERS).context["action_form"] is not None
    assert client.get(PROJECT_USERS, {"_popup": "1"}).context["action_form"] is None
