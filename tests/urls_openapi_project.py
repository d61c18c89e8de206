"""The package's URLs plus one project endpoint that takes all three credentials, as a project
lists the classes in DEFAULT_AUTHENTICATION_CLASSES (the package's own endpoints each take one
kind, and none takes service tokens)."""

from __future__ import annotations

from typing import Any

from django.urls import include, path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jwtsessions.authentication import (
    ApiKeyAuthentication,
    JWTSessionAuthentication,
    ServiceTokenAuthentication,
)


class WhoAmI(APIView):
    authentication_classes = [
        JWTSessionAuthentication,
        ServiceTokenAuthentication,
        ApiKeyAuthentication,
    ]

    @extend_schema(
        operation_id="whoami",
        responses=inline_serializer("WhoAmI", {"user_id": serializers.CharField()}),
    )
    def get(self, request: Request) -> Response:
        user: Any = request.user
        return Response({"user_id": str(user.pk)})


urlpatterns = [
    path("api/auth/", include("jwtsessions.urls")),
    path("api/whoami/", WhoAmI.as_view()),
]
