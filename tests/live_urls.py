"""URLs of the live server: the test project's, plus helpers the fault scenarios drive.

The helpers exist only in the fault tests' settings (tests/live_settings.py): they make test
data in the server's own database and let a worker make a Python-API revocation, as a project's
own view or task would.
"""

from __future__ import annotations

import json
import os
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jwtsessions import revocation
from jwtsessions.authentication import ApiKeyAuthentication, JWTSessionAuthentication
from tests.urls import urlpatterns as test_urlpatterns


def worker_pid_header(get_response: Any) -> Any:
    """Every answer says which worker gave it (``X-Worker-Pid``), refusals included."""

    def middleware(request: HttpRequest) -> Any:
        response = get_response(request)
        response["X-Worker-Pid"] = str(os.getpid())
        return response

    return middleware


class Probe(APIView):
    """Who is asking, and which worker answered."""

    authentication_classes = [ApiKeyAuthentication, JWTSessionAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response({"user_id": str(request.user.pk), "pid": os.getpid()})


@csrf_exempt
def setup(request: HttpRequest) -> JsonResponse:
    """A user with one session and one API key (no login: no throttling, no hashing cost)."""
    from django.contrib.auth import get_user_model

    from jwtsessions.apikeys import create_api_key
    from jwtsessions.sessions import create_session

    body: dict[str, Any] = json.loads(request.body or b"{}")
    user = get_user_model()._default_manager.create(username=body["username"])
    user.set_password("pw-" + body["username"])
    user.save()
    pair = create_session(user)
    api_key, key = create_api_key(user, "faults")
    return JsonResponse(
        {
            "user_id": user.pk,
            "username": user.get_username(),
            "access": pair.access,
            "refresh": pair.refresh,
            "session_id": str(pair.session.pk),
            "api_key_id": api_key.pk,
            "api_key": key,
        }
    )


@csrf_exempt
def blacklist(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body)
    revocation.blacklist_token(body["token"])
    return JsonResponse({"pid": os.getpid()})


@csrf_exempt
def revoked(request: HttpRequest) -> JsonResponse:
    """What the database says (the source of truth) about a session."""
    from jwtsessions.models import Session

    row = Session.objects.filter(pk=request.GET["session"]).values("revoked_at").first()
    return JsonResponse({"revoked": bool(row and row["revoked_at"])})


urlpatterns = [
    *test_urlpatterns,
    path("faults/probe/", Probe.as_view()),
    path("faults/setup/", setup),
    path("faults/blacklist/", blacklist),
    path("faults/revoked/", revoked),
]
