"""System checks: each id is triggered, alone, by the misconfiguration it names."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core import checks as django_checks
from django.core.management import call_command
from django.core.management.utils import get_random_secret_key
from django.test import override_settings

from jwtsessions import checks, keystrength
from tests.tokenkit import ed_key, private_pem, public_pem, rsa_key

ROOT = Path(__file__).resolve().parent.parent

# Django's own model checks ask the database for its features (JSONField support on SQLite).
pytestmark = pytest.mark.django_db


def jwt_ids(**jwtsessions: Any) -> list[str]:
    """Run every registered check (Django's too) and keep our ids."""
    with override_settings(JWTSESSIONS=jwtsessions):
        messages = django_checks.run_checks(include_deployment_checks=False)
    return sorted(m.id for m in messages if m.id and m.id.startswith("jwtsessions."))


def test_test_settings_raise_nothing() -> None:
    assert jwt_ids() == []


@pytest.mark.parametrize("algorithm", ["none", "None", "NONE", "HS1", "RS1", "", "hs256"])
def test_e001_algorithm_none_or_unsupported(algorithm: str) -> None:
    assert jwt_ids(ALGORITHM=algorithm) == ["jwtsessions.E001"]


def test_e001_in_a_key_ring_entry() -> None:
    ring = [{"kid": "a", "algorithm": "none", "key": b"k" * 32}]
    assert jwt_ids(SIGNING_KEYS=ring) == ["jwtsessions.E001"]


@pytest.mark.parametrize(
    ("algorithm", "key"),
    [
        ("HS256", b"k" * 31),
        ("HS256", "short"),
        ("HS384", b"k" * 47),
        ("HS512", b"k" * 63),
        ("HS256", b""),
        ("HS256", public_pem(rsa_key())),
    ],
)
def test_e002_hmac_key_too_short_or_a_public_key(algorithm: str, key: Any) -> None:
    assert jwt_ids(ALGORITHM=algorithm, SIGNING_KEY=key) == ["jwtsessions.E002"]


def test_e002_not_raised_for_long_enough_keys() -> None:
    for algorithm, size in (("HS256", 32), ("HS384", 48), ("HS512", 64)):
        assert jwt_ids(ALGORITHM=algorithm, SIGNING_KEY=secrets.token_bytes(size)) == []


@pytest.mark.parametrize(
    "config",
    [
        {"ALGORITHM": "RS256"},
        {"ALGORITHM": "RS256", "SIGNING_KEY": "not a pem"},
        {"ALGORITHM": "RS256", "VERIFYING_KEY": public_pem(rsa_key())},
        {"ALGORITHM": "RS256", "SIGNING_KEY": public_pem(rsa_key())},
        {"ALGORITHM": "RS256", "SIGNING_KEY": private_pem(rsa_key(1024))},
        {"ALGORITHM": "ES256", "SIGNING_KEY": private_pem(rsa_key())},
        {
            "ALGORITHM": "RS256",
            "SIGNING_KEY": private_pem(rsa_key()),
            "VERIFYING_KEY": public_pem(rsa_key(2048, 1)),
        },
    ],
    ids=[
        "no-key",
        "garbage",
        "public-only",
        "public-as-private",
        "rsa-1024",
        "wrong-family",
        "mismatched-pair",
    ],
)
def test_e003_asymmetric_without_a_usable_key_pair(config: dict[str, Any]) -> None:
    assert jwt_ids(**config) == ["jwtsessions.E003"]


_K1, _K2 = secrets.token_bytes(32), secrets.token_bytes(32)


@pytest.mark.parametrize(
    "ring",
    [
        [{"kid": "a", "key": _K1}, {"kid": "a", "key": _K2}],
        [{"key": _K1}],
        [{"kid": "", "key": _K1}],
        [{"kid": 7, "key": _K1}],
        [{"kid": "a b/c", "key": _K1}],
        ["not a dict"],
    ],
    ids=["duplicate", "missing", "empty", "not-a-string", "unsafe-chars", "not-a-dict"],
)
def test_e004_key_ring_kid_missing_or_duplicate(ring: list[Any]) -> None:
    assert jwt_ids(SIGNING_KEYS=ring) == ["jwtsessions.E004"]


def test_e005_cache_alias_not_configured() -> None:
    assert jwt_ids(CACHE_ALIAS="nowhere") == ["jwtsessions.E005"]


def test_e006_unknown_key() -> None:
    assert jwt_ids(ACCES_TOKEN_LIFETIME=timedelta(minutes=5)) == ["jwtsessions.E006"]


@pytest.mark.parametrize(
    "config",
    [
        {"ACCESS_TOKEN_LIFETIME": "15m"},
        {"ACCESS_TOKEN_LIFETIME": 10**20},
        {"LEEWAY": True},
        {"COOKIE_SECURE": "yes"},
        {"LOGIN_FAILURE_LIMIT": "10"},
        {"ISSUER": 42},
        {"CACHE_ALIAS": ["default"]},
        {"SIGNING_KEYS": 5},
    ],
    ids=lambda c: next(iter(c)),
)
def test_e007_value_of_the_wrong_type(config: dict[str, Any]) -> None:
    assert jwt_ids(**config) == ["jwtsessions.E007"]


def test_e007_setting_not_a_dict() -> None:
    with override_settings(JWTSESSIONS=["ALGORITHM", "HS256"]):
        messages = checks.check_settings_keys()
    assert [m.id for m in messages] == ["jwtsessions.E007"]


def test_w001_access_lifetime_over_an_hour() -> None:
    assert jwt_ids(ACCESS_TOKEN_LIFETIME=timedelta(hours=1, seconds=1)) == ["jwtsessions.W001"]
    assert jwt_ids(ACCESS_TOKEN_LIFETIME=3601) == ["jwtsessions.W001"]
    assert jwt_ids(ACCESS_TOKEN_LIFETIME=timedelta(hours=1)) == []


def test_w002_insecure_cookies_without_debug() -> None:
    assert jwt_ids(COOKIE_SECURE=False) == ["jwtsessions.W002"]
    with override_settings(DEBUG=True):
        assert jwt_ids(COOKIE_SECURE=False) == []


def test_w003_process_local_cache_without_debug() -> None:
    caches: Any = settings.CACHES
    assert caches["local"]["BACKEND"].endswith("LocMemCache")
    assert jwt_ids(CACHE_ALIAS="local") == ["jwtsessions.W003"]
    with override_settings(DEBUG=True):
        assert jwt_ids(CACHE_ALIAS="local") == []


def test_w004_host_prefix_with_domain_or_path() -> None:
    assert jwt_ids(AUTH_COOKIE="__Host-access", COOKIE_DOMAIN="example.com") == ["jwtsessions.W004"]
    assert jwt_ids(AUTH_COOKIE="__Host-access", COOKIE_PATH="/api/") == ["jwtsessions.W004"]
    assert jwt_ids(AUTH_COOKIE="__Host-access") == []


def test_w004_prefixed_cookie_without_secure() -> None:
    with override_settings(DEBUG=True):  # keeps W002 out of the way
        assert jwt_ids(AUTH_COOKIE="__Secure-access", COOKIE_SECURE=False) == ["jwtsessions.W004"]
        assert jwt_ids(REFRESH_COOKIE="__Host-refresh", COOKIE_SECURE=False) == ["jwtsessions.W004"]
        assert jwt_ids(AUTH_COOKIE="__Secure-access") == []


def test_checks_never_crash_on_hostile_settings() -> None:
    values: list[Any] = [None, "", 0, [], {"ALGORITHM": object()}, {"SIGNING_KEYS": [{"kid": []}]}]
    for value in values:
        with override_settings(JWTSESSIONS=value):
            for check in checks.ALL_CHECKS:
                for message in check():
                    assert str(message.id).startswith("jwtsessions.")


def test_no_jwtsessions_setting_at_all_gives_no_error() -> None:
    with override_settings():
        del settings.JWTSESSIONS
        assert not hasattr(settings, "JWTSESSIONS")
        messages = django_checks.run_checks()
        assert [m.id for m in messages if m.level >= django_checks.ERROR] == []
        call_command("check", verbosity=0)


def test_manage_py_check_on_a_minimal_project(tmp_path: Path) -> None:
    """A project with only INSTALLED_APPS and urls added: ``manage.py check`` has no error."""
    (tmp_path / "minimal_settings.py").write_text(
        textwrap.dedent(
            """
            SECRET_KEY = "vIAWYgQCmyh8aXpcYJqpsZLd83HaHpVJ-f4-Tum54QRU47cUIynSFmZn8LuKM8NK"
            INSTALLED_APPS = [
                "django.contrib.auth",
                "django.contrib.contenttypes",
                "rest_framework",
                "jwtsessions",
            ]
            ROOT_URLCONF = "minimal_urls"
            DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
            REST_FRAMEWORK = {
                "DEFAULT_AUTHENTICATION_CLASSES": [
                    "jwtsessions.authentication.JWTSessionAuthentication",
                ],
            }
            """
        )
    )
    (tmp_path / "minimal_urls.py").write_text(
        "from django.urls import include, path\n"
        'urlpatterns = [path("api/auth/", include("jwtsessions.urls"))]\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=tmp_path,
        env={
            "PYTHONPATH": f"{tmp_path}:{ROOT}",
            "DJANGO_SETTINGS_MODULE": "minimal_settings",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "jwtsessions.E" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def _documented_ids() -> list[str]:
    doc = checks.__doc__ or ""
    return re.findall(r"^\| ([EW]\d{3}) \|", doc, flags=re.MULTILINE)


def test_check_ids_are_unique_and_documented() -> None:
    documented = _documented_ids()
    assert len(documented) == len(set(documented))
    expected = {f"E00{n}" for n in range(1, 9)} | {f"W00{n}" for n in range(1, 5)}
    assert expected <= set(documented)
    used: set[str] = set()
    for source in (ROOT / "jwtsessions").rglob("*.py"):
        used |= set(re.findall(r"jwtsessions\.([EW]\d{3})", source.read_text()))
    assert used <= set(documented), used - set(documented)
    # Each documented id is emitted somewhere (no dead row that a later check might reuse).
    assert set(documented) <= used


# --- issue 10 finding 7: a guessable HMAC key is an error -------------------------------------

WEAK_KEYS = {
    "the reviewers' cracked key": "my_very_long_and_safe_secret_key",
    "jwt.io's example": "your-256-bit-secret-your-256-bit-secret",
    "Django's development prefix": "django-insecure-" + "q8#v!x2@" * 6,
    "a placeholder": "CHANGEME-please-CHANGEME-please-1234",
    "one character repeated": "k" * 64,
    "a repeated pattern": "tests-only-" + "k3y-" * 12,
    "bytes repeated": b"\x01\x02\x03\x04" * 16,
    "words and separators": "correct-horse-battery-staple-correct-horse",
    "a sequence": "abcdefghijklmnopqrstuvwxyz0123456789",
    "words with a year": "SuperSecretPassword2024!!!!!!!!!!!!",
}


@pytest.mark.parametrize("key", list(WEAK_KEYS.values()), ids=list(WEAK_KEYS))
def test_finding_7_a_guessable_signing_key_is_an_error(key: str | bytes) -> None:
    assert jwt_ids(SIGNING_KEY=key) == ["jwtsessions.E008"]
    assert jwt_ids(
        ALGORITHM="HS512",
        SIGNING_KEYS=[{"kid": "a", "key": secrets.token_bytes(64)}, {"kid": "old", "key": key}],
    )[-1:] in (
        ["jwtsessions.E008"],
        ["jwtsessions.E002"],  # too short for HS512 already
    )


@pytest.mark.parametrize("key", list(WEAK_KEYS.values())[:6], ids=list(WEAK_KEYS)[:6])
def test_finding_7_a_guessable_secret_key_is_an_error_when_it_signs(key: str | bytes) -> None:
    with override_settings(SECRET_KEY=key):
        assert jwt_ids() == ["jwtsessions.E008"]
        # An asymmetric key signs: SECRET_KEY is not a token key then (Django's own check
        # covers it).
        assert jwt_ids(ALGORITHM="EdDSA", SIGNING_KEY=private_pem(ed_key())) == []


def test_finding_7_the_message_says_how_to_make_a_good_key_and_never_shows_it() -> None:
    key = "my_very_long_and_safe_secret_key"
    with override_settings(JWTSESSIONS={"SIGNING_KEY": key}):
        [message] = checks.check_key_strength()
    assert message.level == django_checks.ERROR
    assert "secrets.token_urlsafe(64)" in str(message.hint)
    assert key not in str(message)
    assert key not in str(message.hint)
    assert "SIGNING_KEY" in message.msg


# Red-team finding 3 (issue 10 re-test): published JWT secrets and patterned keys passed.
PUBLISHED_OR_PATTERNED = {
    "keyboard walk": "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "another keyboard walk": "zaq1xsw2cde3vfr4bgt5nhy6mju7-ki8lo9",
    "shifted keyboard walk": "!QAZ@WSX#EDC$RFV%TGB^YHN&UJM*IK<(OL>",
    "a key generator's published key": (
        "%C*F-JaNdRgUkXp2s5v8y/B?E(G+KbPeShVmYq3t6w9z$C&J@McQfTjWnZr4u7x!"
    ),
    "a tutorial's phrase": "1234nbizz234sunshine-ultra-secure-secret-is-awesome",
    "a published random-looking key": "r9iMKoe5CRMgvJBBtp4HrqN7QiPpUToj",
    "a published UUID": "0a6b944d-d2fb-46fc-a85e-0295c986cd9f",
    "a published hex key": "16f8c0ef4a5d391b26034086c628469d3f9f497f08163ab9b40137092f2909ef",
    "a Spring tutorial's hex key": (
        "404E635266556A586E3272357538782F413F4428472B4B6250645367566B5970"
    ),
    "jwt.io's current example": "a-string-secret-at-least-256-bits-long",
    "a word phrase": "my-super-secret-jwt-signing-key-for-production",
    "a CamelCase phrase": "ThisIsMyVerySecureJwtSigningKey2024ForProd",
    "a published key with a suffix": "your-256-bit-secret-for-prod-2024",
}


@pytest.mark.parametrize(
    "key", list(PUBLISHED_OR_PATTERNED.values()), ids=list(PUBLISHED_OR_PATTERNED)
)
def test_redteam_3_published_and_patterned_keys_are_an_error(key: str) -> None:
    assert keystrength.weakness(key) is not None
    assert jwt_ids(SIGNING_KEY=key) == ["jwtsessions.E008"]


def test_redteam_3_random_keys_stay_far_above_the_bar() -> None:
    # The calibration the module states: token_urlsafe(32) never close to MIN_KEY_BITS.
    lowest = min(keystrength.estimated_bits(secrets.token_urlsafe(32)) for _ in range(2000))
    assert lowest > keystrength.MIN_KEY_BITS + 20


@pytest.mark.parametrize(
    "make",
    [
        lambda: secrets.token_urlsafe(32),
        lambda: secrets.token_urlsafe(64),
        lambda: secrets.token_hex(32),
        lambda: secrets.token_bytes(32),
        get_random_secret_key,
    ],
    ids=["token_urlsafe(32)", "token_urlsafe(64)", "token_hex(32)", "token_bytes(32)", "django"],
)
def test_finding_7_random_keys_pass(make: Any) -> None:
    for _ in range(200):
        assert keystrength.weakness(make()) is None
    assert jwt_ids(SIGNING_KEY=make()) == []
