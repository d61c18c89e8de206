"""The confirmation page every revocation action shows before it acts, and the act itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from ..models import REASON_MAX_LENGTH, Session
from .common import DEFAULT_REASON, plural

CONFIRMATION_TEMPLATE = "admin/jwtsessions/revoke_confirmation.html"


@dataclass(frozen=True)
class Impact:
    """What an action is about to change, for the confirmation page and the message after."""

    items: int
    users: int
    noun: str

    def describe(self) -> str:
        return f"{plural(self.items, self.noun)} of {plural(self.users, 'user')}"


def confirm_then(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    title: str,
    impact: Impact,
    perform: Callable[[str], int],
) -> TemplateResponse | None:
    """Show the confirmation page; once confirmed, ``perform(reason)`` and report the count."""
    action = request.POST.get("action", "")
    if request.POST.get("post") == "yes":
        reason = request.POST.get("reason", "").strip() or DEFAULT_REASON
        done = perform(reason)
        modeladmin.message_user(
            request,
            f"Revoked {plural(done, impact.noun)} of {plural(impact.users, 'user')}.",
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


def session_impact(sessions: QuerySet[Session]) -> Impact:
    return Impact(
        items=sessions.count(),
        users=sessions.order_by().values("user_id").distinct().count(),
        noun="session",
    )


def can_revoke_sessions(request: HttpRequest) -> bool:
    return request.user.has_perm("jwtsessions.change_session")
