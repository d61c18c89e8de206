"""The API-key admin: issue a key (shown once), list keys, revoke them through the cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from ..models import ApiKey
from ..revocation import revoke_api_key
from .common import DEFAULT_REASON, StatusFilter, location, status_badge
from .confirmation import Impact, confirm_then
from .forms import ApiKeyAddForm

if TYPE_CHECKING:
    _ApiKeyAdminBase = admin.ModelAdmin[ApiKey]
else:
    _ApiKeyAdminBase = admin.ModelAdmin  # generic for type checkers only

API_KEY_CREATED_TEMPLATE = "admin/jwtsessions/apikey/created.html"


class ApiKeyStatusFilter(StatusFilter):
    """Revoked, expired or active API keys."""


def _issue_api_key(api_key: ApiKey) -> str:
    """Create the key described by the unsaved ``api_key``; fill it in and return the whole key.

    The row is made by :func:`jwtsessions.apikeys.create_api_key`, the same path as the
    endpoint, so the format, the digest and the cache entry are the same.
    """
    from ..apikeys import create_api_key

    created, key = create_api_key(
        api_key.user, api_key.name, api_key.scopes or [], api_key.expires_at
    )
    for field in ("id", "public_id", "digest", "scopes", "created_at"):
        setattr(api_key, field, getattr(created, field))
    api_key._state.adding = False
    api_key._state.db = created._state.db
    return key


@admin.register(ApiKey)
class ApiKeyAdmin(_ApiKeyAdminBase):
    list_display = (
        "public_id",
        "name",
        "user",
        "scopes_display",
        "last_used_at",
        "expires_at",
        "status_display",
    )
    list_filter = (ApiKeyStatusFilter, "created_at", "last_used_at", "expires_at", "revoked_at")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    actions = ("revoke_selected",)
    add_form = ApiKeyAddForm
    add_fields = ("name", "user", "scopes", "expires_at")
    # digest is deliberately absent; the secret itself is never stored at all.
    change_fields = (
        "public_id",
        "name",
        "user",
        "scopes",
        "status_display",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoke_reason",
    )

    @admin.display(description="scopes")
    def scopes_display(self, obj: ApiKey) -> str:
        return " ".join(str(scope) for scope in obj.scopes or []) or "—"

    @admin.display(description="status")
    def status_display(self, obj: ApiKey) -> SafeString:
        return status_badge(obj.status())

    def get_form(
        self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        return self.add_fields if obj is None else self.change_fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        # An existing key's scopes and expiry are cached with it: change them by issuing a new
        # key, never by editing the row behind the cache's back.
        return () if obj is None else self.change_fields

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return ["public_id", "name", f"user__{get_user_model().USERNAME_FIELD}"]

    def has_change_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False

    def has_revoke_api_keys_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jwtsessions.change_apikey")

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        actions = super().get_actions(request, *location(action_location))
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            return  # nothing on an existing key is editable here
        # Kept on the request only for response_add, which shows it and forgets it.
        request._jwtsessions_new_key = _issue_api_key(obj)  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        """Show the new key once, in a message rendered by this very response.

        A redirect would park the message (and so the key) in the message storage, a cookie or
        the session table, until the next page; rendering here means it is never stored.
        """
        key = getattr(request, "_jwtsessions_new_key", None)
        if key is None:
            return super().response_add(request, obj, post_url_continue)
        del request._jwtsessions_new_key  # type: ignore[attr-defined]
        self.message_user(
            request,
            format_html(
                "API key “{}” created. Copy it now: it is shown only this once and cannot be "
                "recovered. <code>{}</code>",
                obj.name,
                key,
            ),
            messages.WARNING,
        )
        context = {
            **self.admin_site.each_context(request),
            "title": "API key created",
            "opts": self.model._meta,
            "original": obj,
        }
        request.current_app = self.admin_site.name
        response = TemplateResponse(request, API_KEY_CREATED_TEMPLATE, context)
        response["Cache-Control"] = "no-store"
        return response

    def delete_model(self, request: HttpRequest, obj: ApiKey) -> None:
        # The cache may still hold the key as usable: refuse it there before the row goes.
        revoke_api_key(obj, DEFAULT_REASON)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for pk in queryset.values_list("pk", flat=True):
            revoke_api_key(pk, DEFAULT_REASON)
        super().delete_queryset(request, queryset)

    @admin.action(description="Revoke selected API keys", permissions=["revoke_api_keys"])
    def revoke_selected(
        self, request: HttpRequest, queryset: QuerySet[ApiKey]
    ) -> TemplateResponse | None:
        targets = queryset.filter(revoked_at__isnull=True)

        def perform(reason: str) -> int:
            pks = list(targets.values_list("pk", flat=True))
            return sum(revoke_api_key(pk, reason) for pk in pks)

        impact = Impact(
            items=targets.count(),
            users=targets.order_by().values("user_id").distinct().count(),
            noun="API key",
        )
        return confirm_then(
            self,
            request,
            queryset,
            title="Revoke selected API keys",
            impact=impact,
            perform=perform,
        )
