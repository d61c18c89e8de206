"""Creating an API key: drawing it, inserting its row and caching it, race-free with a
password change or a deactivation of its owner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils.crypto import constant_time_compare

from . import apikeycache
from .apikeycodec import codec
from .models import ApiKey


class CredentialChanged(Exception):
    """The owner's password changed, or the owner was deactivated, while a key was created."""


def create_api_key(
    user: Any,
    name: str,
    scopes: Sequence[str] = (),
    expires_at: datetime | None = None,
    *,
    verified_password_hash: str | Callable[[str], bool] | None = None,
) -> tuple[ApiKey, str]:
    """Create a key for ``user``; return the row and the whole key (to show once, never log).

    ``verified_password_hash`` is the hash the caller's password was just checked against
    (``POST api-keys/``), or a test of the stored hash (the session's binding): if the owner's
    stored hash no longer passes, or the owner is inactive, nothing is created and
    :class:`CredentialChanged` is raised.
    """
    for _attempt in range(3):
        public_id, key, digest = codec.generate()
        api_key = ApiKey(
            user=user,
            name=name,
            public_id=public_id,
            digest=digest,
            scopes=list(scopes),
            expires_at=expires_at,
        )
        try:
            with transaction.atomic():
                api_key.save(force_insert=True)
                if _owner_still_holds(user, verified_password_hash):
                    apikeycache.warm(api_key)
        except IntegrityError:
            # A public id collision (72 random bits: practically never): draw again.
            if ApiKey.objects.filter(public_id=public_id).exists():
                continue
            raise
        return api_key, key
    raise RuntimeError("could not draw a unique API key id")


def _owner_still_holds(user: Any, verified: str | Callable[[str], bool] | None) -> bool:
    """Lock the owner's row, inside the key's transaction, and read its credential again.

    Raises :class:`CredentialChanged` (rolling the new key back) when a password was verified
    and the stored hash is no longer that one, or the owner is inactive. Returns whether the
    owner is active, i.e. whether the new key may be cached as usable.

    Why the lock closes the race with a password change or a deactivation (the user's
    ``post_save`` lists and revokes the keys *after* its ``UPDATE`` of the user row), whatever
    the order of the writes under READ COMMITTED:

    * we lock first: the change's ``UPDATE`` waits for our commit, so its later listing of the
      user's keys sees this key and revokes it (or, for a deactivation, refuses it), and our
      cache entry, written before our commit, is overwritten by that refusal;
    * the change's ``UPDATE`` comes first: our ``SELECT ... FOR UPDATE`` waits for its commit
      and reads the new hash or ``is_active``, and we refuse.

    The key row is inserted before the lock is taken so that SQLite (which ignores
    ``FOR UPDATE``) is covered too: the insert takes the database's write lock, so a change
    either committed before it (and the read below sees it) or waits for our commit.
    """
    user_model = get_user_model()
    fields = ["password"]
    if any(f.name == "is_active" for f in user_model._meta.concrete_fields):
        fields.append("is_active")
    row = user_model._base_manager.select_for_update().filter(pk=user.pk).values(*fields).first()
    active = row is not None and bool(row.get("is_active", True))
    if verified is None:
        return active
    stored = str(row["password"]) if row is not None else ""
    holds = verified(stored) if callable(verified) else constant_time_compare(stored, verified)
    if not (active and holds):
        raise CredentialChanged()
    return True
