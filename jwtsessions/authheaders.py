"""The HTTP side of authentication: the credential a request's headers carry, and the challenge.

A credential is read from ``Authorization`` (or ``X-API-Key``), never from the URL or the body.
A refusal records its code on the request, so that the 401's RFC 6750 ``WWW-Authenticate``
header (:func:`bearer_challenge`) names it.
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from .exceptions import ERROR_ATTRIBUTE, AuthFailed

API_KEY_SCHEME = "Api-Key"


def bearer_challenge(request: Any) -> str:
    """An RFC 6750 challenge naming the last error seen on this request, if any."""
    code = getattr(request, ERROR_ATTRIBUTE, None)
    challenge = 'Bearer realm="api"'
    if code == "insufficient_scope":
        return f'{challenge}, error="insufficient_scope"'
    if code:
        return f'{challenge}, error="invalid_token", error_description="{code}"'
    return challenge


def refuse(request: Any, code: str) -> AuthFailed:
    """Record ``code`` for the challenge header and build the 401 to raise."""
    setattr(request, ERROR_ATTRIBUTE, code)
    return AuthFailed(code)


def header_credential(request: Request, scheme: str) -> str | None:
    """The credential after ``scheme`` in ``Authorization``; ``None`` if another scheme is used.

    A header of our scheme that is not exactly ``<scheme> <credential>`` is a refusal, not a
    silent fallthrough to the next class.
    """
    header: str | None = request.META.get("HTTP_AUTHORIZATION")
    if not header:
        return None
    parts = header.split()
    if not parts or parts[0].lower() != scheme.lower():
        return None
    if len(parts) != 2:
        raise refuse(request, "token_invalid")
    return parts[1]


def api_key_credential(request: Request) -> str | None:
    """The key from ``Authorization: Api-Key <key>`` or ``X-API-Key``; never the URL or body."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if header:
        parts = str(header).split()
        if parts and parts[0].lower() == API_KEY_SCHEME.lower():
            if len(parts) != 2:
                raise refuse(request, "api_key_invalid")
            return parts[1]
    key = request.META.get("HTTP_X_API_KEY")
    return str(key).strip() if key else None
