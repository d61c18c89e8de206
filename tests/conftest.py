from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.cache import caches

from jwtsessions import store, throttling, tokens
from jwtsessions.settings import jwt_settings
from tests.services import TcpProxy


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    """Each test starts with an empty real cache and no remembered outage."""
    jwt_settings.reload()
    caches["default"].clear()
    throttling.reset_fallback()
    yield
    store.reset_health()
    jwt_settings.reload()
    tokens._forget_keys()


@pytest.fixture
def api_client():
    from django.test import Client

    return Client(enforce_csrf_checks=True)


@pytest.fixture
def operator(client: Any) -> Any:
    """A logged-in staff superuser (the admin uses Django's own session login)."""
    from tests.factories import make_user

    user = make_user("operator", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


@pytest.fixture
def proxy_settings() -> dict[str, Any]:
    """JWTSESSIONS beside ``CACHE_ALIAS`` while ``proxy`` runs: a test module overrides this."""
    return {}


@pytest.fixture
def proxy(settings: Any, proxy_settings: dict[str, Any]) -> Iterator[TcpProxy]:
    """The suite's cache reached through a proxy the test can cut (cache alias ``flaky``)."""
    target = urlsplit(settings.REDIS_URL)
    link = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)
    settings.CACHES = {
        **settings.CACHES,
        "flaky": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{link.port}{target.path or '/0'}",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        },
    }
    settings.JWTSESSIONS = {"CACHE_ALIAS": "flaky", **proxy_settings}
    caches["flaky"].clear()
    yield link
    link.down()
