"""``MAX_SESSIONS_PER_USER``: a login beyond the limit revokes the user's oldest sessions.

Concurrent logins take no lock. Each login, after its own session is committed, ranks the
user's live sessions newest first by ``(created_at, id)`` and revokes, through
:mod:`jwtsessions.revocation` (reason ``session_limit``), exactly the ones it saw beyond the
limit; never a session it did not see. Every login ranks by the same total order and a
revocation is idempotent, so a session among the newest N overall is never revoked by anyone,
and the last login to commit sees every session and revokes the rest: once concurrent logins
have returned, exactly the newest N are active. In between, for the few milliseconds from a
login's insert to its trim, N + 1 may be.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from .models import Session
from .revocation import revoke_sessions
from .settings import jwt_settings

REASON = "session_limit"


def enforce_session_limit(session: Session) -> list[str]:
    """Revoke the oldest live sessions of ``session``'s user beyond the limit; return their ids."""
    limit = jwt_settings.MAX_SESSIONS_PER_USER
    if limit is None:
        return []
    now = timezone.now()
    alive: dict[str, Any] = {"revoked_at__isnull": True, "expires_at__gt": now}
    idle = jwt_settings.SESSION_IDLE_TIMEOUT
    if idle is not None:
        alive["refreshed_at__gt"] = now - idle
    ranked = (
        Session.objects.filter(user_id=session.user_id, **alive)
        .order_by("-created_at", "-pk")
        .values_list("pk", flat=True)
    )
    beyond = list(ranked[max(limit, 1) :])
    if not beyond:
        return []
    return revoke_sessions(Session.objects.filter(pk__in=beyond), reason=REASON)
