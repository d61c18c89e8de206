"""One endpoint per scheme, same view body: ``/<scheme>/``; our endpoints to mint credentials."""

from __future__ import annotations

from django.urls import include, path

from benchsite.views import SCHEMES, view_for

urlpatterns = [path(f"{name}/", view_for(name), name=name) for name in SCHEMES]
urlpatterns.append(path("api/auth/", include("jwtsessions.urls")))
