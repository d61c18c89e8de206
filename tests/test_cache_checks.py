"""W010 (the per-process copy is off or cannot start) and W011 (Redis socket timeouts): each
raised, alone, by a real configuration; the startup warning a worker logs says why and the cost.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core import checks as django_checks
from django.test import override_settings

from jwtsessions import localcache
from tests.factories import bearer, login, make_user
from tests.own_redis import django_redis, own_redis, using_cache
from tests.services import free_port

pytestmark = pytest.mark.django_db


def ids(messages: list[Any]) -> list[str]:
    return sorted(m.id for m in messages if m.id and m.id.startswith("jwtsessions."))


def run(**settings: Any) -> list[Any]:
    with override_settings(**settings):
        return [
            m
            for m in django_checks.run_checks(include_deployment_checks=False)
            if m.id and m.id.startswith("jwtsessions.")
        ]


def test_a_shared_cache_that_is_not_redis_turns_the_copy_off(tmp_path):
    cache = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache"}
    messages = run(CACHES={"default": {**cache, "LOCATION": str(tmp_path)}})
    assert ids(messages) == ["jwtsessions.W010"]
    assert "one cache round trip" in messages[0].msg


def test_a_redis_that_cannot_be_reached_is_reported_with_the_reason():
    dead = f"redis://127.0.0.1:{free_port()}/0"
    messages = run(CACHES={"default": django_redis(dead)})
    assert ids(messages) == ["jwtsessions.W010"]
    assert "ConnectionError" in messages[0].msg


def _user_without_pubsub(url: str) -> str:
    import redis

    admin = redis.Redis.from_url(url, protocol=2)
    # Every command on every key, but no channel and no SUBSCRIBE: a common hardened ACL.
    admin.execute_command(
        "ACL", "SETUSER", "app", "on", ">app-password", "~*", "resetchannels", "+@all"
    )
    admin.execute_command("ACL", "SETUSER", "app", "-subscribe", "-publish")
    admin.close()
    return url.replace("redis://", "redis://app:app-password@")


def test_a_redis_acl_without_pubsub_is_reported_at_startup_and_by_each_worker(client, caplog):
    with own_redis() as server:
        url = _user_without_pubsub(server.url)
        messages = run(CACHES={"default": django_redis(url)})
        assert ids(messages) == ["jwtsessions.W010"]
        assert "NoPermissionError" in messages[0].msg
        assert "app-password" not in messages[0].msg

        # A worker (no system checks under gunicorn) logs the same once, and stays correct.
        with using_cache(django_redis(url)), caplog.at_level(logging.WARNING):
            body = login(client, make_user())
            for _ in range(3):
                assert client.get("/api/whoami/", **bearer(body["access"])).status_code == 200
            assert localcache.failure() is not None
        warnings = [r for r in caplog.records if r.name == "jwtsessions.localcache"]
        assert len(warnings) == 1
        assert "NoPermissionError" in warnings[0].getMessage()
        assert "one cache round trip" in warnings[0].getMessage()
        assert "app-password" not in warnings[0].getMessage()


def test_no_warning_when_the_copy_is_deliberately_off():
    dead = f"redis://127.0.0.1:{free_port()}/0"
    assert (
        ids(run(CACHES={"default": django_redis(dead)}, JWTSESSIONS={"LOCAL_CACHE_SIZE": 0})) == []
    )


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        # redis-py's own default (5 s in redis-py 6+; none before) for both timeouts.
        ({"BACKEND": "django_redis.cache.RedisCache", "OPTIONS": {}}, 2),
        ({"BACKEND": "django_redis.cache.RedisCache", "OPTIONS": {"SOCKET_TIMEOUT": 10}}, 2),
        (
            {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "OPTIONS": {"socket_timeout": None, "socket_connect_timeout": 1},
            },
            1,
        ),
        (
            {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "OPTIONS": {"socket_timeout": 1, "socket_connect_timeout": 1},
            },
            0,
        ),
        # The connect timeout stays redis-py's 5 s default: still one warning.
        ({"BACKEND": "django_redis.cache.RedisCache", "OPTIONS": {"SOCKET_TIMEOUT": 1}}, 1),
        (
            {
                "BACKEND": "django_redis.cache.RedisCache",
                "OPTIONS": {"SOCKET_TIMEOUT": 1, "SOCKET_CONNECT_TIMEOUT": 1},
            },
            0,
        ),
    ],
)
def test_w011_long_or_missing_socket_timeouts(settings, entry, expected):
    from django_redis.pool import ConnectionFactory

    ConnectionFactory._pools.clear()  # django-redis keeps one pool per URL, whatever the OPTIONS
    config = {**entry, "LOCATION": settings.REDIS_URL}
    found = ids(run(CACHES={"default": config}))
    ConnectionFactory._pools.clear()
    assert found == ["jwtsessions.W011"] * expected
