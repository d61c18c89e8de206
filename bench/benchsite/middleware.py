"""SessionMiddleware with the engine picked per URL, so DB and Redis sessions share one run."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware

_DB = import_module("django.contrib.sessions.backends.db").SessionStore
_CACHE = import_module("django.contrib.sessions.backends.cache").SessionStore


class PerSchemeSessionMiddleware(SessionMiddleware):
    def process_request(self, request: Any) -> None:
        store = _CACHE if request.path_info.startswith("/drf_session_redis/") else _DB
        request.session = store(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
