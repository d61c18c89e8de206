"""drf-spectacular support: security schemes for the three authentication classes and a full
description (bodies, every status, unique operation ids) of every endpoint.

Loaded by ``JWTSessionsConfig.ready()`` only when ``drf_spectacular`` is in ``INSTALLED_APPS``
(``pip install "django-jwtsessions[openapi]"``); the package never imports drf-spectacular
otherwise. Everything here is read when a schema is generated, so the settings in force then
(cookie mode, ``LOGIN_SERIALIZER``) are the ones described.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerExtension,
    OpenApiViewExtension,
)
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers

from . import customization
from .serializers import ApiKeySerializer, RefreshSerializer, SessionSerializer
from .settings import jwt_settings

# --- security schemes --------------------------------------------------------------------------


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


# --- component names: prefixed, so they never collide with a project's own ---------------------

COMPONENT_PREFIX = "JWTSessions"


class _PrefixedName(OpenApiSerializerExtension):
    def get_name(self, auto_schema: Any, direction: Any) -> str:
        target: Any = self.target_class
        return COMPONENT_PREFIX + str(target.__name__).removesuffix("Serializer")


class _LoginName(_PrefixedName):
    target_class = "jwtsessions.serializers.LoginSerializer"


class _RefreshName(_PrefixedName):
    target_class = "jwtsessions.serializers.RefreshSerializer"


class _SessionName(_PrefixedName):
    target_class = "jwtsessions.serializers.SessionSerializer"


class _ApiKeyName(_PrefixedName):
    target_class = "jwtsessions.serializers.ApiKeySerializer"


class _ApiKeyCreateName(_PrefixedName):
    target_class = "jwtsessions.serializers.ApiKeyCreateSerializer"


class _ServiceTokenRequestName(_PrefixedName):
    target_class = "jwtsessions.serializers.ServiceTokenRequestSerializer"


# --- bodies that exist only in the schema ------------------------------------------------------


class JWTSessionsErrorSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField(help_text="Human-readable, in the request's language.")
    code = serializers.CharField(help_text="Stable machine-readable code.")


class JWTSessionsValidationErrorSerializer(JWTSessionsErrorSerializer):
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="The invalid fields and their messages.",
    )


class _TokenPairBase(serializers.Serializer[Any]):
    token_type = serializers.CharField(help_text="Always `Bearer`.")
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")
    session_id = serializers.CharField()


class JWTSessionsTokenPairSerializer(_TokenPairBase):
    access = serializers.CharField(help_text="The access token (JWT).")
    refresh = serializers.CharField(help_text="Single-use refresh token.")


class JWTSessionsCookieTokenPairSerializer(_TokenPairBase):
    """Cookie mode: the tokens travel only as HttpOnly cookies."""


class JWTSessionsServiceTokenSerializer(serializers.Serializer[Any]):
    access = serializers.CharField(help_text="The service token (JWT).")
    token_type = serializers.CharField(help_text="Always `Bearer`.")
    expires_in = serializers.IntegerField()
    scope = serializers.CharField(help_text="Space-separated scopes.")


class JWTSessionsApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The whole key: shown here once, never again.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class JWTSessionsJWKSerializer(serializers.Serializer[Any]):
    kty = serializers.CharField()
    kid = serializers.CharField()
    alg = serializers.CharField()
    use = serializers.CharField()


class JWTSessionsJWKSSerializer(serializers.Serializer[Any]):
    keys = JWTSessionsJWKSerializer(many=True)


class JWTSessionsCsrfTokenSerializer(serializers.Serializer[Any]):
    csrf_token = serializers.CharField()


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(JWTSessionsErrorSerializer, description=description)


_400 = OpenApiResponse(
    JWTSessionsValidationErrorSerializer, description="Malformed request (`invalid_request`)."
)
_401 = _error("Not authenticated, or the credential was refused (see `code`).")
_403_CSRF = _error("Cookie mode: the CSRF token is missing or wrong (`csrf_failed`).")
_404 = _error("No such object among the caller's own (`not_found`).")
_503 = _error(
    "The database cannot be read (`temporarily_unavailable`, see Retry-After), or the server's "
    "TOKEN_CLAIMS or LOGIN_SERIALIZER is unusable (`server_misconfigured`)."
)


def _pair(view: Any) -> type[serializers.Serializer[Any]]:
    if view.cookies:
        return JWTSessionsCookieTokenPairSerializer
    return JWTSessionsTokenPairSerializer


def _tags() -> list[str]:
    return ["auth"]


# --- the endpoints -----------------------------------------------------------------------------


class _Endpoint(OpenApiViewExtension):
    """Subclasses decorate their view class's handlers in :meth:`annotate`."""

    def view_replacement(self) -> Any:
        initkwargs = getattr(self.target_callback, "initkwargs", None) or {}
        use_cookies = bool(initkwargs.get("use_cookies", self.target.use_cookies))

        class Described(self.target):  # type: ignore[name-defined]
            # Cookie mode applies to this mounting of the view (not to use_cookies=False copies).
            cookies = use_cookies and bool(jwt_settings.AUTH_COOKIE)
            # A header-mode copy mounted beside the cookie-mode view needs its own operation ids.
            id_suffix = "" if use_cookies or not jwt_settings.AUTH_COOKIE else "_header_mode"

        self.annotate(Described)
        return Described

    def annotate(self, view: Any) -> None:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError


def _describe(view: Any, method: str, *, operation_id: str, **kwargs: Any) -> None:
    operation_id += view.id_suffix
    decorate = extend_schema(tags=_tags(), operation_id=operation_id, **kwargs)
    setattr(view, method, decorate(getattr(view, method)))


class LoginSchema(_Endpoint):
    target_class = "jwtsessions.views.LoginView"

    def annotate(self, view: Any) -> None:
        _describe(
            view,
            "post",
            operation_id="jwtsessions_login",
            summary="Log in: open a session",
            request=customization.login_serializer_class(),
            responses={
                200: _pair(view),
                400: _400,
                401: _error("Wrong username or password (`invalid_credentials`)."),
                403: _403_CSRF,
                429: _error("Too many failed attempts (`too_many_attempts`); see Retry-After."),
                503: _503,
            },
        )


class RefreshSchema(_Endpoint):
    target_class = "jwtsessions.views.RefreshView"

    def annotate(self, view: Any) -> None:
        _describe(
            view,
            "post",
            operation_id="jwtsessions_refresh",
            summary="Rotate the refresh token: a new pair",
            description="In cookie mode the refresh token may come from its cookie instead.",
            request=RefreshSerializer,
            responses={
                200: _pair(view),
                400: _400,
                401: _error("`refresh_invalid`, `refresh_reused`, `session_revoked`..."),
                403: _403_CSRF,
                503: _503,
            },
        )


def _no_content(description: str) -> OpenApiResponse:
    return OpenApiResponse(None, description=description)


class LogoutSchema(_Endpoint):
    target_class = "jwtsessions.views.LogoutView"

    def annotate(self, view: Any) -> None:
        _describe(
            view,
            "post",
            operation_id="jwtsessions_logout",
            summary="Log out: revoke this session",
            request=None,
            responses={204: _no_content("The session is revoked."), 401: _401, 403: _403_CSRF},
        )


class LogoutAllSchema(_Endpoint):
    target_class = "jwtsessions.views.LogoutAllView"

    def annotate(self, view: Any) -> None:
        _describe(
            view,
            "post",
            operation_id="jwtsessions_logout_all",
            summary="Log out everywhere: revoke every session of the user",
            request=None,
            responses={204: _no_content("Every session is revoked."), 401: _401, 403: _403_CSRF},
        )


class SessionListSchema(_Endpoint):
    target_class = "jwtsessions.views.SessionListView"

    def annotate(self, view: Any) -> None:
        _describe(
            view,
            "get",
            operation_id="jwtsessions_sessions_list",
            summary="The user's active sessions",
            responses={200: SessionSerializer(many=True), 401: _401},
        )


class SessionDetailSchema(_Endpoint):
    target_class = "jwtsessions.views.SessionDetailView"

    def annotate(self, view: Any) -> None:
        _describe(
            view,
            "get",
            operation_id="jwtsessions_sessions_retrieve",
            summary="One of the user's sessions",
            responses={200: SessionSerializer, 401: _401, 404: _404},
        )
        _describe(
            view,
            "delete",
            operation_id="jwtsessions_sessions_destroy",
            summary="Revoke one of the user's sessions",
            responses={204: _no_content("The session is revoked."), 401: _401, 404: _404},
        )


class ApiKeyListSchema(_Endpoint):
    target_class = "jwtsessions.views.ApiKeyListView"

    def annotate(self, view: Any) -> None:
        _describe(
            view,
            "get",
            operation_id="jwtsessions_api_keys_list",
            summary="The user's API keys (never their secrets)",
            responses={200: ApiKeySerializer(many=True), 401: _401},
        )
        _describe(
            view,
            "post",
            operation_id="jwtsessions_api_keys_create",
            summary="Create an API key; the key is shown once",
            request=view.request_serializer_class,
            responses={
                201: JWTSessionsApiKeyCreatedSerializer,
                400: _error(
                    "Malformed request (`invalid_request`), or a scope outside API_KEY_SCOPES "
                    "(`invalid_scope`)."
                ),
                401: _401,
                403: _error("Wrong or missing password (`reauthentication_required`), or CSRF."),
                429: _error("Too many wrong passwords (`too_many_attempts`); see Retry-After."),
            },
        )


class ApiKeyDetailSchema(_Endpoint):
    target_class = "jwtsessions.views.ApiKeyDetailView"

    def annotate(self, view: Any) -> None:
        _describe(
            view,
            "get",
            operation_id="jwtsessions_api_keys_retrieve",
            summary="One of the user's API keys",
            responses={200: ApiKeySerializer, 401: _401, 404: _404},
        )
        _describe(
            view,
            "delete",
            operation_id="jwtsessions_api_keys_destroy",
            summary="Revoke an API key at once",
            responses={204: _no_content("The key is revoked."), 401: _401, 404: _404},
        )


class ServiceTokenSchema(_Endpoint):
    target_class = "jwtsessions.views.ServiceTokenView"

    def annotate(self, view: Any) -> None:
        _describe(
            view,
            "post",
            operation_id="jwtsessions_service_token",
            summary="Exchange an API key for a short-lived service token",
            request=view.request_serializer_class,
            responses={
                200: JWTSessionsServiceTokenSerializer,
                400: _error(
                    "Malformed request (`invalid_request`), or a scope of the key its owner may "
                    "no longer grant under `API_KEY_SCOPES` (`invalid_scope`)."
                ),
                401: _401,
                403: _error("A requested scope the API key lacks (`insufficient_scope`)."),
            },
        )


class JWKSSchema(_Endpoint):
    target_class = "jwtsessions.views.JWKSView"

    def annotate(self, view: Any) -> None:
        _describe(
            view,
            "get",
            operation_id="jwtsessions_jwks",
            summary="Public keys of the asymmetric signing keys (JWK Set)",
            responses={200: JWTSessionsJWKSSerializer},
        )


class CsrfSchema(_Endpoint):
    target_class = "jwtsessions.views.CsrfTokenView"

    def annotate(self, view: Any) -> None:
        _describe(
            view,
            "get",
            operation_id="jwtsessions_csrf",
            summary="The CSRF token (and cookie) for cookie mode",
            responses={200: JWTSessionsCsrfTokenSerializer},
        )
