"""One builder for every endpoint's schema: an :class:`Operation` row says what a handler takes,
its answer on success and every refusal it can give; :class:`Endpoint` turns its rows into
drf-spectacular's ``extend_schema`` on each mounting of its view.

Rows are turned into schema when one is generated, never at import: the cookie mode and the
``LOGIN_SERIALIZER`` described are those in force then.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema

from ..settings import jwt_settings
from .components import JWTSessionsErrorSerializer, JWTSessionsValidationErrorSerializer

#: A status and what it means there; a refusal names its ``code`` values in backquotes.
Answer = tuple[int, str]

# The refusals several endpoints share; one endpoint's own stand in its row.
INVALID_REQUEST: Answer = (400, "Malformed request (`invalid_request`).")
UNAUTHENTICATED: Answer = (401, "Not authenticated, or the credential was refused (see `code`).")
CSRF_FAILED: Answer = (403, "Cookie mode: the CSRF token is missing or wrong (`csrf_failed`).")
NOT_FOUND: Answer = (404, "No such object among the caller's own (`not_found`).")
UNAVAILABLE: Answer = (
    503,
    "The database cannot be read (`temporarily_unavailable`, see Retry-After), or the server's "
    "TOKEN_CLAIMS or LOGIN_SERIALIZER is unusable (`server_misconfigured`).",
)


@dataclass(frozen=True)
class Operation:
    """One handler of a view. A body is a serializer (class or instance), or a function of the
    described view that returns one (what depends on settings or on how the view is mounted).
    """

    method: str
    operation_id: str
    summary: str
    #: The success status and its body; a ``str`` there describes an answer without content.
    ok: tuple[int, Any]
    #: Every refusal, each answered as ``{"detail", "code"}`` (a 400 with ``fields`` too).
    refusals: tuple[Answer, ...] = ()
    request: Any = None
    description: str | None = None
    #: ``OpenApiParameter`` objects where the URL alone would say less (a typed path id).
    parameters: tuple[Any, ...] = ()


def _resolve(body: Any, view: Any) -> Any:
    # A serializer class is callable too: only a plain function is a body still to be chosen.
    return body(view) if inspect.isfunction(body) else body


def responses(operation: Operation, view: Any) -> dict[int, Any]:
    """``extend_schema(responses=...)`` for ``operation`` on ``view``: success, then refusals."""
    status, body = operation.ok
    if isinstance(body, str):
        answers: dict[int, Any] = {status: OpenApiResponse(None, description=body)}
    else:
        answers = {status: _resolve(body, view)}
    for status, description in operation.refusals:
        error = (
            JWTSessionsValidationErrorSerializer if status == 400 else JWTSessionsErrorSerializer
        )
        answers[status] = OpenApiResponse(error, description=description)
    return answers


def describe(view: Any, operation: Operation) -> None:
    """Decorate ``view``'s handler for ``operation`` with its schema."""
    decorate = extend_schema(
        tags=["auth"],
        operation_id=operation.operation_id + view.id_suffix,
        summary=operation.summary,
        description=operation.description,
        request=_resolve(operation.request, view),
        responses=responses(operation, view),
        parameters=list(operation.parameters) or None,
    )
    setattr(view, operation.method, decorate(getattr(view, operation.method)))


class Endpoint(OpenApiViewExtension):
    """Describes each mounting of its view by the rows in :attr:`operations`."""

    operations: tuple[Operation, ...] = ()

    def view_replacement(self) -> Any:
        initkwargs = getattr(self.target_callback, "initkwargs", None) or {}
        use_cookies = bool(initkwargs.get("use_cookies", self.target.use_cookies))

        class Described(self.target):  # type: ignore[name-defined]
            # Cookie mode applies to this mounting of the view (not to use_cookies=False copies).
            cookies = use_cookies and bool(jwt_settings.AUTH_COOKIE)
            # A header-mode copy mounted beside the cookie-mode view needs its own operation ids.
            id_suffix = "" if use_cookies or not jwt_settings.AUTH_COOKIE else "_header_mode"

        for operation in self.operations:
            describe(Described, operation)
        return Described
