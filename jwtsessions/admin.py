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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from . import cleanup
from .models import REASON_MAX_LENGTH, ApiKey, BlacklistedToken, Session
from .revocation import revoke_api_key, revoke_sessions
from .settings import jwt_settings

if TYPE_CHECKING:
    _SessionAdminBase = admin.ModelAdmin[Session]
    _ApiKeyAdminBase = admin.ModelAdmin[ApiKey]
    _BlacklistAdminBase = admin.ModelAdmin[BlacklistedToken]
    _ApiKeyFormBase = forms.ModelForm[ApiKey]
else:
    # ModelAdmin and ModelForm are generic for type checkers only.
    _SessionAdminBase = _ApiKeyAdminBase = _BlacklistAdminBase = admin.ModelAdmin
    _ApiKeyFormBase = forms.ModelForm

CONFIRMATION_TEMPLATE = "admin/jwtsessions/revoke_confirmation.html"
API_KEY_CREATED_TEMPLATE = "admin/jwtsessions/apikey/created.html"
DEFAULT_REASON = "revoked in admin"

_STATUS_COLOURS = {
    "active": "#2e7d32",
    "revoked": "#c62828",
    "expired": "#757575",
    "idle": "#ef6c00",
}


def _location(action_location: Any) -> tuple[Any, ...]:
    """Django 6.1 passes ``action_location`` to ``get_actions``; 5.2 knows no such argument."""
    return () if action_location is None else (action_location,)


def _status_badge(status: str) -> SafeString:
    return format_html(
        '<span style="color:{};font-weight:bold">{}</span>', _STATUS_COLOURS[status], status
    )


def _plural(count: int, word: str, plural: str = "") -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


# --- confirmation pages ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Impact:
    """What an action is about to change, for the confirmation page and the message after."""

    items: int
    users: int
    noun: str

    def describe(self) -> str:
        return f"{_plural(self.items, self.noun)} of {_plural(self.users, 'user')}"


def _confirm_then(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    title: str,
    impact: _Impact,
    perform: Callable[[str], int],
) -> TemplateResponse | None:
    """Show the confirmation page; once confirmed, ``perform(reason)`` and report the count."""
    action = request.POST.get("action", "")
    if request.POST.get("post") == "yes":
        reason = request.POST.get("reason", "").strip() or DEFAULT_REASON
        done = perform(reason)
        modeladmin.message_user(
            request,
            f"Revoked {_plural(done, impact.noun)} of {_plural(impact.users, 'user')}.",
            messages.SUCCESS,
        )
        return None  # back to the changelist
    select_across = request.POST.get("select_across") == "1"
    selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
    opts = modeladmin.model._meta
    if impact.items:
        summary = f"This revokes {impact.describe()}."
    else:
        summary = f"Nothing to revoke: the selection has no active {impact.noun}s."
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": opts,
        "summary": summary,
        "affected": impact.items,
        "action": action,
        "select_across": select_across,
        "selected": selected,
        "first_pk": selected[0] if selected else "",
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "reason_max_length": REASON_MAX_LENGTH,
        "default_reason": DEFAULT_REASON,
        "media": modeladmin.media,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, CONFIRMATION_TEMPLATE, context)


def _session_impact(sessions: QuerySet[Session]) -> _Impact:
    return _Impact(
        items=sessions.count(),
        users=sessions.order_by().values("user_id").distinct().count(),
        noun="session",
    )


def _can_revoke_sessions(request: HttpRequest) -> bool:
    return request.user.has_perm("jwtsessions.change_session")


# --- sessions -------------------------------------------------------------------------------


class _StatusFilter(admin.SimpleListFilter):
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


class SessionStatusFilter(_StatusFilter):
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
        return _status_badge(obj.status())

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
        return _can_revoke_sessions(request)

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        actions = super().get_actions(request, *_location(action_location))
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
        return _confirm_then(
            self,
            request,
            queryset,
            title="Revoke selected sessions",
            impact=_session_impact(targets),
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
        return _confirm_then(
            self,
            request,
            queryset,
            title="Revoke all sessions of these users",
            impact=_session_impact(targets),
            perform=lambda reason: len(revoke_sessions(targets, reason)),
        )


# --- API keys -------------------------------------------------------------------------------


class ApiKeyStatusFilter(_StatusFilter):
    """Revoked, expired or active API keys."""


class ApiKeyAddForm(_ApiKeyFormBase):
    """The add form: the same rules for scopes and expiry as the ``api-keys/`` endpoint."""

    class Meta:
        model = ApiKey
        fields = ("name", "user", "scopes", "expires_at")

    def clean_scopes(self) -> list[str]:
        from .apikeys import is_valid_scope

        scopes = self.cleaned_data.get("scopes") or []
        if not isinstance(scopes, list) or not all(is_valid_scope(s) for s in scopes):
            raise forms.ValidationError(
                'Enter a JSON list of scope names, e.g. ["items:read", "items:write"].'
            )
        if len(scopes) > jwt_settings.MAX_API_KEY_SCOPES:
            raise forms.ValidationError(
                f"At most {jwt_settings.MAX_API_KEY_SCOPES} scopes per key."
            )
        return list(dict.fromkeys(scopes))

    def clean_expires_at(self) -> datetime | None:
        expires_at: datetime | None = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return expires_at


def _issue_api_key(api_key: ApiKey) -> str:
    """Create the key described by the unsaved ``api_key``; fill it in and return the whole key.

    The row is made by :func:`jwtsessions.apikeys.create_api_key`, the same path as the
    endpoint, so the format, the digest and the cache entry are the same.
    """
    from .apikeys import create_api_key

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
        return _status_badge(obj.status())

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
        actions = super().get_actions(request, *_location(action_location))
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

        impact = _Impact(
            items=targets.count(),
            users=targets.order_by().values("user_id").distinct().count(),
            noun="API key",
        )
        return _confirm_then(
            self,
            request,
            queryset,
            title="Revoke selected API keys",
            impact=impact,
            perform=perform,
        )


# --- blacklist ------------------------------------------------------------------------------


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
        actions = super().get_actions(request, *_location(action_location))
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
            f"Deleted {_plural(deleted, 'expired entry', 'expired entries')}; "
            f"{_plural(skipped, 'entry', 'entries')} still refusing tokens left in place."
            if skipped
            else f"Deleted {_plural(deleted, 'expired entry', 'expired entries')}.",
            messages.SUCCESS,
        )


# --- the project's user admin ---------------------------------------------------------------


@admin.action(description="Revoke all sessions of selected users", permissions=["revoke_sessions"])
def revoke_all_sessions_of_users(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> TemplateResponse | None:
    """Admin action for a user changelist; asks for confirmation, then revokes.

    The model admin must define ``has_revoke_sessions_permission`` (the mixin does).
    """
    targets = Session.objects.filter(
        user_id__in=queryset.order_by().values("pk"), revoked_at__isnull=True
    )
    return _confirm_then(
        modeladmin,
        request,
        queryset,
        title="Revoke all sessions of selected users",
        impact=_session_impact(targets),
        perform=lambda reason: len(revoke_sessions(targets, reason)),
    )


class RevokeSessionsUserAdminMixin:
    """Mix into a ``UserAdmin`` to add "Revoke all sessions of selected users".

    The action is added to whatever actions the admin already has; it is offered to staff who
    hold ``jwtsessions.change_session``.
    """

    def has_revoke_sessions_permission(self, request: HttpRequest) -> bool:
        return _can_revoke_sessions(request)

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        actions: dict[str, Any] = super().get_actions(  # type: ignore[misc]
            request, *_location(action_location)
        )
        if self.has_revoke_sessions_permission(request):
            func = revoke_all_sessions_of_users
            name = func.__name__
            actions[name] = (func, name, func.short_description)  # type: ignore[attr-defined]
        return actions
