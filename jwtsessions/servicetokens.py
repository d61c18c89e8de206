"""Issuing a service token: a short-lived JWT an API key exchanges itself for.

Its subject is ``SERVICE_SUBJECT_PREFIX`` + the key's public id; it carries a subset of the
key's scopes and never outlives the key. Checking one is :mod:`jwtsessions.apikeylookup`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import jwtformat
from .credentials import KeyState
from .settings import jwt_settings

SERVICE_SUBJECT_PREFIX = "apikey:"


def issue_service_token(state: KeyState, scopes: Sequence[str]) -> tuple[str, int]:
    """A signed service token for a key, limited to ``scopes``; and its lifetime in seconds."""
    lifetime = jwt_settings.SERVICE_TOKEN_LIFETIME
    claims: dict[str, Any] = {
        "sub": SERVICE_SUBJECT_PREFIX + state.public_id,
        "scope": " ".join(scopes),
        **jwtformat.standard_claims(lifetime),
    }
    if state.expires_at and state.expires_at < claims["exp"]:
        # Never outlive the key that obtained it.
        claims["exp"] = max(state.expires_at, claims["iat"] + 1)
    return jwtformat.encode(claims, jwtformat.SERVICE_TOKEN_TYPE), claims["exp"] - claims["iat"]
