"""Settings of the example project, all from environment variables with safe defaults.

Nothing set: SQLite (``example_project/db.sqlite3``) and a process-local cache. Revocation is
then only as wide as one process: run one process, or set ``REDIS_URL``.

| variable | meaning | default |
|---|---|---|
| ``DJANGO_SECRET_KEY`` | Django's secret key | generated once into ``.secret_key`` here |
| ``DJANGO_DEBUG`` | ``1`` for development | off |
| ``DJANGO_ALLOWED_HOSTS`` | comma-separated | ``127.0.0.1,localhost`` |
| ``CSRF_TRUSTED_ORIGINS`` | comma-separated origins, for HTTPS behind a proxy | none |
| ``DATABASE_URL`` | ``postgres://user:password@host:5432/name`` | SQLite |
| ``REDIS_URL`` | ``redis://host:6379/0``: the cache shared by every process | local memory |
| ``COOKIE_SECURE`` | ``1``/``0``: cookies only over HTTPS | on; off when ``DJANGO_DEBUG`` is on |
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

BASE_DIR = Path(__file__).resolve().parent


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _secret_key() -> str:
    """From the environment, or generated on first run into a file git ignores."""
    key = os.environ.get("DJANGO_SECRET_KEY")
    if key:
        return key
    path = BASE_DIR / ".secret_key"
    if not path.exists():
        # O_EXCL: two processes starting at once cannot both write a different key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(get_random_secret_key())
    return path.read_text().strip()


def _database(url: str | None) -> dict[str, Any]:
    if not url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ImproperlyConfigured(f"DATABASE_URL: unsupported scheme {parts.scheme!r}")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "postgres",
        "USER": unquote(parts.username or "postgres"),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or 5432),
        "CONN_MAX_AGE": 60,
    }


def _cache(url: str | None) -> dict[str, Any]:
    if not url:
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": url,
        # Short timeouts: with Redis down, jwtsessions falls back to the database quickly.
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
    }


SECRET_KEY = _secret_key()
DEBUG = _flag("DJANGO_DEBUG", False)
ALLOWED_HOSTS = _list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = _list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "jwtsessions",
    "example_project.notes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # API messages in the client's language (Accept-Language): de, fr, es, pt-BR ship with it.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The API's documentation (Swagger UI at /api/docs/) when drf-spectacular is installed
# (`pip install -e ".[openapi]"`): served from this project's static files, no CDN.
OPENAPI = importlib.util.find_spec("drf_spectacular") is not None
if OPENAPI:
    INSTALLED_APPS += ["drf_spectacular", "drf_spectacular_sidecar"]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": _database(os.environ.get("DATABASE_URL"))}
CACHES = {"default": _cache(os.environ.get("REDIS_URL"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Argon2 first; the others only verify (and upgrade) hashes made elsewhere.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Cookies over HTTPS only, except in local development on http://127.0.0.1.
COOKIE_SECURE = _flag("COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_SECURE = COOKIE_SECURE  # the admin's session
CSRF_COOKIE_SECURE = COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["jwtsessions.authentication.JWTSessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "jwtsessions.exceptions.exception_handler",
}
if OPENAPI:
    REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "drf_spectacular.openapi.AutoSchema"
SPECTACULAR_SETTINGS = {
    "TITLE": "django-jwtsessions example",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

JWTSESSIONS = {
    # Cookie mode for the browser page. Over HTTPS the cookies carry the strongest prefixes:
    # __Host- (host-only, path /) for the access token, __Secure- for the refresh token, whose
    # path is limited to the refresh endpoint. Browsers refuse both prefixes without Secure.
    "AUTH_COOKIE": "__Host-access" if COOKIE_SECURE else "access",
    "REFRESH_COOKIE": "__Secure-refresh" if COOKIE_SECURE else "refresh",
    "COOKIE_SECURE": COOKIE_SECURE,
    "COOKIE_SAMESITE": "Strict",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        # One line per request: runserver's access log (django.server) has it already. Django's
        # own console handler (under DEBUG) and the root handler would each repeat a 4xx as a
        # warning ("Unauthorized: /api/notes/"); 5xx errors are still logged, once, by root.
        "django": {"handlers": [], "propagate": True},
        "django.request": {"level": "ERROR"},
    },
}
