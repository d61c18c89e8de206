from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin

from .models import Note

if TYPE_CHECKING:
    _NoteAdminBase = admin.ModelAdmin[Note]
else:
    # ModelAdmin is generic for type checkers only.
    _NoteAdminBase = admin.ModelAdmin


@admin.register(Note)
class NoteAdmin(_NoteAdminBase):
    list_display = ["title", "owner", "created_at"]
    list_select_related = ["owner"]
    search_fields = ["title", "owner__username"]
