"""A ticked selection in the admin: checked, narrowed and posted back without per-key detours.

Issue 14: the confirmation for 10,000 ticked sessions took 241-270 ms at a million rows. Most of
that was Python walking the 10,000 keys again and again: a check per character of every key,
Django preparing each key again for its ``IN``, an escape per key. These tests pin down that the
faster paths select exactly what the slow ones did, hostile keys included.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.contrib import admin as django_admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone

from jwtsessions.admin.confirmation import _hidden_selection
from jwtsessions.admin.selection import narrowed_by_checked_keys
from jwtsessions.models import ApiKey, Session, all_session_ids, is_session_id
from tests.factories import make_user

pytestmark = pytest.mark.django_db

SESSIONS = "/admin/jwtsessions/session/"
FORM = "application/x-www-form-urlencoded"


def sessions_of(user, count):
    expires = timezone.now() + timedelta(days=1)
    return Session.objects.bulk_create(
        Session(user=user, expires_at=expires, refresh_hash="0" * 64) for _ in range(count)
    )


def test_a_newline_cannot_join_two_session_ids_into_one_that_passes():
    """The batch check joins the keys with newlines: a key holding a newline of its own must not
    pass as the two valid ids on either side of it."""
    assert all_session_ids(["abc", "def"])
    assert not all_session_ids(["abc\ndef"])
    assert not all_session_ids(["abc\n", "def"])
    assert not all_session_ids([])  # nothing to vouch for: the key-by-key check decides
    assert not is_session_id("abc\ndef")


def test_a_ticked_key_with_an_inner_newline_selects_nothing(client, operator):
    alice = make_user("alice")
    first, second = sessions_of(alice, 2)
    hostile = f"{first.pk}\n{second.pk}"
    body = urlencode({"action": "revoke_selected", ACTION_CHECKBOX_NAME: [hostile]}, doseq=True)
    page = client.post(SESSIONS, body, content_type=FORM)
    # Dropped before any query, so nothing is selected (Django's own message, back to the list).
    assert page.status_code == 302
    assert Session.objects.filter(revoked_at__isnull=True).count() == 2


def test_the_checked_narrowing_selects_what_djangos_in_selects():
    alice = make_user("alice")
    rows = sessions_of(alice, 5)
    ids = [rows[0].pk, rows[3].pk, "zz-not-stored"]
    checked = [(pk, pk) for pk in ids]
    base = Session.objects.filter(revoked_at__isnull=True)
    narrowed = narrowed_by_checked_keys(base, checked)

    fast = narrowed.filter(pk__in=ids)
    assert sorted(s.pk for s in fast) == sorted(s.pk for s in base.filter(pk__in=ids))
    # Only that exact call is taken over: any other argument is Django's own filter ...
    assert list(narrowed.filter(pk__in=ids[:1])) == [rows[0]]
    assert narrowed.filter(user=alice).count() == 5
    # ... and a clone is an ordinary queryset again.
    assert "filter" not in vars(fast)


def test_integer_keys_are_narrowed_the_same_way(client, operator):
    """API keys have integer primary keys: the guard's converted keys bind as Django's would."""
    owner = make_user("owner")
    keys = ApiKey.objects.bulk_create(
        ApiKey(user=owner, name=f"k{i}", public_id=f"pub{i:08d}", digest="0" * 64) for i in range(3)
    )
    model_admin = django_admin.site._registry[ApiKey]
    posted = [str(keys[0].pk), f" {keys[2].pk}", "12x", "\x00"]
    checked = model_admin.object_keys(posted)
    assert checked == [(str(keys[0].pk), keys[0].pk), (f" {keys[2].pk}", keys[2].pk)]
    narrowed = narrowed_by_checked_keys(ApiKey.objects.all(), checked)
    selected = narrowed.filter(pk__in=[pk for pk, _ in checked])
    assert sorted(k.pk for k in selected) == [keys[0].pk, keys[2].pk]


def test_the_posted_back_selection_is_escaped_key_by_key():
    html = _hidden_selection(['a"b', "<x>", "c\nd", "plain"])
    assert html.count(f'name="{ACTION_CHECKBOX_NAME}"') == 4
    assert 'value="a&quot;b"' in html
    assert 'value="&lt;x&gt;"' in html
    assert 'value="c\nd"' in html  # one input, not two
    assert 'value="plain"' in html
    assert _hidden_selection([]) == ""
