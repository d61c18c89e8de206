"""Django's automatic password-hash upgrade, told apart from a password change and written safely.

A login whose password is stored with an outdated hasher re-hashes it (``check_password`` then
``save(update_fields=["password"])``). That is no password change: the user's sessions must
survive it, re-bound to the new hash (:mod:`jwtsessions.binding`). Concurrent logins upgrade the
same hash each to their own, and a real change may race them: :func:`upgrade_once` writes an
upgrade only over the hash it was decided on. The receivers in :mod:`jwtsessions.signals` call
in here.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

# The password hash a user instance was loaded (or last saved) with: an upgrade is judged
# against it, not against the database's current hash (see is_hash_upgrade).
LOADED_HASH = "_jwtsessions_loaded_hash"
# From pre_save to post_save of an upgrade (see upgrade_once): its sessions are re-bound
# already; or its hash was not written (the instance gets it back after the save).
REBOUND = "_jwtsessions_rebound"
UNWRITTEN = "_jwtsessions_unwritten_hash"


def upgrade_once(
    sender: Any, instance: Any, loaded: str, fields: list[str], using: Any
) -> dict[str, Any] | None:
    """Write a hash upgrade only over the hash it was decided on, and re-bind with it.

    Logins that loaded the same outdated hash each upgrade it, to a hash of its own (a new
    salt); written one over the other, sessions would be left bound to a hash the database no
    longer holds. Django's ``UPDATE`` is unconditional and, in autocommit mode, in no
    transaction with this receiver, so this decides, in one transaction:

    * the row still holds ``loaded``: the new hash is written now (compare and set) and the
      live sessions re-bound with it, so no moment exists where the two disagree; Django's
      ``UPDATE`` then writes the same value again;
    * it holds another hash, locked and read: a concurrent upgrade or a real change came first,
      and only the raw password (gone by now) could tell which. The save writes that hash back,
      undoing nothing; :func:`restore_unwritten_upgrade` then gives the instance its own.

    Under ``ATOMIC_REQUESTS`` the lock lasts until the commit: concurrent upgrades of one user
    wait for each other (once per user and hasher change).
    """
    from django.db import connections

    db = using or "default"
    manager = sender._base_manager.db_manager(db)
    # NO KEY: a session or key insert (its foreign key check) need not wait for the lock.
    no_key = connections[db].features.has_select_for_no_key_update
    with transaction.atomic(using=db):
        # The write first: it takes the row's lock at once (SQLite's write lock too).
        won = manager.filter(pk=instance.pk, password=loaded).update(password=instance.password)
        locked = manager.select_for_update(no_key=no_key).filter(pk=instance.pk)
        rows = list(locked.values(*fields))  # no LIMIT (Oracle refuses it with FOR UPDATE)
        if not rows:
            return None  # deleted meanwhile: Django's save fails on its own
        if won:
            rebind(instance.pk, loaded, instance.password, phase=2, using=db)
            instance.__dict__[REBOUND] = True
            return {**rows[0], "password": loaded}
        instance.__dict__[UNWRITTEN] = instance.password
        instance.password = rows[0]["password"]
    return dict(rows[0])


def keeps_sessions(instance: Any, old_hash: str, update_fields: Any) -> bool:
    """A hash change the sessions survive: an upgrade, or any change with revocation off."""
    from .settings import jwt_settings

    if not getattr(instance, "is_active", True):
        return False
    if is_hash_upgrade(instance, old_hash, update_fields):
        return True
    return not jwt_settings.REVOKE_SESSIONS_ON_PASSWORD_CHANGE


def rebind(
    user_id: Any, old_hash: str, new_hash: str, *, phase: int, using: str | None = None
) -> None:
    """Move the user's live sessions from the old hash's binding to the new one's.

    In two steps around the user's own save, so that no moment exists where the database
    holds a hash the sessions do not match: before it, sessions accept both hashes; after it,
    only the new one (sessions a concurrent login inserted meanwhile included).
    """
    from . import binding
    from .models import Session

    new = binding.binding_of(new_hash)
    both = binding.either(binding.binding_of(old_hash), new)
    olds = binding.all_bindings_of(old_hash)
    live = Session.objects.using(using).filter(user_id=user_id, revoked_at__isnull=True)
    if phase == 1:
        live.filter(binding__in=olds).update(binding=both)
    else:
        live.filter(binding__in=[both, *olds]).update(binding=new)


def is_hash_upgrade(instance: Any, old_hash: str, update_fields: Any) -> bool:
    """Whether a save only re-hashed the same password (Django's automatic upgrade).

    Django's ``check_password`` upgrades a hash by ``set_password(raw)``, then
    ``_password = None`` ("hash upgrades shouldn't be considered password changes"), then
    ``save(update_fields=["password"])``. A real change through ``set_password`` keeps the raw
    password in ``_password`` until the save. A hash assigned directly is a change: nothing
    called ``set_password`` on the instance (``_password`` was never set on it); otherwise the
    old hash must be one the preferred hasher would upgrade and the new one the preferred kind.
    """
    from django.contrib.auth.hashers import get_hasher, identify_hasher

    if "_password" not in instance.__dict__ or instance._password is not None:
        # Never set: the hash was assigned directly (an upgrade written over a concurrent
        # change's hash would undo it, see upgrade_once). Set: a change through set_password.
        return False
    if update_fields is None or set(update_fields) != {"password"}:
        return False
    # Judged against the hash this instance was loaded with: Django's check_password decided to
    # upgrade on that one. The database's may already be a concurrent login's upgrade (not
    # upgradable any more), which would make this second upgrade look like a change.
    old_hash = instance.__dict__.get(LOADED_HASH, old_hash)
    try:
        old_hasher = identify_hasher(old_hash)
        new_hasher = identify_hasher(instance.password)
    except ValueError:
        return False
    preferred = get_hasher("default")
    upgradable = old_hasher.algorithm != preferred.algorithm or preferred.must_update(old_hash)
    return upgradable and new_hasher.algorithm == preferred.algorithm


def restore_unwritten_upgrade(instance: Any) -> None:
    """After an upgrade that was not written (see upgrade_once): the instance's own hash back.

    Its password was verified against the hash it was loaded with and re-hashed into this one,
    so checks that trust ``instance.password`` (Django's session auth hash, an API key's
    verified credential) still mean "the password this caller proved". The database's hash
    is noted for :func:`jwtsessions.binding.verified_hash`.
    """
    from .binding import STORED_INSTEAD

    own = instance.__dict__.pop(UNWRITTEN, None)
    if own is not None:
        instance.__dict__[STORED_INSTEAD] = instance.password
        instance.password = own
