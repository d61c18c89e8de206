"""Which scopes a user may put on an API key (the ``API_KEY_SCOPES`` setting).

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


class InvalidScope(ValueError):
    """A requested scope is outside what the user may grant (error code ``invalid_scope``)."""

    code = "invalid_scope"

    def __init__(self, scopes: Iterable[str]) -> None:
        self.scopes = tuple(scopes)
        super().__init__(_("Scopes not allowed: %(scopes)s") % {"scopes": " ".join(self.scopes)})


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
