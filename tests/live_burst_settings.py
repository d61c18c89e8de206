"""The suite's settings for a live gunicorn started by a test, plus a password-check counter.

The test passes ``DATABASE_URL`` (its own test database) and ``REDIS_URL`` (its private Redis)
in the environment. Every password verification increments ``COUNTER_KEY`` in that Redis: the
test counts real password checks, independently of what the views answer or which signals run.
"""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth.hashers import Argon2PasswordHasher

from tests.settings import *  # noqa: F403

COUNTER_KEY = "live-tests:password-checks"


class CountingArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2, counting each verification in Redis (same algorithm name: reads the same hashes)."""

    def verify(self, password: str, encoded: str) -> bool:
        import redis

        redis.Redis.from_url(os.environ["REDIS_URL"]).incr(COUNTER_KEY)
        return bool(super().verify(password, encoded))


PASSWORD_HASHERS = ["tests.live_burst_settings.CountingArgon2PasswordHasher"]
JWTSESSIONS: dict[str, Any] = {"NUM_PROXIES": 1}  # two "clients" on loopback, by X-Forwarded-For
