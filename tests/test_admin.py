"""The admin, driven through the Django test client as an operator would use it."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.contrib import admin as django_admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Permission
from django.contrib.sessions.models import Session as DjangoSession
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from django.utils import timezone

from jwtsessions.admin import RevokeSessionsUserAdminMixin
from jwtsessions.apikeys import create_api_key
from jwtsessions.models import ApiKey, BlacklistedToken, Session
from jwtsessions.revocation import blacklist_token, revoke_session
from jwtsessions.sessions import refresh_token_hash
from tests.factories import bearer, login, make_user
from tests.views import whoami as whoami_view

pytestmark = pytest.mark.django_db

SESSIONS = "/admin/jwtsessions/session/"
API_KEYS = "/admin/jwtsessions/apikey/"
BLACKLIST = "/admin/jwtsessions/blacklistedtoken/"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def api():
    """A second client for API calls, so admin cookies never mix with bearer requests."""
    from django.test import Client

    return Client()


def whoami(api, access):
    return api.get("/api/whoami/", **bearer(access))


def service_token(api, key):
    return api.post(
        "/api/auth/service-token/",
        {},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )


def act(client, url, action, pks, **extra):
    """Post an action from the changelist, as the action bar does."""
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(pk) for pk in pks], **extra}
    return client.post(url, data)


def confirm(client, url, action, pks, **extra):
    return act(client, url, action, pks, post="yes", **extra)


def messages_of(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


def pages(client, urls):
    bodies = []
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        bodies.append(response.content.decode())
    return bodies


# --- rendering --------------------------------------------------------------------------------


@override_settings(JWTSESSIONS={"SESSION_IDLE_TIMEOUT": 3600})
def test_every_changelist_and_change_page_renders_without_secrets(client, operator, api):
    user = make_user("alice", email="alice@example.org")
    body = login(api, user, HTTP_USER_AGENT="Mozilla/5.0 " + "x" * 200)
    rotated = api.post(
        "/api/auth/refresh/", {"refresh": body["refresh"]}, content_type="application/json"
    ).json()
    revoked = login(api, user)
    revoke_session(revoked["session_id"])
    blacklist_token(rotated["access"], reason="stolen")
    BlacklistedToken.objects.create(jti="old", expires_at=timezone.now() - timedelta(days=1))
    api_key, key = create_api_key(user, "ci", ["items:read"])
    session = Session.objects.get(pk=rotated["session_id"])
    entry = BlacklistedToken.objects.get(reason="stolen")

    urls = [
        SESSIONS,
        f"{SESSIONS}{quote(session.pk)}/change/",
        f"{SESSIONS}{quote(revoked['session_id'])}/change/",
        *(f"{SESSIONS}?status={s}" for s in ("active", "revoked", "expired", "idle")),
        f"{SESSIONS}?q=alice",
        f"{SESSIONS}?q=alice@example.org",
        f"{SESSIONS}?q=127.0.0.1",
        f"{SESSIONS}?q=nothing-matches",
        API_KEYS,
        f"{API_KEYS}add/",
        f"{API_KEYS}{api_key.pk}/change/",
        *(f"{API_KEYS}?status={s}" for s in ("active", "revoked", "expired")),
        f"{API_KEYS}?q={api_key.public_id}",
        BLACKLIST,
        f"{BLACKLIST}{entry.pk}/change/",
        f"{BLACKLIST}?state=live",
        f"{BLACKLIST}?state=expired",
        "/admin/",
        "/admin/jwtsessions/",
    ]
    html = "\n".join(pages(client, urls))

    secrets = {
        "first refresh token": body["refresh"],
        "current refresh token": rotated["refresh"],
        "refresh secret part": rotated["refresh"].split(".")[2],
        "refresh hash": refresh_token_hash(rotated["refresh"]),
        "stored hash": session.refresh_hash,
        "access token": rotated["access"],
        "API key": key,
        "API key secret": key.rsplit("_", 1)[1],
        "API key digest": api_key.digest,
    }
    leaked = [name for name, value in secrets.items() if value in html]
    assert not leaked
    assert api_key.public_id in html  # not a secret: how operators tell keys apart


def test_session_list_shows_user_status_and_searches(client, operator, api):
    alice, bob = make_user("alice"), make_user("bob", email="bob@example.net")
    a = login(api, alice)
    login(api, bob)
    revoke_session(a["session_id"])

    response = client.get(SESSIONS)
    assert response.status_code == 200
    rows = response.context["cl"].result_list
    assert {s.user.username for s in rows} == {"alice", "bob"}
    html = response.content.decode()
    assert ">revoked<" in html
    assert ">active<" in html

    found = client.get(SESSIONS, {"q": "bob@example.net"}).context["cl"].result_list
    assert [s.user.username for s in found] == ["bob"]
    revoked = client.get(SESSIONS, {"status": "revoked"}).context["cl"].result_list
    assert [s.pk for s in revoked] == [a["session_id"]]


def test_session_pages_are_read_only(client, operator, api):
    body = login(api, make_user())
    url = f"{SESSIONS}{quote(body['session_id'])}/change/"
    before = Session.objects.get(pk=body["session_id"])
    response = client.post(url, {"revoked_at_0": "", "ip_address": "10.0.0.1", "user": "1"})
    assert response.status_code == 403
    after = Session.objects.get(pk=body["session_id"])
    assert (after.ip_address, after.revoked_at) == (before.ip_address, before.revoked_at)
    assert client.get(f"{SESSIONS}add/").status_code == 403
    assert 'name="_save"' not in client.get(url).content.decode()


# --- session actions --------------------------------------------------------------------------


def test_revoke_selected_confirms_with_counts_then_revokes(client, operator, api):
    alice, bob = make_user(), make_user()
    a1, a2, b1 = login(api, alice), login(api, alice), login(api, bob)

    page = act(client, SESSIONS, "revoke_selected", [a1["session_id"], b1["session_id"]])
    assert page.status_code == 200
    assert "This revokes 2 sessions of 2 users." in page.content.decode()
    assert whoami(api, a1["access"]).status_code == 200  # nothing happens before confirming

    done = confirm(
        client,
        SESSIONS,
        "revoke_selected",
        [a1["session_id"], b1["session_id"]],
        reason="incident 7",
    )
    assert done.status_code == 302
    assert "Revoked 2 sessions of 2 users." in messages_of(client.get(done["Location"]))
    for body in (a1, b1):
        r = whoami(api, body["access"])
        assert r.status_code == 401
        assert r.json()["code"] == "session_revoked"
    assert whoami(api, a2["access"]).status_code == 200
    assert Session.objects.get(pk=a1["session_id"]).revoke_reason == "incident 7"


def test_revoke_users_sessions_takes_every_session_of_those_users(client, operator, api):
    alice, bob = make_user(), make_user()
    alice_bodies = [login(api, alice) for _ in range(3)]
    b1 = login(api, bob)
    one = alice_bodies[0]["session_id"]

    page = act(client, SESSIONS, "revoke_users_sessions", [one])
    assert "This revokes 3 sessions of 1 user." in page.content.decode()
    done = confirm(client, SESSIONS, "revoke_users_sessions", [one])
    assert "Revoked 3 sessions of 1 user." in messages_of(client.get(done["Location"]))

    for body in alice_bodies:
        r = whoami(api, body["access"])
        assert r.status_code == 401
        assert r.json()["code"] == "session_revoked"
    assert whoami(api, b1["access"]).status_code == 200


def test_select_across_uses_the_filtered_changelist(client, operator, api):
    alice, bob = make_user("alice"), make_user("bob")
    alice_bodies = [login(api, alice) for _ in range(2)]
    b1 = login(api, bob)
    url = f"{SESSIONS}?q=alice"

    page = act(client, url, "revoke_selected", [alice_bodies[0]["session_id"]], select_across="1")
    html = page.content.decode()
    assert "This revokes 2 sessions of 1 user." in html
    assert 'name="select_across" value="1"' in html
    confirm(client, url, "revoke_selected", [alice_bodies[0]["session_id"]], select_across="1")

    assert all(whoami(api, b["access"]).status_code == 401 for b in alice_bodies)
    assert whoami(api, b1["access"]).status_code == 200


def test_nothing_to_revoke_says_so(client, operator, api):
    body = login(api, make_user())
    revoke_session(body["session_id"])
    page = act(client, SESSIONS, "revoke_selected", [body["session_id"]])
    html = page.content.decode()
    assert "Nothing to revoke" in html
    assert 'name="post"' not in html


def test_deleting_a_session_in_the_admin_revokes_it_first(client, operator, api):
    body = login(api, make_user())
    assert whoami(api, body["access"]).status_code == 200  # the cache now says "active"
    url = f"{SESSIONS}{quote(body['session_id'])}/delete/"
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not Session.objects.filter(pk=body["session_id"]).exists()
    r = whoami(api, body["access"])
    assert r.status_code == 401
    assert r.json()["code"] == "session_revoked"


def test_deleting_a_user_is_not_blocked_by_our_models(client, operator, api):
    user = make_user()
    login(api, user)
    create_api_key(user, "ci")
    response = client.post(f"/admin/auth/user/{user.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not get_user_model().objects.filter(pk=user.pk).exists()
    assert not Session.objects.filter(user_id=user.pk).exists()


# --- API keys ---------------------------------------------------------------------------------


def test_api_key_revoke_selected(client, operator, api):
    owner = make_user()
    first, first_key = create_api_key(owner, "one")
    second, second_key = create_api_key(owner, "two")
    assert service_token(api, first_key).status_code == 200

    page = act(client, API_KEYS, "revoke_selected", [first.pk])
    assert "This revokes 1 API key of 1 user." in page.content.decode()
    done = confirm(client, API_KEYS, "revoke_selected", [first.pk])
    assert "Revoked 1 API key of 1 user." in messages_of(client.get(done["Location"]))

    r = service_token(api, first_key)
    assert r.status_code == 401
    assert r.json()["code"] == "api_key_revoked"
    assert service_token(api, second_key).status_code == 200
    assert ApiKey.objects.get(pk=second.pk).revoked_at is None


def test_api_key_created_in_the_admin_is_shown_once_and_never_stored(client, operator, api):
    owner = make_user()
    response = client.post(
        f"{API_KEYS}add/",
        {"name": "deploy bot", "user": str(owner.pk), "scopes": '["items:read"]'},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    keys = re.findall(r"<code>(key_[A-Za-z0-9]+_[A-Za-z0-9]+)</code>", html)
    assert len(keys) == 1
    key = keys[0]

    api_key = ApiKey.objects.get(name="deploy bot")
    assert api_key.user == owner
    assert api_key.scopes == ["items:read"]
    assert key.startswith(f"key_{api_key.public_id}_")
    assert key not in api_key.digest
    r = service_token(api, key)
    assert r.status_code == 200, r.content
    assert r.json()["scope"] == "items:read"

    # Never again: not in later pages, the message cookie or the session table.
    later = "\n".join(pages(client, [API_KEYS, f"{API_KEYS}{api_key.pk}/change/", "/admin/"]))
    assert key not in later
    assert "Copy it now" not in later
    assert key not in str(client.cookies)
    for stored in DjangoSession.objects.all():
        assert key not in str(stored.get_decoded())


@pytest.mark.parametrize(
    "scopes",
    ['"items:read"', '["has space"]', "[1, 2]", '{"a": 1}'],
)
def test_api_key_add_form_refuses_bad_scopes(client, operator, scopes):
    owner = make_user()
    response = client.post(
        f"{API_KEYS}add/", {"name": "x", "user": str(owner.pk), "scopes": scopes}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not ApiKey.objects.exists()


def test_api_key_add_form_refuses_a_past_expiry(client, operator):
    owner = make_user()
    response = client.post(
        f"{API_KEYS}add/",
        {
            "name": "x",
            "user": str(owner.pk),
            "scopes": "[]",
            "expires_at_0": "2000-01-01",
            "expires_at_1": "00:00:00",
        },
    )
    assert "expires_at" in response.context["adminform"].form.errors
    assert not ApiKey.objects.exists()


def test_existing_api_keys_cannot_be_edited(client, operator):
    api_key, _ = create_api_key(make_user(), "ci", ["a"])
    response = client.post(f"{API_KEYS}{api_key.pk}/change/", {"name": "x", "scopes": '["b"]'})
    assert response.status_code == 403
    assert ApiKey.objects.get(pk=api_key.pk).scopes == ["a"]


# --- blacklist --------------------------------------------------------------------------------


def test_delete_expired_deletes_only_expired_entries_whatever_is_selected(client, operator, api):
    body = login(api, make_user())
    live_entry = blacklist_token(body["access"], reason="stolen")
    assert live_entry is not None
    now = timezone.now()
    old = [
        BlacklistedToken.objects.create(jti=f"old-{i}", expires_at=now - timedelta(hours=i + 1))
        for i in range(3)
    ]
    other_live = BlacklistedToken.objects.create(jti="live", expires_at=now + timedelta(hours=1))
    selected = [e.pk for e in [*old, live_entry, other_live]]

    done = act(client, BLACKLIST, "delete_expired", selected)
    assert done.status_code == 302
    shown = messages_of(client.get(done["Location"]))
    assert "Deleted 3 expired entries; 2 entries still refusing tokens left in place." in shown
    assert set(BlacklistedToken.objects.values_list("pk", flat=True)) == {
        live_entry.pk,
        other_live.pk,
    }
    r = whoami(api, body["access"])
    assert r.status_code == 401
    assert r.json()["code"] == "token_revoked"


def test_blacklist_is_read_only(client, operator):
    live = BlacklistedToken.objects.create(
        jti="live", expires_at=timezone.now() + timedelta(hours=1)
    )
    assert client.get(f"{BLACKLIST}add/").status_code == 403
    assert client.post(f"{BLACKLIST}{live.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"{BLACKLIST}{live.pk}/change/", {"jti": "x"}).status_code == 403
    assert BlacklistedToken.objects.get(pk=live.pk).jti == "live"
    actions = client.get(BLACKLIST).context["action_form"].fields["action"].choices
    assert "delete_selected" not in {name for name, _ in actions}


# --- who may act ------------------------------------------------------------------------------


def test_non_staff_cannot_run_the_actions(client, api):
    victim = make_user()
    body = login(api, victim)
    api_key, key = create_api_key(victim, "ci")
    BlacklistedToken.objects.create(jti="old", expires_at=timezone.now() - timedelta(days=1))
    client.force_login(make_user(is_staff=False))

    for url, action, pk in [
        (SESSIONS, "revoke_selected", body["session_id"]),
        (SESSIONS, "revoke_users_sessions", body["session_id"]),
        (API_KEYS, "revoke_selected", api_key.pk),
        (BLACKLIST, "delete_expired", BlacklistedToken.objects.get().pk),
    ]:
        response = confirm(client, url, action, [pk])
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")

    assert whoami(api, body["access"]).status_code == 200
    assert service_token(api, key).status_code == 200
    assert BlacklistedToken.objects.count() == 1


def test_staff_with_view_permission_only_is_not_offered_the_actions(client, api):
    body = login(api, make_user())
    viewer = make_user(is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(content_type__app_label="jwtsessions", codename="view_session")
    )
    client.force_login(viewer)

    response = client.get(SESSIONS)
    assert response.status_code == 200
    # No action at all: Django then drops the action bar from the changelist.
    assert response.context["action_form"] is None
    confirm(client, SESSIONS, "revoke_selected", [body["session_id"]])
    assert whoami(api, body["access"]).status_code == 200


# --- the user-admin mixin ---------------------------------------------------------------------


class ProjectUserAdmin(RevokeSessionsUserAdminMixin, UserAdmin):
    """What a project writes: its own UserAdmin with the mixin."""


project_site = django_admin.AdminSite(name="project_admin")
project_site.register(get_user_model(), ProjectUserAdmin)

urlpatterns = [
    path("project-admin/", project_site.urls),
    path("api/auth/", include("jwtsessions.urls")),
    path("api/whoami/", whoami_view),
]


@override_settings(ROOT_URLCONF="tests.test_admin")
def test_user_admin_mixin_revokes_all_sessions_of_selected_users(client, operator, api):
    alice, bob, carol = make_user(), make_user(), make_user()
    bodies = {u.pk: [login(api, u), login(api, u)] for u in (alice, bob, carol)}
    url = "/project-admin/auth/user/"

    choices = client.get(url).context["action_form"].fields["action"].choices
    assert "revoke_all_sessions_of_users" in {name for name, _ in choices}
    assert "delete_selected" in {name for name, _ in choices}  # the project's actions stay

    page = act(client, url, "revoke_all_sessions_of_users", [alice.pk, bob.pk])
    assert "This revokes 4 sessions of 2 users." in page.content.decode()
    done = confirm(client, url, "revoke_all_sessions_of_users", [alice.pk, bob.pk])
    assert "Revoked 4 sessions of 2 users." in messages_of(client.get(done["Location"]))

    for user in (alice, bob):
        for body in bodies[user.pk]:
            assert whoami(api, body["access"]).json()["code"] == "session_revoked"
    assert all(whoami(api, b["access"]).status_code == 200 for b in bodies[carol.pk])


@override_settings(ROOT_URLCONF="tests.test_admin")
def test_user_admin_mixin_action_needs_the_session_permission(client, api):
    victim = make_user()
    body = login(api, victim)
    staff = make_user(is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_user", "change_user"])
    )
    client.force_login(staff)
    url = "/project-admin/auth/user/"
    # Without delete or session permissions no action is left, so there is no action bar.
    assert client.get(url).context["action_form"] is None
    confirm(client, url, "revoke_all_sessions_of_users", [victim.pk])
    assert whoami(api, body["access"]).status_code == 200


# --- issue 10: who may issue a key, and with which scopes --------------------------------------


def _key_adder(*extra_codenames):
    """Staff holding "add API key" (plus ``extra_codenames``), and nothing else."""
    staff = make_user(is_staff=True)
    codenames = ["add_apikey", "view_apikey", *extra_codenames]
    staff.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="jwtsessions", codename__in=codenames)
    )
    return get_user_model().objects.get(pk=staff.pk)  # fresh permission cache


def test_issue10_finding2_staff_with_add_api_key_cannot_mint_keys_for_anyone_else(client, api):
    superuser = make_user("root", is_staff=True, is_superuser=True)
    victim = make_user("victim")
    staff = _key_adder()
    client.force_login(staff)

    for owner in (superuser, victim):
        response = client.post(
            f"{API_KEYS}add/", {"name": "mine now", "user": str(owner.pk), "scopes": "[]"}
        )
        # Whatever the form was sent, a key (and a secret on the page) can only be the actor's.
        assert not ApiKey.objects.filter(user=owner).exists()
        for key in re.findall(r"key_([A-Za-z0-9]+)_[A-Za-z0-9]+", response.content.decode()):
            assert ApiKey.objects.get(public_id=key).user == staff
    # What staff without the permission may do: a key of their own, no owner field at all.
    form = client.get(f"{API_KEYS}add/").context["adminform"].form
    assert "user" not in form.fields
    response = client.post(f"{API_KEYS}add/", {"name": "own key", "scopes": "items:read"})
    assert response.status_code == 200
    assert ApiKey.objects.get(name="own key").user == staff


def test_issue10_finding2_the_permission_allows_others_but_never_a_superuser(client):
    superuser = make_user("root", is_staff=True, is_superuser=True)
    colleague = make_user("colleague")
    staff = _key_adder("add_api_key_for_others")
    client.force_login(staff)

    refused = client.post(f"{API_KEYS}add/", {"name": "x", "user": str(superuser.pk)})
    assert "user" in refused.context["adminform"].form.errors
    assert not ApiKey.objects.filter(user=superuser).exists()
    allowed = client.post(f"{API_KEYS}add/", {"name": "bot", "user": str(colleague.pk)})
    assert allowed.status_code == 200
    assert ApiKey.objects.get(name="bot").user == colleague
    # A superuser may issue a superuser's key.
    client.force_login(make_user("admin2", is_staff=True, is_superuser=True))
    client.post(f"{API_KEYS}add/", {"name": "root key", "user": str(superuser.pk)})
    assert ApiKey.objects.get(name="root key").user == superuser


def grantable_by_staff_only(user):
    """An ``API_KEY_SCOPES`` callable: staff may grant "admin", everyone "items:read"."""
    return ["items:read", "admin"] if user.is_staff else ["items:read"]


@override_settings(JWTSESSIONS={"API_KEY_SCOPES": "tests.test_admin.grantable_by_staff_only"})
def test_issue10_finding4_admin_refuses_scopes_outside_api_key_scopes(client, operator):
    owner = make_user()  # not staff: "admin" is not grantable to this owner
    response = client.post(
        f"{API_KEYS}add/", {"name": "x", "user": str(owner.pk), "scopes": '["items:read", "admin"]'}
    )
    assert response.status_code == 200
    assert "scopes" in response.context["adminform"].form.errors
    assert not ApiKey.objects.exists()
    client.post(f"{API_KEYS}add/", {"name": "ok", "user": str(owner.pk), "scopes": "items:read"})
    assert ApiKey.objects.get(name="ok").scopes == ["items:read"]


@override_settings(JWTSESSIONS={"API_KEY_SCOPES": ["items:read", "items:write"]})
def test_a_fixed_api_key_scopes_list_is_offered_as_checkboxes(client, operator):
    owner = make_user()
    html = client.get(f"{API_KEYS}add/").content.decode()
    assert 'type="checkbox" name="scopes" value="items:write"' in html
    refused = client.post(
        f"{API_KEYS}add/", {"name": "x", "user": str(owner.pk), "scopes": "admin"}
    )
    assert "scopes" in refused.context["adminform"].form.errors
    client.post(f"{API_KEYS}add/", {"name": "ok", "user": str(owner.pk), "scopes": ["items:read"]})
    assert ApiKey.objects.get(name="ok").scopes == ["items:read"]


def test_api_key_scopes_are_typed_one_per_line_and_shown_as_a_list(client, operator):
    owner = make_user()
    client.post(
        f"{API_KEYS}add/",
        {"name": "lines", "user": str(owner.pk), "scopes": "notes:read\r\nnotes:write\n"},
    )
    api_key = ApiKey.objects.get(name="lines")
    assert api_key.scopes == ["notes:read", "notes:write"]
    html = client.get(f"{API_KEYS}{api_key.pk}/change/").content.decode()
    assert "<li><code>notes:read</code></li><li><code>notes:write</code></li>" in html


def test_api_key_add_form_proposes_an_expiry_and_an_owner_autocomplete(client, operator):
    response = client.get(f"{API_KEYS}add/")
    form = response.context["adminform"].form
    proposed = form.fields["expires_at"].initial
    assert timedelta(days=89) < proposed - timezone.now() <= timedelta(days=90)
    assert "admin-autocomplete" in response.content.decode()


# --- issue 14: audit trail, Revoke buttons, confirmation lists ---------------------------------


def test_admin_revocation_writes_a_log_entry_naming_the_acting_user(client, operator, api):
    from django.contrib.admin.models import CHANGE, LogEntry

    alice = make_user("alice")
    body = login(api, alice)
    confirm(client, SESSIONS, "revoke_selected", [body["session_id"]], reason="incident 9")

    entry = LogEntry.objects.get(object_id=body["session_id"])
    assert entry.user == operator
    assert entry.action_flag == CHANGE
    assert "incident 9" in entry.get_change_message()
    assert "of alice" in entry.object_repr
    session = Session.objects.get(pk=body["session_id"])
    assert session.revoked_by == operator
    # History and Recent actions show it; the change page says who revoked.
    history = client.get(f"{SESSIONS}{quote(session.pk)}/history/").content.decode()
    assert "operator" in history
    assert "incident 9" in history
    assert f"session {session.pk[:8]}… of alice" in client.get("/admin/").content.decode()
    change = client.get(f"{SESSIONS}{quote(session.pk)}/change/").content.decode()
    assert "Revoked by" in change
    assert ">operator<" in change


def test_revoke_button_on_change_pages_confirms_with_the_listed_objects(client, operator, api):
    alice = make_user("alice")
    body = login(api, alice)
    api_key, key = create_api_key(alice, "ci")
    for url, obj_label in [
        (f"{SESSIONS}{quote(body['session_id'])}/", f"session {body['session_id'][:8]}… of alice"),
        (f"{API_KEYS}{api_key.pk}/", f"ci ({api_key.public_id})"),
    ]:
        change = client.get(url + "change/").content.decode()
        assert f'href="{url}revoke/"' in change
        page = client.get(url + "revoke/").content.decode()
        assert "This revokes 1" in page
        assert f">{obj_label}</a>" in page
        done = client.post(url + "revoke/", {"post": "yes", "reason": "button"})
        assert done.status_code == 302
        assert done["Location"] == url + "change/"
        assert "revoke/" not in client.get(url + "change/").content.decode()
    assert whoami(api, body["access"]).json()["code"] == "session_revoked"
    assert service_token(api, key).json()["code"] == "api_key_revoked"
    assert ApiKey.objects.get(pk=api_key.pk).revoked_by == operator


def test_confirmation_lists_the_first_objects_then_and_n_more(client, operator, api):
    from jwtsessions.admin.confirmation import LISTED_OBJECTS

    users = [make_user(f"user{i}") for i in range(3)]
    now = timezone.now()
    Session.objects.bulk_create(
        Session(user=users[i % 3], expires_at=now + timedelta(days=1), refresh_hash="0" * 64)
        for i in range(LISTED_OBJECTS + 5)
    )
    pks = list(Session.objects.values_list("pk", flat=True))
    html = act(client, SESSIONS, "revoke_selected", pks).content.decode()
    assert f"This revokes {LISTED_OBJECTS + 5} sessions of 3 users." in html
    assert html.count("jwtsessions-affected") == 1
    assert len(re.findall(r'<li><a href="/admin/jwtsessions/session/[^"]+/change/">', html)) == (
        LISTED_OBJECTS
    )
    assert "and 5 more sessions" in html
    assert "of user0" in html


def post_form(client, url, data):
    """Post urlencoded, as a browser posts the action form (multipart is slow at 2,000 fields)."""
    return client.post(url, urlencode(data, doseq=True), content_type=FORM)


@override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=5000)
def test_a_2000_session_selection_is_counted_right_in_a_bounded_number_of_queries(client, operator):
    """Issue 14: 10,000 ticked sessions made PostgreSQL scan the whole table. The selection is
    read by primary key, SELECTION_CHUNK keys per query; the page still counts exactly."""
    from jwtsessions.admin.selection import SELECTION_CHUNK

    users = [make_user(f"user{i}") for i in range(8)]
    now = timezone.now()
    sessions = Session.objects.bulk_create(
        Session(
            user=users[i % 8],
            expires_at=now + timedelta(days=1),
            revoked_at=now if i % 8 == 7 else None,  # user7's sessions are all revoked already
            refresh_hash="0" * 64,
        )
        for i in range(2000)
    )
    login(Client(), users[0])  # active, but not selected: not counted
    selected = [s.pk for s in sessions]
    selected[1000:1000] = ["no-such-session"]
    posted = selected + selected[:10]  # a key posted twice counts once

    with CaptureQueriesContext(connection) as one:
        post_form(client, SESSIONS, {"action": "revoke_selected", ACTION_CHECKBOX_NAME: posted[:1]})
    with CaptureQueriesContext(connection) as many:
        page = post_form(
            client, SESSIONS, {"action": "revoke_selected", ACTION_CHECKBOX_NAME: posted}
        )

    html = page.content.decode()
    assert "This revokes 1,750 sessions of 7 users." in html
    assert "and 1730 more sessions" in html
    assert html.count(f'name="{ACTION_CHECKBOX_NAME}"') == len(posted)  # "Yes" posts them back
    chunks = -(-len(set(posted)) // SELECTION_CHUNK)
    assert len(many) <= len(one) + chunks - 1
    # No query holds the whole selection (the first key and the last one are in different
    # chunks): the one IN of every key was the query PostgreSQL answered with a full scan.
    assert not any(
        selected[0] in q["sql"] and selected[-1] in q["sql"] for q in many.captured_queries
    )

    # The changelist's own filter (here a search) still narrows the selection.
    searched = post_form(
        client, f"{SESSIONS}?q=user1", {"action": "revoke_selected", ACTION_CHECKBOX_NAME: posted}
    )
    assert "This revokes 250 sessions of 1 user." in searched.content.decode()


def test_odd_keys_in_a_selection_match_nothing_but_themselves(client, operator, api):
    """The selection travels as one array on PostgreSQL: a key is one element whatever it
    holds, and a key longer than the column is not cut down to the id it starts with."""
    alice = make_user("alice")
    longest = Session.objects.create(
        id="L" * 32, user=alice, expires_at=timezone.now() + timedelta(days=1), refresh_hash="0"
    )
    body = login(api, alice)
    odd = [longest.pk + "x", '"', "\\", "a,b", "{}", "NULL", "", '"><b>x</b>']
    page = act(client, SESSIONS, "revoke_selected", [*odd, body["session_id"]])
    html = page.content.decode()
    assert "This revokes 1 session of 1 user." in html
    # Not the shape of a session id: dropped before any query (tests/test_admin_hostile_ids.py).
    assert "&lt;b&gt;" not in html
    assert "<b>x</b>" not in html

    confirm(client, SESSIONS, "revoke_selected", [*odd, body["session_id"]])
    assert whoami(api, body["access"]).json()["code"] == "session_revoked"
    assert Session.objects.get(pk=longest.pk).revoked_at is None


@override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=5000)
def test_a_1200_api_key_selection_is_counted_right(client, operator):
    from jwtsessions.admin.selection import SELECTION_CHUNK

    owners = [make_user(f"owner{i}") for i in range(3)]
    now = timezone.now()
    keys = ApiKey.objects.bulk_create(
        ApiKey(
            user=owners[i % 3],
            name=f"key {i}",
            public_id=f"pub{i:08d}",
            digest="0" * 64,
            revoked_at=now if i % 4 == 0 else None,
        )
        for i in range(SELECTION_CHUNK + 200)
    )
    selected = [k.pk for k in keys]
    page = post_form(
        client, API_KEYS, {"action": "revoke_selected", ACTION_CHECKBOX_NAME: selected}
    )
    active = sum(1 for i in range(SELECTION_CHUNK + 200) if i % 4 != 0)
    assert f"This revokes {active:,} API keys of 3 users." in page.content.decode()


def test_session_titles_and_labels_name_the_user(client, operator, api):
    body = login(api, make_user("alice"), REMOTE_ADDR="203.0.113.9")
    html = client.get(f"{SESSIONS}{quote(body['session_id'])}/change/").content.decode()
    assert f"session {body['session_id'][:8]}… of alice" in html
    assert "IP address" in html
    # Exact search: by session id and by IP address too.
    for term in (body["session_id"], "203.0.113.9", "ALICE"):
        found = client.get(SESSIONS, {"q": term}).context["cl"].result_list
        assert [s.pk for s in found] == [body["session_id"]], term


def test_filtered_lists_are_ordered_by_the_filtered_date(client, operator):
    user = make_user()
    now = timezone.now()
    Session.objects.bulk_create(
        Session(
            user=user,
            created_at=now - timedelta(days=40 - i),
            expires_at=now - timedelta(days=10 + i),  # created later, expired earlier
            refresh_hash="0" * 64,
        )
        for i in range(3)
    )
    expired = client.get(SESSIONS, {"status": "expired"}).context["cl"].result_list
    assert [s.expires_at for s in expired] == sorted((s.expires_at for s in expired), reverse=True)
    everything = client.get(SESSIONS).context["cl"].result_list
    assert [s.created_at for s in everything] == sorted(
        (s.created_at for s in everything), reverse=True
    )


@pytest.mark.parametrize("url", [f"{API_KEYS}abc/change/", f"{API_KEYS}abc/revoke/"])
def test_a_malformed_id_on_the_change_and_revoke_pages_is_not_a_500(client, operator, url):
    response = client.get(url)
    assert response.status_code in (302, 404)
