"""The example project: its notes API in header mode, its page, demo_setup and its settings."""

from __future__ import annotations

import importlib
import io
import re
import stat
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import Client, override_settings

from example_project.notes.models import Note
from jwtsessions.models import Session
from tests.factories import DEFAULT_PASSWORD, bearer, make_user

COOKIE_MODE = {"AUTH_COOKIE": "access", "REFRESH_COOKIE": "refresh"}


def _bearer(access: str) -> dict[str, Any]:
    return dict(bearer(access))


def token_login(client: Client, user: Any) -> dict[str, Any]:
    response = client.post(
        "/api/token/",
        {"username": user.get_username(), "password": DEFAULT_PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return dict(response.json())


@pytest.mark.django_db
@override_settings(JWTSESSIONS=COOKIE_MODE)
def test_api_clients_use_header_mode_endpoints_in_a_cookie_mode_project() -> None:
    api = Client(enforce_csrf_checks=True)  # no CSRF token anywhere below
    user, other = make_user(), make_user()
    body = token_login(api, user)
    assert {"access", "refresh"} <= body.keys()
    assert not api.cookies.get("access")

    created = api.post(
        "/api/notes/",
        {"title": "from a script"},
        content_type="application/json",
        **_bearer(body["access"]),
    )
    assert created.status_code == 201, created.content
    assert created.json()["title"] == "from a script"
    listed = api.get("/api/notes/", **_bearer(body["access"]))
    assert [n["title"] for n in listed.json()] == ["from a script"]

    other_body = token_login(api, other)
    note_url = f"/api/notes/{created.json()['id']}/"
    assert api.get(note_url, **_bearer(other_body["access"])).status_code == 404
    assert api.delete(note_url, **_bearer(other_body["access"])).status_code == 404
    assert Note.objects.filter(owner=user).count() == 1

    refreshed = api.post(
        "/api/token/refresh/", {"refresh": body["refresh"]}, content_type="application/json"
    )
    assert refreshed.status_code == 200
    access = refreshed.json()["access"]
    assert api.post("/api/token/logout/", **_bearer(access)).status_code == 204
    assert Session.objects.get(pk=body["session_id"]).revoked_at is not None
    response = api.get("/api/notes/", **_bearer(access))
    assert response.status_code == 401
    assert response.json()["code"] == "session_revoked"


@pytest.mark.django_db
@override_settings(JWTSESSIONS=COOKIE_MODE)
def test_notes_api_refuses_anonymous_callers_with_the_contract_shape() -> None:
    response = Client().get("/api/notes/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
@override_settings(JWTSESSIONS=COOKIE_MODE)
def test_the_page_sets_the_csrf_cookie_and_a_strict_content_security_policy() -> None:
    response = Client().get("/")
    assert response.status_code == 200
    assert response.cookies["csrftoken"].value
    assert "script-src 'self'" in response["Content-Security-Policy"]
    html = response.content.decode()
    assert 'data-login-url="/api/auth/login/"' in html
    assert 'data-notes-url="/api/notes/"' in html


@pytest.mark.django_db
def test_demo_setup_creates_users_with_working_printed_passwords() -> None:
    outputs = []
    for _ in range(2):
        out = io.StringIO()
        call_command("demo_setup", "--no-migrate", stdout=out)
        outputs.append(out.getvalue())
    users = get_user_model()._default_manager
    demo, staff = users.get(username="demo"), users.get(username="staff")
    assert not demo.is_staff
    assert staff.is_staff
    assert staff.is_superuser
    demo_password = re.search(r"user:\s+demo / (\S+)", outputs[-1]).group(1)  # type: ignore[union-attr]
    staff_password = re.search(r"staff:\s+staff / (\S+)", outputs[-1]).group(1)  # type: ignore[union-attr]
    assert demo.check_password(demo_password)
    assert staff.check_password(staff_password)
    assert demo_password not in outputs[0]  # new on every run
    assert Note.objects.filter(owner=demo).count() == 1  # the second run adds no duplicate


# --- settings from the environment -----------------------------------------------------------


def load_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    for name in ("DJANGO_DEBUG", "COOKIE_SECURE", "DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DJANGO_SECRET_KEY", "example-settings-test-" * 3)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    module = importlib.import_module("example_project.settings")
    return importlib.reload(module)


def test_defaults_are_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(monkeypatch)
    assert settings.DEBUG is False
    assert settings.COOKIE_SECURE is True
    assert settings.JWTSESSIONS["AUTH_COOKIE"] == "__Host-access"
    assert settings.JWTSESSIONS["REFRESH_COOKIE"] == "__Secure-refresh"
    assert settings.CSRF_COOKIE_SECURE is True
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings.CACHES["default"]["BACKEND"].endswith("LocMemCache")
    assert settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_debug_allows_plain_http_cookies_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_settings(monkeypatch, DJANGO_DEBUG="1")
    assert settings.COOKIE_SECURE is False
    assert settings.JWTSESSIONS["AUTH_COOKIE"] == "access"
    settings = load_settings(monkeypatch, DJANGO_DEBUG="1", COOKIE_SECURE="1")
    assert settings.COOKIE_SECURE is True


def test_database_and_cache_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(
        monkeypatch,
        DATABASE_URL="postgres://app:p%40ss@db.internal:5433/notes",
        REDIS_URL="redis://cache.internal:6379/2",
    )
    database = settings.DATABASES["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["USER"], database["PASSWORD"]) == ("app", "p@ss")
    assert (database["HOST"], database["PORT"], database["NAME"]) == (
        "db.internal",
        "5433",
        "notes",
    )
    assert settings.CACHES["default"]["LOCATION"] == "redis://cache.internal:6379/2"
    with pytest.raises(ImproperlyConfigured):
        settings._database("mysql://x@y/z")


def test_secret_key_is_generated_once_into_a_private_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = load_settings(monkeypatch)
    monkeypatch.delenv("DJANGO_SECRET_KEY")
    monkeypatch.setattr(settings, "BASE_DIR", tmp_path)
    first = settings._secret_key()
    assert len(first) >= 50
    assert settings._secret_key() == first
    assert stat.S_IMODE((tmp_path / ".secret_key").stat().st_mode) == 0o600
