"""One endpoint per scheme, same view body: ``/<scheme>/``; our endpoints (credentials,
login, refresh) and the peers' login and refresh."""

from __future__ import annotations

from django.urls import include, path

from benchsite import flows
from benchsite.views import SCHEMES, view_for

urlpatterns = [path(f"{name}/", view_for(name), name=name) for name in SCHEMES]
urlpatterns.append(path("api/auth/", include("jwtsessions.urls")))
urlpatterns += flows.urlpatterns()
