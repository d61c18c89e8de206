"""One regression test per published JWT advisory that could apply to this engine.

Each test replays the attack the advisory describes against ``jwtsessions.tokens`` (our own
pre-parse and pinned-key checks in front of PyJWT's algorithms). Where no CVE number could be
confirmed the test is named after the attack or the advisory's GHSA id instead.
"""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from jwtsessions import tokens
from jwtsessions.tokens import ACCESS_TOKEN_TYPE
from tests.tokenkit import (
    b64,
    claims,
    compact,
    config_for,
    decode,
    ec_key,
    ed_key,
    forge,
    hmac_signer,
    hs256_forgeries_refused,
    jwt_config,
    key_config_error,
    private_pem,
    refused,
    ring_signer,
    rsa_key,
    server_header,
)

ENC = serialization.Encoding
FMT = serialization.PublicFormat


def test_alg_none_unsigned_token() -> None:
    """The 2015 'alg: none' disclosure: an unsigned token with a claimed algorithm of none."""
    for alg in ("none", "None", "NONE", "nOnE"):
        unsigned = forge({"alg": alg, "typ": ACCESS_TOKEN_TYPE}, claims(), None)
        refused(unsigned)
        refused(unsigned + "AAAA")
    for algorithm in ("none", "NONE", "None", "nOnE"):
        assert key_config_error(ALGORITHM=algorithm) == "jwtsessions.E001"


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_cve_2015_9235_hmac_token_verified_with_the_asymmetric_public_key(algorithm: str) -> None:
    """jsonwebtoken < 4.2.2: an HS256 token keyed with the server's public key was accepted."""
    with jwt_config(**config_for(algorithm)):
        private = serialization.load_pem_private_key(config_for(algorithm)["SIGNING_KEY"], None)
        public = private.public_key()
        hs256_forgeries_refused(public.public_bytes(ENC.PEM, FMT.SubjectPublicKeyInfo))


def test_cve_2017_11424_pkcs1_rsa_public_key_as_hmac_secret() -> None:
    """PyJWT <= 1.5.0 missed '-----BEGIN RSA PUBLIC KEY-----' (PKCS#1) in its HMAC key guard."""
    pkcs1 = rsa_key().public_key().public_bytes(ENC.PEM, FMT.PKCS1)
    assert pkcs1.startswith(b"-----BEGIN RSA PUBLIC KEY-----")
    assert key_config_error(ALGORITHM="HS256", SIGNING_KEY=pkcs1) == "jwtsessions.E002"
    with jwt_config(ALGORITHM="RS256", SIGNING_KEY=private_pem(rsa_key())):
        hs256_forgeries_refused(pkcs1)


def test_cve_2022_29217_key_confusion_via_ssh_public_key_as_hmac() -> None:
    """PyJWT < 2.4.0: an OpenSSH ed25519 public key passed the guard; the token picked HS256."""
    ssh = ed_key().public_key().public_bytes(ENC.OpenSSH, FMT.OpenSSH)
    assert ssh.startswith(b"ssh-ed25519 ")
    assert key_config_error(ALGORITHM="HS256", SIGNING_KEY=ssh) == "jwtsessions.E002"
    with jwt_config(ALGORITHM="EdDSA", SIGNING_KEY=private_pem(ed_key())):
        hs256_forgeries_refused(ssh)
        # The token cannot choose the algorithm at all: only the key's own is accepted.
        for alg in ("HS256", "HS512", "ES256", "RS256", "none"):
            header = {**server_header(), "alg": alg}
            refused(forge(header, claims(), ring_signer()))


def test_cve_2022_29217_key_confusion_via_pem_public_key_as_hmac() -> None:
    """The same advisory's PEM variant, for each asymmetric family the engine supports."""
    for key in (rsa_key(), ec_key(), ed_key()):
        pem = key.public_key().public_bytes(ENC.PEM, FMT.SubjectPublicKeyInfo)
        assert key_config_error(ALGORITHM="HS256", SIGNING_KEY=pem) == "jwtsessions.E002"


def test_cve_2022_21449_psychic_ecdsa_signature_of_zeros() -> None:
    """Java's ECDSA accepted r = s = 0 ('psychic signatures'): such a signature must fail."""
    with jwt_config(**config_for("ES256")):
        header = b64(compact(server_header()))
        payload = b64(compact(claims()))
        for signature in (b"\x00" * 64, b"\x00" * 32 + b"\x01" * 32, b"", b"\x00"):
            refused(f"{header}.{payload}.{b64(signature)}" if signature else f"{header}.{payload}.")


def test_cve_2018_0114_embedded_jwk_header_key() -> None:
    """node-jose trusted a public key embedded in the header's 'jwk' member (also Authlib 2026)."""
    attacker = rsa_key(2048, 1)
    with jwt_config(**config_for("RS256")):
        jwk_member = jwt.algorithms.RSAAlgorithm.to_jwk(attacker.public_key(), as_dict=True)
        forged = jwt.encode(
            claims(),
            private_pem(attacker),
            algorithm="RS256",
            headers={"typ": ACCESS_TOKEN_TYPE, "jwk": jwk_member},
        )
        refused(forged)
        # Even without the jwk member, the attacker's own key is not ours.
        own = jwt.encode(
            claims(),
            private_pem(attacker),
            algorithm="RS256",
            headers={"typ": ACCESS_TOKEN_TYPE, "kid": tokens.key_ring().signer.kid},
        )
        refused(own)


@pytest.mark.parametrize("member", ["jku", "x5u"])
def test_header_url_key_fetch_ssrf(member: str) -> None:
    """'jku'/'x5u' point verification at an attacker's URL: refused before anything is fetched."""
    header = {**server_header(), member: "http://127.0.0.1:1/keys"}
    refused(forge(header, claims(), ring_signer()))


@pytest.mark.parametrize(
    "iss", ["ab", "bc", "b", "", "acb", "abcd", "abc\x00", ["abc"], ["abc", "x"], ["a", "b", "c"]]
)
def test_cve_2024_53861_issuer_partial_match(iss: Any) -> None:
    """PyJWT 2.10.0 checked ``iss in issuer`` on a string: a substring issuer passed."""
    with jwt_config(ISSUER="abc"):
        assert decode(tokens.encode(claims(), ACCESS_TOKEN_TYPE))["iss"] == "abc"
        refused(forge(server_header(), claims(iss=iss), ring_signer()))


@pytest.mark.parametrize("crit", [["x-unknown"], ["b64"], ["exp"], [], "x-unknown"])
def test_cve_2026_32597_unknown_crit_header_extension(crit: Any) -> None:
    """PyJWT < 2.12.0 accepted a 'crit' list naming extensions it did not understand."""
    header = {**server_header(), "crit": crit, "x-unknown": True}
    refused(forge(header, claims(), ring_signer()))
    refused(forge({**server_header(), "crit": crit}, claims(), ring_signer()))


def test_ghsa_w7vc_732c_9m39_b64_false_unencoded_payload() -> None:
    """PyJWT 2.13.0 fixed a DoS via 'b64': false; the member is refused outright here."""
    header = {**server_header(), "b64": False, "crit": ["b64"]}
    raw_payload = compact(claims())
    signing_input = b64(compact(header)).encode() + b"." + raw_payload
    signature = ring_signer()(signing_input)
    refused(f"{signing_input.decode()}.{b64(signature)}")
    refused(forge({**server_header(), "b64": False}, claims(), ring_signer()))


def test_cve_2026_48526_jwk_json_as_hmac_secret() -> None:
    """GHSA-xgmm-8j9v-c9wx: a public JWK as JSON text used as the HS256 secret."""
    with jwt_config(**config_for("RS256")):
        jwk_text = json.dumps(tokens.jwks()["keys"][0]).encode()
        hs256_forgeries_refused(jwk_text)
    assert key_config_error(ALGORITHM="HS256", SIGNING_KEY=jwk_text) == "jwtsessions.E002"


def test_cve_2026_102273_nested_jwk_forms_as_hmac_secret() -> None:
    """PyJWT 2.13 only recognised a top-level JWK: a JWK Set (or nested JWK) slipped through."""
    with jwt_config(**config_for("ES256")):
        jwk_set = json.dumps(tokens.jwks()).encode()
        wrapped = json.dumps({"key": tokens.jwks()["keys"][0], "pad": "x" * 16}).encode()
        hs256_forgeries_refused(jwk_set)
        hs256_forgeries_refused(wrapped)
    for secret in (jwk_set, wrapped):
        assert key_config_error(ALGORITHM="HS256", SIGNING_KEY=secret) == "jwtsessions.E002"


def test_cve_2026_102268_whitespace_mutated_pem_as_hmac_secret() -> None:
    """A PEM public key with CRLF, leading or trailing whitespace skipped the confusion guard."""
    pem = rsa_key().public_key().public_bytes(ENC.PEM, FMT.SubjectPublicKeyInfo)
    mutations = [pem.replace(b"\n", b"\r\n"), b"\n\n  " + pem, pem + b"   \n", b"\t" + pem]
    with jwt_config(ALGORITHM="RS256", SIGNING_KEY=private_pem(rsa_key())):
        for secret in mutations:
            hs256_forgeries_refused(secret)
    for secret in mutations:
        assert key_config_error(ALGORITHM="HS256", SIGNING_KEY=secret) == "jwtsessions.E002"


def test_der_encoded_public_key_as_hmac_secret() -> None:
    """The DER form of a public key (no PEM armour to spot) used as the HMAC secret."""
    der = rsa_key().public_key().public_bytes(ENC.DER, FMT.SubjectPublicKeyInfo)
    assert key_config_error(ALGORITHM="HS256", SIGNING_KEY=der) == "jwtsessions.E002"
    with jwt_config(ALGORITHM="RS256", SIGNING_KEY=private_pem(rsa_key())):
        hs256_forgeries_refused(der)


def test_cve_2026_102266_empty_hmac_key() -> None:
    """PyJWK accepted an empty HMAC key; an empty key must never be configurable here."""
    for empty in ("", b""):
        assert key_config_error(ALGORITHM="HS256", SIGNING_KEY=empty) == "jwtsessions.E002"
        ring = [{"kid": "k1", "algorithm": "HS256", "key": empty}]
        assert key_config_error(SIGNING_KEYS=ring) == "jwtsessions.E002"
    refused(forge(server_header(), claims(), hmac_signer(b"")))


def test_cve_2026_102269_non_canonical_signature_segment() -> None:
    """PyJWT < 2.14.0 read junk-suffixed signatures as the same bytes (revocation bypass)."""
    token = tokens.encode(claims(), ACCESS_TOKEN_TYPE)
    assert decode(token)
    for junk in ("=", "==", "!", "%3D", "\n", " ", "A", "AA", "AAA", "AAAA", ".", "+", "/"):
        refused(token + junk)


def test_cve_2026_48523_header_alg_must_match_the_keys_algorithm() -> None:
    """GHSA-jq35-7prp-9v3f: the header's alg was allow-listed but another algorithm verified."""
    ed_entry = {"kid": "ed", "algorithm": "EdDSA", "private_key": private_pem(ed_key())}
    ec_entry = {"kid": "ec", "algorithm": "ES256", "private_key": private_pem(ec_key())}
    with jwt_config(SIGNING_KEYS=[ed_entry, ec_entry]):
        genuine = tokens.encode(claims(), ACCESS_TOKEN_TYPE)
        assert decode(genuine)
        _, payload, signature = genuine.split(".")
        for alg, kid in (("ES256", "ed"), ("EdDSA", "ec"), ("Ed25519", "ed"), ("HS256", "ed")):
            header = b64(compact({"alg": alg, "typ": ACCESS_TOKEN_TYPE, "kid": kid}))
            refused(f"{header}.{payload}.{signature}")
            refused(
                forge({"alg": alg, "typ": ACCESS_TOKEN_TYPE, "kid": kid}, claims(), ring_signer())
            )


def test_cve_2026_48524_unknown_kid_flood_leaves_the_keys_alone() -> None:
    """PyJWKClient let random kids evict its cached keys; unknown kids must change nothing."""
    ring = [
        {"kid": "a", "algorithm": "HS256", "key": b"a" * 32},
        {"kid": "b", "algorithm": "HS256", "key": b"b" * 32},
    ]
    with jwt_config(SIGNING_KEYS=ring):
        genuine = tokens.encode(claims(), ACCESS_TOKEN_TYPE)
        before = tokens.key_ring()
        for n in range(200):
            header = {"alg": "HS256", "typ": ACCESS_TOKEN_TYPE, "kid": f"random-{n}"}
            refused(forge(header, claims(), hmac_signer(b"a" * 32)))
        assert tokens.key_ring() is before
        assert decode(genuine)


def test_cve_2025_45768_short_hmac_and_rsa_keys() -> None:
    """Reported against PyJWT as 'insufficient HMAC and RSA key length': refused at check time."""
    assert key_config_error(ALGORITHM="HS256", SIGNING_KEY=b"k" * 31) == "jwtsessions.E002"
    assert key_config_error(ALGORITHM="HS512", SIGNING_KEY=b"k" * 32) == "jwtsessions.E002"
    small = rsa_key(1024)
    assert key_config_error(ALGORITHM="RS256", SIGNING_KEY=private_pem(small)) == "jwtsessions.E003"


def test_mismatched_private_and_public_key_pair() -> None:
    """A verifying key that is not the signing key's other half (cf. PyJWT's OKP from_jwk fix)."""
    other = ed_key(1).public_key().public_bytes(ENC.PEM, FMT.SubjectPublicKeyInfo)
    config = {"ALGORITHM": "EdDSA", "SIGNING_KEY": private_pem(ed_key()), "VERIFYING_KEY": other}
    assert key_config_error(**config) == "jwtsessions.E003"


@pytest.mark.parametrize("kid", ["../../dev/null", "' OR '1'='1", "a" * 65, "k\x00", "k\n"])
def test_kid_injection(kid: str) -> None:
    """'kid' used as a path or SQL fragment by some servers: here it only names a ring entry."""
    ring = [{"kid": "k", "algorithm": "HS256", "key": b"k" * 32}]
    with jwt_config(SIGNING_KEYS=ring):
        refused(
            forge(
                {"alg": "HS256", "typ": ACCESS_TOKEN_TYPE, "kid": kid},
                claims(),
                hmac_signer(b"k" * 32),
            )
        )
        refused(
            forge(
                {"alg": "HS256", "typ": ACCESS_TOKEN_TYPE, "kid": kid}, claims(), hmac_signer(b"")
            )
        )
