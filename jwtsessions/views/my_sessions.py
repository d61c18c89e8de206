"""The "my sessions" endpoints: the user lists their sessions and revokes any one of them."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from .. import store
from ..authentication import SessionAuth
from ..models import Session, is_session_id
from ..revocation import revoke_session
from ..serializers import SessionSerializer
from .base import SessionAuthenticatedView, no_content


def _user_id(request: Request) -> Any:
    """The authenticated user's primary key (known without loading the user)."""
    return request.user.pk


def _current(request: Request) -> SessionAuth:
    assert isinstance(request.auth, SessionAuth)
    return request.auth


def _context(request: Request, shown: list[Session]) -> dict[str, Any]:
    """What ``SessionSerializer`` adds to the sessions shown: which one is the caller's, and when
    each was last seen."""
    return {
        "current_session_id": _current(request).session_id,
        "last_seen": store.last_seen([s.pk for s in shown]),
    }


class SessionListView(SessionAuthenticatedView):
    """GET: the user's active sessions, the current one marked."""

    def get(self, request: Request) -> Response:
        now = timezone.now()
        active = [
            s
            for s in Session.objects.filter(user_id=_user_id(request)).active(now)
            if s.status(now) == "active"
        ]
        context = _context(request, active)
        return Response(SessionSerializer(active, many=True, context=context).data)


class SessionDetailView(SessionAuthenticatedView):
    """GET one of the user's sessions; DELETE revokes it. Another user's session is 404."""

    def _session(self, request: Request, session_id: str) -> Session:
        if not is_session_id(session_id):
            raise Http404  # a NUL or junk id never reaches SQL
        session = Session.objects.filter(pk=session_id, user_id=_user_id(request)).first()
        if session is None:
            raise Http404
        return session

    def get(self, request: Request, session_id: str) -> Response:
        session = self._session(request, session_id)
        context = _context(request, [session])
        return Response(SessionSerializer(session, context=context).data)

    def delete(self, request: Request, session_id: str) -> Response:
        session = self._session(request, session_id)
        revoke_session(session, reason="revoked_by_user", actor=request.user.pk)
        # Revoking the browser's own session also clears its cookies.
        return no_content(
            delete_cookies=session.pk == _current(request).session_id and self.cookie_mode()
        )
