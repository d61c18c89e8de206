"""What a Django/DRF project expects of the package's views, beyond the tokens themselves.

* Django's login signals: ``user_logged_in`` after every login (Django's own receiver then
  updates ``last_login``), ``user_login_failed`` after every refused attempt.
* The browsable API, when the project lists DRF's ``BrowsableAPIRenderer``.
* 405 for an unsupported method before any authentication runs, so ``TRACE`` is never a 401.
* A 401 that says which credential was sent and which one the endpoint needs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.settings import api_settings

from .exceptions import AuthFailed
from .settings import jwt_settings

#: ``sender`` of the ``user_login_failed`` this package sends itself (a throttled attempt).
#: Failures found by ``authenticate()`` are sent by Django, with ``sender="django.contrib.auth"``.
SIGNAL_SENDER = "jwtsessions"
# Django's convention (django.contrib.auth._clean_credentials): sensitive values are masked.
_SENSITIVE = re.compile("api|token|key|secret|password|signature", re.I)
_CLEANSED = "********************"


def cleansed_credentials(credentials: Mapping[str, Any]) -> dict[str, Any]:
    """The credentials as Django's ``user_login_failed`` receivers get them: no secret."""
    return {k: _CLEANSED if _SENSITIVE.search(k) else v for k, v in credentials.items()}


def send_login_failed(request: HttpRequest, credentials: Mapping[str, Any]) -> None:
    """``user_login_failed`` for an attempt refused before ``authenticate()`` ran."""
    user_login_failed.send(
        sender=SIGNAL_SENDER, credentials=cleansed_credentials(credentials), request=request
    )


def send_logged_in(request: HttpRequest, user: Any) -> None:
    """``user_logged_in``, as ``django.contrib.auth.login`` sends it."""
    user_logged_in.send(sender=user.__class__, request=request, user=user)


def renderers() -> list[BaseRenderer]:
    """JSON, plus the project's browsable API renderer when the project enables one."""
    chosen: list[BaseRenderer] = [JSONRenderer()]
    classes: list[Any] = list(api_settings.DEFAULT_RENDERER_CLASSES)
    for renderer_class in classes:
        if issubclass(renderer_class, BrowsableAPIRenderer):
            chosen.append(renderer_class())
            break
    return chosen


def browsable_api_enabled() -> bool:
    """True when the project's renderers include DRF's browsable API (DRF's default does)."""
    classes: list[Any] = list(api_settings.DEFAULT_RENDERER_CLASSES)
    return any(issubclass(c, BrowsableAPIRenderer) for c in classes)


def parsers(parser_classes: list[type[BaseParser]]) -> list[BaseParser]:
    """The view's parsers, plus multipart when the browsable API (whose forms post it) is on."""
    chosen = [parser() for parser in parser_classes]
    if browsable_api_enabled() and MultiPartParser not in parser_classes:
        chosen.append(MultiPartParser())
    return chosen


def refuse_unsupported_method(view: Any, request: Request) -> None:
    """405 (with ``Allow``) for a method the view does not serve, before authentication."""
    method = (request.method or "").lower()
    if method not in view.http_method_names or not hasattr(view, method):
        raise exceptions.MethodNotAllowed(request.method or "")


# --- which credential was sent, and which one was needed --------------------------------------

_SENT = {
    "session": _("A session access token"),
    "service": _("A service token"),
    "api_key": _("An API key"),
    "other": _("This Authorization scheme"),
}
_NEEDED = {
    "session": _("a session access token (Authorization: Bearer)"),
    "service": _("a service token (Authorization: Bearer)"),
    "api_key": _("an API key (Authorization: Api-Key, or X-API-Key)"),
}


def _bearer_kind(token: str) -> str:
    from .jwtformat import SERVICE_TOKEN_TYPE, declared_type

    return "service" if declared_type(token) == SERVICE_TOKEN_TYPE else "session"


def sent_kinds(request: Request) -> list[str]:
    """The kinds of credential the request carries (unverified: only to word a refusal)."""
    kinds: list[str] = []
    header = str(request.META.get("HTTP_AUTHORIZATION") or "")
    scheme, _sep, credential = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        kinds.append(_bearer_kind(credential.strip()))
    elif scheme.lower() == "api-key":
        kinds.append("api_key")
    elif scheme:
        kinds.append("other")
    if request.META.get("HTTP_X_API_KEY"):
        kinds.append("api_key")
    cookie = jwt_settings.AUTH_COOKIE
    if cookie and request.COOKIES.get(cookie):
        kinds.append("session")
    return kinds


def accepted_kinds(view: Any) -> list[str]:
    from .authentication import (
        ApiKeyAuthentication,
        JWTSessionAuthentication,
        ServiceTokenAuthentication,
    )

    kinds: list[str] = []
    for authenticator in view.get_authenticators():
        for cls, kind in (
            (JWTSessionAuthentication, "session"),
            (ServiceTokenAuthentication, "service"),
            (ApiKeyAuthentication, "api_key"),
        ):
            if isinstance(authenticator, cls) and kind not in kinds:
                kinds.append(kind)
    return kinds


def not_authenticated(view: Any, request: Request) -> exceptions.APIException:
    """The 401 for a request no authentication class accepted.

    Without any credential: DRF's ``not_authenticated``. With a credential of another kind
    (an API key where a session token is needed...): ``credential_not_accepted``, naming both.
    """
    needed = accepted_kinds(view)
    sent = [kind for kind in sent_kinds(request) if kind not in needed]
    if not sent or not needed:
        return AuthFailed("not_authenticated")
    detail = _("%(sent)s is not accepted here; this endpoint needs %(needed)s.") % {
        "sent": _SENT[sent[0]],
        "needed": _(" or ").join(str(_NEEDED[kind]) for kind in needed),
    }
    return AuthFailed("credential_not_accepted", str(detail))
