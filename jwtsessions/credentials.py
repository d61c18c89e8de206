"""What a checked API key or service token is: a lookup's answer and ``request.auth``.

:class:`KeyState` is what :mod:`jwtsessions.apikeylookup` answers for a usable key;
:class:`ApiKeyAuth` and :class:`ServiceTokenAuth` are what the authentication classes put on
``request.auth``, both :class:`ScopedCredential` for ``HasScope``. None of them holds a secret.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from functools import cached_property
from typing import Any

from .models import ApiKey


@dataclasses.dataclass(frozen=True)
class KeyState:
    """What authentication needs to know about a usable key."""

    public_id: str
    user_id: str
    expires_at: int  # 0 = never
    scopes: tuple[str, ...]


class ScopedCredential:
    """Base of ``request.auth`` for credentials that carry scopes (checked by ``HasScope``)."""

    scopes: tuple[str, ...]
    public_id: str

    @cached_property
    def api_key(self) -> ApiKey:
        """The :class:`~jwtsessions.models.ApiKey` row (one query, on first access)."""
        return ApiKey.objects.get(public_id=self.public_id)

    def has_scopes(self, required: Iterable[str]) -> bool:
        """Whether this credential carries every scope of ``required``."""
        return set(required) <= set(self.scopes)


@dataclasses.dataclass(frozen=True, eq=False)
class ApiKeyAuth(ScopedCredential):
    """``request.auth`` for an API key: its public id, owner and scopes (never the secret)."""

    public_id: str
    user_id: str
    scopes: tuple[str, ...]
    expires_at: datetime | None


@dataclasses.dataclass(frozen=True, eq=False)
class ServiceTokenAuth(ScopedCredential):
    """``request.auth`` for a service token: the token, its claims and effective scopes."""

    token: str
    claims: dict[str, Any]
    public_id: str
    user_id: str
    scopes: tuple[str, ...]

    @property
    def jti(self) -> str:
        """The token's ``jti`` claim."""
        return str(self.claims["jti"])
