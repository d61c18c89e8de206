"""The session admin: find sessions fast at millions of rows, revoke them through the cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from ..models import Session
from ..revocation import revoke_sessions
from ..settings import jwt_settings
from .common import DEFAULT_REASON, StatusFilter, location, status_badge
from .confirmation import can_revoke_sessions, confirm_then, session_impact

if TYPE_CHECKING:
    _SessionAdminBase = admin.ModelAdmin[Session]
else:
    _SessionAdminBase = admin.ModelAdmin  # generic for type checkers only


class SessionStatusFilter(StatusFilter):
    """The status the API would give a token of the session; ``idle`` with an idle timeout."""

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        choices = super().lookups(request, model_admin)
        if jwt_settings.SESSION_IDLE_TIMEOUT is not None:
            choices.append(("idle", "Idle"))
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        idle = jwt_settings.SESSION_IDLE_TIMEOUT
        value = self.value()
        if idle is None or value not in ("active", "idle"):
            return super().queryset(request, queryset)
        now = timezone.now()
        alive = queryset.filter(revoked_at__isnull=True, expires_at__gt=now)
        if value == "active":
            return alive.filter(refreshed_at__gt=now - idle)
        return alive.filter(refreshed_at__lte=now - idle)


@admin.register(Session)
class SessionAdmin(_SessionAdminBase):
    list_display = (
        "short_id",
        "user",
        "status_display",
        "created_at",
        "last_used_at",
        "expires_at",
        "ip_address",
        "short_user_agent",
    )
    list_filter = (SessionStatusFilter, "created_at", "last_used_at", "expires_at", "revoked_at")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    date_hierarchy = "created_at"
    # refresh_hash is deliberately absent: a digest is still nobody's business.
    fields = (
        "id",
        "user",
        "status_display",
        "created_at",
        "last_used_at",
        "refreshed_at",
        "expires_at",
        "revoked_at",
        "revoke_reason",
        "ip_address",
        "user_agent",
        "refresh_generation",
    )
    readonly_fields = fields
    actions = ("revoke_selected", "revoke_users_sessions")

    @admin.display(description="session")
    def short_id(self, obj: Session) -> str:
        return f"{obj.pk[:8]}…"

    @admin.display(description="status")
    def status_display(self, obj: Session) -> SafeString:
        return status_badge(obj.status())

    @admin.display(description="user agent", ordering="user_agent")
    def short_user_agent(self, obj: Session) -> SafeString:
        return format_html(
            '<span title="{}">{}</span>', obj.user_agent, Truncator(obj.user_agent).chars(40)
        )

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        # The user model is only known once apps are loaded, so this is not a class attribute.
        user_model = get_user_model()
        names = {f.name for f in user_model._meta.get_fields()}
        fields = [f"user__{user_model.USERNAME_FIELD}"]
        email = user_model.get_email_field_name()
        if email in names and email != user_model.USERNAME_FIELD:
            fields.append(f"user__{email}")
        return [*fields, "ip_address"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # sessions are born at login only

    def has_change_permission(self, request: HttpRequest, obj: Session | None = None) -> bool:
        return False  # read-only: revoking is an action, so the cache hears about it

    def has_revoke_sessions_permission(self, request: HttpRequest) -> bool:
        return can_revoke_sessions(request)

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        actions = super().get_actions(request, *location(action_location))
        # Deleting rows is the cleanup command's job; operators revoke.
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request: HttpRequest, obj: Session) -> None:
        # Deleting a row alone would leave an "active" entry in the cache: revoke first.
        revoke_sessions(Session.objects.filter(pk=obj.pk), DEFAULT_REASON)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        revoke_sessions(queryset, DEFAULT_REASON)
        super().delete_queryset(request, queryset)

    @admin.action(description="Revoke selected sessions", permissions=["revoke_sessions"])
    def revoke_selected(
        self, request: HttpRequest, queryset: QuerySet[Session]
    ) -> TemplateResponse | None:
        targets = queryset.filter(revoked_at__isnull=True)
        return confirm_then(
            self,
            request,
            queryset,
            title="Revoke selected sessions",
            impact=session_impact(targets),
            perform=lambda reason: len(revoke_sessions(targets, reason)),
        )

    @admin.action(
        description="Revoke all sessions of the selected sessions' users",
        permissions=["revoke_sessions"],
    )
    def revoke_users_sessions(
        self, request: HttpRequest, queryset: QuerySet[Session]
    ) -> TemplateResponse | None:
        user_ids = queryset.order_by().values("user_id")
        targets = Session.objects.filter(user_id__in=user_ids, revoked_at__isnull=True)
        return confirm_then(
            self,
            request,
            queryset,
            title="Revoke all sessions of these users",
            impact=session_impact(targets),
            perform=lambda reason: len(revoke_sessions(targets, reason)),
        )
