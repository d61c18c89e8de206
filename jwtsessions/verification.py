"""Verifying a token: every check between the bytes on the wire and claims the caller may trust.

The order is deliberate: the size cap and the exact shape (three canonical base64url segments)
come before any decoding, the header may hold only ``alg``, ``typ`` and ``kid``, the ``typ``
must be the one the caller expects, the algorithm is pinned per key, and the payload is parsed
only once the signature holds. Every claim has an exact type. Whatever goes wrong,
:func:`decode` raises :class:`~jwtsessions.jwtformat.TokenError` and nothing else.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from .jwtformat import (
    ALLOWED_HEADER_MEMBERS,
    MAX_HEADER_BYTES,
    MAX_PAYLOAD_BYTES,
    MAX_TOKEN_LENGTH,
    TokenError,
    b64decode_canonical,
    json_object,
    now_seconds,
)
from .keyring import key_ring
from .settings import jwt_settings

_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", re.ASCII)

# Claims of tokens whose signature and form were verified, by (token, type): a token is sent
# with every request for minutes, and parsing it again would only repeat the same answer. The
# time-dependent claim checks still run on every use. Only verified tokens get in, so an
# attacker cannot fill it; it is emptied when the keys change.
_verified: dict[tuple[str, str], dict[str, Any]] = {}
VERIFIED_CACHE_SIZE = 4096


@jwt_settings.on_reload
def _forget_verified() -> None:
    _verified.clear()


def decode(
    token: Any,
    token_type: str,
    *,
    required: Sequence[str],
    max_lifetime: timedelta,
    allow_expired: bool = False,
) -> dict[str, Any]:
    """Verify ``token`` and return its claims, or raise :class:`TokenError`.

    ``required`` names claims that must be present as non-empty strings (``iat`` and ``exp``
    are always required, as integers). ``max_lifetime`` bounds ``exp - iat``.
    ``allow_expired`` accepts a token past its ``exp`` (everything else still checked): only for
    logout, which may revoke the session an expired cookie names.
    """
    known = _verified.get((token, token_type)) if type(token) is str else None
    if known is not None:
        _validate_claims(known, required, max_lifetime, allow_expired)
        return dict(known)
    try:
        return _decode(token, token_type, required, max_lifetime, allow_expired)
    except TokenError:
        raise
    except Exception as exc:
        # Any failure at all (bad base64, bad JSON, a crypto library error) is a refusal.
        raise TokenError(reason=type(exc).__name__) from None


def _decode(
    token: Any,
    token_type: str,
    required: Sequence[str],
    max_lifetime: timedelta,
    allow_expired: bool,
) -> dict[str, Any]:
    if isinstance(token, bytes) and len(token) <= MAX_TOKEN_LENGTH:
        token = token.decode("ascii")
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise TokenError(reason="not a string or too long")
    if not _TOKEN_SHAPE.fullmatch(token):
        raise TokenError(reason="not three base64url segments")
    header_segment, payload_segment, signature_segment = token.split(".")
    if len(header_segment) > MAX_HEADER_BYTES * 4 // 3 + 4:
        raise TokenError(reason="header too large")
    header = json_object(b64decode_canonical(header_segment))
    if not header.keys() <= ALLOWED_HEADER_MEMBERS:
        raise TokenError(reason="forbidden header member")
    if not all(isinstance(v, str) for v in header.values()):
        raise TokenError(reason="header members must be strings")
    if header.get("typ") != token_type:
        raise TokenError(reason="wrong token type")
    key = key_ring().find(header.get("kid"))
    if key is None:
        raise TokenError(reason="unknown kid")
    if header.get("alg") != key.algorithm:
        raise TokenError(reason="algorithm does not match the key")
    signature = b64decode_canonical(signature_segment)
    signing_input = f"{header_segment}.{payload_segment}".encode("ascii")
    if not key.implementation.verify(signing_input, key.verifying_key, signature):
        raise TokenError(reason="bad signature")
    if len(payload_segment) > MAX_PAYLOAD_BYTES * 4 // 3 + 4:
        raise TokenError(reason="payload too large")
    claims = json_object(b64decode_canonical(payload_segment))
    _remember(token, token_type, claims)
    _validate_claims(claims, required, max_lifetime, allow_expired)
    return claims


def _remember(token: str, token_type: str, claims: dict[str, Any]) -> None:
    # Oldest first (insertion order), until there is room: threads racing here can pick the
    # same oldest entry, and with one try each the memo would outgrow its cap for good.
    while _verified and len(_verified) >= VERIFIED_CACHE_SIZE:
        with contextlib.suppress(KeyError, RuntimeError, StopIteration):
            del _verified[next(iter(_verified))]
    _verified[(token, token_type)] = dict(claims)


def _int_claim(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    # bool is an int subclass and floats/strings are not integer seconds: all refused.
    if type(value) is not int:
        raise TokenError(reason=f"{name} must be integer seconds")
    return value


def _validate_claims(
    claims: Mapping[str, Any],
    required: Sequence[str],
    max_lifetime: timedelta,
    allow_expired: bool,
) -> None:
    config = jwt_settings.config
    leeway = int(config.LEEWAY.total_seconds())
    now = now_seconds()
    iat = _int_claim(claims, "iat")
    exp = _int_claim(claims, "exp")
    if iat > now + leeway:
        raise TokenError(reason="iat in the future")
    if exp - iat > int(max_lifetime.total_seconds()) or exp <= iat:
        raise TokenError(reason="lifetime out of bounds")
    if "nbf" in claims and _int_claim(claims, "nbf") > now + leeway:
        raise TokenError(reason="not yet valid")
    for name in required:
        value = claims.get(name)
        # Printable only: a NUL in an id reaches SQL (PostgreSQL refuses it with an error).
        if not isinstance(value, str) or not value or len(value) > 255 or not value.isprintable():
            raise TokenError(reason=f"{name} missing or malformed")
    if config.ISSUER is not None and claims.get("iss") != config.ISSUER:
        raise TokenError(reason="wrong issuer")
    if config.AUDIENCE is not None and claims.get("aud") != config.AUDIENCE:
        raise TokenError(reason="wrong audience")
    if now >= exp + leeway and not allow_expired:
        raise TokenError("token_expired", "expired")
