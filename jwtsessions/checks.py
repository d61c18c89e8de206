"""System checks: misconfiguration is reported by ``manage.py check``, never by a crash.

| id | level | what |
|---|---|---|
| E001 | error | algorithm ``none`` or not supported |
| E002 | error | HMAC key shorter than its hash (32/48/64 bytes), or a public key as HMAC secret |
| E003 | error | asymmetric algorithm without a usable (matching) key pair, or RSA under 2048 bits |
| E004 | error | key ring entry with a missing or duplicate ``kid`` |
| E005 | error | ``CACHE_ALIAS`` names no configured cache |
| E006 | error | unknown key in ``JWTSESSIONS`` (a typo would silently keep a default) |
| E007 | error | a ``JWTSESSIONS`` value of the wrong type |
| E008 | error | a guessable HMAC key: words, repeats, a well-known example, ``django-insecure-`` |
| W001 | warning | access tokens live longer than one hour |
| W002 | warning | ``COOKIE_SECURE`` is off while ``DEBUG`` is off |
| W003 | warning | a process-local cache (locmem, dummy) while ``DEBUG`` is off |
| W004 | warning | a cookie name prefix (``__Host-``, ``__Secure-``) the other settings contradict |
| W010 | warning | the per-process copy is off or cannot subscribe (cache_checks.py) |
| W011 | warning | the Redis cache has no socket timeout, or one over 2 s (cache_checks.py) |
| E020 | error | ``TOKEN_CLAIMS`` does not import or is not callable |
| E021 | error | ``LOGIN_SERIALIZER`` does not import or is not a serializer class |
| E022 | error | ``MAX_SESSIONS_PER_USER`` below 1 |
| E023 | error | ``SIMPLEJWT_MIGRATION`` on without djangorestframework-simplejwt installed |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings as django_settings
from django.core import checks

from .cache_checks import check_local_copy, check_socket_timeouts
from .keystrength import GENERATE_HINT, weakness
from .settings import SETTING_NAME, Config, load
from .tokens import HMAC_ALGORITHMS, HMAC_KEY_BYTES, KeyConfigError, build_key_ring

MAX_ACCESS_LIFETIME = timedelta(hours=1)
_PROCESS_LOCAL_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


def _config() -> Config:
    # Parse afresh: checks must see the settings as they are, not as first read.
    return load(getattr(django_settings, SETTING_NAME, None))


def check_settings_keys(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    config = _config()
    messages: list[checks.CheckMessage] = [
        checks.Error(
            f"{SETTING_NAME} has an unknown key {key!r}.",
            hint="Check the spelling against the documented settings.",
            id="jwtsessions.E006",
        )
        for key in config.unknown_keys
    ]
    messages += [
        checks.Error(f"{SETTING_NAME}[{key!r}] is invalid: {reason}", id="jwtsessions.E007")
        for key, reason in config.invalid_keys
    ]
    return messages


def check_keys(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    config = _config()
    try:
        build_key_ring(config)
    except KeyConfigError as exc:
        return [checks.Error(str(exc), id=exc.check_id)]
    except Exception as exc:
        return [checks.Error(f"the signing keys cannot be used: {exc}", id="jwtsessions.E003")]
    return []


def _hmac_secrets(config: Config) -> list[tuple[str, str | bytes, str]]:
    """Every HMAC secret that signs or verifies tokens: where it is set, the key, its algorithm."""
    found: list[tuple[str, str | bytes, str]] = []
    if config.SIGNING_KEYS:
        for entry in config.SIGNING_KEYS:
            if not isinstance(entry, Mapping) or entry.get("algorithm", config.ALGORITHM) not in (
                HMAC_ALGORITHMS
            ):
                continue
            key = entry.get("private_key", entry.get("key"))
            if isinstance(key, str | bytes):
                algorithm = str(entry.get("algorithm", config.ALGORITHM))
                found.append((f"the SIGNING_KEYS entry {entry.get('kid')!r}", key, algorithm))
        return found
    if config.ALGORITHM not in HMAC_ALGORITHMS:
        return found
    if isinstance(config.SIGNING_KEY, str | bytes):
        found.append(("SIGNING_KEY", config.SIGNING_KEY, config.ALGORITHM))
    elif config.SIGNING_KEY is None:
        secret = getattr(django_settings, "SECRET_KEY", "")
        if isinstance(secret, str | bytes) and secret:
            found.append(("SECRET_KEY (the signing key is derived from it)", secret, ""))
    return found


def check_key_strength(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """A guessable HMAC secret lets anyone holding one token find it offline and forge more."""
    messages: list[checks.CheckMessage] = []
    for where, key, algorithm in _hmac_secrets(_config()):
        raw = key.encode() if isinstance(key, str) else key
        if len(raw) < HMAC_KEY_BYTES.get(algorithm, 0):
            continue  # too short: E002 says so
        if raw.startswith(b"-----BEGIN"):
            continue  # a PEM as an HMAC secret: E002 says so
        reason = weakness(key)
        if reason:
            # Never the key itself in the message: check output ends up in CI logs.
            messages.append(
                checks.Error(
                    f"{where} is too easy to guess: {reason}. Anyone holding one token can "
                    "find such a key offline and then forge tokens for any user or API key.",
                    hint=GENERATE_HINT,
                    id="jwtsessions.E008",
                )
            )
    return messages


def check_lifetimes(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    config = _config()
    if config.ACCESS_TOKEN_LIFETIME > MAX_ACCESS_LIFETIME:
        return [
            checks.Warning(
                f"ACCESS_TOKEN_LIFETIME is {config.ACCESS_TOKEN_LIFETIME}; access tokens should "
                "live minutes, not hours.",
                hint="Keep the default 15 minutes; refresh tokens keep users logged in.",
                id="jwtsessions.W001",
            )
        ]
    return []


def check_cookies(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    config = _config()
    messages: list[checks.CheckMessage] = []
    if not config.COOKIE_SECURE and not django_settings.DEBUG:
        messages.append(
            checks.Warning(
                "COOKIE_SECURE is False while DEBUG is False: cookies would travel over HTTP.",
                id="jwtsessions.W002",
            )
        )
    for name in (config.AUTH_COOKIE, config.REFRESH_COOKIE):
        if (
            name
            and name.startswith("__Host-")
            and (config.COOKIE_DOMAIN or config.COOKIE_PATH != "/")
        ):
            messages.append(
                checks.Warning(
                    f"cookie {name!r} uses the __Host- prefix, which forbids COOKIE_DOMAIN and "
                    "any COOKIE_PATH but '/'; those settings are ignored for it.",
                    id="jwtsessions.W004",
                )
            )
        if name and name.startswith(("__Host-", "__Secure-")) and not config.COOKIE_SECURE:
            # Browsers drop a prefixed cookie that lacks Secure: login would silently not stick.
            messages.append(
                checks.Warning(
                    f"cookie {name!r} uses a __Host-/__Secure- prefix, which needs "
                    "COOKIE_SECURE=True; browsers refuse it otherwise.",
                    id="jwtsessions.W004",
                )
            )
    if config.AUTH_COOKIE and config.REFRESH_COOKIE.startswith("__Host-"):
        messages.append(
            checks.Warning(
                f"REFRESH_COOKIE {config.REFRESH_COOKIE!r} uses the __Host- prefix, which forces "
                "Path=/: the refresh token would be sent with every request instead of only to "
                "the refresh endpoint.",
                hint="Use the __Secure- prefix for the refresh cookie.",
                id="jwtsessions.W004",
            )
        )
    return messages


def check_cache(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    config = _config()
    caches_setting = getattr(django_settings, "CACHES", {})
    cache = caches_setting.get(config.CACHE_ALIAS)
    if cache is None:
        return [
            checks.Error(
                f"CACHE_ALIAS {config.CACHE_ALIAS!r} is not in CACHES.",
                hint="Add a django-redis cache under that alias.",
                id="jwtsessions.E005",
            )
        ]
    if cache.get("BACKEND") in _PROCESS_LOCAL_CACHES and not django_settings.DEBUG:
        return [
            checks.Warning(
                f"the cache {config.CACHE_ALIAS!r} is process-local: a revocation would not "
                "reach other processes until their cached entries expire.",
                hint="Use django-redis (or another shared cache) in production.",
                id="jwtsessions.W003",
            )
        ]
    return []


def check_hooks(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """E020 TOKEN_CLAIMS, E021 LOGIN_SERIALIZER, E022 MAX_SESSIONS_PER_USER, E023 simplejwt."""
    from django.utils.module_loading import import_string
    from rest_framework.serializers import BaseSerializer

    config = _config()
    messages: list[checks.CheckMessage] = []
    for key, check_id, usable, what in (
        ("TOKEN_CLAIMS", "jwtsessions.E020", callable, "a callable (user, session) -> dict"),
        (
            "LOGIN_SERIALIZER",
            "jwtsessions.E021",
            lambda v: isinstance(v, type) and issubclass(v, BaseSerializer),
            "a serializer class",
        ),
    ):
        path = getattr(config, key)
        if path is None:
            continue
        try:
            value = import_string(path)
        except ImportError as exc:
            messages.append(checks.Error(f"{key} {path!r} cannot be imported: {exc}", id=check_id))
            continue
        if not usable(value):
            messages.append(checks.Error(f"{key} {path!r} is not {what}.", id=check_id))
    if config.SIMPLEJWT_MIGRATION:
        import importlib.util

        if importlib.util.find_spec("rest_framework_simplejwt") is None:
            messages.append(
                checks.Error(
                    "SIMPLEJWT_MIGRATION is on but djangorestframework-simplejwt is not installed.",
                    hint="Keep simplejwt installed while its tokens may still be presented.",
                    id="jwtsessions.E023",
                )
            )
    limit = config.MAX_SESSIONS_PER_USER
    if limit is not None and limit < 1:
        messages.append(
            checks.Error(
                f"MAX_SESSIONS_PER_USER is {limit}; it must be None (no limit) or at least 1.",
                id="jwtsessions.E022",
            )
        )
    return messages


ALL_CHECKS = (
    check_settings_keys,
    check_keys,
    check_key_strength,
    check_lifetimes,
    check_cookies,
    check_cache,
    check_hooks,
    check_local_copy,
    check_socket_timeouts,
)


def register() -> None:
    """Register every check once (called from ``AppConfig.ready``)."""
    for check in ALL_CHECKS:
        checks.register(check, checks.Tags.security)
