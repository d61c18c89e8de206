"""Every endpoint of the package, as rows for the builder in :mod:`.operations`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from .. import customization
from ..serializers import ApiKeySerializer, RefreshSerializer, SessionSerializer
from .components import (
    JWTSessionsApiKeyCreatedSerializer,
    JWTSessionsCookieTokenPairSerializer,
    JWTSessionsCsrfTokenSerializer,
    JWTSessionsJWKSSerializer,
    JWTSessionsServiceTokenSerializer,
    JWTSessionsTokenPairSerializer,
)
from .operations import (
    CSRF_FAILED,
    INVALID_REQUEST,
    NOT_FOUND,
    UNAUTHENTICATED,
    UNAVAILABLE,
    Answer,
    Endpoint,
    Operation,
)

# --- bodies chosen per view --------------------------------------------------------------------


def _pair(view: Any) -> type[serializers.Serializer[Any]]:
    if view.cookies:
        return JWTSessionsCookieTokenPairSerializer
    return JWTSessionsTokenPairSerializer


def _login_request(view: Any) -> Any:
    return customization.login_serializer_class()


def _view_request(view: Any) -> Any:
    return view.request_serializer_class


def _many(serializer: type[serializers.Serializer[Any]]) -> Callable[[Any], Any]:
    # Built when a schema is generated: no serializer instance is shared between schemas.
    return lambda view: serializer(many=True)


def _own_list(stem: str, summary: str, serializer: type[serializers.Serializer[Any]]) -> Operation:
    """GET a list of the caller's own objects."""
    return Operation(
        "get",
        f"jwtsessions_{stem}_list",
        summary,
        ok=(200, _many(serializer)),
        refusals=(UNAUTHENTICATED,),
    )


def _own_object(
    stem: str,
    serializer: Any,
    *,
    retrieve: str,
    destroy: str,
    destroyed: str,
    parameters: tuple[Any, ...] = (),
) -> tuple[Operation, ...]:
    """GET and DELETE (revoke) one of the caller's own objects: anyone else's is 404."""
    refusals = (UNAUTHENTICATED, NOT_FOUND)
    get = f"jwtsessions_{stem}_retrieve"
    delete = f"jwtsessions_{stem}_destroy"
    return (
        Operation("get", get, retrieve, (200, serializer), refusals, parameters=parameters),
        Operation("delete", delete, destroy, (204, destroyed), refusals, parameters=parameters),
    )


def _logout(operation_id: str, summary: str, done: str) -> Operation:
    """POST that revokes the caller's session(s): no body in, none out."""
    return Operation("post", operation_id, summary, (204, done), (UNAUTHENTICATED, CSRF_FAILED))


def _invalid_scope(which: str) -> Answer:
    """400: a malformed request, or ``which``, a scope ``API_KEY_SCOPES`` refuses."""
    return (400, f"Malformed request (`invalid_request`), or {which} (`invalid_scope`).")


# --- the endpoints -----------------------------------------------------------------------------


class LoginSchema(Endpoint):
    target_class = "jwtsessions.views.LoginView"
    operations = (
        Operation(
            "post",
            "jwtsessions_login",
            "Log in: open a session",
            request=_login_request,
            ok=(200, _pair),
            refusals=(
                INVALID_REQUEST,
                (401, "Wrong username or password (`invalid_credentials`)."),
                CSRF_FAILED,
                (429, "Too many failed attempts (`too_many_attempts`); see Retry-After."),
                UNAVAILABLE,
            ),
        ),
    )


class RefreshSchema(Endpoint):
    target_class = "jwtsessions.views.RefreshView"
    operations = (
        Operation(
            "post",
            "jwtsessions_refresh",
            "Rotate the refresh token: a new pair",
            description="In cookie mode the refresh token may come from its cookie instead.",
            request=RefreshSerializer,
            ok=(200, _pair),
            refusals=(
                INVALID_REQUEST,
                (401, "`refresh_invalid`, `refresh_reused`, `session_revoked`..."),
                CSRF_FAILED,
                UNAVAILABLE,
            ),
        ),
    )


class LogoutSchema(Endpoint):
    target_class = "jwtsessions.views.LogoutView"
    operations = (
        _logout("jwtsessions_logout", "Log out: revoke this session", "The session is revoked."),
    )


class LogoutAllSchema(Endpoint):
    target_class = "jwtsessions.views.LogoutAllView"
    operations = (
        _logout(
            "jwtsessions_logout_all",
            "Log out everywhere: revoke every session of the user",
            "Every session is revoked.",
        ),
    )


class SessionListSchema(Endpoint):
    target_class = "jwtsessions.views.SessionListView"
    operations = (_own_list("sessions", "The user's active sessions", SessionSerializer),)


class SessionDetailSchema(Endpoint):
    target_class = "jwtsessions.views.SessionDetailView"
    operations = _own_object(
        "sessions",
        SessionSerializer,
        retrieve="One of the user's sessions",
        destroy="Revoke one of the user's sessions",
        destroyed="The session is revoked.",
    )


class ApiKeyListSchema(Endpoint):
    target_class = "jwtsessions.views.ApiKeyListView"
    operations = (
        _own_list("api_keys", "The user's API keys (never their secrets)", ApiKeySerializer),
        Operation(
            "post",
            "jwtsessions_api_keys_create",
            "Create an API key; the key is shown once",
            request=_view_request,
            ok=(201, JWTSessionsApiKeyCreatedSerializer),
            refusals=(
                _invalid_scope("a scope outside API_KEY_SCOPES"),
                UNAUTHENTICATED,
                (403, "Wrong or missing password (`reauthentication_required`), or CSRF."),
                (429, "Too many wrong passwords (`too_many_attempts`); see Retry-After."),
            ),
        ),
    )


class ApiKeyDetailSchema(Endpoint):
    target_class = "jwtsessions.views.ApiKeyDetailView"
    operations = _own_object(
        "api_keys",
        ApiKeySerializer,
        retrieve="One of the user's API keys",
        destroy="Revoke an API key at once",
        destroyed="The key is revoked.",
        # The URL takes any text so that a non-number gets the JSON 404; the id is an integer.
        parameters=(OpenApiParameter("key_id", int, OpenApiParameter.PATH),),
    )


class ServiceTokenSchema(Endpoint):
    target_class = "jwtsessions.views.ServiceTokenView"
    operations = (
        Operation(
            "post",
            "jwtsessions_service_token",
            "Exchange an API key for a short-lived service token",
            request=_view_request,
            ok=(200, JWTSessionsServiceTokenSerializer),
            refusals=(
                _invalid_scope(
                    "a scope of the key its owner may no longer grant under `API_KEY_SCOPES`"
                ),
                UNAUTHENTICATED,
                (403, "A requested scope the API key lacks (`insufficient_scope`)."),
            ),
        ),
    )


class JWKSSchema(Endpoint):
    target_class = "jwtsessions.views.JWKSView"
    operations = (
        Operation(
            "get",
            "jwtsessions_jwks",
            "Public keys of the asymmetric signing keys (JWK Set)",
            ok=(200, JWTSessionsJWKSSerializer),
        ),
    )


class CsrfSchema(Endpoint):
    target_class = "jwtsessions.views.CsrfTokenView"
    operations = (
        Operation(
            "get",
            "jwtsessions_csrf",
            "The CSRF token (and cookie) for cookie mode",
            ok=(200, JWTSessionsCsrfTokenSerializer),
        ),
    )
