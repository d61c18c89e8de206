"""The blacklist admin: read-only, and only expired entries may be deleted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .. import cleanup
from ..models import BlacklistedToken
from .common import location, plural
from .objectids import ObjectIdGuardMixin
from .pagination import EstimatedCountPaginator

if TYPE_CHECKING:
    _BlacklistAdminBase = admin.ModelAdmin[BlacklistedToken]
else:
    _BlacklistAdminBase = admin.ModelAdmin  # generic for type checkers only


class BlacklistStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        return [("live", "Still refusing"), ("expired", "Expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        cutoff = cleanup.blacklist_cutoff()
        if self.value() == "live":
            return queryset.filter(expires_at__gte=cutoff)
        if self.value() == "expired":
            return queryset.filter(expires_at__lt=cutoff)
        return queryset


class RecentReasonFilter(admin.SimpleListFilter):
    """Filter by reason, offering the reasons of the newest entries.

    Django's own field filter lists ``SELECT DISTINCT reason`` over the whole table: a full
    scan at a million rows. Reasons are few and recent ones are what an incident is about.
    """

    title = "reason"
    parameter_name = "reason"
    sample = 10_000

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        recent = BlacklistedToken.objects.order_by("-created_at", "-pk")[: self.sample]
        reasons = {r for r in recent.values_list("reason", flat=True) if r}
        chosen = self.value()
        if chosen:
            reasons.add(chosen)
        return [(reason, reason) for reason in sorted(reasons)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(reason=value) if value else queryset


@admin.register(BlacklistedToken)
class BlacklistedTokenAdmin(ObjectIdGuardMixin, _BlacklistAdminBase):
    """Read-only: an entry added or removed here would bypass the cache."""

    list_display = ("jti", "reason", "created_at", "expires_at", "is_live")
    list_filter = (BlacklistStateFilter, RecentReasonFilter, "created_at", "expires_at")
    search_fields = ("=jti",)
    search_help_text = "Exact token id (jti)."
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = ("jti", "reason", "created_at", "expires_at")
    actions = ("delete_expired",)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[BlacklistedToken], search_term: str
    ) -> tuple[QuerySet[BlacklistedToken], bool]:
        # "=jti" would be iexact: UPPER(jti) = UPPER(%s) cannot use the unique index.
        term = search_term.strip()
        return (queryset.filter(jti=term) if term else queryset), False

    @admin.display(boolean=True, description="still refusing")
    def is_live(self, obj: BlacklistedToken) -> bool:
        return obj.expires_at >= cleanup.blacklist_cutoff()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: BlacklistedToken | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: BlacklistedToken | None = None
    ) -> bool:
        # Removing a live entry would un-revoke a token: only expired ones may go.
        if obj is not None and obj.expires_at >= cleanup.blacklist_cutoff():
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        actions = super().get_actions(request, *location(action_location))
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Delete expired entries (of the selection)", permissions=["delete"])
    def delete_expired(self, request: HttpRequest, queryset: QuerySet[BlacklistedToken]) -> None:
        # Live entries in the selection are left alone whatever was ticked.
        expired = queryset.filter(expires_at__lt=cleanup.blacklist_cutoff())
        deleted = cleanup.delete_in_batches(expired)
        skipped = queryset.count()
        self.message_user(
            request,
            f"Deleted {plural(deleted, 'expired entry', 'expired entries')}; "
            f"{plural(skipped, 'entry', 'entries')} still refusing tokens left in place."
            if skipped
            else f"Deleted {plural(deleted, 'expired entry', 'expired entries')}.",
            messages.SUCCESS,
        )
