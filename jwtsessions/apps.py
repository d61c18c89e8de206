from __future__ import annotations

from django.apps import AppConfig, apps
from django.utils.translation import gettext_lazy as _


class JWTSessionsConfig(AppConfig):
    name = "jwtsessions"
    label = "jwtsessions"
    verbose_name = _("JWT sessions")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import apikeycache, checks, signals

        checks.register()
        if apps.is_installed("drf_spectacular"):
            # The OpenAPI extensions register themselves on import; only with drf-spectacular.
            from . import openapi  # noqa: F401
        signals.connect_user_receivers()
        apikeycache.connect_receivers()
