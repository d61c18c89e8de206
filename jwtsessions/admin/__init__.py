"""The Django admin for operators: find sessions, revoke them for real, keep the tables tidy.

Every revocation goes through :mod:`jwtsessions.revocation`, so the cache learns about it and
the next API request is refused. Editing the rows directly would bypass that, so sessions,
blacklist entries and existing API keys are read-only here; no hash or secret is ever shown.

For a project's own user admin, :class:`RevokeSessionsUserAdminMixin` (or the bare action
:func:`revoke_all_sessions_of_users`) adds "Revoke all sessions of selected users"::

    from django.contrib.auth.admin import UserAdmin
    from jwtsessions.admin import RevokeSessionsUserAdminMixin

    class MyUserAdmin(RevokeSessionsUserAdminMixin, UserAdmin):
        pass

The package: ``common`` (helpers, status filters), ``confirmation`` (the revocation
confirmation page), ``forms`` (the API-key add form), ``sessions``, ``apikeys``, ``blacklist``
(one ``ModelAdmin`` each, registered on import) and ``users`` (the user-admin integration).
"""

from __future__ import annotations

from .apikeys import ApiKeyAdmin, ApiKeyStatusFilter
from .blacklist import BlacklistedTokenAdmin, BlacklistStateFilter
from .forms import ApiKeyAddForm
from .sessions import SessionAdmin, SessionStatusFilter
from .users import RevokeSessionsUserAdminMixin, revoke_all_sessions_of_users

__all__ = [
    "ApiKeyAddForm",
    "ApiKeyAdmin",
    "ApiKeyStatusFilter",
    "BlacklistStateFilter",
    "BlacklistedTokenAdmin",
    "RevokeSessionsUserAdminMixin",
    "SessionAdmin",
    "SessionStatusFilter",
    "revoke_all_sessions_of_users",
]
