"""The session admin: find sessions fast at millions of rows, revoke them through the cache."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from ..models import Session, all_session_ids, is_session_id
from ..revocation import revoke_sessions
from ..settings import jwt_settings
from .common import (
    DEFAULT_REASON,
    StatusFilter,
    compact_time,
    describe_device,
    ip_or_none,
    location,
    matching_user_ids,
    status_badge,
    user_search_fields,
)
from .confirmation import Revocation, RevokeButtonMixin, can_revoke_sessions, confirm_then
from .pagination import EstimatedCountPaginator

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


def session_revocation(targets: QuerySet[Session]) -> Revocation:
    """Revoke the active sessions of ``targets``, as the acting operator."""
    active = targets.filter(revoked_at__isnull=True)
    return Revocation(
        targets=active,
        noun="session",
        perform=lambda reason, actor: revoke_sessions(active, reason, actor=actor),
    )


@admin.register(Session)
class SessionAdmin(RevokeButtonMixin, _SessionAdminBase):
    list_display = (
        "short_id",
        "user",
        "status_display",
        "last_used",
        "expires",
        "ip_address",
        "device",
    )
    # Only indexed dates: a filter on an unindexed one scans the table (last_used_at is
    # written on every refresh, so it stays unindexed). No date_hierarchy: listing its years
    # reads every row.
    list_filter = (SessionStatusFilter, "created_at", "expires_at", "revoked_at")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    show_full_result_count = False  # a second COUNT over the whole table on every page
    paginator = EstimatedCountPaginator
    search_help_text = "Exact username, email, session id or IP address."

    def object_keys(self, ids: Sequence[str]) -> list[tuple[str, Any]]:
        if all_session_ids(ids):  # the usual case, checked in one regex match
            return [(pk, pk) for pk in ids]  # a session id is its own key
        return super().object_keys([pk for pk in ids if is_session_id(pk)])

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
        "revoked_by",
        "revoke_reason",
        "ip_address",
        "user_agent",
        "refresh_generation",
    )
    readonly_fields = fields
    actions = ("revoke_selected", "revoke_users_sessions")

    @admin.display(description="session", ordering="created_at")
    def short_id(self, obj: Session) -> SafeString:
        # The list is newest first; when it started is in the tooltip (and on the change page),
        # which keeps the columns that matter in an incident readable at 1280 px.
        started = timezone.localtime(obj.created_at).strftime("%Y-%m-%d %H:%M")
        return format_html('<span title="started {}">{}…</span>', started, obj.pk[:8])

    @admin.display(description="status")
    def status_display(self, obj: Session) -> SafeString:
        return status_badge(obj.status())

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, obj: Session) -> SafeString | str:
        return compact_time(obj.last_used_at)

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, obj: Session) -> SafeString | str:
        return compact_time(obj.expires_at)

    @admin.display(description="device", ordering="user_agent")
    def device(self, obj: Session) -> SafeString:
        # The whole User-Agent is in the tooltip and on the change page.
        return format_html(
            '<span title="{}">{}</span>', obj.user_agent, describe_device(obj.user_agent)
        )

    def get_ordering(self, request: HttpRequest) -> Any:
        # Newest first by the date the filter is about, so the first page is read from that
        # date's index: expired sessions are the oldest ones by creation, and walking the
        # creation index down to them reads most of the table.
        params = request.GET
        if params.get("status") == "expired" or any(k.startswith("expires_at__") for k in params):
            return ("-expires_at",)
        if params.get("status") == "revoked" or any(k.startswith("revoked_at__") for k in params):
            return ("-revoked_at",)
        return ("-created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Session]:
        # The user is in every title ("session 7d7-uqP2… of alice"): load it with the row.
        return super().get_queryset(request).select_related("user")

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        # Shown as the search box; get_search_results does the (exact, indexed) matching.
        return [*(f"=user__{f}" for f in user_search_fields()), "=id", "=ip_address"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Session], search_term: str
    ) -> tuple[QuerySet[Session], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q(pk=term)
        user_ids = matching_user_ids(term)
        if user_ids:
            condition |= Q(user_id__in=user_ids)
        ip = ip_or_none(term)
        if ip is not None:
            condition |= Q(ip_address=ip)
        return queryset.filter(condition), False

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

    def can_revoke(self, request: HttpRequest) -> bool:
        return self.has_revoke_sessions_permission(request)

    def revoke_queryset(
        self, request: HttpRequest, queryset: QuerySet[Session]
    ) -> TemplateResponse | None:
        return self.revoke_selected(request, queryset)

    def delete_model(self, request: HttpRequest, obj: Session) -> None:
        # Deleting a row alone would leave an "active" entry in the cache: revoke first.
        revoke_sessions(Session.objects.filter(pk=obj.pk), DEFAULT_REASON, actor=request.user)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        revoke_sessions(queryset, DEFAULT_REASON, actor=request.user)
        super().delete_queryset(request, queryset)

    @admin.action(description="Revoke selected sessions", permissions=["revoke_sessions"])
    def revoke_selected(
        self, request: HttpRequest, queryset: QuerySet[Session]
    ) -> TemplateResponse | None:
        return confirm_then(
            self,
            request,
            session_revocation(queryset),
            title="Revoke selected sessions",
            action="revoke_selected",
        )

    @admin.action(
        description="Revoke all sessions of the selected sessions' users",
        permissions=["revoke_sessions"],
    )
    def revoke_users_sessions(
        self, request: HttpRequest, queryset: QuerySet[Session]
    ) -> TemplateResponse | None:
        user_ids = queryset.order_by().values("user_id")
        return confirm_then(
            self,
            request,
            session_revocation(Session.objects.filter(user_id__in=user_ids)),
            title="Revoke all sessions of these users",
            action="revoke_users_sessions",
        )
