"""Revoking sessions from a project's own user admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IS_POPUP_VAR
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from ..models import Session
from .common import location
from .confirmation import can_revoke_sessions, confirm_then
from .objectids import ObjectIdGuardMixin
from .sessions import session_revocation


@admin.action(description="Revoke all sessions of selected users", permissions=["revoke_sessions"])
def revoke_all_sessions_of_users(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> TemplateResponse | None:
    """Admin action for a user changelist; asks for confirmation, then revokes.

    The model admin must define ``has_revoke_sessions_permission`` (the mixin does).
    """
    targets = Session.objects.filter(user_id__in=queryset.order_by().values("pk"))
    return confirm_then(
        modeladmin,
        request,
        session_revocation(targets),
        title="Revoke all sessions of selected users",
        action="revoke_all_sessions_of_users",
    )


class RevokeSessionsUserAdminMixin(ObjectIdGuardMixin):
    """Mix into a ``UserAdmin`` to add "Revoke all sessions of selected users".

    The action is added to whatever actions the admin already has; it is offered to staff who
    hold ``jwtsessions.change_session``. Ticked user ids of the wrong shape are dropped before
    any query, for every action of the user admin (junk beside a real id was a 500).
    """

    def has_revoke_sessions_permission(self, request: HttpRequest) -> bool:
        return can_revoke_sessions(request)

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        actions: dict[str, Any] = super().get_actions(request, *location(action_location))
        # Where Django offers no actions (``actions = None``, a popup), none is added either.
        offers_actions = self.actions is not None and IS_POPUP_VAR not in request.GET
        if offers_actions and self.has_revoke_sessions_permission(request):
            func = revoke_all_sessions_of_users
            name = func.__name__
            actions[name] = (func, name, func.short_description)  # type: ignore[attr-defined]
        return actions
