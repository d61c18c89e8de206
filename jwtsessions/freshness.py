"""Fail closed when this process cannot vouch for the refusals committed to the database.

The promise (docs/design.md): a revocation committed to the database is enforced by every
process within ``REVOCATION_SYNC_INTERVAL``, whatever the cache does. A process enforces the
refusals the cache missed by catching up from the refusal log (:mod:`jwtsessions.sync`); when it
cannot read the database, the cache and its per-process copy may both still say "active" for a
credential revoked elsewhere. So a process whose last successful catch-up started more than
``REVOCATION_SYNC_INTERVAL`` + :data:`GRACE` ago admits no credential at all: session tokens, API
keys and service tokens get a 503 ``temporarily_unavailable`` (with ``Retry-After``) until a
catch-up succeeds again, which the next request after the database comes back attempts.

Why a grace, and why this one: a catch-up is due once per interval and is attempted by the
first request after it is due, so even with a healthy database the last success is routinely
a little more than one interval old when the next one runs (the query's own round trips, a
busy worker, a process idle for a while whose first request pays for it). Half a second covers
that on a loaded machine without widening the promise much; a failed catch-up is retried at
most a second later (:func:`jwtsessions.sync.catch_up`), so a single dropped query costs at
most that long in 503s, never an admission past the bound.
"""

from __future__ import annotations

import time

from . import sync
from .exceptions import TemporarilyUnavailable
from .settings import jwt_settings

#: Seconds allowed beyond ``REVOCATION_SYNC_INTERVAL`` (see the module doc).
GRACE = 0.5


def bound() -> float:
    """How old (seconds) the last successful catch-up may be while credentials are admitted."""
    return jwt_settings.REVOCATION_SYNC_INTERVAL.total_seconds() + GRACE


def vouched() -> bool:
    """Catch up if due; ``True`` if the per-process copy may be used.

    ``False``: the last catch-up failed but the one before is recent enough, so the cache (and
    the database) may still decide, not the copy. Raises :class:`TemporarilyUnavailable` when
    this process has no successful catch-up within :func:`bound`.
    """
    if sync.catch_up():
        return True
    last = sync.caught_up_at()
    if last is None or time.monotonic() - last > bound():
        raise TemporarilyUnavailable()
    return False
