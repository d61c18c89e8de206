from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from tests import views as test_views
from tests.views import whoami

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/auth/", include("jwtsessions.urls")),
    path("api/whoami/", whoami, name="whoami"),
    # The example project's page and notes API, for the browser tests.
    path("", include("example_project.notes.urls")),
    path("api/machine/", test_views.MachineView.as_view()),
    path("api/machine/api-key-only/", test_views.ApiKeyOnlyView.as_view()),
    path("api/machine/service-only/", test_views.ServiceTokenOnlyView.as_view()),
    path("api/items/", test_views.ItemsReadView.as_view()),
    path("api/items/write/", test_views.ItemsWriteView.as_view()),
    path("api/items/admin/", test_views.ScopeOrAdminView.as_view()),
    path("api/items/and/", test_views.AuthenticatedAndScopeView.as_view()),
    path("api/items/unlisted/", test_views.NoScopesListedView.as_view()),
]

# 400s raised before any view (an invalid Host) answer {"detail", "code"} on the package's URLs.
handler400 = "jwtsessions.exceptions.bad_request"
