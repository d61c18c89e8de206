from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from tests.views import whoami

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/auth/", include("jwtsessions.urls")),
    path("api/whoami/", whoami, name="whoami"),
]
