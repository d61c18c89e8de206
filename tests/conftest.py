from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import caches

from jwtsessions import store, throttling, tokens
from jwtsessions.settings import jwt_settings


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
