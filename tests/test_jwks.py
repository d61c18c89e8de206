"""jwks.json, and a service token verified by another service holding only PyJWT and the JWKS."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from django.test import Client, override_settings
from jwt.utils import base64url_decode, base64url_encode

from jwtsessions import tokens
from jwtsessions.apikeys import create_api_key
from tests.factories import login, make_user
from tests.test_service_tokens import service_token

pytestmark = pytest.mark.django_db

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}


def pem(private_key: Any) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def ring(first: str) -> list[dict[str, str]]:
    rsa_entry = {
        "kid": "rsa-2026",
        "algorithm": "RS256",
        "private_key": pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    }
    ed_entry = {
        "kid": "ed-2026",
        "algorithm": "EdDSA",
        "private_key": pem(ed25519.Ed25519PrivateKey.generate()),
    }
    return [rsa_entry, ed_entry] if first == "RS256" else [ed_entry, rsa_entry]


def external_verify(token: str, jwks: dict[str, Any], expected_type: str) -> dict[str, Any]:
    """What another service does: PyJWT and the published JWKS, nothing from this package."""
    header = jwt.get_unverified_header(token)
    if header.get("typ") != expected_type:
        raise jwt.InvalidTokenError("not a service token")
    key_set = jwt.PyJWKSet.from_dict(jwks)
    signing_key = key_set[header["kid"]]  # KeyError for an unknown kid
    return dict(
        jwt.decode(
            token,
            signing_key.key,
            algorithms=[signing_key.algorithm_name],
            options={"require": ["exp", "iat", "sub", "jti"]},
        )
    )


def test_hmac_only_setup_publishes_nothing():
    r = Client().get("/api/auth/jwks.json")
    assert r.status_code == 200
    assert r.json() == {"keys": []}
    assert "max-age" in r["Cache-Control"]
    assert "public" in r["Cache-Control"]


@pytest.mark.parametrize("signer", ["RS256", "EdDSA"])
def test_jwks_has_public_members_only(signer):
    with override_settings(JWTSESSIONS={"SIGNING_KEYS": ring(signer)}):
        r = Client().get("/api/auth/jwks.json")
    assert r.status_code == 200
    keys = r.json()["keys"]
    assert {k["kid"] for k in keys} == {"rsa-2026", "ed-2026"}
    by_kid = {k["kid"]: k for k in keys}
    assert by_kid["rsa-2026"]["alg"] == "RS256"
    assert by_kid["rsa-2026"]["kty"] == "RSA"
    assert by_kid["ed-2026"]["alg"] == "EdDSA"
    assert by_kid["ed-2026"]["crv"] == "Ed25519"
    for key in keys:
        assert key["use"] == "sig"
        assert not PRIVATE_MEMBERS & key.keys()
    assert "PRIVATE" not in r.content.decode()


def tampered_signature(signature: str) -> str:
    """A valid-but-wrong signature: one bit of the decoded bytes flipped, then re-encoded.

    Editing the last base64url characters instead could leave non-zero padding bits, which
    PyJWT reports as a decoding error rather than a wrong signature (a flaky test).
    """
    raw = bytearray(base64url_decode(signature))
    raw[0] ^= 0x01
    return base64url_encode(bytes(raw)).decode("ascii")


def test_redteam_7_tampering_always_yields_a_valid_but_wrong_signature():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    for i in range(200):
        token = jwt.encode({"n": i}, private, algorithm="EdDSA")
        header, payload, signature = token.split(".")
        flipped = tampered_signature(signature)
        assert flipped != signature
        assert len(flipped) == len(signature)
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(f"{header}.{payload}.{flipped}", private.public_key(), ["EdDSA"])


@pytest.mark.parametrize("signer", ["RS256", "EdDSA"])
def test_service_token_verifies_with_pyjwt_and_the_jwks(signer):
    client = Client()
    with override_settings(JWTSESSIONS={"SIGNING_KEYS": ring(signer)}):
        api_key, key = create_api_key(make_user(), "svc", ["items:read", "items:write"])
        token = service_token(client, key, "items:read")
        jwks = json.loads(client.get("/api/auth/jwks.json").content)
        # The issuing server accepts it too.
        assert client.get("/api/items/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200

    claims = external_verify(token, jwks, tokens.SERVICE_TOKEN_TYPE)
    assert claims["sub"] == f"apikey:{api_key.public_id}"
    assert claims["scope"].split() == ["items:read"]
    assert jwt.get_unverified_header(token)["alg"] == signer

    # A tampered token fails the external check as well.
    header, payload, signature = token.split(".")
    flipped = tampered_signature(signature)
    with pytest.raises(jwt.InvalidSignatureError):
        external_verify(f"{header}.{payload}.{flipped}", jwks, tokens.SERVICE_TOKEN_TYPE)


def test_external_verifier_tells_session_tokens_apart():
    client = Client()
    with override_settings(JWTSESSIONS={"SIGNING_KEYS": ring("EdDSA")}):
        access = login(client, make_user())["access"]
        jwks = json.loads(client.get("/api/auth/jwks.json").content)
    with pytest.raises(jwt.InvalidTokenError):
        external_verify(access, jwks, tokens.SERVICE_TOKEN_TYPE)


def test_token_from_another_ring_is_refused_externally():
    client = Client()
    with override_settings(JWTSESSIONS={"SIGNING_KEYS": ring("RS256")}):
        _, key = create_api_key(make_user(), "svc", ["a"])
        token = service_token(client, key)
    with override_settings(JWTSESSIONS={"SIGNING_KEYS": ring("RS256")}):
        other_jwks = json.loads(client.get("/api/auth/jwks.json").content)
    with pytest.raises(jwt.InvalidSignatureError):
        external_verify(token, other_jwks, tokens.SERVICE_TOKEN_TYPE)
