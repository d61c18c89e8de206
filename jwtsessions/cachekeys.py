"""The cache's vocabulary: key prefixes, entry shapes, lifetimes, and the refusal exception.

Entries (every one but the log mark has a TTL, so any ``maxmemory-policy`` may evict it; see
docs/design.md):

* ``jws:s:<session id>``: ``(user id, expires_at, refreshed_at, binding)`` for a usable session,
  ``("", code)`` for a refused one.
* ``jws:c:<user id>``: the user's current credential binding (see :mod:`jwtsessions.binding`),
  or ``"!<code>"`` when the user is inactive or deleted.
* ``jws:b:<jti>``: ``1`` when the token id is blacklisted. Its absence is not read as "not
  blacklisted": each process's own list decides (see :mod:`jwtsessions.blacklist`).
* ``jws:k:<public id>``: an API key's state (see :mod:`jwtsessions.apikeycache`).
* ``jws:u:<session id>``: when the session was last used (display only).
* ``jws:logmark``: the one key without a TTL (see :mod:`jwtsessions.logmark`); evicted or lost,
  it only makes the next catch-up replay the recent refusals.
"""

from __future__ import annotations

from datetime import timedelta

from .settings import jwt_settings

SESSION_KEY = "jws:s:"
CREDENTIAL_KEY = "jws:c:"
BLACKLIST_KEY = "jws:b:"
SEEN_KEY = "jws:u:"
API_KEY_KEY = "jws:k:"

# Negative session entries: the first element is empty and the second is the refusal code.
REVOKED = "session_revoked"
MISSING = "missing"
# Prefix of a credential entry that refuses every session of the user.
CREDENTIAL_REFUSED = "!"

# A "last seen" stamp is display data: it never needs to outlive a day of silence (the database
# column, written by refresh and logout, keeps the rest), and it is deleted on revocation.
SEEN_TTL_CAP = int(timedelta(days=1).total_seconds())


class Refusal(Exception):
    """Authentication refused with a contract error code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def negative_ttl() -> int:
    """How long a refusal is kept: as long as any token it refuses could still be presented.

    Safety does not depend on it (a missing entry reads the database), but two things do:
    every replay of a revoked token (clients retry, attackers replay) is answered without a
    query, and the refusal outlives any fill that read the database just before the
    revocation, so that fill's ``add`` can never land. Past the longest token lifetime plus
    ``LEEWAY`` the signature check refuses first, so a longer life would only waste memory.
    """
    config = jwt_settings.config
    lifetime = max(config.ACCESS_TOKEN_LIFETIME, config.SERVICE_TOKEN_LIFETIME)
    return int((lifetime + config.LEEWAY).total_seconds()) + 1


def positive_ttl() -> int:
    """Longest life of an entry that lets a credential in (a stale one must die soon)."""
    return max(int(jwt_settings.SESSION_CACHE_TTL.total_seconds()), 1)
