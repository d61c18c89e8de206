"""The ``JWTSESSIONS`` setting, read lazily.

``jwt_settings`` is the one object the rest of the package asks for configuration. It reads
``django.conf.settings.JWTSESSIONS`` the first time an attribute is needed, keeps the parsed
result, and forgets it when ``setting_changed`` fires (``override_settings`` in tests), so no
module captures a value at import time.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

SETTING_NAME = "JWTSESSIONS"


def _duration(value: Any) -> timedelta:
    """Accept a ``timedelta`` or a number of seconds; anything else is a configuration error."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    raise TypeError(f"expected a timedelta or a number of seconds, got {value!r}")


def _optional_duration(value: Any) -> timedelta | None:
    return None if value is None else _duration(value)


def _scope_setting(value: Any) -> tuple[str, ...] | str | None:
    """``None``, a dotted path (resolved at use, never at import), or an iterable of scopes."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes | Mapping):
        raise TypeError(f"expected None, a dotted path or an iterable of scopes, got {value!r}")
    scopes = tuple(value)
    if not all(isinstance(scope, str) for scope in scopes):
        raise TypeError("every grantable scope must be a string")
    return scopes


@dataclasses.dataclass(frozen=True)
class Config:
    """Parsed, typed configuration. Field names are the ``JWTSESSIONS`` keys."""

    SIGNING_KEY: str | bytes | None = None
    VERIFYING_KEY: str | bytes | None = None
    ALGORITHM: str = "HS256"
    SIGNING_KEYS: tuple[Mapping[str, Any], ...] | None = None
    ACCESS_TOKEN_LIFETIME: timedelta = timedelta(minutes=15)
    REFRESH_TOKEN_LIFETIME: timedelta = timedelta(days=30)
    SESSION_IDLE_TIMEOUT: timedelta | None = None
    SERVICE_TOKEN_LIFETIME: timedelta = timedelta(hours=1)
    ISSUER: str | None = None
    AUDIENCE: str | None = None
    LEEWAY: timedelta = timedelta(0)
    CACHE_ALIAS: str = "default"
    REFRESH_REUSE_GRACE: timedelta = timedelta(seconds=10)
    AUTH_COOKIE: str | None = None
    REFRESH_COOKIE: str = "refresh_token"
    COOKIE_SECURE: bool = True
    COOKIE_SAMESITE: str | None = "Strict"
    COOKIE_PATH: str = "/"
    COOKIE_DOMAIN: str | None = None
    API_KEY_PREFIX: str = "key"
    REVOKE_SESSIONS_ON_PASSWORD_CHANGE: bool = True
    LOGIN_FAILURE_LIMIT: int = 10
    LOGIN_LOCKOUT: timedelta = timedelta(minutes=15)
    # Additions beyond the contract (documented in docs/settings.md).
    SESSION_CACHE_TTL: timedelta = timedelta(minutes=5)
    CACHE_OUTAGE_BACKOFF: timedelta = timedelta(seconds=5)
    LAST_USED_INTERVAL: timedelta = timedelta(minutes=1)
    CLEANUP_RETENTION: timedelta = timedelta(days=7)
    MAX_API_KEY_SCOPES: int = 32
    NUM_PROXIES: int = 0
    # Sessions each process remembers between requests (see localcache.py); 0 turns it off.
    LOCAL_CACHE_SIZE: int = 10_000
    # Second release (the contract's "Additions" section).
    REVOCATION_SYNC_INTERVAL: timedelta = timedelta(seconds=1)
    API_KEY_REQUIRE_PASSWORD: bool = True
    REVOKE_API_KEYS_ON_PASSWORD_CHANGE: bool = True
    # None (any scope), an iterable of grantable scopes, or a dotted path to (user) -> iterable.
    API_KEY_SCOPES: tuple[str, ...] | str | None = None
    MAX_SESSIONS_PER_USER: int | None = None
    LOGIN_SERIALIZER: str | None = None
    TOKEN_CLAIMS: str | None = None
    SIMPLEJWT_MIGRATION: bool = False
    # How long after its exp an access token may still name its session at logout/.
    LOGOUT_EXPIRED_TOKEN_GRACE: timedelta = timedelta(hours=1)

    # Keys that were in the setting but are not ours: reported by the checks.
    unknown_keys: tuple[str, ...] = ()
    # Keys whose value could not be parsed, with the reason: reported by the checks.
    invalid_keys: tuple[tuple[str, str], ...] = ()


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "ACCESS_TOKEN_LIFETIME": _duration,
    "REFRESH_TOKEN_LIFETIME": _duration,
    "SESSION_IDLE_TIMEOUT": _optional_duration,
    "SERVICE_TOKEN_LIFETIME": _duration,
    "LEEWAY": _duration,
    "REFRESH_REUSE_GRACE": _duration,
    "LOGIN_LOCKOUT": _duration,
    "SESSION_CACHE_TTL": _duration,
    "CACHE_OUTAGE_BACKOFF": _duration,
    "LAST_USED_INTERVAL": _duration,
    "CLEANUP_RETENTION": _duration,
    "REVOCATION_SYNC_INTERVAL": _duration,
    "LOGOUT_EXPIRED_TOKEN_GRACE": _duration,
    "API_KEY_SCOPES": _scope_setting,
    "SIGNING_KEYS": lambda v: None if v is None else tuple(v),
}

KNOWN_KEYS = frozenset(
    f.name for f in dataclasses.fields(Config) if f.name not in ("unknown_keys", "invalid_keys")
)


@functools.cache
def _config_hints() -> dict[str, Any]:
    return typing.get_type_hints(Config)


def _type_checker(key: str) -> Callable[[Any], Any]:
    """Type-check a value against its field annotation when that is plain classes or a union."""
    hint = _config_hints()[key]
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    classes = tuple(typing.get_origin(o) or o for o in options)
    if not all(isinstance(c, type) for c in classes):
        return lambda value: value

    expected = " or ".join("None" if c is type(None) else c.__name__ for c in classes)

    def check(value: Any) -> Any:
        # bool is an int subclass: True is no count, and 1 is no flag.
        if isinstance(value, bool) and bool not in classes:
            raise TypeError(f"expected {expected}, got {value!r}")
        if not isinstance(value, classes):
            raise TypeError(f"expected {expected}, got {type(value).__name__}")
        return value

    return check


def load(raw: Any) -> Config:
    """Parse a ``JWTSESSIONS`` value. Never raises: problems are recorded for the checks."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        return Config(invalid_keys=((SETTING_NAME, "must be a dict"),))
    values: dict[str, Any] = {}
    unknown: list[str] = []
    invalid: list[tuple[str, str]] = []
    for key, value in raw.items():
        if key not in KNOWN_KEYS:
            unknown.append(str(key))
            continue
        convert = _CONVERTERS.get(key) or _type_checker(key)
        try:
            values[key] = convert(value)
        except (TypeError, ValueError, OverflowError) as exc:
            # OverflowError: e.g. timedelta(seconds=10**20).
            invalid.append((key, str(exc)))
    return Config(**values, unknown_keys=tuple(unknown), invalid_keys=tuple(invalid))


if TYPE_CHECKING:
    # Type checkers see every Config field on the lazy object; at run time __getattr__ serves them.
    _Base = Config
else:
    _Base = object


class LazySettings(_Base):
    """Attribute access to the current :class:`Config`, parsed on first use."""

    def __init__(self) -> None:
        self._config: Config | None = None
        self._listeners: list[Callable[[], None]] = []

    @property
    def config(self) -> Config:
        config = self._config
        if config is None:
            config = load(getattr(django_settings, SETTING_NAME, None))
            if config.invalid_keys:
                # Fail closed: a value we cannot parse must not quietly become a weaker
                # default where system checks never ran (e.g. under gunicorn). Names only:
                # a value could be a secret.
                names = ", ".join(key for key, _ in config.invalid_keys)
                raise ImproperlyConfigured(
                    f"{SETTING_NAME} has invalid values for: {names} (see manage.py check)"
                )
            self._config = config
        return config

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.config, name)

    def on_reload(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Register a function that drops something derived from the settings (e.g. keys)."""
        self._listeners.append(callback)
        return callback

    def reload(self) -> None:
        self._config = None
        for callback in self._listeners:
            callback()


jwt_settings = LazySettings()

# Settings that derived state (the key ring, cache handles) depends on besides our own dict.
_WATCHED = frozenset({SETTING_NAME, "SECRET_KEY", "CACHES", "DEBUG", "AUTH_USER_MODEL"})


@receiver(setting_changed)
def _reload_on_change(*, setting: str, **kwargs: Any) -> None:
    if setting in _WATCHED:
        jwt_settings.reload()
