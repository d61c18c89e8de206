"""The key ring: the keys that sign and verify tokens, ``kid`` rotation, and the JWKS material.

PyJWT supplies the cryptography (its ``Algorithm`` objects sign and verify with keys prepared
once). Each key is prepared once, with its algorithm pinned to it, and every misconfiguration
is a :class:`KeyConfigError` naming the system check that reports it, so a bad key is found by
``manage.py check`` and not by the first request.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings as django_settings
from django.utils.crypto import salted_hmac
from jwt.algorithms import Algorithm

from .settings import jwt_settings

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
SUPPORTED_ALGORITHMS = HMAC_ALGORITHMS | ASYMMETRIC_ALGORITHMS
MIN_HMAC_KEY_BYTES = 32
# RFC 7518 section 3.2: an HMAC key at least as long as the hash output.
HMAC_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
MIN_RSA_KEY_BITS = 2048

_KID_SHAPE = re.compile(r"[A-Za-z0-9._:-]{1,64}", re.ASCII)
# Named after the module this lived in first: the salt is part of every derived key, so changing
# it would invalidate every token signed with a key derived from SECRET_KEY.
_DERIVED_KEY_SALT = "jwtsessions.tokens.signing-key"


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


def key_ring() -> KeyRing:
    """The prepared ring for the current settings, built once."""
    global _ring
    ring = _ring
    if ring is None:
        ring = _ring = build_key_ring()
    return ring


@jwt_settings.on_reload
def _forget_ring() -> None:
    global _ring
    _ring = None


def jwks() -> dict[str, list[dict[str, Any]]]:
    """The JWK Set of every asymmetric key in the ring (public members only)."""
    keys = [jwk for key in key_ring().keys if (jwk := key.public_jwk()) is not None]
    return {"keys": keys}
