"""Security schemes: how each of the three authentication classes takes its credential."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from ..settings import jwt_settings


class JWTSessionScheme(OpenApiAuthenticationExtension):
    """``Authorization: Bearer <access token>``, or the access cookie in cookie mode."""

    target_class = "jwtsessions.authentication.JWTSessionAuthentication"
    name = ["jwtSessionBearer", "jwtSessionCookie"]

    def _cookie(self) -> str | None:
        return jwt_settings.AUTH_COOKIE

    def get_security_requirement(self, auto_schema: Any) -> Any:
        # Either credential authenticates (OR): one requirement object each.
        names = self.name if self._cookie() else self.name[:1]
        return [{name: []} for name in names]

    def get_security_definition(self, auto_schema: Any) -> Any:
        bearer = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A session access token from `login/` or `refresh/`.",
        }
        cookie = self._cookie()
        if not cookie:
            return [bearer]
        return [
            bearer,
            {
                "type": "apiKey",
                "in": "cookie",
                "name": cookie,
                "description": "The access token cookie (cookie mode); unsafe methods also "
                "need the CSRF token in the X-CSRFToken header.",
            },
        ]


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """``Authorization: Api-Key <key>`` or ``X-API-Key: <key>``."""

    target_class = "jwtsessions.authentication.ApiKeyAuthentication"
    name = ["jwtsessionsApiKey", "jwtsessionsXApiKey"]

    def get_security_requirement(self, auto_schema: Any) -> Any:
        return [{name: []} for name in self.name]

    def get_security_definition(self, auto_schema: Any) -> Any:
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Api-Key <key>`: an API key from `POST api-keys/`.",
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
                "description": "The API key alone.",
            },
        ]


class ServiceTokenScheme(OpenApiAuthenticationExtension):
    """``Authorization: Bearer <service token>``."""

    target_class = "jwtsessions.authentication.ServiceTokenAuthentication"
    name = "jwtServiceToken"

    def get_security_definition(self, auto_schema: Any) -> Any:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A service token from `POST service-token/` (carries `scope`).",
        }
