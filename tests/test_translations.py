"""Translations (issue 13, item 2): German, French, Spanish and Brazilian Portuguese messages,
the same codes in every language, and catalogs that leave no string untranslated."""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import translation

from jwtsessions.models import ApiKey, BlacklistedToken, Session
from jwtsessions.serializers import ApiKeyCreateSerializer
from tests.factories import make_user

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "jwtsessions" / "locale"
LANGUAGES = ("de", "fr", "es", "pt_BR")
WITH_LOCALE_MIDDLEWARE = [
    *settings.MIDDLEWARE[:2],
    "django.middleware.locale.LocaleMiddleware",
    *settings.MIDDLEWARE[2:],
]


def failed_login(client, **headers):
    return client.post(
        "/api/auth/login/",
        {"username": "nobody", "password": "wrong"},
        content_type="application/json",
        **headers,
    )


@pytest.mark.django_db
@override_settings(MIDDLEWARE=WITH_LOCALE_MIDDLEWARE)
@pytest.mark.parametrize(
    ("accept", "detail"),
    [
        ("de", "Anmeldung mit den angegebenen Zugangsdaten nicht möglich."),
        ("de-DE,de;q=0.9,en;q=0.5", "Anmeldung mit den angegebenen Zugangsdaten nicht möglich."),
        ("fr", "Impossible de se connecter avec les identifiants fournis."),
        ("es", "No es posible iniciar sesión con las credenciales proporcionadas."),
        ("pt-BR", "Não foi possível entrar com as credenciais fornecidas."),
        ("en", "Unable to log in with the provided credentials."),
    ],
)
def test_accept_language_picks_the_language_and_the_code_stays(client, accept, detail):
    r = failed_login(client, HTTP_ACCEPT_LANGUAGE=accept)
    assert r.status_code == 401
    assert r.json() == {"detail": detail, "code": "invalid_credentials"}


@pytest.mark.django_db
@override_settings(LANGUAGE_CODE="de")
def test_language_code_de_answers_german_everywhere_without_middleware(client):
    r = client.get("/api/auth/sessions/")
    assert r.json() == {"detail": "Anmeldedaten fehlen.", "code": "not_authenticated"}
    r = client.get("/api/auth/sessions/", HTTP_AUTHORIZATION="Bearer a.b.c")
    assert r.json() == {"detail": "Das Zugriffstoken ist ungültig.", "code": "token_invalid"}
    r = client.post("/api/auth/refresh/", {"refresh": "x"}, content_type="application/json")
    assert r.json() == {
        "detail": "Das Refresh-Token ist ungültig oder abgelaufen.",
        "code": "refresh_invalid",
    }
    r = client.post("/api/auth/service-token/", HTTP_X_API_KEY="key_nope_nope")
    assert r.json()["code"] in {"api_key_invalid", "invalid_request"}
    assert "API" in r.json()["detail"]
    # The whole body is German: no English left in any message of the answer.
    r = failed_login(client)
    assert r.json() == {
        "detail": "Anmeldung mit den angegebenen Zugangsdaten nicht möglich.",
        "code": "invalid_credentials",
    }


@pytest.mark.django_db
def test_credential_not_accepted_is_translated_whole():
    from jwtsessions.apikeys import create_api_key

    _, key = create_api_key(make_user(), "ci")
    from django.test import Client

    with override_settings(LANGUAGE_CODE="de"):
        r = Client().get("/api/auth/sessions/", HTTP_X_API_KEY=key)
    assert r.json() == {
        "detail": "Ein API-Schlüssel wird hier nicht akzeptiert; dieser Endpunkt benötigt ein "
        "Sitzungs-Zugriffstoken (Authorization: Bearer).",
        "code": "credential_not_accepted",
    }


def test_serializer_messages_and_model_names_are_translated():
    with translation.override("de"):
        serializer = ApiKeyCreateSerializer(
            data={"name": "x", "expires_at": "2000-01-01T00:00:00Z", "scopes": ["a b"]}
        )
        assert not serializer.is_valid()
        errors = {k: [str(m) for m in v] for k, v in serializer.errors.items()}
        assert "Muss in der Zukunft liegen." in errors["expires_at"]
        assert str(Session._meta.verbose_name) == "Sitzung"
        assert str(ApiKey._meta.verbose_name_plural) == "API-Schlüssel"
        assert str(BlacklistedToken._meta.get_field("reason").verbose_name) == "Grund"
    with translation.override("pt-br"):
        assert str(Session._meta.verbose_name_plural) == "sessões"


# --- the catalogs --------------------------------------------------------------------------------


def _entries(po: Path) -> dict[str, list[str]]:
    """msgid (plural joined with NUL) -> msgstr forms, skipping the header; fuzzy ones marked."""
    entries: dict[str, list[str]] = {}
    for block in po.read_text(encoding="utf-8").split("\n\n"):
        fuzzy = any(line.startswith("#,") and "fuzzy" in line for line in block.splitlines())
        fields: dict[str, str] = {}
        current = None
        for line in block.splitlines():
            match = re.match(r'^(msgid_plural|msgid|msgstr(?:\[\d\])?) "(.*)"$', line)
            if match:
                current = match.group(1)
                fields[current] = match.group(2)
            elif line.startswith('"') and current:
                fields[current] += line[1:-1]
        if fields.get("msgid"):
            key = fields["msgid"] + (
                "\0" + fields["msgid_plural"] if "msgid_plural" in fields else ""
            )
            forms = [v for k, v in sorted(fields.items()) if k.startswith("msgstr")]
            entries[key] = ["" if fuzzy else form for form in forms]
    return entries


@pytest.mark.skipif(
    shutil.which("xgettext") is None, reason="GNU gettext missing (.ci/run installs it)"
)
def test_makemessages_finds_no_untranslated_string_in_the_shipped_locales(tmp_path):
    # makemessages over a copy of the package: it merges every marked string of today's code
    # into the copy's catalogs; a new or changed string shows up there untranslated.
    copy = tmp_path / "jwtsessions"
    shutil.copytree(ROOT / "jwtsessions", copy, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "--no-location", "--no-obsolete",
         *[f"--locale={lang}" for lang in LANGUAGES]],
        cwd=copy, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                       "DJANGO_SETTINGS_MODULE": "tests.settings", "REDIS_URL": "redis://127.0.0.1:1/0"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for lang in LANGUAGES:
        merged = _entries(copy / "locale" / lang / "LC_MESSAGES" / "django.po")
        assert len(merged) > 50
        untranslated = [msgid for msgid, forms in merged.items() if not all(forms)]
        assert untranslated == [], (lang, untranslated)
        shipped = _entries(LOCALE / lang / "LC_MESSAGES" / "django.po")
        assert set(merged) == set(shipped), lang


@pytest.mark.skipif(
    shutil.which("msgfmt") is None, reason="GNU gettext missing (.ci/run installs it)"
)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_compiled_catalogs_match_their_sources(lang, tmp_path):
    po = LOCALE / lang / "LC_MESSAGES" / "django.po"
    fresh = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check", "-o", str(fresh), str(po)], check=True, timeout=60)
    with open(fresh, "rb") as a, open(po.with_suffix(".mo"), "rb") as b:
        assert gettext.GNUTranslations(a)._catalog == gettext.GNUTranslations(b)._catalog
