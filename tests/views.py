"""A protected endpoint standing for a project's own API."""

from __future__ import annotations

from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response


@api_view(["GET", "POST"])
def whoami(request: Request) -> Response:
    return Response({"user_id": str(request.user.pk)})


# --- machine credentials (API keys, service tokens, scopes) ------------------------------------

from rest_framework.permissions import IsAdminUser, IsAuthenticated  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from jwtsessions.authentication import (  # noqa: E402
    ApiKeyAuthentication,
    JWTSessionAuthentication,
    ServiceTokenAuthentication,
)
from jwtsessions.permissions import HasScope  # noqa: E402


class MachineView(APIView):
    """Any machine credential or session; reports what authenticated the request."""

    authentication_classes = [
        ApiKeyAuthentication,
        ServiceTokenAuthentication,
        JWTSessionAuthentication,
    ]
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        scopes = getattr(request.auth, "scopes", None)
        return Response(
            {
                "user_id": str(request.user.pk),
                "kind": type(request.auth).__name__,
                "scopes": list(scopes) if scopes is not None else None,
            }
        )


class ApiKeyOnlyView(MachineView):
    authentication_classes = [ApiKeyAuthentication]


class ServiceTokenOnlyView(MachineView):
    authentication_classes = [ServiceTokenAuthentication]


class ItemsReadView(MachineView):
    permission_classes = [HasScope]
    required_scopes = ["items:read"]


class ItemsWriteView(MachineView):
    permission_classes = [HasScope]
    required_scopes = ["items:read", "items:write"]


class ScopeOrAdminView(MachineView):
    permission_classes = [HasScope | IsAdminUser]
    required_scopes = ["items:admin"]


class AuthenticatedAndScopeView(MachineView):
    permission_classes = [IsAuthenticated & HasScope]
    required_scopes = ["items:write"]


class NoScopesListedView(MachineView):
    permission_classes = [HasScope]
