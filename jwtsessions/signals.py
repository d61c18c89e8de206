"""Signals the app sends, and the receivers that revoke sessions when a user changes.

* ``session_created(sender=Session, session, request)``: after a login.
* ``session_revoked(sender=Session, session_ids, reason)``: after sessions were revoked, for
  any reason (logout, admin, password change, refresh-token reuse...).
* ``refresh_token_reused(sender=Session, session, request)``: a rotated refresh token came
  back after the grace window; the session has already been revoked.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save, pre_delete, pre_save
from django.dispatch import Signal

session_created = Signal()
session_revoked = Signal()
refresh_token_reused = Signal()

# Fields whose change revokes a user's sessions.
_WATCHED_FIELDS = ("password", "is_active")


def _remember_old_values(
    sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any
) -> None:
    if instance.pk is None or instance._state.adding:
        return
    if update_fields is not None and not set(update_fields) & set(_WATCHED_FIELDS):
        # e.g. Django's update_last_login: nothing we watch can change, skip the query.
        return
    fields = [f for f in _WATCHED_FIELDS if hasattr(instance, f)]
    old = sender._default_manager.filter(pk=instance.pk).values(*fields).first()
    instance._jwtsessions_old = old


def _revoke_on_change(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    old = instance.__dict__.pop("_jwtsessions_old", None)
    if created or not old:
        return
    from .revocation import revoke_user_sessions
    from .settings import jwt_settings

    if old.get("is_active") and not getattr(instance, "is_active", True):
        revoke_user_sessions(instance, reason="user_deactivated")
    elif (
        "password" in old
        and old["password"] != instance.password
        and jwt_settings.REVOKE_SESSIONS_ON_PASSWORD_CHANGE
    ):
        revoke_user_sessions(instance, reason="password_changed")


def _refuse_sessions_of_deleted_user(sender: Any, instance: Any, **kwargs: Any) -> None:
    # The cascade removes the rows; the cache must hear of it too, once the deletion commits.
    from django.db import transaction

    from . import store
    from .models import Session

    ids = list(Session.objects.filter(user_id=instance.pk).values_list("pk", flat=True))
    if ids:
        transaction.on_commit(lambda: store.cache_refusals(ids, "user_inactive"))


def connect_user_receivers() -> None:
    """Watch the user model for password changes and deactivation (called from ``ready()``)."""
    user_model = get_user_model()
    pre_save.connect(_remember_old_values, sender=user_model, dispatch_uid="jwtsessions.user.pre")
    post_save.connect(_revoke_on_change, sender=user_model, dispatch_uid="jwtsessions.user.post")
    pre_delete.connect(
        _refuse_sessions_of_deleted_user, sender=user_model, dispatch_uid="jwtsessions.user.delete"
    )
