"""Scopes: what a scope token may look like, and which scopes a user may put on an API key.

A scope is an RFC 6749 scope token (:func:`is_valid_scope`); a ``scope`` string is several,
space-separated (:func:`parse_scope`). Which ones a user may grant is the ``API_KEY_SCOPES``
setting (:func:`check_grantable`).

Scopes only ever narrow what a credential may do. Without ``API_KEY_SCOPES`` any well-formed
scope can be granted, so a permission such as ``HasScope("admin")`` must never be the only
thing that stands between a user and an admin action: see docs/api-keys.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from .settings import jwt_settings

MAX_SCOPE_LENGTH = 64
# RFC 6749 section 3.3 scope-token characters: printable ASCII except space, '"' and '\'.
SCOPE_CHARACTERS = frozenset(chr(c) for c in range(0x21, 0x7F)) - {'"', "\\"}


class InvalidScope(ValueError):
    """A requested scope is outside what the user may grant (error code ``invalid_scope``)."""

    code = "invalid_scope"

    def __init__(self, scopes: Iterable[str]) -> None:
        self.scopes = tuple(scopes)
        super().__init__(_("Scopes not allowed: %(scopes)s") % {"scopes": " ".join(self.scopes)})


def parse_scope(value: Any) -> tuple[str, ...] | None:
    """Scope tokens of a space-separated ``scope`` string, or ``None`` if malformed."""
    if not isinstance(value, str) or len(value) > 4096:
        return None
    scopes = tuple(dict.fromkeys(value.split(" ")))
    if not all(is_valid_scope(s) for s in scopes):
        return None
    return scopes


def is_valid_scope(scope: Any) -> bool:
    """Whether ``scope`` is one well-formed scope token (1 to ``MAX_SCOPE_LENGTH`` characters)."""
    return (
        isinstance(scope, str)
        and 0 < len(scope) <= MAX_SCOPE_LENGTH
        and all(c in SCOPE_CHARACTERS for c in scope)
    )


def grantable_scopes(user: Any) -> frozenset[str] | None:
    """The scopes ``user`` may grant, or ``None`` when any well-formed scope is allowed."""
    configured = jwt_settings.API_KEY_SCOPES
    if configured is None:
        return None
    if isinstance(configured, str):
        # Resolved at each call, never at import: settings may change (tests, reloads).
        return frozenset(import_string(configured)(user))
    return frozenset(configured)


def check_grantable(user: Any, scopes: Iterable[str]) -> None:
    """Raise :class:`InvalidScope` naming every scope of ``scopes`` that ``user`` may not grant."""
    allowed = grantable_scopes(user)
    if allowed is None:
        return
    refused = [scope for scope in scopes if scope not in allowed]
    if refused:
        raise InvalidScope(refused)
