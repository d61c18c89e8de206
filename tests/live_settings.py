"""Settings of the live server and second processes the fault tests start (tests/faults.py).

The database, the cache and ``JWTSESSIONS`` come from the environment as JSON, so each scenario
points its processes at its own proxied Redis, replica or Sentinel topology.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.live_urls"
MIDDLEWARE = ["tests.live_urls.worker_pid_header", *MIDDLEWARE]  # noqa: F405
WSGI_APPLICATION = "tests.live_wsgi.application"

DATABASES = {"default": json.loads(os.environ["LIVE_DATABASE"])}
CACHES = {"default": json.loads(os.environ["LIVE_CACHE"])}
JWTSESSIONS: dict[str, Any] = json.loads(os.environ.get("LIVE_JWTSESSIONS") or "{}")
# Fast hashing: these processes create users in the hot loop of a soak.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Errors go to the server's output (the fault tests and the soak read it); nothing else.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "level": "ERROR"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR"}},
}
