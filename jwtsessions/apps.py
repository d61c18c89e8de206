from __future__ import annotations

from django.apps import AppConfig


class JWTSessionsConfig(AppConfig):
    name = "jwtsessions"
    label = "jwtsessions"
    verbose_name = "JWT sessions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import apikeys, checks, signals

        checks.register()
        signals.connect_user_receivers()
        apikeys.connect_receivers()
