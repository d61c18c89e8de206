"""The API-key admin: issue a key (shown once), list keys, revoke them through the cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ..models import ApiKey
from ..revocation import revoke_api_key, revoke_api_keys
from .common import (
    DEFAULT_REASON,
    StatusFilter,
    compact_time,
    location,
    matching_user_ids,
    status_badge,
    user_search_fields,
)
from .confirmation import Revocation, RevokeButtonMixin, confirm_then
from .forms import ISSUE_FOR_OTHERS, ApiKeyAddForm
from .pagination import EstimatedCountPaginator

if TYPE_CHECKING:
    _ApiKeyAdminBase = admin.ModelAdmin[ApiKey]
else:
    _ApiKeyAdminBase = admin.ModelAdmin  # generic for type checkers only

API_KEY_CREATED_TEMPLATE = "admin/jwtsessions/apikey/created.html"


class ApiKeyStatusFilter(StatusFilter):
    """Revoked, expired or active API keys."""


def _issue_api_key(api_key: ApiKey) -> str:
    """Create the key described by the unsaved ``api_key``; fill it in and return the whole key.

    The row is made by :func:`jwtsessions.apikeycreation.create_api_key`, the same path as the
    endpoint, so the format, the digest and the cache entry are the same.
    """
    from ..apikeycreation import create_api_key

    created, key = create_api_key(
        api_key.user, api_key.name, api_key.scopes or [], api_key.expires_at
    )
    for field in ("id", "public_id", "digest", "scopes", "created_at"):
        setattr(api_key, field, getattr(created, field))
    api_key._state.adding = False
    api_key._state.db = created._state.db
    return key


# Public ids per query when looking up the keys a revocation revoked.
LOOKUP_CHUNK = 1000


def api_key_revocation(targets: QuerySet[ApiKey]) -> Revocation:
    """Revoke the active keys of ``targets`` in one statement, through the cache, as the
    operator. (One by one, 10,000 keys took longer than a worker's request timeout, which cut
    the revocation off halfway and before its audit entries.)"""
    active = targets.filter(revoked_at__isnull=True)

    def perform(reason: str, actor: Any) -> list[Any]:
        revoked = revoke_api_keys(active, reason, actor=actor)
        # Their primary keys for the audit entries, read after the revocation: read before,
        # a key created in between would be revoked without its entry.
        return [
            pk
            for start in range(0, len(revoked), LOOKUP_CHUNK)
            for pk in ApiKey.objects.filter(
                public_id__in=revoked[start : start + LOOKUP_CHUNK]
            ).values_list("pk", flat=True)
        ]

    return Revocation(targets=active, noun="API key", perform=perform)


@admin.register(ApiKey)
class ApiKeyAdmin(RevokeButtonMixin, _ApiKeyAdminBase):
    list_display = (
        "public_id",
        "name",
        "user",
        "scopes_display",
        "last_used",
        "expires",
        "status_display",
    )
    # Only indexed dates (see SessionAdmin).
    list_filter = (ApiKeyStatusFilter, "created_at", "expires_at")
    list_select_related = ("user",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    search_help_text = "Exact public id, or the owner's exact username or email."
    actions = ("revoke_selected",)
    add_form = ApiKeyAddForm
    add_fields = ("name", "user", "scopes", "expires_at")
    # digest is deliberately absent; the secret itself is never stored at all.
    change_fields = (
        "public_id",
        "name",
        "user",
        "scopes_list",
        "status_display",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
        "revoke_reason",
    )

    @admin.display(description="scopes")
    def scopes_display(self, obj: ApiKey) -> str:
        return " ".join(str(scope) for scope in obj.scopes or []) or "—"

    @admin.display(description="scopes")
    def scopes_list(self, obj: ApiKey) -> SafeString | str:
        scopes = [str(scope) for scope in obj.scopes or []]
        if not scopes:
            return "— (none: the key works only where no scope is required)"
        return format_html(
            '<ul class="jwtsessions-scopes">{}</ul>',
            format_html_join("", "<li><code>{}</code></li>", ((scope,) for scope in scopes)),
        )

    @admin.display(description="status")
    def status_display(self, obj: ApiKey) -> SafeString:
        return status_badge(obj.status())

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, obj: ApiKey) -> SafeString | str:
        return compact_time(obj.last_used_at)

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, obj: ApiKey) -> SafeString | str:
        return compact_time(obj.expires_at) if obj.expires_at else "never"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiKey]:
        return super().get_queryset(request).select_related("user")

    def _may_issue_for_others(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(ISSUE_FOR_OTHERS))

    def get_form(
        self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = self.add_form
        form = super().get_form(request, obj, change, **kwargs)
        if obj is None:
            # The operator decides whose keys the form may issue (issue 10, finding 2).
            form = type(form.__name__, (form,), {"actor": request.user})
        return form

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        if obj is not None:
            return self.change_fields
        if self._may_issue_for_others(request):
            return self.add_fields
        # Staff without the permission issue keys for themselves: no owner to choose.
        return tuple(f for f in self.add_fields if f != "user")

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        # An existing key's scopes and expiry are cached with it: change them by issuing a new
        # key, never by editing the row behind the cache's back.
        return () if obj is None else self.change_fields

    def get_autocomplete_fields(self, request: HttpRequest) -> Any:
        # The owner by autocomplete when the project's user admin can search users; a raw id
        # box otherwise (a class attribute would be a system-check error in such projects).
        user_admin = self.admin_site._registry.get(get_user_model())
        return ("user",) if user_admin is not None and user_admin.search_fields else ()

    def get_raw_id_fields(self, request: HttpRequest) -> Any:
        return () if self.get_autocomplete_fields(request) else ("user",)

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return ["=public_id", *(f"=user__{f}" for f in user_search_fields())]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ApiKey], search_term: str
    ) -> tuple[QuerySet[ApiKey], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        # Exact and indexed only: a name search ("icontains") reads every row of the table.
        condition = Q(public_id=term)
        user_ids = matching_user_ids(term)
        if user_ids:
            condition |= Q(user_id__in=user_ids)
        return queryset.filter(condition), False

    def has_change_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False

    def has_revoke_api_keys_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jwtsessions.change_apikey")

    def can_revoke(self, request: HttpRequest) -> bool:
        return self.has_revoke_api_keys_permission(request)

    def revoke_queryset(
        self, request: HttpRequest, queryset: QuerySet[ApiKey]
    ) -> TemplateResponse | None:
        return self.revoke_selected(request, queryset)

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        actions = super().get_actions(request, *location(action_location))
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            return  # nothing on an existing key is editable here
        if "user" not in form.fields:
            obj.user = cast(Any, request.user)  # staff who may issue keys for themselves only
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
        response["Pragma"] = "no-cache"
        return response

    def delete_model(self, request: HttpRequest, obj: ApiKey) -> None:
        # The cache may still hold the key as usable: refuse it there before the row goes.
        revoke_api_key(obj, DEFAULT_REASON, actor=request.user)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoke_api_keys(queryset, DEFAULT_REASON, actor=request.user)
        super().delete_queryset(request, queryset)

    @admin.action(description="Revoke selected API keys", permissions=["revoke_api_keys"])
    def revoke_selected(
        self, request: HttpRequest, queryset: QuerySet[ApiKey]
    ) -> TemplateResponse | None:
        return confirm_then(
            self,
            request,
            api_key_revocation(queryset),
            title="Revoke selected API keys",
            action="revoke_selected",
        )
