"""A protected endpoint standing for a project's own API."""

from __future__ import annotations

from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response


@api_view(["GET", "POST"])
def whoami(request: Request) -> Response:
    return Response({"user_id": str(request.user.pk)})
