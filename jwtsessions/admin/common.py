"""Helpers shared by the package's model admins: badges, plurals, the status filter."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

DEFAULT_REASON = "revoked in admin"

STATUS_COLOURS = {
    "active": "#2e7d32",
    "revoked": "#c62828",
    "expired": "#757575",
    "idle": "#ef6c00",
}


def location(action_location: Any) -> tuple[Any, ...]:
    """Extra arguments for ``super().get_actions()``.

    Django 6.1 passes ``action_location`` to ``get_actions``; 5.2 knows no such argument.
    """
    return () if action_location is None else (action_location,)


def status_badge(status: str) -> SafeString:
    """The status word in its colour, for lists and change pages."""
    return format_html(
        '<span style="color:{};font-weight:bold">{}</span>', STATUS_COLOURS[status], status
    )


def plural(count: int, word: str, many: str = "") -> str:
    """``1 session``, ``2 sessions``; ``many`` when the plural is not ``word + 's'``."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


class StatusFilter(admin.SimpleListFilter):
    """Filter by status: revoked, expired (past ``expires_at``) or active."""

    title = "status"
    parameter_name = "status"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked"), ("expired", "Expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        value = self.value()
        if value == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if value == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if value == "active":
            return queryset.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)
        return queryset
