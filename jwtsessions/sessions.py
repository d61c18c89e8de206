"""The life of a session: login issues a token pair, refresh rotates it, reuse revokes it.

A refresh token reads ``<session id>.<generation>.<secret>.<tag>``: 256 random bits, the
number of rotations the session had when it was issued, and an HMAC tag that proves the
server issued it. The database keeps only the SHA-256 of the current token. Consuming it is
one conditional ``UPDATE`` (current hash, current generation, session alive), so of any number
of concurrent refreshes exactly one wins. A genuine token of an older generation is a rotated
one: the immediate predecessor within ``REFRESH_REUSE_GRACE`` is an honest race and only
refused; anything else is reuse, and the session is revoked.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
from typing import Any

from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Exists, OuterRef, Q, Subquery
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from . import binding, customization, limits, refreshswap, returning, store, tokens
from .models import Session
from .requestinfo import client_ip as client_ip  # re-exported: it lived here
from .requestinfo import user_agent
from .revocation import revoke_session
from .settings import jwt_settings
from .signals import refresh_token_reused, session_created
from .store import Refusal

MAX_REFRESH_TOKEN_LENGTH = 200
_TAG_SALT = "jwtsessions.sessions.refresh-token"
_LOGOUT_SALT = "jwtsessions.sessions.logout-proof"


@dataclasses.dataclass(frozen=True)
class TokenPair:
    """What login and refresh hand out."""

    access: str
    refresh: str
    expires_in: int
    session: Session

    @property
    def refresh_expires_in(self) -> int:
        """Seconds until the session's absolute end: the refresh cookie's Max-Age."""
        return max(int((self.session.expires_at - timezone.now()).total_seconds()), 0)


def refresh_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _tag(body: str, secret: Any, salt: str = _TAG_SALT) -> str:
    digest = salted_hmac(salt, body, secret=secret, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def _tag_is_valid(body: str, tag: str, salt: str = _TAG_SALT) -> bool:
    secrets_to_try = [
        django_settings.SECRET_KEY,
        *getattr(django_settings, "SECRET_KEY_FALLBACKS", []),
    ]
    return any(constant_time_compare(_tag(body, secret, salt), tag) for secret in secrets_to_try)


def logout_proof(session_id: str) -> str:
    """A value that lets its holder revoke one session and do nothing else.

    Cookie mode keeps it in a cookie sent only to the logout endpoint and living as long as the
    session, so a browser whose access cookie has already expired can still log out for real.
    """
    return f"{session_id}.{_tag(session_id, django_settings.SECRET_KEY, _LOGOUT_SALT)}"


def session_of_logout_proof(value: Any) -> str | None:
    """The session id a genuine :func:`logout_proof` names, else ``None``."""
    if not isinstance(value, str) or len(value) > MAX_REFRESH_TOKEN_LENGTH:
        return None
    session_id, _, tag = value.rpartition(".")
    if not session_id or not _tag_is_valid(session_id, tag, _LOGOUT_SALT):
        return None
    return session_id


def new_refresh_token(session_id: str, generation: int) -> str:
    body = f"{session_id}.{generation}.{secrets.token_urlsafe(32)}"
    return f"{body}.{_tag(body, django_settings.SECRET_KEY)}"


def parse_refresh_token(token: Any) -> tuple[str, int]:
    """The session id and generation of a genuine refresh token, else ``Refusal``."""
    if not isinstance(token, str) or len(token) > MAX_REFRESH_TOKEN_LENGTH:
        raise Refusal("refresh_invalid")
    parts = token.split(".")
    if len(parts) != 4 or not parts[1].isascii() or not parts[1].isdigit() or len(parts[1]) > 9:
        raise Refusal("refresh_invalid")
    body, tag = token.rsplit(".", 1)
    if not _tag_is_valid(body, tag):
        raise Refusal("refresh_invalid")
    return parts[0], int(parts[1])


def issue_access_token(
    session_id: str, user_id: Any, extra: dict[str, Any] | None = None
) -> tuple[str, int]:
    """A signed access token for a session, and its lifetime in seconds.

    ``extra`` holds checked, namespaced claims (``TOKEN_CLAIMS``); they never replace ours.
    """
    lifetime = jwt_settings.ACCESS_TOKEN_LIFETIME
    claims = {
        **(extra or {}),
        "sub": str(user_id),
        "sid": session_id,
        **tokens.standard_claims(lifetime),
    }
    return tokens.encode(claims, tokens.ACCESS_TOKEN_TYPE), int(lifetime.total_seconds())


def _state(session: Session) -> store.SessionState:
    return store.SessionState(
        session.pk,
        str(session.user_id),
        int(session.expires_at.timestamp()),
        int(session.refreshed_at.timestamp()),
        binding=session.binding,
    )


def _pair(session: Session, refresh: str) -> TokenPair:
    extra = customization.extra_claims(session)
    access, expires_in = issue_access_token(session.pk, session.user_id, extra)
    return TokenPair(access, refresh, expires_in, session)


def create_session(
    user: Any, request: HttpRequest | None = None, *, password: str | None = None
) -> TokenPair:
    """Start a new session for ``user`` (one per login) and return its first token pair.

    ``user`` must be the object the login verified (what ``authenticate()`` returned): the
    session is bound to the password hash it holds (:mod:`jwtsessions.binding`), so a password
    change committed after that check refuses this session, whatever the order of the writes.
    ``password``, the raw password the login checked (used, never kept), lets a login whose
    hash upgrade lost to a concurrent login's bind to the winner's hash instead of being
    refused (:func:`jwtsessions.binding.verified_hash`).
    """
    now = timezone.now()
    session = Session(
        user=user,
        binding=binding.binding_of(binding.verified_hash(user, password)),
        created_at=now,
        last_used_at=now,
        refreshed_at=now,
        expires_at=now + jwt_settings.REFRESH_TOKEN_LIFETIME,
        ip_address=client_ip(request) if request is not None else None,
        user_agent=user_agent(request),
    )
    refresh = new_refresh_token(session.pk, 0)
    session.refresh_hash = refresh_token_hash(refresh)
    session.save(force_insert=True)
    store.cache_session(_state(session))
    limits.enforce_session_limit(session)
    session_created.send(sender=Session, session=session, request=request)
    return _pair(session, refresh)


def _user_password() -> Any:
    """The password hash of a session's user, as an expression on sessions."""
    user_model = get_user_model()
    return Subquery(user_model._base_manager.filter(pk=OuterRef("user_id")).values("password")[:1])


def _user_is_active() -> Any:
    """A condition on sessions: their user is active (always true without ``is_active``)."""
    user_model = get_user_model()
    try:
        user_model._meta.get_field("is_active")
    except FieldDoesNotExist:
        return Q()
    return Exists(user_model._base_manager.filter(pk=OuterRef("user_id"), is_active=True))


def _swap_parts(values: dict[str, Any]) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The refresh's compare-and-swap as ORM parts: the row it may update (the current token of
    a live session of an active user), the new values, and the user's current hash to return."""
    alive: dict[str, Any] = {"revoked_at__isnull": True, "expires_at__gt": values["alive_after"]}
    if "idle_after" in values:
        alive["refreshed_at__gt"] = values["idle_after"]
    queryset = Session.objects.filter(
        refresh_hash=values["old_hash"], refresh_generation=values["old_generation"], **alive
    ).filter(_user_is_active())
    update = {
        "refresh_hash": values["new_hash"],
        "refresh_generation": values["new_generation"],
        "refreshed_at": values["refreshed_at"],
        "last_used_at": values["last_used_at"],
    }
    # The user's current hash, from the same statement: no second query to check the binding.
    return queryset, update, {"user_password": _user_password()}


def _swap_statement(values: dict[str, Any]) -> returning.Statement | None:
    queryset, update, extra = _swap_parts(values)
    return returning.compile_update(queryset.filter(pk=values["pk"]), update, extra)


def rotate(refresh_token: Any, request: HttpRequest | None = None) -> TokenPair:
    """Consume a refresh token and return a new pair, or raise :class:`Refusal`.

    The common case is one conditional ``UPDATE`` that holds only for the current token of a
    live session of an active user, and returns the row it wrote (see :mod:`.returning`), then
    the credential check: a session whose password changed after its login (its binding no
    longer matches) is revoked and refused. Only a refused token reads the session again.
    """
    session_id, generation = parse_refresh_token(refresh_token)
    now = timezone.now()
    new_refresh = new_refresh_token(session_id, generation + 1)
    values = {
        "new_hash": refresh_token_hash(new_refresh),
        "new_generation": generation + 1,
        "refreshed_at": now,
        "last_used_at": now,
        "pk": session_id,
        "old_hash": refresh_token_hash(refresh_token),
        "old_generation": generation,
        "alive_after": now,
    }
    idle = jwt_settings.SESSION_IDLE_TIMEOUT
    if idle is not None:
        values["idle_after"] = now - idle
    compiled, session = refreshswap.swap(Session.objects.db, values, _swap_statement)
    if not compiled:
        queryset, update, extra = _swap_parts(values)
        session = returning.update_one(queryset, values["pk"], update, extra=extra)
    if session is not None:
        if session.binding and not binding.matches(
            session.binding, getattr(session, "user_password", "")
        ):
            revoke_session(session, reason="password_changed")
            raise Refusal("session_revoked")
        if jwt_settings.SESSION_IDLE_TIMEOUT is not None:
            # Cached states carry the refresh time only for the idle check: drop this one so
            # the next request reads the new time. Without an idle timeout nothing cached
            # changed, and the next request can still be answered from the cache.
            store.forget_session(session.pk)
        return _pair(session, new_refresh)
    found = Session.objects.select_related("user").filter(pk=session_id).first()
    raise Refusal(_refusal_for(found, generation, now, request))


def _refusal_for(session: Session | None, generation: int, now: Any, request: Any) -> str:
    """Why a genuine refresh token did not win the update."""
    if session is None:
        return "refresh_invalid"
    if session.revoked_at is not None:
        return "session_revoked"
    if (
        generation == session.refresh_generation
        and session.status(now) == "active"
        and not session.user.is_active
    ):
        # The current token of a live session, refused only because the user is inactive.
        revoke_session(session, reason="user_inactive")
        return "user_inactive"
    if session.status(now) != "active" or generation >= session.refresh_generation:
        return "refresh_invalid"
    grace = jwt_settings.REFRESH_REUSE_GRACE
    if generation == session.refresh_generation - 1 and now - session.refreshed_at <= grace:
        # Two tabs refreshing at once: the loser is refused, the session lives.
        return "refresh_invalid"
    revoke_session(session, reason="refresh_token_reused")
    refresh_token_reused.send(sender=Session, session=session, request=request)
    return "refresh_reused"
