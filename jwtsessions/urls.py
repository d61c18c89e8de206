"""``path("api/auth/", include("jwtsessions.urls"))``: the contract's endpoints."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "jwtsessions"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("refresh/", views.RefreshView.as_view(), name="refresh"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("logout-all/", views.LogoutAllView.as_view(), name="logout-all"),
    path("sessions/", views.SessionListView.as_view(), name="session-list"),
    path("sessions/<str:session_id>/", views.SessionDetailView.as_view(), name="session-detail"),
    path("jwks.json", views.JWKSView.as_view(), name="jwks"),
    path("api-keys/", views.ApiKeyListView.as_view(), name="apikey-list"),
    # <str:>, not <int:>: an id that is not a number must reach the view and get the contract's
    # JSON 404, not the project's HTML one (the schema still says integer).
    path("api-keys/<str:key_id>/", views.ApiKeyDetailView.as_view(), name="apikey-detail"),
    path("service-token/", views.ServiceTokenView.as_view(), name="service-token"),
    path("csrf/", views.CsrfTokenView.as_view(), name="csrf"),
]
