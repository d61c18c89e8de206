"""The example project's URLs: the admin, the jwtsessions endpoints, the notes app."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/auth/", include("jwtsessions.urls")),
    path("", include("example_project.notes.urls")),
]
