"""DRF permissions for scoped machine credentials."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .credentials import ScopedCredential
from .exceptions import ERROR_ATTRIBUTE, error_body


class HasScope(BasePermission):
    """Grant access when the credential carries every scope in the view's ``required_scopes``.

    Works for API keys and service tokens (``request.auth`` is a
    :class:`~jwtsessions.credentials.ScopedCredential`); a session access token carries no scopes
    and is refused, as is a view without ``required_scopes`` (a forgotten list must not open
    the view). The refusal is 403 ``insufficient_scope``, also inside ``&`` / ``|``
    compositions when ``jwtsessions.exceptions.exception_handler`` is the project's handler.
    """

    message = error_body("insufficient_scope")
    code = "insufficient_scope"

    def has_permission(self, request: Request, view: Any) -> bool:
        required = getattr(view, "required_scopes", None)
        auth = request.auth
        if required and isinstance(auth, ScopedCredential) and auth.has_scopes(required):
            return True
        # DRF's & and | drop ``message``: the handler reads this mark instead.
        setattr(request, ERROR_ATTRIBUTE, "insufficient_scope")
        return False
