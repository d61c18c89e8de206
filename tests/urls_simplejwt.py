"""A project in the middle of moving from simplejwt: its token endpoints beside ours."""

from __future__ import annotations

from typing import Any

from django.urls import include, path
from rest_framework.decorators import api_view, authentication_classes
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from jwtsessions.authentication import ServiceTokenAuthentication
from jwtsessions.simplejwt_migration import TransitionAuthentication


@api_view(["GET"])
@authentication_classes([TransitionAuthentication, ServiceTokenAuthentication])
def whoami(request: Request) -> Response:
    user: Any = request.user
    return Response({"user_id": str(user.pk), "auth": type(request.auth).__name__})


urlpatterns = [
    path("api/auth/", include("jwtsessions.urls")),
    path("api/token/", TokenObtainPairView.as_view()),
    path("api/token/refresh/", TokenRefreshView.as_view()),
    path("api/whoami/", whoami),
]
