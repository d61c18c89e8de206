"""The peers' login and refresh endpoints, configured as their documentation recommends.

* simplejwt: ``TokenObtainPairView`` and ``TokenRefreshView`` with ``ROTATE_REFRESH_TOKENS``
  and ``BLACKLIST_AFTER_ROTATION`` and its ``token_blacklist`` app installed (see settings).
* knox: its ``LoginView`` behind DRF's ``BasicAuthentication``, as knox's guide shows.

Ours are the package's own ``login/`` and ``refresh/`` under ``/api/auth/``.
"""

from __future__ import annotations

from typing import Any

from django.urls import path


def urlpatterns() -> list[Any]:
    from knox.views import LoginView as KnoxLoginView
    from rest_framework.authentication import BasicAuthentication
    from rest_framework.permissions import IsAuthenticated
    from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

    knox_login = KnoxLoginView.as_view(
        authentication_classes=[BasicAuthentication], permission_classes=[IsAuthenticated]
    )
    return [
        path("flows/simplejwt/login/", TokenObtainPairView.as_view()),
        path("flows/simplejwt/refresh/", TokenRefreshView.as_view()),
        path("flows/knox/login/", knox_login),
    ]
