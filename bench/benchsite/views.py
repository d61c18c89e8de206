"""The schemes under test: each is an APIView with one authentication/permission pair.

Every view returns the same tiny JSON body, so the differences are the authentication.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


def _optional(module: str, name: str) -> Any:
    try:
        return getattr(__import__(module, fromlist=[name]), name)
    except (ImportError, AttributeError):
        return None


def _schemes() -> dict[str, tuple[list[Any], list[Any]]]:
    from knox.auth import TokenAuthentication as KnoxTokenAuthentication
    from rest_framework.authentication import SessionAuthentication, TokenAuthentication
    from rest_framework_api_key.permissions import HasAPIKey
    from rest_framework_simplejwt.authentication import (
        JWTAuthentication,
        JWTStatelessUserAuthentication,
    )

    from jwtsessions.authentication import JWTSessionAuthentication

    schemes: dict[str, tuple[list[Any], list[Any]]] = {
        "floor": ([], [AllowAny]),
        "simplejwt_stateless": ([JWTStatelessUserAuthentication], [IsAuthenticated]),
        "simplejwt_user": ([JWTAuthentication], [IsAuthenticated]),
        "knox": ([KnoxTokenAuthentication], [IsAuthenticated]),
        "drf_token": ([TokenAuthentication], [IsAuthenticated]),
        "drf_session_db": ([SessionAuthentication], [IsAuthenticated]),
        "drf_session_redis": ([SessionAuthentication], [IsAuthenticated]),
        "drf_api_key": ([], [HasAPIKey]),
        "ours_session": ([JWTSessionAuthentication], [IsAuthenticated]),
    }
    # Written concurrently by another engineer: measured when they exist.
    api_key_auth = _optional("jwtsessions.authentication", "ApiKeyAuthentication")
    if api_key_auth is not None:
        schemes["ours_api_key"] = ([api_key_auth], [IsAuthenticated])
    service_auth = _optional("jwtsessions.authentication", "ServiceTokenAuthentication")
    if service_auth is not None:
        schemes["ours_service_token"] = ([service_auth], [IsAuthenticated])
    return schemes


SCHEMES = _schemes()


class _Endpoint(APIView):
    def get(self, request: Request) -> Response:
        return Response({"ok": True})


def view_for(name: str) -> Any:
    authentication, permissions = SCHEMES[name]
    return _Endpoint.as_view(authentication_classes=authentication, permission_classes=permissions)
