"""The project's hooks: ``LOGIN_SERIALIZER`` and ``TOKEN_CLAIMS``.

Both are dotted paths, imported when first needed (never at import time) and again after the
settings change. A path that does not import, or a hook that returns something unusable, is a
server misconfiguration: ``manage.py check`` reports the path (``jwtsessions.E020``/``E021``),
and at run time the request gets a contract-shaped 503 ``server_misconfigured`` (the reason is
logged, never sent to the client), not a traceback.

Extra claims are *namespaced*: every name has the form ``<prefix>:<name>``, e.g.
``"acme:tenant"`` or ``"https://example.com/roles"`` (RFC 7519 section 4.2 collision-resistant
names), so no extra claim can ever shadow a registered or reserved one (``sub``, ``sid``,
``jti``, ``exp``...). Together they are capped at :data:`MAX_EXTRA_CLAIMS_BYTES` of JSON.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, serializers

from .settings import jwt_settings

logger = logging.getLogger("jwtsessions")

#: Claims this package sets or that JWT/OAuth give a meaning to: never settable by a hook.
RESERVED_CLAIMS = frozenset(
    {
        "sub", "sid", "jti", "iat", "exp", "nbf", "iss", "aud", "typ", "kid", "alg", "cty",
        "scope", "scp", "azp", "act", "cnf", "client_id", "auth_time", "nonce", "amr", "acr",
    }
)  # fmt: skip
#: The JSON of all extra claims together, at most (an access token's payload is capped at 2 KiB).
MAX_EXTRA_CLAIMS_BYTES = 1024
#: Most extra claims one token may carry.
MAX_EXTRA_CLAIMS = 16
_CLAIM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,63}:[!-~]{1,128}", re.ASCII)


class Misconfigured(exceptions.APIException):
    """A hook set in ``JWTSESSIONS`` cannot be used: 503, contract-shaped, reason logged."""

    status_code = 503
    default_code = "server_misconfigured"
    default_detail = _("The server cannot issue tokens because of a configuration error.")

    def __init__(self) -> None:
        super().__init__(
            {"detail": self.default_detail, "code": self.default_code}, self.default_code
        )
        self.error_code = self.default_code


@functools.cache
def _imported(path: str) -> Any:
    return import_string(path)


@jwt_settings.on_reload
def _forget_imports() -> None:
    _imported.cache_clear()


def _load(setting: str) -> Any:
    path = getattr(jwt_settings, setting)
    if path is None:
        return None
    try:
        return _imported(path)
    except ImportError as exc:
        logger.error("JWTSESSIONS[%r] cannot be imported: %s", setting, exc)
        raise Misconfigured() from None


# --- LOGIN_SERIALIZER -------------------------------------------------------------------------


def login_serializer_class() -> type[serializers.BaseSerializer[Any]]:
    """The serializer of the login request: ``LOGIN_SERIALIZER``, else the package's."""
    custom = _load("LOGIN_SERIALIZER")
    if custom is None:
        from .serializers import LoginSerializer

        return LoginSerializer
    if not (isinstance(custom, type) and issubclass(custom, serializers.BaseSerializer)):
        logger.error("JWTSESSIONS['LOGIN_SERIALIZER'] is not a serializer class")
        raise Misconfigured()
    return custom


def login_response_extra(serializer: Any, user: Any, session: Any) -> dict[str, Any]:
    """What the login serializer's ``extra_response_data(user, session)`` adds to the answer."""
    hook = getattr(serializer, "extra_response_data", None)
    if hook is None:
        return {}
    extra = hook(user, session)
    if not isinstance(extra, Mapping):
        logger.error("LOGIN_SERIALIZER.extra_response_data did not return a mapping")
        raise Misconfigured()
    return dict(extra)


# --- TOKEN_CLAIMS -----------------------------------------------------------------------------


def _claims_problem(claims: Any) -> str | None:
    """Why ``claims`` cannot go into a token, or ``None`` when they can."""
    if not isinstance(claims, Mapping):
        return f"returned {type(claims).__name__}, not a dict"
    if len(claims) > MAX_EXTRA_CLAIMS:
        return f"returned {len(claims)} claims; at most {MAX_EXTRA_CLAIMS} are allowed"
    for name in claims:
        if not isinstance(name, str) or name in RESERVED_CLAIMS:
            return f"claim {name!r} is reserved or not a string"
        if not _CLAIM_NAME.fullmatch(name):
            return f"claim {name!r} is not namespaced ('prefix:name' or a URI)"
    try:
        size = len(json.dumps(dict(claims), separators=(",", ":"), allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        return f"claims are not JSON: {exc}"
    if size > MAX_EXTRA_CLAIMS_BYTES:
        return f"claims take {size} bytes of JSON; at most {MAX_EXTRA_CLAIMS_BYTES} are allowed"
    return None


def extra_claims(session: Any) -> dict[str, Any]:
    """The extra claims ``TOKEN_CLAIMS`` gives an access token of ``session``, checked."""
    hook: Callable[[Any, Any], Any] | None = _load("TOKEN_CLAIMS")
    if hook is None:
        return {}
    if not callable(hook):
        logger.error("JWTSESSIONS['TOKEN_CLAIMS'] is not callable")
        raise Misconfigured()
    claims = hook(session.user, session)
    problem = _claims_problem(claims)
    if problem is not None:
        # The names are the project's own code; the values may be personal: never logged.
        logger.error("JWTSESSIONS['TOKEN_CLAIMS'] %s", problem)
        raise Misconfigured()
    return dict(claims)
