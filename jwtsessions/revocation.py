"""Revoking sessions, tokens and API keys: the one path every endpoint, admin action and
command goes through, so the database and the cache never disagree for long.

Each function writes the database first (the change and its rows in the refusal log, in one
transaction), then the cache. With a healthy cache the refusal holds in every process before the
function returns; if the cache write fails, every process still enforces it within
``REVOCATION_SYNC_INTERVAL`` by catching up from the log (:mod:`jwtsessions.sync`).

A raw ORM ``update()`` of these tables bypasses both the log and the cache (as with Django's
``cached_db`` sessions) and may be ignored until the cached entry expires
(``SESSION_CACHE_TTL``): use these functions.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import cachehealth, store, sync
from .models import REASON_MAX_LENGTH, ApiKey, BlacklistedToken, Session
from .settings import jwt_settings
from .signals import session_revoked


@dataclasses.dataclass
class CacheReport:
    """What :func:`track_cache_writes` saw: did every cache write of the revocations succeed?"""

    cache_ok: bool = True


@contextlib.contextmanager
def track_cache_writes() -> Iterator[CacheReport]:
    """Report whether the cache took every refusal written inside the block.

    Commands and admin actions use it to tell the truth: the database is always updated; a
    failed cache write is still enforced within ``REVOCATION_SYNC_INTERVAL``. Blocks nest; a
    failure is reported to every enclosing block.
    """
    report = CacheReport()
    with cachehealth.tracking(report):
        yield report


def _reason(reason: str) -> str:
    return (reason or "")[:REASON_MAX_LENGTH]


def _actor_id(actor: Any) -> Any:
    """The primary key of whoever revoked (a user or a pk); ``None`` for the system."""
    return getattr(actor, "pk", actor)


# Keys per UPDATE: a stock SQLite binds at most 32,766 values a statement (older builds 999),
# and PostgreSQL plans one 10,000-item IN as a scan of the table.
_UPDATE_CHUNK = 1000


def _lock_active(queryset: Any, field: str) -> list[Any]:
    """``field`` of the active rows of ``queryset``, each row locked until the transaction ends.

    Locked in primary-key order, whatever order the caller's queryset had (an admin
    changelist's): two revocations of overlapping rows sorted differently locked them in
    opposite orders and deadlocked (red team, 2026-11-30: a 500 for one operator).
    """
    active = queryset.filter(revoked_at__isnull=True).order_by("pk").select_for_update()
    return list(active.values_list(field, flat=True))


def _chunks(values: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(values), _UPDATE_CHUNK):
        yield values[start : start + _UPDATE_CHUNK]


def revoke_sessions(queryset: Any, reason: str = "", *, actor: Any = None) -> list[str]:
    """Revoke every active session in ``queryset``; return the ids that were revoked now.

    ``actor`` is the user (or user pk) who revoked, stored in ``revoked_by``; leave it ``None``
    when the system revokes (``reason`` then says why: ``password_changed``, ``session_limit``).
    """
    now = timezone.now()
    with transaction.atomic():
        ids = _lock_active(queryset, "pk")
        for chunk in _chunks(ids):
            Session.objects.filter(pk__in=chunk).update(
                revoked_at=now, revoke_reason=_reason(reason), revoked_by_id=_actor_id(actor)
            )
        if ids:
            sync.record("s", ids, store.REVOKED)
    if ids:
        store.cache_refusals(ids)
        session_revoked.send(sender=Session, session_ids=ids, reason=reason)
    return ids


def revoke_session(session_or_id: Session | str, reason: str = "", *, actor: Any = None) -> bool:
    """Revoke one session. Returns ``False`` if it was already revoked or does not exist."""
    session_id = session_or_id.pk if isinstance(session_or_id, Session) else str(session_or_id)
    return bool(revoke_sessions(Session.objects.filter(pk=session_id), reason, actor=actor))


def revoke_user_sessions(
    user: Any, reason: str = "", keep: Session | str | None = None, *, actor: Any = None
) -> int:
    """Revoke every session of ``user`` (a user or a primary key), except ``keep`` if given."""
    user_id = getattr(user, "pk", user)
    queryset = Session.objects.filter(user_id=user_id)
    if keep is not None:
        queryset = queryset.exclude(pk=keep.pk if isinstance(keep, Session) else keep)
    return len(revoke_sessions(queryset, reason, actor=actor))


def _default_blacklist_expiry() -> datetime:
    config = jwt_settings.config
    lifetime = max(config.ACCESS_TOKEN_LIFETIME, config.SERVICE_TOKEN_LIFETIME)
    return timezone.now() + lifetime + config.LEEWAY + timedelta(seconds=1)


def _claims_of(token: str) -> dict[str, Any]:
    from . import tokens

    config = jwt_settings.config
    kinds = (
        (tokens.ACCESS_TOKEN_TYPE, config.ACCESS_TOKEN_LIFETIME),
        (tokens.SERVICE_TOKEN_TYPE, config.SERVICE_TOKEN_LIFETIME),
    )
    for token_type, lifetime in kinds:
        try:
            return tokens.decode(token, token_type, required=["jti"], max_lifetime=lifetime)
        except tokens.TokenError as exc:
            if exc.code == "token_expired":
                return {}
    raise ValueError("not a token issued by this server")


def blacklist_token(
    token_or_jti: str, expires_at: datetime | None = None, reason: str = ""
) -> BlacklistedToken | None:
    """Refuse a token (given whole, or by its ``jti``) until it expires.

    A whole token is verified first, so only tokens this server issued can be listed; one that
    has already expired needs no entry and ``None`` is returned. For a bare ``jti`` without
    ``expires_at``, the entry lasts as long as the longest token lifetime.
    """
    jti = token_or_jti
    if token_or_jti.count(".") == 2:
        claims = _claims_of(token_or_jti)
        if not claims:
            return None
        jti = claims["jti"]
        # The token is accepted until exp + LEEWAY: the entry must last as long.
        expires_at = expires_at or (
            datetime.fromtimestamp(claims["exp"], tz=dt_timezone.utc)
            + jwt_settings.LEEWAY
            + timedelta(seconds=1)
        )
    expires_at = expires_at or _default_blacklist_expiry()
    with transaction.atomic():
        entry, _ = BlacklistedToken.objects.update_or_create(
            jti=jti, defaults={"expires_at": expires_at, "reason": _reason(reason)}
        )
        sync.record("b", [jti], str(int(expires_at.timestamp()) + 1))
    sync.note_listed(jti, expires_at.timestamp() + 1)
    store.cache_blacklisted(jti, expires_at)
    return entry


def revoke_api_key(
    api_key_or_id: ApiKey | int | str, reason: str = "", *, actor: Any = None
) -> bool:
    """Revoke an API key (by instance, primary key or public id). The next request fails."""
    if isinstance(api_key_or_id, ApiKey):
        queryset = ApiKey.objects.filter(pk=api_key_or_id.pk)
    elif isinstance(api_key_or_id, int) or str(api_key_or_id).isdigit():
        queryset = ApiKey.objects.filter(pk=int(api_key_or_id))
    else:
        queryset = ApiKey.objects.filter(public_id=str(api_key_or_id))
    return bool(revoke_api_keys(queryset, reason, actor=actor))


def revoke_api_keys(queryset: Any, reason: str = "", *, actor: Any = None) -> list[str]:
    """Revoke every active key in ``queryset``; return the public ids revoked now."""
    now = timezone.now()
    with transaction.atomic():
        public_ids = _lock_active(queryset, "public_id")
        for chunk in _chunks(public_ids):
            ApiKey.objects.filter(public_id__in=chunk, revoked_at__isnull=True).update(
                revoked_at=now, revoke_reason=_reason(reason), revoked_by_id=_actor_id(actor)
            )
        if public_ids:
            sync.record("k", public_ids, "api_key_revoked")
    if public_ids:
        store.cache_api_key_refusals(public_ids)
    return public_ids
