"""The ``JWTSESSIONS`` setting: contract defaults, laziness, override_settings, bad values."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from jwtsessions import tokens
from jwtsessions.settings import KNOWN_KEYS, Config, jwt_settings, load
from tests.tokenkit import claims, decode, refused

ROOT = Path(__file__).resolve().parent.parent

# The contract's table, verbatim.
CONTRACT_DEFAULTS: dict[str, Any] = {
    "SIGNING_KEY": None,
    "VERIFYING_KEY": None,
    "ALGORITHM": "HS256",
    "SIGNING_KEYS": None,
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=30),
    "SESSION_IDLE_TIMEOUT": None,
    "SERVICE_TOKEN_LIFETIME": timedelta(hours=1),
    "ISSUER": None,
    "AUDIENCE": None,
    "LEEWAY": timedelta(0),
    "CACHE_ALIAS": "default",
    "REFRESH_REUSE_GRACE": timedelta(seconds=10),
    "AUTH_COOKIE": None,
    "REFRESH_COOKIE": "refresh_token",
    "COOKIE_SECURE": True,
    "COOKIE_SAMESITE": "Strict",
    "COOKIE_PATH": "/",
    "COOKIE_DOMAIN": None,
    "API_KEY_PREFIX": "key",
    "REVOKE_SESSIONS_ON_PASSWORD_CHANGE": True,
    "LOGIN_FAILURE_LIMIT": 10,
    "LOGIN_LOCKOUT": timedelta(minutes=15),
}

DURATION_KEYS = [name for name in KNOWN_KEYS if isinstance(getattr(Config(), name), timedelta)] + [
    "SESSION_IDLE_TIMEOUT"
]


@pytest.mark.parametrize("raw", [None, {}])
def test_defaults_equal_the_contract_table(raw: Any) -> None:
    config = load(raw)
    for name, default in CONTRACT_DEFAULTS.items():
        assert getattr(config, name) == default, name
    assert config.unknown_keys == ()
    assert config.invalid_keys == ()


def test_lazy_object_serves_the_contract_defaults() -> None:
    with override_settings(JWTSESSIONS={}):
        for name, default in CONTRACT_DEFAULTS.items():
            assert getattr(jwt_settings, name) == default, name


def test_every_contract_key_is_known() -> None:
    assert set(CONTRACT_DEFAULTS) <= KNOWN_KEYS


def test_override_settings_is_followed_and_restored() -> None:
    assert timedelta(minutes=15) == jwt_settings.ACCESS_TOKEN_LIFETIME
    with override_settings(JWTSESSIONS={"ACCESS_TOKEN_LIFETIME": timedelta(minutes=5)}):
        assert timedelta(minutes=5) == jwt_settings.ACCESS_TOKEN_LIFETIME
        with override_settings(JWTSESSIONS={"ISSUER": "inner"}):
            assert jwt_settings.ISSUER == "inner"
            assert timedelta(minutes=15) == jwt_settings.ACCESS_TOKEN_LIFETIME
        assert jwt_settings.ISSUER is None
    assert timedelta(minutes=15) == jwt_settings.ACCESS_TOKEN_LIFETIME


def test_keys_follow_override_settings() -> None:
    """The prepared key ring is derived state: it must be dropped when the settings change."""
    default_token = tokens.encode(claims(), tokens.ACCESS_TOKEN_TYPE)
    with override_settings(JWTSESSIONS={"SIGNING_KEY": b"z" * 32}):
        refused(default_token)
        other = tokens.encode(claims(), tokens.ACCESS_TOKEN_TYPE)
        assert decode(other)
    assert decode(default_token)
    refused(other)


def test_secret_key_change_changes_the_derived_key() -> None:
    token = tokens.encode(claims(), tokens.ACCESS_TOKEN_TYPE)
    with override_settings(SECRET_KEY="another-" + "s" * 50):
        refused(token)
    assert decode(token)


def test_on_reload_callbacks_run_on_change() -> None:
    calls: list[str] = []
    jwt_settings.on_reload(lambda: calls.append("reloaded"))
    try:
        with override_settings(JWTSESSIONS={"LEEWAY": 5}):
            assert calls
    finally:
        jwt_settings._listeners.pop()


def test_unknown_key_is_reported_not_ignored() -> None:
    config = load({"ACCESS_TOKEN_LIFETIM": 60, "ISSUER": "x", 3: "y"})
    assert set(config.unknown_keys) == {"ACCESS_TOKEN_LIFETIM", "3"}
    assert config.ISSUER == "x"
    assert timedelta(minutes=15) == config.ACCESS_TOKEN_LIFETIME


@pytest.mark.parametrize("name", sorted(DURATION_KEYS))
def test_timedelta_or_int_seconds_accepted(name: str) -> None:
    assert getattr(load({name: 90}), name) == timedelta(seconds=90)
    assert getattr(load({name: 1.5}), name) == timedelta(seconds=1.5)
    assert getattr(load({name: timedelta(minutes=2)}), name) == timedelta(minutes=2)
    for bad in ("90", True, [90], 10**20, float("nan")):
        config = load({name: bad})
        assert [key for key, _ in config.invalid_keys] == [name], bad


def test_none_is_accepted_only_where_the_contract_allows_it() -> None:
    assert load({"SESSION_IDLE_TIMEOUT": None}).SESSION_IDLE_TIMEOUT is None
    assert [k for k, _ in load({"ACCESS_TOKEN_LIFETIME": None}).invalid_keys] == [
        "ACCESS_TOKEN_LIFETIME"
    ]


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("ALGORITHM", ["HS256"]),
        ("ALGORITHM", None),
        ("COOKIE_SECURE", "false"),
        ("COOKIE_SECURE", 0),
        ("LOGIN_FAILURE_LIMIT", True),
        ("LOGIN_FAILURE_LIMIT", 2.5),
        ("ISSUER", ["a"]),
        ("AUDIENCE", 1),
        ("CACHE_ALIAS", None),
        ("AUTH_COOKIE", 1),
        ("SIGNING_KEY", 123),
    ],
)
def test_wrong_type_is_reported_and_the_default_kept(name: str, bad: Any) -> None:
    config = load({name: bad})
    assert [key for key, _ in config.invalid_keys] == [name]
    assert getattr(config, name) == getattr(Config(), name)


def test_not_a_dict_is_reported() -> None:
    assert load(["ALGORITHM"]).invalid_keys == (("JWTSESSIONS", "must be a dict"),)


def test_load_never_raises_on_hostile_values() -> None:
    class Exploding:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("boom")

        __hash__ = object.__hash__

    for key in sorted(KNOWN_KEYS):
        load({key: Exploding()})


PURE_MODULES = [
    "jwtsessions",
    "jwtsessions.settings",
    "jwtsessions.tokens",
    "jwtsessions.keyring",
    "jwtsessions.jwtformat",
    "jwtsessions.verification",
    "jwtsessions.authheaders",
    "jwtsessions.checks",
    "jwtsessions.exceptions",
    "jwtsessions.store",
    "jwtsessions.throttling",
    "jwtsessions.signals",
    "jwtsessions.apps",
]


def _python(code: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-c", code],
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def test_modules_import_without_any_django_settings() -> None:
    code = f"import importlib\nfor m in {PURE_MODULES!r}: importlib.import_module(m)\n"
    code += textwrap.dedent(
        """
        from django.core.exceptions import ImproperlyConfigured
        from jwtsessions.settings import jwt_settings
        try:
            jwt_settings.ALGORITHM
        except ImproperlyConfigured:
            print("lazy")
        """
    )
    result = _python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "lazy"  # the first read is what touches the settings


def test_setup_and_every_import_read_nothing_until_asked(tmp_path: Path) -> None:
    """With Django set up, importing every module never looks inside JWTSESSIONS."""
    (tmp_path / "spy_settings.py").write_text(
        textwrap.dedent(
            """
            READS = []

            class Spy(dict):
                def items(self):
                    READS.append("items")
                    return super().items()

                def __getitem__(self, key):
                    READS.append(key)
                    return super().__getitem__(key)

                def get(self, key, default=None):
                    READS.append(key)
                    return super().get(key, default)

            SECRET_KEY = "spy-" + "x" * 40
            INSTALLED_APPS = [
                "django.contrib.admin",
                "django.contrib.auth",
                "django.contrib.contenttypes",
                "django.contrib.messages",
                "django.contrib.sessions",
                "rest_framework",
                "jwtsessions",
            ]
            DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
            ROOT_URLCONF = "jwtsessions.urls"
            JWTSESSIONS = Spy(ACCESS_TOKEN_LIFETIME=60)
            """
        )
    )
    code = textwrap.dedent(
        """
        import importlib, pkgutil
        import django
        django.setup()
        import jwtsessions, spy_settings
        for info in pkgutil.walk_packages(jwtsessions.__path__, "jwtsessions."):
            if ".migrations" not in info.name and ".management" not in info.name:
                importlib.import_module(info.name)
        print("before", spy_settings.READS)
        from jwtsessions.settings import jwt_settings
        print("after", jwt_settings.ACCESS_TOKEN_LIFETIME.total_seconds(), bool(spy_settings.READS))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
            "DJANGO_SETTINGS_MODULE": "spy_settings",
            "PYTHONPATH": f"{tmp_path}:{ROOT}",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["before []", "after 60.0 True"]


def test_an_invalid_value_fails_closed_at_first_use_not_at_import(settings):
    """A value we cannot parse never quietly becomes a weaker default (checks may not run
    under a WSGI server), and the error names the key but never echoes the value."""
    from django.core.exceptions import ImproperlyConfigured

    from jwtsessions.settings import jwt_settings

    settings.JWTSESSIONS = {"ISSUER": 123, "SIGNING_KEY": ["s3cret-value"]}
    with pytest.raises(ImproperlyConfigured) as excinfo:
        _ = jwt_settings.ISSUER
    assert "ISSUER" in str(excinfo.value)
    assert "SIGNING_KEY" in str(excinfo.value)
    assert "s3cret-value" not in str(excinfo.value)
