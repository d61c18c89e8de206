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
from django.db import transaction
from django.db.models.signals import post_init, post_save, pre_delete, pre_save
from django.dispatch import Signal

from . import hashupgrade

session_created = Signal()
session_revoked = Signal()
refresh_token_reused = Signal()

# Fields whose change revokes a user's sessions.
_WATCHED_FIELDS = ("password", "is_active")


def _remember_loaded_hash(sender: Any, instance: Any, **kwargs: Any) -> None:
    # post_init: one dict write, no query. A deferred password is simply not remembered.
    loaded = instance.__dict__.get("password")
    if loaded is not None:
        instance.__dict__[hashupgrade.LOADED_HASH] = loaded


def _remember_old_values(
    sender: Any, instance: Any, update_fields: Any = None, using: Any = None, **kwargs: Any
) -> None:
    if instance.pk is None or instance._state.adding:
        return
    if update_fields is not None and not set(update_fields) & set(_WATCHED_FIELDS):
        # e.g. Django's update_last_login: nothing we watch can change, skip the query.
        return
    from .binding import STORED_INSTEAD

    for note in (STORED_INSTEAD, hashupgrade.REBOUND, hashupgrade.UNWRITTEN):
        instance.__dict__.pop(note, None)  # about an earlier save, not this one
    fields = [f for f in _WATCHED_FIELDS if hasattr(instance, f)]
    loaded = instance.__dict__.get(hashupgrade.LOADED_HASH)
    if (
        loaded is not None
        and loaded != instance.password
        and hashupgrade.is_hash_upgrade(instance, loaded, update_fields)
    ):
        instance._jwtsessions_old = hashupgrade.upgrade_once(
            sender, instance, loaded, fields, using
        )
        return
    old = sender._default_manager.filter(pk=instance.pk).values(*fields).first()
    instance._jwtsessions_old = old
    changed = bool(old) and "password" in old and old["password"] != instance.password
    if changed and hashupgrade.keeps_sessions(instance, old["password"], update_fields):
        hashupgrade.rebind(instance.pk, old["password"], instance.password, phase=1)


def _on_user_saved(
    sender: Any, instance: Any, created: bool, update_fields: Any = None, **kwargs: Any
) -> None:
    try:
        _credential_saved(instance, created, update_fields)
    finally:
        hashupgrade.restore_unwritten_upgrade(instance)
        if update_fields is None or "password" in update_fields:
            # The next save of this instance is judged against the hash it holds now.
            _remember_loaded_hash(sender, instance)


def _credential_saved(instance: Any, created: bool, update_fields: Any) -> None:
    old = instance.__dict__.pop("_jwtsessions_old", None)
    rebound = instance.__dict__.pop(hashupgrade.REBOUND, False)
    if created or not old:
        return
    was_active = bool(old.get("is_active", True))
    # A save that does not write is_active leaves the row's value: the instance's may be stale
    # (loaded before a concurrent deactivation), and taking it for the truth announced an
    # inactive user's credential as active (red team, 2026-11-30).
    writes_activity = update_fields is None or "is_active" in update_fields
    is_active = bool(getattr(instance, "is_active", True)) if writes_activity else was_active
    new_hash = getattr(instance, "password", "")
    password_changed = "password" in old and old["password"] != new_hash
    if not password_changed and was_active == is_active:
        return
    _apply_credential_change(
        instance,
        old_hash=old.get("password") or "",
        password_changed=password_changed,
        upgrade=password_changed
        and hashupgrade.is_hash_upgrade(instance, old["password"], update_fields),
        activity_changed=was_active != is_active,
        rebound=rebound,
        is_active=is_active,
    )


def _apply_credential_change(
    user: Any,
    *,
    old_hash: str,
    password_changed: bool,
    upgrade: bool,
    activity_changed: bool,
    rebound: bool = False,
    is_active: bool | None = None,
) -> None:
    """Revoke, re-bind and announce after a password change, a hash upgrade or (de)activation.

    Every session keeps a binding to the hash its login verified (jwtsessions.binding), so a
    session opened by a login that raced this change (its row not yet committed when the
    revoke below listed the sessions) is refused anyway. A hash upgrade, or a change with
    ``REVOKE_SESSIONS_ON_PASSWORD_CHANGE`` off, re-binds the sessions to the new hash instead.
    """
    from . import binding, refusals, sync
    from .models import ApiKey
    from .revocation import revoke_api_keys, revoke_user_sessions
    from .settings import jwt_settings

    if is_active is None:
        is_active = bool(getattr(user, "is_active", True))
    real_change = password_changed and not upgrade
    credential = binding.credential_value_of_row(getattr(user, "password", ""), is_active)
    key_ids: list[str] = []
    outer = transaction.get_connection().in_atomic_block
    with transaction.atomic():
        if not is_active:
            revoke_user_sessions(user, reason="user_deactivated")
        elif real_change and jwt_settings.REVOKE_SESSIONS_ON_PASSWORD_CHANGE:
            revoke_user_sessions(user, reason="password_changed")
        elif password_changed and not rebound:  # an upgrade re-binds with its write
            hashupgrade.rebind(user.pk, old_hash, user.password, phase=2)
        if real_change and jwt_settings.REVOKE_API_KEYS_ON_PASSWORD_CHANGE:
            revoke_api_keys(ApiKey.objects.filter(user_id=user.pk), reason="password_changed")
        if activity_changed:
            # Cached key entries carry no owner state: drop them, the next use reads it.
            key_ids = list(
                ApiKey.objects.filter(user_id=user.pk, revoked_at__isnull=True).values_list(
                    "public_id", flat=True
                )
            )
            sync.record("k", key_ids)
        sync.record("u", [user.pk], credential)
    writes = sync.writes_for("u", str(user.pk), credential)
    writes += [w for pid in key_ids for w in sync.writes_for("k", pid, "")]
    refusals.refuse(writes)
    if outer:
        # Again once committed: a fill that read the old row meanwhile must not stay behind.
        transaction.on_commit(lambda: refusals.refuse(writes, announce=False))


def _refuse_sessions_of_deleted_user(sender: Any, instance: Any, **kwargs: Any) -> None:
    # The cascade removes the rows; the log and the cache must hear of it, with the deletion.
    from . import binding, refusals, sync
    from .models import Session

    ids = list(Session.objects.filter(user_id=instance.pk).values_list("pk", flat=True))
    credential = binding.credential_value(None)
    sync.record("s", ids, "user_inactive")
    sync.record("u", [instance.pk], credential)
    writes = [w for sid in ids for w in sync.writes_for("s", sid, "user_inactive")]
    writes += sync.writes_for("u", str(instance.pk), credential)
    # Once the deletion commits (a rolled-back one refuses nothing); the log rows commit with
    # it, so a crash in between is still caught up by every process.
    transaction.on_commit(lambda: refusals.refuse(writes))


def connect_user_receivers() -> None:
    """Watch the user model for password changes and deactivation (called from ``ready()``)."""
    user_model = get_user_model()
    post_init.connect(
        _remember_loaded_hash, sender=user_model, dispatch_uid="jwtsessions.user.init"
    )
    pre_save.connect(_remember_old_values, sender=user_model, dispatch_uid="jwtsessions.user.pre")
    post_save.connect(_on_user_saved, sender=user_model, dispatch_uid="jwtsessions.user.post")
    pre_delete.connect(
        _refuse_sessions_of_deleted_user, sender=user_model, dispatch_uid="jwtsessions.user.delete"
    )
    from .apikeylog import connect_receivers

    connect_receivers()
