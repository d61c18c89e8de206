"""What a token is on the wire, and how one is written: types, limits, strict base64url and JSON.

A token is size-capped and its header may hold only ``alg``, ``typ`` and ``kid``. The decoding
helpers here are strict on purpose (one canonical base64url spelling, strict UTF-8, no duplicate
members) and raise :class:`TokenError` for anything else; :mod:`jwtsessions.verification`
applies them. :func:`encode` signs with the ring's first key.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from .keyring import key_ring
from .settings import jwt_settings

ACCESS_TOKEN_TYPE = "at+jwt"
SERVICE_TOKEN_TYPE = "svc+jwt"

MAX_TOKEN_LENGTH = 4096
MAX_HEADER_BYTES = 256
MAX_PAYLOAD_BYTES = 2048
ALLOWED_HEADER_MEMBERS = frozenset({"alg", "typ", "kid"})


class TokenError(Exception):
    """A token was refused. ``code`` is one of the contract's error codes."""

    def __init__(self, code: str = "token_invalid", reason: str = "") -> None:
        super().__init__(reason or code)
        self.code = code
        self.reason = reason


_header_segments: dict[tuple[str, str | None, str], str] = {}


@jwt_settings.on_reload
def _forget_header_segments() -> None:
    _header_segments.clear()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode_canonical(segment: str) -> bytes:
    """Decode base64url and insist that it is the one canonical spelling of those bytes."""
    if len(segment) % 4 == 1:
        raise TokenError(reason="impossible base64url length")
    data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if _b64encode(data) != segment:
        raise TokenError(reason="non-canonical base64url")
    return data


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise TokenError(reason=f"duplicate member {name!r}")
        result[name] = value
    return result


def json_object(data: bytes) -> dict[str, Any]:
    # Strict UTF-8 (RFC 7515): json.loads on bytes would also take UTF-16/32 and a BOM.
    value = json.loads(data.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    if not isinstance(value, dict):
        raise TokenError(reason="not a JSON object")
    return value


def declared_type(token: str) -> str | None:
    """The unverified ``typ`` of a JWT header: only to decide which class handles the token."""
    segment = token.split(".", 1)[0]
    if len(segment) > MAX_HEADER_BYTES * 2:
        return None
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    typ = header.get("typ") if isinstance(header, dict) else None
    return typ if isinstance(typ, str) else None


def new_jti() -> str:
    """A unique token id: 96 random bits, 16 characters."""
    return secrets.token_urlsafe(12)


def now_seconds() -> int:
    """The current time as integer seconds since the epoch (never milliseconds)."""
    return int(time.time())


def encode(claims: Mapping[str, Any], token_type: str) -> str:
    """Sign ``claims`` with the ring's first key, stating ``token_type`` in the header."""
    key = key_ring().signer
    cache_key = (key.algorithm, key.kid, token_type)
    header = _header_segments.get(cache_key)
    if header is None:
        members: dict[str, str] = {"alg": key.algorithm, "typ": token_type}
        if key.kid is not None and key_ring().uses_kid:
            members["kid"] = key.kid
        header = _header_segments[cache_key] = _b64encode(
            json.dumps(members, separators=(",", ":")).encode()
        )
    payload = _b64encode(json.dumps(dict(claims), separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = key.implementation.sign(signing_input, key.signing_key)
    return f"{header}.{payload}.{_b64encode(signature)}"


def standard_claims(lifetime: timedelta) -> dict[str, Any]:
    """``jti``, ``iat``, ``exp`` and the configured ``iss``/``aud``, in integer seconds."""
    config = jwt_settings.config
    now = now_seconds()
    claims: dict[str, Any] = {
        "jti": new_jti(),
        "iat": now,
        "exp": now + int(lifetime.total_seconds()),
    }
    if config.ISSUER is not None:
        claims["iss"] = config.ISSUER
    if config.AUDIENCE is not None:
        claims["aud"] = config.AUDIENCE
    return claims
