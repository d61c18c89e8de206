"""The package's URLs alone, as a project mounts them: what the OpenAPI test describes."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [path("api/auth/", include("jwtsessions.urls"))]
