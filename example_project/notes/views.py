"""The notes API and the browser page.

The API views authenticate with ``JWTSessionAuthentication`` and so accept either credential:
``Authorization: Bearer <access token>`` (API clients; no CSRF token needed) or the access
cookie (the browser page; unsafe requests need the CSRF token).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from rest_framework import generics
from rest_framework.permissions import IsAuthenticated
from rest_framework.serializers import BaseSerializer

from jwtsessions.authentication import JWTSessionAuthentication

from .models import Note
from .serializers import NoteSerializer


class NoteList(generics.ListCreateAPIView[Note]):
    """GET: the user's notes, newest first. POST ``{"title", "body"?}``: a new note."""

    authentication_classes = [JWTSessionAuthentication]
    permission_classes = [IsAuthenticated]
    serializer_class = NoteSerializer

    def get_queryset(self) -> QuerySet[Note]:
        owner: Any = self.request.user.pk
        return Note.objects.filter(owner_id=owner)

    def perform_create(self, serializer: BaseSerializer[Note]) -> None:
        serializer.save(owner_id=self.request.user.pk)


class NoteDetail(generics.RetrieveDestroyAPIView[Note]):
    """GET or DELETE one of the user's notes; another user's note is 404."""

    authentication_classes = [JWTSessionAuthentication]
    permission_classes = [IsAuthenticated]
    serializer_class = NoteSerializer

    def get_queryset(self) -> QuerySet[Note]:
        owner: Any = self.request.user.pk
        return Note.objects.filter(owner_id=owner)


@ensure_csrf_cookie
def index(request: HttpRequest) -> HttpResponse:
    """The browser page. It holds no user data: its script fetches everything from the API."""
    response = render(request, "notes/index.html")
    # The page's script is its only code: forbid any other (inline, injected, third-party).
    response["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    return response
