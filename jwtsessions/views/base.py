"""What every endpoint of ``jwtsessions.urls`` shares: JSON in and out, contract-shaped errors
(``{"detail", "code"}``), a Bearer challenge on 401, and the responses that carry or end a
credential."""

from __future__ import annotations

from typing import Any, NoReturn

from rest_framework import serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import conventions, cookies
from ..authentication import JWTSessionAuthentication, bearer_challenge
from ..exceptions import InvalidRequest, exception_handler
from ..parsers import BoundedFormParser, BoundedJSONParser


class JWTSessionsView(APIView):
    """Base of our views: JSON in and out, contract-shaped errors, a Bearer challenge on 401."""

    renderer_classes = [JSONRenderer]
    parser_classes = [BoundedJSONParser, BoundedFormParser]
    #: ``False`` mounts a header-mode copy of a view in a cookie-mode project (tokens in the
    #: body, no cookies, no CSRF), e.g. ``LoginView.as_view(use_cookies=False)`` for API clients.
    use_cookies: bool = True

    def cookie_mode(self) -> bool:
        """True when this view sets and reads the auth cookies."""
        return self.use_cookies and cookies.cookie_mode()

    #: The request body's serializer (the browsable API's form, the OpenAPI schema).
    request_serializer_class: Any = None

    def get_exception_handler(self) -> Any:
        return exception_handler

    def get_renderers(self) -> list[BaseRenderer]:
        # JSON, and DRF's browsable API when the project enables it.
        return conventions.renderers()

    def get_parsers(self) -> list[BaseParser]:
        return conventions.parsers(self.parser_classes)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # An unsupported method (TRACE...) is a 405 before authentication could make it a 401
        # (format_kwarg first: the 405 is rendered by the negotiated renderer).
        self.format_kwarg = self.get_format_suffix(**kwargs)
        conventions.refuse_unsupported_method(self, request)
        super().initial(request, *args, **kwargs)

    def permission_denied(
        self, request: Request, message: str | None = None, code: str | None = None
    ) -> NoReturn:
        if request.authenticators and not request.successful_authenticator:
            # Say which credential was sent and which one this endpoint needs.
            raise conventions.not_authenticated(self, request)
        super().permission_denied(request, message, code)

    def get_serializer(self, *args: Any, **kwargs: Any) -> serializers.BaseSerializer[Any]:
        """The request body's serializer: the browsable API renders it as the form."""
        serializer_class = self.request_serializer_class or serializers.Serializer
        context = {"request": self.request, "view": self}
        return serializer_class(*args, context=context, **kwargs)

    def get_authenticate_header(self, request: Request) -> str:
        # Also for views without authentication classes (login): a 401 must stay a 401.
        return bearer_challenge(request)

    def validated(self, serializer_class: Any, request: Request) -> dict[str, Any]:
        """The request body validated by ``serializer_class``; 400 ``invalid_request`` if not."""
        serializer = serializer_class(data=request.data)
        if not serializer.is_valid():
            raise InvalidRequest(serializer.errors)
        return dict(serializer.validated_data)


class OpenView(JWTSessionsView):
    """A view that runs no authentication class: it needs no credential (login, JWKS), or checks
    the one it takes itself (refresh, logout)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]


class SessionAuthenticatedView(JWTSessionsView):
    """A view for the holder of a valid access token (header, or cookie in cookie mode)."""

    authentication_classes = [JWTSessionAuthentication]
    permission_classes = [IsAuthenticated]


def no_store(response: Response) -> Response:
    """Mark a response that carries a credential as never to be cached (RFC 6749 section 5.1):
    ``Cache-Control: no-store`` and, for HTTP/1.0 caches, ``Pragma: no-cache``."""
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def no_content(*, delete_cookies: bool) -> Response:
    """204 for a revocation; ``delete_cookies`` also clears the auth cookies (the browser's own
    session ended)."""
    response = Response(status=status.HTTP_204_NO_CONTENT)
    if delete_cookies:
        cookies.delete_auth_cookies(response)
    return response
