"""An attacker's toolkit for the token tests: real keys, and tokens assembled byte by byte.

Keys are generated here with ``cryptography`` (never fixture files). ``forge`` builds a compact
JWS from raw header/payload bytes so a test can say exactly what goes on the wire, and signs it
with whatever the attacker holds: the real key (to prove a refusal is not just a bad
signature), a public key used as an HMAC secret, or nothing at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import cache
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.test import override_settings

from jwtsessions import tokens

ACCESS_LIFETIME = timedelta(minutes=15)
HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}

Signer = Callable[[bytes], bytes]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def compact(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


@cache
def rsa_key(bits: int = 2048, n: int = 0) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@cache
def ec_key(n: int = 0) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@cache
def ed_key(n: int = 0) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def private_pem(key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def public_pem(key: Any) -> bytes:
    return bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def hmac_signer(secret: bytes, algorithm: str = "HS256") -> Signer:
    return lambda message: hmac.new(secret, message, HMAC_HASHES[algorithm]).digest()


def ring_signer() -> Signer:
    """Sign with the configured signing key: what only the server can do."""
    key = tokens.key_ring().signer
    return lambda message: bytes(key.implementation.sign(message, key.signing_key))


def forge(header: Any, payload: Any, signer: Signer | None) -> str:
    """A compact JWS from a header and payload (dicts, or raw bytes taken verbatim)."""
    header_bytes = header if isinstance(header, bytes) else compact(header)
    payload_bytes = payload if isinstance(payload, bytes) else compact(payload)
    signing_input = f"{b64(header_bytes)}.{b64(payload_bytes)}"
    signature = signer(signing_input.encode("ascii")) if signer else b""
    return f"{signing_input}.{b64(signature)}"


def resign(header_segment: str, payload_segment: str, signer: Signer) -> str:
    """Sign segments exactly as given (even non-canonical ones)."""
    signing_input = f"{header_segment}.{payload_segment}"
    return f"{signing_input}.{b64(signer(signing_input.encode('ascii')))}"


def server_header(token_type: str = tokens.ACCESS_TOKEN_TYPE) -> dict[str, Any]:
    """The header the server itself would write for the current configuration."""
    key = tokens.key_ring().signer
    header: dict[str, Any] = {"alg": key.algorithm, "typ": token_type}
    if tokens.key_ring().uses_kid:
        header["kid"] = key.kid
    return header


def claims(**overrides: Any) -> dict[str, Any]:
    values = tokens.standard_claims(timedelta(minutes=5))
    values.update(sub="42", sid="s" * 22)
    for name, value in overrides.items():
        if value is DROP:
            values.pop(name, None)
        else:
            values[name] = value
    return values


DROP = object()


def decode(token: Any, token_type: str = tokens.ACCESS_TOKEN_TYPE, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("required", ("sub", "sid"))
    kwargs.setdefault("max_lifetime", ACCESS_LIFETIME)
    return tokens.decode(token, token_type, **kwargs)


def refused(token: Any, code: str = "token_invalid", **kwargs: Any) -> tokens.TokenError:
    """Assert a refusal with ``code``. Any other exception escapes and fails the test."""
    with pytest.raises(tokens.TokenError) as info:
        decode(token, **kwargs)
    assert info.value.code == code, info.value.reason
    return info.value


def hs256_forgeries_refused(secret: bytes) -> None:
    """Sign HS256 tokens with ``secret`` under every header an attacker might try."""
    kid = tokens.key_ring().signer.kid
    for header in (
        {"alg": "HS256", "typ": tokens.ACCESS_TOKEN_TYPE, "kid": kid},
        {"alg": "HS256", "typ": tokens.ACCESS_TOKEN_TYPE},
    ):
        refused(forge(header, claims(), hmac_signer(secret)))


@contextmanager
def jwt_config(**values: Any) -> Iterator[None]:
    with override_settings(JWTSESSIONS=values):
        yield


def key_config_error(**config: Any) -> str:
    """The id of the system check that refuses ``config``'s keys (fails if they are usable)."""
    with jwt_config(**config), pytest.raises(tokens.KeyConfigError) as info:
        tokens.build_key_ring()
    return info.value.check_id


def config_for(algorithm: str) -> dict[str, Any]:
    """A working single-key configuration for ``algorithm``."""
    if algorithm in HMAC_HASHES:
        return {"ALGORITHM": algorithm, "SIGNING_KEY": b"k" * 64}
    key = {"RS256": rsa_key, "ES256": ec_key, "EdDSA": ed_key}[algorithm]()
    return {"ALGORITHM": algorithm, "SIGNING_KEY": private_pem(key)}


def expired_access_token(session: Any, expired_ago: int = 60, lifetime: int = 900) -> str:
    """A genuine access token for ``session`` whose ``exp`` passed ``expired_ago`` seconds ago."""
    issued = tokens.now_seconds() - lifetime - expired_ago
    claims = {
        "sub": str(session.user_id),
        "sid": session.pk,
        "jti": tokens.new_jti(),
        "iat": issued,
        "exp": issued + lifetime,
    }
    return tokens.encode(claims, tokens.ACCESS_TOKEN_TYPE)
