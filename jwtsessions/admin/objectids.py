"""Hostile object ids in the admin: checked for shape before any query touches them.

A NUL in a primary key is a database error on PostgreSQL, and junk in an integer key a
``ValueError`` raised while the query is built: both were 500s, in a URL (``<pk>/change/``) and
in an action's ticked boxes (``_selected_action``). An id of the wrong shape is treated as one
that does not exist: a URL answers as for a missing object, a ticked box is dropped (none left:
Django's own "Items must be selected" message).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    _MixinBase = admin.ModelAdmin[Any]
else:
    _MixinBase = object


class ObjectIdGuardMixin(_MixinBase):
    """Refuses ids of the wrong shape in object URLs and in an action's selection."""

    def is_object_id(self, pk: str) -> bool:
        """Whether ``pk`` has the shape of this model's ids (no query is made)."""
        if any(ord(c) < 32 or ord(c) == 127 for c in pk):
            return False
        try:
            self.model._meta.pk.to_python(pk)
        except (ValidationError, ValueError, TypeError):
            return False
        return True

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        if from_field is None and not self.is_object_id(object_id):
            return None  # as for an id that does not exist
        return super().get_object(request, object_id, from_field)

    def response_action(
        self, request: HttpRequest, queryset: QuerySet[Any], *args: Any, **kwargs: Any
    ) -> HttpResponse | None:
        # Django 6.1 also passes where the action form was (action_location, by keyword).
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        kept = [pk for pk in selected if self.is_object_id(pk)]
        if len(kept) != len(selected):
            post = request.POST.copy()
            post.setlist(helpers.ACTION_CHECKBOX_NAME, kept)
            request.POST = post  # type: ignore[assignment]
        return super().response_action(request, queryset, *args, **kwargs)
