"""The endpoints of ``jwtsessions.urls``. Every refusal is ``{"detail", "code"}``.

Import them from here (``from jwtsessions import views``): the modules below group them by what
they own and may change.

- ``base``: the base classes and the responses every endpoint shares;
- ``login``: login, refresh, logout, logout-all and the CSRF token;
- ``my_sessions``: the user's own sessions, listed and revoked;
- ``api_keys``: the user's API keys, and service tokens in exchange for a key;
- ``jwks``: the public keys;
- ``passwords``: the password checks, throttled like logins.
"""

from __future__ import annotations

from .api_keys import ApiKeyDetailView, ApiKeyListView, ServiceTokenView
from .base import JWTSessionsView, OpenView, SessionAuthenticatedView, no_content, no_store
from .jwks import JWKSView
from .login import CsrfTokenView, LoginView, LogoutAllView, LogoutView, RefreshView
from .my_sessions import SessionDetailView, SessionListView

__all__ = [
    "ApiKeyDetailView",
    "ApiKeyListView",
    "CsrfTokenView",
    "JWKSView",
    "JWTSessionsView",
    "LoginView",
    "LogoutAllView",
    "LogoutView",
    "OpenView",
    "RefreshView",
    "ServiceTokenView",
    "SessionAuthenticatedView",
    "SessionDetailView",
    "SessionListView",
    "no_content",
    "no_store",
]
