"""The page at ``/``, the notes API, and header-mode token endpoints for API clients.

The project runs in cookie mode (``AUTH_COOKIE`` is set), so ``/api/auth/login/`` answers
browsers: tokens in HttpOnly cookies, CSRF required. API clients (scripts, mobile apps) use
``/api/token/``: the same views mounted with ``use_cookies=False``, which return the tokens in
the JSON body and need no CSRF token. Both kinds of client then call the same notes API.
"""

from __future__ import annotations

from django.urls import path

from jwtsessions import views as auth_views

from . import views

app_name = "notes"

urlpatterns = [
    path("", views.index, name="index"),
    path("api/notes/", views.NoteList.as_view(), name="note-list"),
    path("api/notes/<int:pk>/", views.NoteDetail.as_view(), name="note-detail"),
    path("api/token/", auth_views.LoginView.as_view(use_cookies=False), name="token"),
    path(
        "api/token/refresh/",
        auth_views.RefreshView.as_view(use_cookies=False),
        name="token-refresh",
    ),
    path(
        "api/token/logout/",
        auth_views.LogoutView.as_view(use_cookies=False),
        name="token-logout",
    ),
]
