"""The confirmation page every revocation shows before it acts, and the act itself.

Like Django's delete page, it lists what it will touch (capped) before asking; once confirmed
it revokes through :mod:`jwtsessions.revocation` with the operator as ``actor``, writes one
``LogEntry`` per revoked object (History and Recent actions) and says whether the cache took
every refusal.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.safestring import SafeString, mark_safe

from ..models import REASON_MAX_LENGTH
from ..revocation import track_cache_writes
from ..settings import jwt_settings
from .common import DEFAULT_REASON, plural
from .objectids import ObjectIdGuardMixin
from .selection import selected_rows, selects_across

CONFIRMATION_TEMPLATE = "admin/jwtsessions/revoke_confirmation.html"
# How many affected objects the confirmation page names before "and N more".
LISTED_OBJECTS = 20
# Target sets up to this size that are no ticked selection ("select all" on a filtered list,
# every session of some users) are counted from one query of (pk, user) pairs.
COUNTED_IN_ONE_QUERY = 10_000
# Objects loaded per query when writing LogEntry rows, so a huge revocation stays bounded.
LOG_BATCH = 1000


@dataclass(frozen=True)
class Revocation:
    """What an action is about to revoke.

    ``targets`` is the queryset of the affected objects (still active); ``perform(reason,
    actor)`` revokes them and returns the primary keys it revoked.
    """

    targets: QuerySet[Any]
    noun: str
    perform: Callable[[str, Any], Sequence[Any]]


def _describe(items: int, users: int, noun: str) -> str:
    return f"{plural(items, noun)} of {plural(users, 'user')}"


def _user_count(queryset: QuerySet[Any]) -> int:
    return queryset.order_by().values("user_id").distinct().count()


def _change_url(modeladmin: admin.ModelAdmin[Any], obj: Model) -> str | None:
    opts = obj._meta
    try:
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_change",
            args=(quote(obj.pk),),
            current_app=modeladmin.admin_site.name,
        )
    except NoReverseMatch:
        return None


def _impact(
    modeladmin: admin.ModelAdmin[Any], targets: QuerySet[Any]
) -> tuple[int, int, list[dict[str, Any]]]:
    """How many objects of how many users, and the first few of them, for the page.

    A selection made by ticking boxes is read by primary key, a chunk of keys per query (see
    :mod:`.selection`), and counted here; so is any other target set of up to
    :data:`COUNTED_IN_ONE_QUERY` objects, from one query. A larger "select all" falls back to
    two counts.
    """
    pairs = selected_rows(targets, "pk", "user_id")
    if pairs is None:
        pairs = list(targets.order_by().values_list("pk", "user_id")[: COUNTED_IN_ONE_QUERY + 1])
        counted = len(pairs) <= COUNTED_IN_ONE_QUERY
    else:
        counted = True
    if counted:
        items, users = len(pairs), len({user for _, user in pairs})
        # By primary key alone: repeating the selection's conditions (a 10,000-item IN list)
        # would make PostgreSQL scan the table again for 20 rows.
        manager = targets.model._default_manager
        first = manager.filter(pk__in=[pk for pk, _ in pairs[:LISTED_OBJECTS]])
    else:
        items, users = targets.count(), _user_count(targets)
        first = targets
    rows = first.select_related("user")[:LISTED_OBJECTS]
    return items, users, [{"label": str(o), "url": _change_url(modeladmin, o)} for o in rows]


def _hidden_selection(selected: Sequence[str]) -> SafeString:
    """The selected primary keys as hidden inputs, built in one pass.

    A template loop over a 10,000-key selection took longer than everything else on the page,
    and so did ``format_html`` per key. The keys are escaped together, joined by a newline
    (``escape`` works character by character, and the object-id guard lets no control character
    through), then each is wrapped in its input: 10,000 keys cost a millisecond or two.
    """
    name = helpers.ACTION_CHECKBOX_NAME  # Django's constant, "_selected_action"
    joined = "\n".join(selected)
    if joined.count("\n") == len(selected) - 1:
        escaped = escape(joined).split("\n")
    else:  # a key with a newline of its own (not from a guarded admin): one by one
        escaped = [escape(pk) for pk in selected]
    inputs = (f'<input type="hidden" name="{name}" value="{pk}">' for pk in escaped)
    return mark_safe("\n".join(inputs))  # noqa: S308 (every value is escaped just above)


def log_revocations(request: HttpRequest, model: type[Model], pks: Sequence[Any], why: str) -> None:
    """One ``LogEntry`` (a change, by ``request.user``) per revoked object, in bounded batches."""
    message = f"Revoked ({why})."
    for start in range(0, len(pks), LOG_BATCH):
        batch = list(
            model._default_manager.filter(pk__in=pks[start : start + LOG_BATCH]).select_related(
                "user"
            )
        )
        if batch:
            LogEntry.objects.log_actions(
                user_id=cast(Any, request.user).pk,
                queryset=batch,
                action_flag=CHANGE,
                change_message=message,
            )


def report_cache(modeladmin: admin.ModelAdmin[Any], request: HttpRequest, cache_ok: bool) -> None:
    """Warn when the cache missed a refusal: the database holds it, enforced within the bound."""
    if not cache_ok:
        modeladmin.message_user(
            request,
            "The cache could not be updated. The revocation is saved in the database and every "
            "process enforces it within REVOCATION_SYNC_INTERVAL "
            f"({jwt_settings.REVOCATION_SYNC_INTERVAL.total_seconds():g} s).",
            messages.WARNING,
        )


def confirm_then(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    revocation: Revocation,
    *,
    title: str,
    action: str,
) -> TemplateResponse | None:
    """Show the confirmation page; once confirmed (``post=yes``), revoke and report.

    ``action`` is the name of the admin action that is asking: the page posts it back, so
    "Yes" runs what the page described (never another ``action`` value of the same form, as
    the bottom action bar posts one too). Returns ``None`` after acting, which sends the
    browser back where it came from.
    """
    targets = revocation.targets
    if request.POST.get("post") == "yes":
        reason = request.POST.get("reason", "").strip() or DEFAULT_REASON
        users = _user_count(targets)
        with track_cache_writes() as report:
            revoked = revocation.perform(reason, request.user)
        log_revocations(request, targets.model, revoked, f"reason: {reason}")
        modeladmin.message_user(
            request,
            f"Revoked {_describe(len(revoked), users, revocation.noun)}.",
            messages.SUCCESS,
        )
        report_cache(modeladmin, request, report.cache_ok)
        return None
    items, users, listed = _impact(modeladmin, targets)
    if items:
        summary = f"This revokes {_describe(items, users, revocation.noun)}."
    else:
        summary = f"Nothing to revoke: the selection has no active {revocation.noun}s."
    selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": modeladmin.model._meta,
        "summary": summary,
        "affected": items,
        "listed": listed,
        "more": max(items - len(listed), 0),
        "noun_plural": plural(2, revocation.noun).split(" ", 1)[1],
        "action": action,
        "select_across": selects_across(request),
        "hidden_selection": _hidden_selection(selected),
        "first_pk": selected[0] if selected else "",
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "reason_max_length": REASON_MAX_LENGTH,
        "default_reason": DEFAULT_REASON,
        "media": modeladmin.media,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, CONFIRMATION_TEMPLATE, context)


def can_revoke_sessions(request: HttpRequest) -> bool:
    return request.user.has_perm("jwtsessions.change_session")


class RevokeButtonMixin(ObjectIdGuardMixin):
    """A Revoke button on the change page (beside History) and its ``<pk>/revoke/`` page.

    The page is the changelist action's own confirmation for that one object; once confirmed
    it returns to the change page, which then shows who revoked and why. A model admin using
    it defines :meth:`can_revoke` and :meth:`revoke_queryset`.
    """

    change_form_template = "admin/jwtsessions/change_form_revoke.html"

    def can_revoke(self, request: HttpRequest) -> bool:
        raise NotImplementedError

    def revoke_queryset(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> TemplateResponse | None:
        raise NotImplementedError

    def _url(self, name: str, pk: Any) -> str:
        opts = self.model._meta
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_{name}",
            args=(quote(pk),),
            current_app=self.admin_site.name,
        )

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta
        revoke = path(
            "<path:object_id>/revoke/",
            self.admin_site.admin_view(self.revoke_view),
            name=f"{opts.app_label}_{opts.model_name}_revoke",
        )
        return [revoke, *super().get_urls()]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = dict(extra_context or {})
        pk = unquote(object_id)
        if self.can_revoke(request) and self.is_object_id(pk):
            with contextlib.suppress(ValueError, ValidationError):  # a malformed id: no button
                active = self.model._default_manager.filter(pk=pk, revoked_at__isnull=True)
                if active.exists():
                    context["revoke_url"] = self._url("revoke", pk)
        return super().change_view(request, object_id, form_url, context)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Django looks the object up first: 403 for an id that exists, a redirect for one that
        # does not, which let staff without the permission count API key ids. These models
        # have no per-object permissions, so the model's permission decides alike.
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return super().history_view(request, object_id, extra_context)

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        # Permission before the lookup: a 403 or 404 per id would tell staff without it which
        # ids exist (API key ids are sequential).
        if not self.can_revoke(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"No {self.model._meta.verbose_name} with this id.")
        response = self.revoke_queryset(request, self.model._default_manager.filter(pk=obj.pk))
        if response is not None:
            return response
        return HttpResponseRedirect(self._url("change", obj.pk))
