"""Server-side state: sessions, blacklisted token ids and API keys.

No column holds a usable credential: refresh tokens and API key secrets are stored as digests.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

USER_AGENT_MAX_LENGTH = 256
REASON_MAX_LENGTH = 64


def new_session_id() -> str:
    """128 random bits, URL-safe, 22 characters: short enough for a compact ``sid`` claim."""
    return secrets.token_urlsafe(16)


_SESSION_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,32}", re.ASCII)


def is_session_id(value: object) -> bool:
    """Whether ``value`` has the shape of a session id: checked before any query uses it."""
    return isinstance(value, str) and _SESSION_ID_SHAPE.fullmatch(value) is not None


_SESSION_IDS_SHAPE = re.compile(r"(?:[A-Za-z0-9_-]{1,32}\n)*", re.ASCII)


def all_session_ids(values: Sequence[str]) -> bool:
    """Whether every one of ``values`` has the shape of a session id, in one regex match (an
    admin action may carry 10,000 of them)."""
    joined = "\n".join(values)
    # A newline inside a value would split it into two that may each look right: refused.
    return joined.count("\n") == len(values) - 1 and (
        _SESSION_IDS_SHAPE.fullmatch(joined + "\n") is not None
    )


class Revocable(models.Model):
    """When, why and by whom a credential was revoked; all empty while it is usable.

    Rows are revoked by :mod:`jwtsessions.revocation`, in bulk ``UPDATE`` statements.
    """

    revoked_at = models.DateTimeField(verbose_name=_("revoked at"), null=True, blank=True)
    revoke_reason = models.CharField(
        verbose_name=_("revoke reason"), max_length=REASON_MAX_LENGTH, blank=True, default=""
    )
    # Who revoked: a user (an operator in the admin, or whoever the caller names), or NULL for
    # the system, whose reason then says why (password_changed, refresh_token_reused, ...).
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        verbose_name=_("revoked by"),
    )

    class Meta:
        abstract = True


class SessionQuerySet(models.QuerySet["Session"]):
    def active(self, now: datetime | None = None) -> SessionQuerySet:
        """Sessions neither revoked nor past their absolute expiry (idle is checked per row)."""
        return self.filter(revoked_at__isnull=True, expires_at__gt=now or timezone.now())


class Session(Revocable):
    """One login on one device. Access tokens name it in their ``sid`` claim."""

    id = models.CharField(
        verbose_name=_("id"),
        primary_key=True,
        max_length=32,
        default=new_session_id,
        editable=False,
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="jwt_sessions",
        verbose_name=_("user"),
    )
    created_at = models.DateTimeField(
        verbose_name=_("created at"), default=timezone.now, editable=False
    )
    last_used_at = models.DateTimeField(verbose_name=_("last used at"), default=timezone.now)
    refreshed_at = models.DateTimeField(
        default=timezone.now,
        help_text=_("Login or last refresh; the idle timeout counts from here."),
        verbose_name=_("refreshed at"),
    )
    expires_at = models.DateTimeField(
        verbose_name=_("expires at"), db_index=True, help_text=_("Absolute end, fixed at login.")
    )
    # Indexed for sessions only: the cleanup and the admin pick sessions by revocation time.
    revoked_at = models.DateTimeField(
        verbose_name=_("revoked at"), null=True, blank=True, db_index=True
    )
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(
        verbose_name=_("user agent"), max_length=USER_AGENT_MAX_LENGTH, blank=True, default=""
    )
    # SHA-256 of the current refresh token; the token itself is never stored.
    refresh_hash = models.CharField(
        verbose_name=_("refresh token digest"), max_length=64, editable=False
    )
    # How many rotations happened; the refresh token carries it, so a rotated one is recognised.
    refresh_generation = models.PositiveIntegerField(
        verbose_name=_("refresh generation"), default=0, editable=False
    )
    # HMAC of the password hash the login verified (jwtsessions.binding); never the hash itself.
    # A session whose user's password changed after its login no longer matches.
    binding = models.CharField(
        verbose_name=_("credential binding"), max_length=65, blank=True, default="", editable=False
    )

    objects = SessionQuerySet.as_manager()

    class Meta:
        verbose_name = _("session")
        verbose_name_plural = _("sessions")
        indexes = [
            models.Index(fields=["user", "revoked_at"], name="jwtsessions_user_revoked"),
            # The admin's order (newest first, pk to break ties) and its exact IP search.
            models.Index(fields=["created_at", "id"], name="jwtsessions_session_created"),
            models.Index(fields=["ip_address"], name="jwtsessions_session_ip"),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        # The username only when the user is already loaded: __str__ must never run a query.
        user = self._state.fields_cache.get("user")
        owner = user.get_username() if user is not None else f"user {self.user_id}"
        return f"session {self.pk[:8]}… of {owner}"

    def status(self, now: datetime | None = None) -> str:
        """``active``, ``revoked``, ``expired`` or ``idle``."""
        from .settings import jwt_settings

        now = now or timezone.now()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        idle = jwt_settings.SESSION_IDLE_TIMEOUT
        if idle is not None and self.refreshed_at + idle <= now:
            return "idle"
        return "active"


class BlacklistedToken(models.Model):
    """A token id refused until the token would have expired anyway."""

    jti = models.CharField(verbose_name=_("token id (jti)"), max_length=255, unique=True)
    expires_at = models.DateTimeField(verbose_name=_("expires at"), db_index=True)
    reason = models.CharField(
        verbose_name=_("reason"), max_length=REASON_MAX_LENGTH, blank=True, default=""
    )
    created_at = models.DateTimeField(
        verbose_name=_("created at"), default=timezone.now, editable=False
    )

    class Meta:
        verbose_name = _("blacklisted token")
        verbose_name_plural = _("blacklisted tokens")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["created_at", "id"], name="jwtsessions_blacklist_created")]

    def __str__(self) -> str:
        return f"blacklisted token {self.jti}"


class ApiKey(Revocable):
    """A long-lived machine credential. Only ``public_id`` and a digest of the secret are kept."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="jwt_api_keys",
        verbose_name=_("user"),
    )
    name = models.CharField(verbose_name=_("name"), max_length=100)
    public_id = models.CharField(
        verbose_name=_("public id"), max_length=16, unique=True, editable=False
    )
    digest = models.CharField(verbose_name=_("secret digest"), max_length=64, editable=False)
    scopes = models.JSONField(verbose_name=_("scopes"), default=list, blank=True)
    created_at = models.DateTimeField(
        verbose_name=_("created at"), default=timezone.now, editable=False
    )
    expires_at = models.DateTimeField(
        verbose_name=_("expires at"), null=True, blank=True, db_index=True
    )
    last_used_at = models.DateTimeField(verbose_name=_("last used at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        indexes = [models.Index(fields=["created_at", "id"], name="jwtsessions_apikey_created")]
        permissions = [
            # Without it, staff who may add API keys may add them for themselves only: a key
            # for someone else lets its holder act as that user.
            ("add_api_key_for_others", "Can add API keys owned by other users"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    def status(self, now: datetime | None = None) -> str:
        """``active``, ``revoked`` or ``expired``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or timezone.now()):
            return "expired"
        return "active"


class RefusalLog(models.Model):
    """Every refusal, in commit order, so every process can catch up from the database.

    Written in the same transaction as the revocation it announces; read by
    :func:`jwtsessions.sync.catch_up` at most once per ``REVOCATION_SYNC_INTERVAL`` per process.
    Rows are only needed for minutes; ``jwtsessions_cleanup`` deletes old ones.
    """

    SESSION = "s"
    BLACKLIST = "b"
    API_KEY = "k"
    USER = "u"
    KINDS = [
        (SESSION, "session"),
        (BLACKLIST, "blacklisted token id"),
        (API_KEY, "API key"),
        (USER, "user credential"),
    ]

    id = models.BigAutoField(primary_key=True)
    # The database's clock, never a process's: every comparison with it (where a new process
    # starts reading, which rows a replay needs) is made in SQL against ``Now()`` too, so a
    # revoker whose clock is off cannot make its rows look old (red team F5).
    created_at = models.DateTimeField(db_default=Now(), db_index=True, editable=False)
    kind = models.CharField(max_length=1, choices=KINDS)
    # Session id, jti, API key public id or user primary key.
    subject = models.CharField(max_length=255)
    # The refusal code to cache; empty: drop the cached entry (the next read asks the database).
    code = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"refusal {self.pk} ({self.get_kind_display()})"
