"""The names other modules (and projects) import from ``jwtsessions.tokens``.

The token engine was split by concern; this module only re-exports:

* :mod:`jwtsessions.keyring`: the keys that sign and verify, ``kid`` rotation, the JWKS;
* :mod:`jwtsessions.jwtformat`: token types, size limits, strict base64url/JSON, :func:`encode`
  and the standard claims;
* :mod:`jwtsessions.verification`: :func:`decode` and its per-process cache of verified tokens.

Whatever goes wrong, :func:`decode` raises :class:`TokenError` and nothing else.
"""

from __future__ import annotations

from . import jwtformat, keyring, verification
from .jwtformat import (
    ACCESS_TOKEN_TYPE,
    ALLOWED_HEADER_MEMBERS,
    MAX_HEADER_BYTES,
    MAX_PAYLOAD_BYTES,
    MAX_TOKEN_LENGTH,
    SERVICE_TOKEN_TYPE,
    TokenError,
    encode,
    new_jti,
    now_seconds,
    standard_claims,
)
from .jwtformat import b64decode_canonical as _b64decode_canonical
from .jwtformat import json_object as _json_object
from .keyring import (
    ASYMMETRIC_ALGORITHMS,
    HMAC_ALGORITHMS,
    HMAC_KEY_BYTES,
    MIN_HMAC_KEY_BYTES,
    MIN_RSA_KEY_BITS,
    SUPPORTED_ALGORITHMS,
    Key,
    KeyConfigError,
    KeyRing,
    build_key_ring,
    derived_signing_key,
    jwks,
    key_ring,
)
from .settings import jwt_settings as jwt_settings  # re-exported: tests read it here
from .verification import VERIFIED_CACHE_SIZE, decode

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "ALLOWED_HEADER_MEMBERS",
    "ASYMMETRIC_ALGORITHMS",
    "HMAC_ALGORITHMS",
    "HMAC_KEY_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_PAYLOAD_BYTES",
    "MAX_TOKEN_LENGTH",
    "MIN_HMAC_KEY_BYTES",
    "MIN_RSA_KEY_BITS",
    "SERVICE_TOKEN_TYPE",
    "SUPPORTED_ALGORITHMS",
    "VERIFIED_CACHE_SIZE",
    "Key",
    "KeyConfigError",
    "KeyRing",
    "TokenError",
    "_b64decode_canonical",
    "_forget_keys",
    "_json_object",
    "build_key_ring",
    "decode",
    "derived_signing_key",
    "encode",
    "jwks",
    "key_ring",
    "new_jti",
    "now_seconds",
    "standard_claims",
]


def _forget_keys() -> None:
    """Drop the key ring and everything derived from it: the cached header segments and the
    verified tokens. Each module already does its part on a settings reload; tests call this
    to switch keys without one.
    """
    keyring._forget_ring()
    jwtformat._forget_header_segments()
    verification._forget_verified()
