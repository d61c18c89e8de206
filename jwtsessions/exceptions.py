"""Every refusal as ``{"detail": ..., "code": ...}``, with the contract's codes.

DRF renders an exception whose ``detail`` is a dict as that dict, so the shape holds in any
view, with or without :func:`exception_handler`. The handler is offered for projects that want
DRF's own errors (404, 405, validation) in the same shape.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.db.utils import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger("jwtsessions")

StrOrPromise = str | Promise

# The request attribute where a refusal records its code: the 401's ``WWW-Authenticate``
# challenge names it, and the handler below recognises HasScope's 403 inside DRF's & and |.
ERROR_ATTRIBUTE = "_jwtsessions_error"

# Lazy: each answer is rendered in the language of its request (LocaleMiddleware).
MESSAGES: dict[str, StrOrPromise] = {
    "token_invalid": _("The access token is invalid."),
    "token_expired": _("The access token has expired."),
    "token_revoked": _("The access token has been revoked."),
    "session_revoked": _("The session has been revoked."),
    "session_expired": _("The session has expired."),
    "user_inactive": _("The user is inactive or deleted."),
    "invalid_credentials": _("Unable to log in with the provided credentials."),
    "refresh_invalid": _("The refresh token is invalid or expired."),
    "refresh_reused": _("The refresh token was already used; the session has been revoked."),
    "api_key_invalid": _("The API key is invalid."),
    "api_key_revoked": _("The API key has been revoked."),
    "api_key_expired": _("The API key has expired."),
    "insufficient_scope": _("The credential lacks a required scope."),
    "too_many_attempts": _("Too many failed login attempts. Try again later."),
    "invalid_request": _("The request is malformed."),
    "not_authenticated": _("Authentication credentials were not provided."),
    "reauthentication_required": _("Confirm this action with your current password."),
    "invalid_scope": _("A requested scope is not one you may grant."),
    "temporarily_unavailable": _(
        "Authentication is temporarily unavailable: the server cannot reach its database."
    ),
}


def error_body(code: str, detail: StrOrPromise | None = None) -> dict[str, Any]:
    return {"detail": detail or MESSAGES.get(code, code), "code": code}


class AuthFailed(exceptions.AuthenticationFailed):
    """401 with a contract code. ``WWW-Authenticate`` is filled in by the view."""

    def __init__(self, code: str, detail: str | None = None) -> None:
        super().__init__(error_body(code, detail), code=code)
        self.error_code = code


class ScopeDenied(exceptions.PermissionDenied):
    def __init__(self) -> None:
        super().__init__(error_body("insufficient_scope"), code="insufficient_scope")
        self.error_code = "insufficient_scope"


class ReauthenticationRequired(exceptions.PermissionDenied):
    """403: the action needs the caller's current password, and it was missing or wrong."""

    def __init__(self) -> None:
        super().__init__(error_body("reauthentication_required"), code="reauthentication_required")
        self.error_code = "reauthentication_required"


class InvalidScopeRequested(exceptions.ValidationError):
    """400: scopes outside ``API_KEY_SCOPES`` (a scope a key lacks is 403 ``ScopeDenied``)."""

    def __init__(self, scopes: Any = ()) -> None:
        body: dict[str, Any] = error_body("invalid_scope")
        if scopes:
            body["scopes"] = list(scopes)
        super().__init__(body, code="invalid_scope")
        self.error_code = "invalid_scope"


class TemporarilyUnavailable(exceptions.APIException):
    """503: this process cannot vouch for the revocations in the database, so it admits no
    credential (see :mod:`jwtsessions.freshness`). DRF adds ``Retry-After`` from ``wait``.
    """

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "temporarily_unavailable"

    def __init__(self, wait: int = 1) -> None:
        super().__init__(error_body("temporarily_unavailable"), code="temporarily_unavailable")
        self.error_code = "temporarily_unavailable"
        self.wait = wait


class TooManyAttempts(exceptions.Throttled):
    def __init__(self, wait: int) -> None:
        super().__init__(wait=wait)
        self.detail = error_body("too_many_attempts")
        self.error_code = "too_many_attempts"


class InvalidRequest(exceptions.ValidationError):
    def __init__(self, fields: Any = None, detail: StrOrPromise | None = None) -> None:
        body: dict[str, Any] = error_body("invalid_request", detail)
        if fields:
            body["fields"] = fields
        super().__init__(body)
        self.error_code = "invalid_request"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with every error body reshaped to ``{"detail", "code"}``."""
    # Imported here: authentication classes import this module while DRF's views are loading.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return _bad_request(exc)
    data = response.data
    if isinstance(data, dict) and {"detail", "code"} <= data.keys():
        return response
    if isinstance(exc, exceptions.ValidationError):
        response.data = {**error_body("invalid_request"), "fields": data}
        response.status_code = status.HTTP_400_BAD_REQUEST
        return response
    marked = getattr(context.get("request"), ERROR_ATTRIBUTE, None)
    if isinstance(exc, exceptions.PermissionDenied) and marked == "insufficient_scope":
        # HasScope inside DRF's & / |, which drop the permission's own message.
        response.data = error_body("insufficient_scope")
        return response
    code = "error"
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
    elif isinstance(exc, Http404):
        code = exceptions.NotFound.default_code
    elif isinstance(exc, DjangoPermissionDenied):
        code = exceptions.PermissionDenied.default_code
    detail = data.get("detail") if isinstance(data, dict) else None
    response.data = error_body(str(code), str(detail) if detail else None)
    return response


def _bad_request_body(exc: Exception) -> dict[str, str] | None:
    """The 400 body for a request Django itself refuses, or ``None`` for other errors."""
    if isinstance(exc, RequestDataTooBig | TooManyFieldsSent):
        return error_body("invalid_request", _("The request body is too large."))
    if isinstance(exc, UnreadablePostError):
        return error_body("invalid_request", _("The request body could not be read."))
    if isinstance(exc, SuspiciousOperation):
        # Django's own handling logs these to django.security.<name>: keep that.
        logging.getLogger(f"django.security.{type(exc).__name__}").error("%s", type(exc).__name__)
        return error_body("invalid_request", _("Bad request."))
    return None


def _bad_request(exc: Exception) -> Response | None:
    if isinstance(exc, OperationalError | InterfaceError):
        # The database cannot be reached (a partition, a restart): login, refresh and logout
        # cannot decide anything, so they say "try again" in the contract's shape, never a 500.
        # Only the type is logged: a driver's message can carry a DSN with a password.
        logger.warning("database unavailable (%s): answering 503", type(exc).__name__)
        unavailable = TemporarilyUnavailable()
        return Response(
            error_body("temporarily_unavailable"),
            status=unavailable.status_code,
            headers={"Retry-After": str(unavailable.wait)},
        )
    body = _bad_request_body(exc)
    return None if body is None else Response(body, status=status.HTTP_400_BAD_REQUEST)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A ``handler400`` answering ``{"detail", "code"}`` on this package's endpoints.

    Some 400s happen before any view runs (an invalid ``Host`` raised by ``CommonMiddleware``).
    Set ``handler400 = "jwtsessions.exceptions.bad_request"`` in the root URLconf so those
    answer in the contract's shape too on ``jwtsessions`` URLs; other URLs get Django's page.
    """
    from django.urls import Resolver404, resolve
    from django.views.defaults import bad_request as django_bad_request

    try:
        match = resolve(request.path_info)
    except Resolver404:
        match = None
    if match is None or "jwtsessions" not in match.namespaces:
        return django_bad_request(request, exception or SuspiciousOperation())
    return JsonResponse(error_body("invalid_request", _("Bad request.")), status=400)
