"""Binding a session to the credential it was opened with (like Django's session auth hash).

A session stores ``binding(password hash the login verified)``: an HMAC keyed by
``SECRET_KEY``, so the hash itself is never copied and a leaked sessions table tells nothing
about it. A session is usable only while its binding matches the user's current hash (any
``SECRET_KEY_FALLBACKS`` key is accepted, as Django does, so rotating the key logs nobody out).

This closes the login/password-change race whatever the order of the writes: the binding is
computed from the hash the login *verified* (the user object ``authenticate()`` returned), not
re-read after it, so a password committed after that check always mismatches.

An automatic hash upgrade (a new hasher first in ``PASSWORD_HASHERS``) changes the hash but not
the password: :mod:`jwtsessions.signals` re-binds the user's sessions to the new hash instead
of refusing them. Of several logins that upgrade the same outdated hash at once, only the
first writes its hash; the others bind to it once their password checks out against it
(:func:`verified_hash`).
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.conf import settings as django_settings
from django.contrib.auth.hashers import check_password
from django.utils.crypto import constant_time_compare, salted_hmac

from .cachekeys import CREDENTIAL_REFUSED

_SALT = "jwtsessions.binding.session-credential"
BINDING_LENGTH = 32  # Session.binding has room for two and a space (see either())
# Noted on a user instance whose hash upgrade was not written because the database no longer
# held the hash it was decided on (jwtsessions.signals): the database's hash, not verified.
STORED_INSTEAD = "_jwtsessions_stored_instead"


def _hmac(password_hash: str, secret: Any) -> str:
    digest = salted_hmac(_SALT, password_hash or "", secret=secret, algorithm="sha256")
    return digest.hexdigest()[:BINDING_LENGTH]


def binding_of(password_hash: str | None) -> str:
    """The binding of a password hash under the current ``SECRET_KEY``."""
    return _hmac(password_hash or "", django_settings.SECRET_KEY)


def all_bindings_of(password_hash: str | None) -> list[str]:
    """The binding under ``SECRET_KEY`` and under each of ``SECRET_KEY_FALLBACKS``."""
    keys = [django_settings.SECRET_KEY, *getattr(django_settings, "SECRET_KEY_FALLBACKS", [])]
    return [_hmac(password_hash or "", key) for key in keys]


def verified_hash(user: Any, password: Any = None) -> str:
    """The hash to bind a new session of ``user`` to: one its login's password checked out against.

    That is the hash ``user`` holds, except after a hash upgrade that lost to another login's
    upgrade of the same outdated hash: the database then holds the other's hash, the same
    password re-hashed, or a real change's hash if a password change came first. Only the raw
    ``password`` tells which: one hash check, in that race only, and no query. Without it (or
    if it does not match) the session is bound to the instance's own hash, never written, so it
    is refused: fail closed.
    """
    held = str(getattr(user, "password", "") or "")
    stored = getattr(user, "__dict__", {}).get(STORED_INSTEAD)
    if not stored or not isinstance(password, str) or not password:
        return held
    # No setter: a check, never a write.
    return str(stored) if check_password(password, stored) else held


def either(old: str, new: str) -> str:
    """A binding that matches two hashes: held only while a re-bind is in flight."""
    return f"{old} {new}"


def matches(binding: str, password_hash: str | None) -> bool:
    """Whether a session's binding was made from ``password_hash`` (under any accepted key)."""
    candidates = all_bindings_of(password_hash)
    return any(
        constant_time_compare(part, candidate)
        for part in binding.split()
        for candidate in candidates
    )


def credential_value(user: Any) -> str:
    """What the ``jws:c:<user id>`` entry holds for ``user`` (``None``: deleted)."""
    if user is None:
        return CREDENTIAL_REFUSED + "user_inactive"
    if not getattr(user, "is_active", True):
        return CREDENTIAL_REFUSED + "user_inactive"
    return binding_of(getattr(user, "password", ""))


def credential_value_of_row(password_hash: str | None, is_active: bool | None) -> str:
    """:func:`credential_value` from database columns (``is_active`` ``None``: no such user)."""
    if not is_active:
        return CREDENTIAL_REFUSED + "user_inactive"
    return binding_of(password_hash)


def verification_transaction() -> contextlib.AbstractContextManager[Any]:
    """Where to run a login's password check: a transaction on databases with row locks.

    A check may upgrade the hash; the upgrade is written over the hash it was decided on with
    the user row locked (:mod:`jwtsessions.signals`), and Django then repeats the value with an
    ``UPDATE`` of its own. Outside a transaction the lock ends before that ``UPDATE``, and a
    password change committed in between was written over with a hash of the old password
    (red team, 2026-11-30: 1-2 rounds in 6 with 18 concurrent upgrading logins). Inside one the
    change waits for the login's commit and wins. SQLite has no row locks, and a transaction
    there would only turn concurrent logins into "database is locked".
    """
    from django.contrib.auth import get_user_model
    from django.db import connections, router, transaction

    alias = router.db_for_write(get_user_model())
    if connections[alias].features.has_select_for_update:
        return transaction.atomic(using=alias)
    return contextlib.nullcontext()
