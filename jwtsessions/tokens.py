"""Encoding and decoding of JWTs, and the key ring that signs and verifies them.

PyJWT supplies the cryptography (its ``Algorithm`` objects sign and verify with keys prepared
once). Everything around it is strict on purpose: a token is size-capped, must be exactly three
canonical base64url segments, its header may hold only ``alg``, ``typ`` and ``kid``, the
algorithm is pinned per key, the ``typ`` must be the one the caller expects, and every claim
has an exact type. Whatever goes wrong, :func:`decode` raises :class:`TokenError` and nothing
else.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings as django_settings
from django.utils.crypto import salted_hmac
from jwt.algorithms import Algorithm

from .settings import jwt_settings

ACCESS_TOKEN_TYPE = "at+jwt"
SERVICE_TOKEN_TYPE = "svc+jwt"

MAX_TOKEN_LENGTH = 4096
MAX_HEADER_BYTES = 256
MAX_PAYLOAD_BYTES = 2048
ALLOWED_HEADER_MEMBERS = frozenset({"alg", "typ", "kid"})

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
SUPPORTED_ALGORITHMS = HMAC_ALGORITHMS | ASYMMETRIC_ALGORITHMS
MIN_HMAC_KEY_BYTES = 32
# RFC 7518 section 3.2: an HMAC key at least as long as the hash output.
HMAC_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
MIN_RSA_KEY_BITS = 2048

_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", re.ASCII)
_KID_SHAPE = re.compile(r"[A-Za-z0-9._:-]{1,64}", re.ASCII)
_DERIVED_KEY_SALT = "jwtsessions.tokens.signing-key"


class TokenError(Exception):
    """A token was refused. ``code`` is one of the contract's error codes."""

    def __init__(self, code: str = "token_invalid", reason: str = "") -> None:
        super().__init__(reason or code)
        self.code = code
        self.reason = reason


class KeyConfigError(ValueError):
    """The configured keys cannot be used. ``check_id`` names the system check that reports it."""

    def __init__(self, check_id: str, message: str) -> None:
        super().__init__(message)
        self.check_id = check_id


@dataclasses.dataclass(frozen=True)
class Key:
    """One key of the ring, prepared once: the algorithm is pinned to it."""

    kid: str | None
    algorithm: str
    implementation: Algorithm
    verifying_key: Any
    signing_key: Any | None

    @property
    def is_asymmetric(self) -> bool:
        return self.algorithm in ASYMMETRIC_ALGORITHMS

    def public_jwk(self) -> dict[str, Any] | None:
        """The public half as a JWK (no private member), or ``None`` for a shared secret."""
        if not self.is_asymmetric:
            return None
        jwk = dict(self.implementation.to_jwk(self.verifying_key, as_dict=True))
        for private_member in ("d", "p", "q", "dp", "dq", "qi", "k", "oth"):
            jwk.pop(private_member, None)
        jwk.update({"kid": self.kid, "alg": self.algorithm, "use": "sig"})
        return jwk


@dataclasses.dataclass(frozen=True)
class KeyRing:
    """The first key signs; every key verifies the tokens that name its ``kid``."""

    keys: tuple[Key, ...]
    uses_kid: bool

    @property
    def signer(self) -> Key:
        return self.keys[0]

    def find(self, kid: str | None) -> Key | None:
        if not self.uses_kid:
            return self.keys[0] if kid is None else None
        if kid is None:
            return None
        for key in self.keys:
            if key.kid == kid:
                return key
        return None


def derived_signing_key(algorithm: str = "HS256") -> bytes:
    """The default HMAC key: derived from ``SECRET_KEY`` with a salt, never ``SECRET_KEY`` itself.

    As long as the algorithm's hash output (RFC 7518 section 3.2): 32 bytes for HS256, 64 for
    HS384/HS512 (the first 48 of them for HS384).
    """
    digest = "sha256" if algorithm == "HS256" else "sha512"
    key = salted_hmac(
        _DERIVED_KEY_SALT, "v1", secret=django_settings.SECRET_KEY, algorithm=digest
    ).digest()
    return key[: HMAC_KEY_BYTES.get(algorithm, MIN_HMAC_KEY_BYTES)]


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _prepare(
    algorithm: str,
    kid: str | None,
    private: str | bytes | None,
    public: str | bytes | None,
) -> Key:
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise KeyConfigError("jwtsessions.E001", f"algorithm {algorithm!r} is not supported")
    implementation = jwt.get_algorithm_by_name(algorithm)
    if algorithm in HMAC_ALGORITHMS:
        if not private:
            raise KeyConfigError("jwtsessions.E002", f"{algorithm} needs a secret key")
        secret = _as_bytes(private)
        minimum = HMAC_KEY_BYTES[algorithm]
        if len(secret) < minimum:
            raise KeyConfigError(
                "jwtsessions.E002",
                f"the {algorithm} key has {len(secret)} bytes; at least {minimum} are required",
            )
        try:
            prepared = implementation.prepare_key(secret)
        except jwt.InvalidKeyError as exc:
            # PyJWT refuses PEM/SSH public keys as HMAC secrets (the key-confusion attack).
            raise KeyConfigError("jwtsessions.E002", str(exc)) from exc
        return Key(kid, algorithm, implementation, prepared, prepared)

    try:
        signing = implementation.prepare_key(_as_bytes(private)) if private else None
        if public:
            verifying = implementation.prepare_key(_as_bytes(public))
        elif signing is not None:
            verifying = signing.public_key()
        else:
            raise KeyConfigError("jwtsessions.E003", f"{algorithm} needs a private or public key")
    except KeyConfigError:
        raise
    except Exception as exc:
        raise KeyConfigError("jwtsessions.E003", f"unusable {algorithm} key: {exc}") from exc
    if signing is not None and not hasattr(signing, "sign"):
        raise KeyConfigError("jwtsessions.E003", f"the {algorithm} signing key is not private")
    if hasattr(verifying, "sign"):
        # A private key given where the public one belongs: verify with its public half.
        verifying = verifying.public_key()
    if signing is not None and _public_der(signing.public_key()) != _public_der(verifying):
        # Every token signed would then be refused: report it at check time, not in production.
        raise KeyConfigError(
            "jwtsessions.E003", f"the {algorithm} private and public keys are not one pair"
        )
    key_size = getattr(verifying, "key_size", None)
    if algorithm[:2] in ("RS", "PS") and key_size is not None and key_size < MIN_RSA_KEY_BITS:
        raise KeyConfigError(
            "jwtsessions.E003",
            f"the RSA key has {key_size} bits; at least {MIN_RSA_KEY_BITS} are required",
        )
    if kid is None:
        kid = _thumbprint(implementation, verifying)
    return Key(kid, algorithm, implementation, verifying, signing)


def _public_der(public_key: Any) -> bytes:
    return bytes(public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def _thumbprint(implementation: Algorithm, public_key: Any) -> str:
    """A stable ``kid`` for a single configured public key (RFC 7638 style, shortened)."""
    jwk = implementation.to_jwk(public_key, as_dict=True)
    required = {k: jwk[k] for k in sorted(jwk) if k in ("crv", "e", "kty", "n", "x", "y")}
    digest = hashlib.sha256(json.dumps(required, separators=(",", ":")).encode()).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode().rstrip("=")


def build_key_ring(config: Any = None) -> KeyRing:
    """Build the ring from the settings. Raises :class:`KeyConfigError` when unusable."""
    config = config or jwt_settings.config
    ring: Sequence[Mapping[str, Any]] | None = config.SIGNING_KEYS
    if ring:
        keys: list[Key] = []
        seen: set[str] = set()
        for entry in ring:
            if not isinstance(entry, Mapping):
                raise KeyConfigError("jwtsessions.E004", "every SIGNING_KEYS entry must be a dict")
            kid = entry.get("kid")
            if not isinstance(kid, str) or not _KID_SHAPE.fullmatch(kid):
                raise KeyConfigError(
                    "jwtsessions.E004", "every SIGNING_KEYS entry needs a 'kid' (1-64 safe chars)"
                )
            if kid in seen:
                raise KeyConfigError("jwtsessions.E004", f"duplicate kid {kid!r} in SIGNING_KEYS")
            seen.add(kid)
            algorithm = entry.get("algorithm", config.ALGORITHM)
            private = entry.get("private_key", entry.get("key"))
            keys.append(_prepare(str(algorithm), kid, private, entry.get("public_key")))
        if keys[0].signing_key is None:
            raise KeyConfigError(
                "jwtsessions.E003", "the first SIGNING_KEYS entry signs and needs a private key"
            )
        return KeyRing(tuple(keys), uses_kid=True)

    algorithm = config.ALGORITHM
    if str(algorithm).lower() == "none":
        raise KeyConfigError("jwtsessions.E001", "the 'none' algorithm is never allowed")
    private = config.SIGNING_KEY
    if private is None and algorithm in HMAC_ALGORITHMS:
        private = derived_signing_key(algorithm)
    key = _prepare(algorithm, None, private, config.VERIFYING_KEY)
    if key.signing_key is None:
        raise KeyConfigError("jwtsessions.E003", f"{algorithm} needs SIGNING_KEY (a private key)")
    return KeyRing((key,), uses_kid=key.is_asymmetric)


_ring: KeyRing | None = None
_header_segments: dict[tuple[str, str | None, str], str] = {}
# Claims of tokens whose signature and form were verified, by (token, type): a token is sent
# with every request for minutes, and parsing it again would only repeat the same answer. The
# time-dependent claim checks still run on every use. Only verified tokens get in, so an
# attacker cannot fill it; it is emptied when the keys change.
_verified: dict[tuple[str, str], dict[str, Any]] = {}
VERIFIED_CACHE_SIZE = 4096


def key_ring() -> KeyRing:
    """The prepared ring for the current settings, built once."""
    global _ring
    ring = _ring
    if ring is None:
        ring = _ring = build_key_ring()
    return ring


@jwt_settings.on_reload
def _forget_keys() -> None:
    global _ring
    _ring = None
    _header_segments.clear()
    _verified.clear()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode_canonical(segment: str) -> bytes:
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


def _json_object(data: bytes) -> dict[str, Any]:
    # Strict UTF-8 (RFC 7515): json.loads on bytes would also take UTF-16/32 and a BOM.
    value = json.loads(data.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    if not isinstance(value, dict):
        raise TokenError(reason="not a JSON object")
    return value


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
    header = _json_object(_b64decode_canonical(header_segment))
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
    signature = _b64decode_canonical(signature_segment)
    signing_input = f"{header_segment}.{payload_segment}".encode("ascii")
    if not key.implementation.verify(signing_input, key.verifying_key, signature):
        raise TokenError(reason="bad signature")
    if len(payload_segment) > MAX_PAYLOAD_BYTES * 4 // 3 + 4:
        raise TokenError(reason="payload too large")
    claims = _json_object(_b64decode_canonical(payload_segment))
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


def jwks() -> dict[str, list[dict[str, Any]]]:
    """The JWK Set of every asymmetric key in the ring (public members only)."""
    keys = [jwk for key in key_ring().keys if (jwk := key.public_jwk()) is not None]
    return {"keys": keys}
