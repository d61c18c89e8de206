"""SIMPLEJWT_MIGRATION: a simplejwt refresh token, from the real package, refreshes once into a
jwtsessions session; a replay is refused. Runs with simplejwt's token_blacklist app installed
(tests.settings) and, in a process of its own, without it (tests.settings_simplejwt_plain)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.db import connection, connections
from django.test import override_settings

pytest.importorskip("rest_framework_simplejwt")

import jwt
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken
from rest_framework_simplejwt.tokens import api_settings as simplejwt_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from jwtsessions import simplejwt_migration
from jwtsessions.models import BlacklistedToken, Session
from jwtsessions.store import Refusal
from tests.factories import DEFAULT_PASSWORD, bearer, make_user

BLACKLIST_APP_INSTALLED = apps.is_installed("rest_framework_simplejwt.token_blacklist")
MIGRATING = {"SIMPLEJWT_MIGRATION": True}

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.urls("tests.urls_simplejwt"),
]


def simplejwt_login(client: Any, user: Any) -> dict[str, Any]:
    """Log in through simplejwt's own TokenObtainPairView."""
    r = client.post(
        "/api/token/",
        {"username": user.get_username(), "password": DEFAULT_PASSWORD},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    return dict(r.json())


def refresh(client: Any, token: str) -> Any:
    return client.post("/api/auth/refresh/", {"refresh": token}, content_type="application/json")


def test_a_simplejwt_refresh_token_refreshes_once_into_a_jwtsessions_session(client):
    user = make_user()
    old = simplejwt_login(client, user)
    with override_settings(JWTSESSIONS=MIGRATING):
        first = refresh(client, old["refresh"])
        assert first.status_code == 200, first.content
        pair = first.json()
        assert {"access", "refresh", "token_type", "expires_in", "session_id"} <= set(pair)
        session = Session.objects.get(pk=pair["session_id"])
        assert session.user_id == user.pk
        # The new pair is a jwtsessions pair: it authenticates and it rotates.
        assert client.get("/api/auth/sessions/", **bearer(pair["access"])).status_code == 200
        assert refresh(client, pair["refresh"]).status_code == 200
        # The simplejwt token was consumed: a replay is refused, and no session is opened.
        replay = refresh(client, old["refresh"])
        assert replay.status_code == 401
        assert replay.json()["code"] == "refresh_invalid"
    assert Session.objects.filter(user=user).count() == 1
    jti = RefreshToken(old["refresh"], verify=False)["jti"]
    assert BlacklistedToken.objects.filter(jti=f"simplejwt:{jti}").exists()
    if BLACKLIST_APP_INSTALLED:
        # simplejwt's own refresh endpoint refuses it too.
        assert client.post("/api/token/refresh/", {"refresh": old["refresh"]}).status_code == 401


def test_with_the_setting_off_a_simplejwt_token_is_refused_and_not_consumed(client):
    old = simplejwt_login(client, make_user())
    r = refresh(client, old["refresh"])
    assert r.status_code == 401
    assert r.json()["code"] == "refresh_invalid"
    assert not BlacklistedToken.objects.exists()
    with override_settings(JWTSESSIONS=MIGRATING):
        assert refresh(client, old["refresh"]).status_code == 200


@override_settings(JWTSESSIONS=MIGRATING)
def test_refused_simplejwt_tokens(client):
    user = make_user()
    expired = RefreshToken.for_user(user)
    expired.set_exp(lifetime=timedelta(seconds=-5))
    forged_text = jwt.encode(dict(RefreshToken.for_user(user).payload), "k" * 64, "HS256")
    genuine_access = str(AccessToken.for_user(user))
    mangled = str(RefreshToken.for_user(user))[:-4] + "AAAA"
    for token in (str(expired), forged_text, genuine_access, mangled, "a.b.c", "..", "e30.e30."):
        r = refresh(client, token)
        assert r.status_code == 401, token
        assert r.json()["code"] == "refresh_invalid"
    assert not Session.objects.exists()


@override_settings(JWTSESSIONS=MIGRATING)
def test_a_token_on_simplejwts_blacklist_is_refused(client):
    if not BLACKLIST_APP_INSTALLED:
        pytest.skip("simplejwt's token_blacklist app is not installed in this run")
    old = simplejwt_login(client, make_user())
    RefreshToken(old["refresh"]).blacklist()
    r = refresh(client, old["refresh"])
    assert r.status_code == 401
    assert r.json()["code"] == "refresh_invalid"
    assert not Session.objects.exists()


@override_settings(JWTSESSIONS=MIGRATING)
def test_an_inactive_or_deleted_user_gets_no_session(client):
    user = make_user()
    old = simplejwt_login(client, user)
    user.is_active = False
    user.save()
    r = refresh(client, old["refresh"])
    assert r.status_code == 401
    assert r.json()["code"] == "user_inactive"
    other = make_user()
    token = str(RefreshToken.for_user(other))
    other.delete()
    assert refresh(client, token).json()["code"] == "user_inactive"
    assert not Session.objects.exists()


@override_settings(JWTSESSIONS=MIGRATING)
def test_a_password_change_since_the_token_refuses_it_with_check_revoke_token(client):
    if not simplejwt_settings.CHECK_REVOKE_TOKEN:
        pytest.skip("CHECK_REVOKE_TOKEN is on in the run without the blacklist app")
    user = make_user()
    assert RefreshToken.for_user(user)["hash_password"] == get_md5_hash_password(user.password)
    stale = str(RefreshToken.for_user(user))
    user.set_password("a new password, long enough")
    user.save()
    assert refresh(client, stale).json()["code"] == "refresh_invalid"
    fresh = str(RefreshToken.for_user(user))
    assert refresh(client, fresh).status_code == 200


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@override_settings(JWTSESSIONS=MIGRATING)
def test_concurrent_replays_exactly_one_wins():
    if connection.vendor != "postgresql":
        pytest.skip("real row-level concurrency needs PostgreSQL (CI runs this on PostgreSQL)")
    user = make_user()
    token = str(RefreshToken.for_user(user))
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def attempt() -> None:
        try:
            barrier.wait(timeout=10)
            simplejwt_migration.exchange(token)
            outcomes.append("won")
        except Refusal as exc:
            outcomes.append(exc.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["refresh_invalid"] * 7 + ["won"]
    assert Session.objects.filter(user=user).count() == 1


@pytest.mark.skipif(not BLACKLIST_APP_INSTALLED, reason="this run is the one without the app")
def test_the_same_tests_pass_without_simplejwts_blacklist_app():
    root = Path(__file__).resolve().parent.parent
    # SQLite (no DATABASE_URL): the parent run owns the PostgreSQL test database; the
    # concurrency test above already exercises the one gate both runs share, on PostgreSQL.
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PYTHONPATH"] = str(root)
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "--ds=tests.settings_simplejwt_plain", __file__,
            "-k", "not test_the_same_tests_pass_without",
        ],
        cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout


def test_transition_authentication_takes_both_kinds_of_access_token(client):
    user = make_user()
    old = simplejwt_login(client, user)
    with override_settings(JWTSESSIONS=MIGRATING):
        r = client.get("/api/whoami/", **bearer(old["access"]))
        assert r.status_code == 200, r.content
        assert r.json() == {"user_id": str(user.pk), "auth": "AccessToken"}
        pair = refresh(client, old["refresh"]).json()
        r = client.get("/api/whoami/", **bearer(pair["access"]))
        assert r.json() == {"user_id": str(user.pk), "auth": "SessionAuth"}
        # A revoked jwtsessions session stays refused: its token never reaches simplejwt.
        client.post("/api/auth/logout/", **bearer(pair["access"]))
        r = client.get("/api/whoami/", **bearer(pair["access"]))
        assert r.status_code == 401
        assert r.json()["code"] == "session_revoked"
        forged = jwt.encode({"user_id": str(user.pk), "token_type": "access"}, "k" * 64, "HS256")
        assert client.get("/api/whoami/", **bearer(forged)).status_code == 401
    # With the setting off, it is JWTSessionAuthentication: a simplejwt token is refused.
    r = client.get("/api/whoami/", **bearer(old["access"]))
    assert r.status_code == 401
    assert r.json()["code"] == "token_invalid"
