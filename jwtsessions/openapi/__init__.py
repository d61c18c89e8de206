"""drf-spectacular support: security schemes for the three authentication classes and a full
description (bodies, every status, unique operation ids) of every endpoint.

Loaded by ``JWTSessionsConfig.ready()`` only when ``drf_spectacular`` is in ``INSTALLED_APPS``
(``pip install "django-jwtsessions[openapi]"``); the package never imports drf-spectacular
otherwise. Everything here is read when a schema is generated, so the settings in force then
(cookie mode, ``LOGIN_SERIALIZER``) are the ones described.

The package: ``schemes`` (the security schemes), ``components`` (prefixed component names and
the bodies that exist only in the schema), ``operations`` (the one builder every endpoint's
description goes through) and ``endpoints`` (each endpoint's row). Importing them registers
their extensions with drf-spectacular.
"""

from __future__ import annotations

from .components import (
    COMPONENT_PREFIX,
    JWTSessionsApiKeyCreatedSerializer,
    JWTSessionsCookieTokenPairSerializer,
    JWTSessionsCsrfTokenSerializer,
    JWTSessionsErrorSerializer,
    JWTSessionsJWKSerializer,
    JWTSessionsJWKSSerializer,
    JWTSessionsServiceTokenSerializer,
    JWTSessionsTokenPairSerializer,
    JWTSessionsValidationErrorSerializer,
)
from .endpoints import (
    ApiKeyDetailSchema,
    ApiKeyListSchema,
    CsrfSchema,
    JWKSSchema,
    LoginSchema,
    LogoutAllSchema,
    LogoutSchema,
    RefreshSchema,
    ServiceTokenSchema,
    SessionDetailSchema,
    SessionListSchema,
)
from .schemes import ApiKeyScheme, JWTSessionScheme, ServiceTokenScheme

__all__ = [
    "COMPONENT_PREFIX",
    "ApiKeyDetailSchema",
    "ApiKeyListSchema",
    "ApiKeyScheme",
    "CsrfSchema",
    "JWKSSchema",
    "JWTSessionScheme",
    "JWTSessionsApiKeyCreatedSerializer",
    "JWTSessionsCookieTokenPairSerializer",
    "JWTSessionsCsrfTokenSerializer",
    "JWTSessionsErrorSerializer",
    "JWTSessionsJWKSSerializer",
    "JWTSessionsJWKSerializer",
    "JWTSessionsServiceTokenSerializer",
    "JWTSessionsTokenPairSerializer",
    "JWTSessionsValidationErrorSerializer",
    "LoginSchema",
    "LogoutAllSchema",
    "LogoutSchema",
    "RefreshSchema",
    "ServiceTokenSchema",
    "ServiceTokenScheme",
    "SessionDetailSchema",
    "SessionListSchema",
]
