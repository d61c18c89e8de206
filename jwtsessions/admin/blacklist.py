"""The blacklist admin: read-only, and only expired entries may be deleted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .. import cleanup
from ..models import BlacklistedToken
from .common import location, plural

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


@admin.register(BlacklistedToken)
class BlacklistedTokenAdmin(_BlacklistAdminBase):
    """Read-only: an entry added or removed here would bypass the cache."""

    list_display = ("jti", "reason", "created_at", "expires_at", "is_live")
    list_filter = (BlacklistStateFilter, "reason", "created_at", "expires_at")
    search_fields = ("=jti", "reason")
    date_hierarchy = "expires_at"
    readonly_fields = ("jti", "reason", "created_at", "expires_at")
    actions = ("delete_expired",)

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
