"""Django settings shared by every scheme in the benchmark: one project, one database, one Redis.

The paths and the Redis URL come from the environment that ``bench/peers.py`` sets up.
"""

from __future__ import annotations

import os
from datetime import timedelta

DEBUG = False
# Throwaway and random: check E008 refuses guessable keys.
SECRET_KEY = "A0wAKzIVV9wk46Mxh5WPVxAq9POjbCG-2F90Vxmw8SieIOUWJt41vunKFG_74Rr9"
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"  # Django would otherwise set the process TZ to America/Chicago
ROOT_URLCONF = "benchsite.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
WSGI_APPLICATION = "benchsite.wsgi.application"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_simplejwt.token_blacklist",
    "knox",
    "rest_framework_api_key",
    "jwtsessions",
]

# Django's startproject middleware, with the session engine chosen per URL (DB or Redis).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "benchsite.middleware.PerSchemeSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES: list[dict[str, object]] = []

_DB_URL = os.environ.get("BENCH_DATABASE_URL", "")
if _DB_URL.startswith("postgres"):
    from urllib.parse import urlsplit

    _p = urlsplit(_DB_URL)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _p.path.lstrip("/"),
            "USER": _p.username or "postgres",
            "PASSWORD": _p.password or "",
            "HOST": _p.hostname or "127.0.0.1",
            "PORT": str(_p.port or 5432),
            "CONN_MAX_AGE": None,
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("BENCH_SQLITE", "/tmp/jwtsessions-bench.db"),
        }
    }

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
    }
}
SESSION_CACHE_ALIAS = "default"

# One password hasher for every login (ours, simplejwt, knox): the cheapest, so that a login
# measures what each library does around the password check. A production hasher adds the
# same fixed cost to every one of them (the report states how much PBKDF2 costs here).
# Peers hash their own tokens with what they ship.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}

SIMPLE_JWT = {
    "SIGNING_KEY": "bench-simplejwt-" + "k" * 32,
    "ALGORITHM": "HS256",
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    # simplejwt's secure refresh: every refresh token is single use (needs token_blacklist).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}

JWTSESSIONS: dict[str, object] = {}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "root": {"handlers": ["null"]},
}
