"""``SIMPLEJWT_MIGRATION``: trade a djangorestframework-simplejwt refresh token for a session.

With the setting on, ``refresh/`` also accepts a refresh token issued by simplejwt. It is
verified by simplejwt's own ``RefreshToken`` class with simplejwt's own settings (``SIMPLE_JWT``:
signing key, algorithm, audience, issuer, leeway, token type), refused if simplejwt's blacklist
lists it, and consumed exactly once:

* its ``jti`` is inserted, under a unique constraint, into our ``BlacklistedToken`` (as
  ``simplejwt:<jti>``, until the token would expire anyway); of any number of concurrent
  presentations exactly one insert succeeds, on every database;
* when simplejwt's ``token_blacklist`` app is installed, it is also blacklisted there (so
  simplejwt's own endpoints, if still mounted, refuse it too), and a token simplejwt had
  already blacklisted is refused.

The winner gets a jwtsessions pair for a new session of the token's user, after the checks a
login makes (the user exists and is active; with simplejwt's ``CHECK_REVOKE_TOKEN``, the password
has not changed since). The consumption and the new session commit together or not at all.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from .models import BlacklistedToken
from .sessions import TokenPair, create_session
from .settings import jwt_settings
from .store import Refusal

logger = logging.getLogger("jwtsessions")

BLACKLIST_APP = "rest_framework_simplejwt.token_blacklist"
JTI_PREFIX = "simplejwt:"
REASON = "simplejwt_migrated"
_MAX_JTI_LENGTH = 200


def accepts(token: Any) -> bool:
    """True when ``token`` should be tried as a simplejwt refresh token (a JWT, setting on)."""
    return bool(
        jwt_settings.SIMPLEJWT_MIGRATION and isinstance(token, str) and token.count(".") == 2
    )


def exchange(token: str, request: HttpRequest | None = None) -> TokenPair:
    """Consume a genuine simplejwt refresh token once; a new session's pair, else ``Refusal``."""
    payload = _verified_payload(token)
    # The settings object simplejwt's token classes use (its module rebinds a fresh one when
    # SIMPLE_JWT changes, which the classes, having imported the first, never see).
    from rest_framework_simplejwt import tokens as simplejwt_tokens

    api_settings = simplejwt_tokens.api_settings  # type: ignore[attr-defined]

    jti = payload.get(api_settings.JTI_CLAIM)
    if not isinstance(jti, str) or not jti or len(jti) > _MAX_JTI_LENGTH:
        raise Refusal("refresh_invalid")
    user = _user(payload, api_settings)
    expires_at = datetime.fromtimestamp(int(payload["exp"]), tz=dt_timezone.utc)
    with transaction.atomic():
        if not _consume(token, jti, expires_at, user, api_settings):
            raise Refusal("refresh_invalid")
        return create_session(user, request)


def _verified_payload(token: str) -> dict[str, Any]:
    try:
        from rest_framework_simplejwt.tokens import RefreshToken
    except ImportError:
        logger.error("SIMPLEJWT_MIGRATION is on but djangorestframework-simplejwt is missing")
        raise Refusal("refresh_invalid") from None
    try:
        # Signature, algorithm, exp (with simplejwt's LEEWAY), jti and token_type "refresh".
        refresh = RefreshToken(token)  # type: ignore[arg-type]
    except Exception:  # simplejwt's TokenError, or anything a hostile token provokes
        raise Refusal("refresh_invalid") from None
    payload = dict(refresh.payload)
    if type(payload.get("exp")) is not int:
        raise Refusal("refresh_invalid")
    return payload


def _user(payload: dict[str, Any], api_settings: Any) -> Any:
    from rest_framework_simplejwt.utils import get_md5_hash_password

    user_id = payload.get(api_settings.USER_ID_CLAIM)
    if user_id is None or isinstance(user_id, dict | list):
        raise Refusal("refresh_invalid")
    model = get_user_model()
    try:
        user = model._default_manager.filter(**{api_settings.USER_ID_FIELD: user_id}).first()
    except (ValueError, TypeError):
        raise Refusal("refresh_invalid") from None
    if user is None or not getattr(user, "is_active", True):
        raise Refusal("user_inactive")
    if not api_settings.USER_AUTHENTICATION_RULE(user):
        raise Refusal("user_inactive")
    if getattr(api_settings, "CHECK_REVOKE_TOKEN", False) and payload.get(
        api_settings.REVOKE_TOKEN_CLAIM
    ) != get_md5_hash_password(user.password):
        raise Refusal("refresh_invalid")  # the password changed after the token was issued
    return user


def _consume(token: str, jti: str, expires_at: datetime, user: Any, api_settings: Any) -> bool:
    """Record the token as used; ``False`` if it was already, or simplejwt blacklisted it.

    Our unique insert is the gate, on every database and whether or not simplejwt's blacklist
    app is installed: of concurrent presentations exactly one inserts, the others wait for it
    and then fail. The winner also blacklists the token in simplejwt's own tables when they
    exist, where an entry already there (simplejwt blacklisted it) refuses it.
    """
    leeway = api_settings.LEEWAY
    if not isinstance(leeway, timedelta):
        leeway = timedelta(seconds=leeway or 0)
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(
                jti=JTI_PREFIX + jti,
                expires_at=expires_at + leeway + timedelta(seconds=1),
                reason=REASON,
            )
    except IntegrityError:
        return False
    if apps.is_installed(BLACKLIST_APP):
        from rest_framework_simplejwt.token_blacklist.models import (
            BlacklistedToken as SimpleBlacklisted,
        )
        from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

        outstanding, _created = OutstandingToken.objects.get_or_create(
            jti=jti, defaults={"user": user, "token": token, "expires_at": expires_at}
        )
        _entry, created = SimpleBlacklisted.objects.get_or_create(token=outstanding)
        if not created:
            return False
    return True


class TransitionAuthentication(BaseAuthentication):
    """For the migration window: jwtsessions access tokens, and simplejwt's access tokens too.

    Lists in place of ``JWTSessionAuthentication``. A bearer token whose header declares a
    session access token is verified by ``JWTSessionAuthentication``; a service token is left to
    ``ServiceTokenAuthentication`` (``None``); with ``SIMPLEJWT_MIGRATION`` on, any other bearer
    token is handed to simplejwt's own ``JWTAuthentication``, which verifies it with simplejwt's
    settings. With the setting off it is exactly ``JWTSessionAuthentication``.
    """

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        from .authentication import JWTSessionAuthentication, header_credential
        from .jwtformat import ACCESS_TOKEN_TYPE, SERVICE_TOKEN_TYPE, declared_type

        token = header_credential(request, "Bearer")
        if token is not None and jwt_settings.SIMPLEJWT_MIGRATION:
            declared = declared_type(token)
            if declared == SERVICE_TOKEN_TYPE:
                return None
            if declared != ACCESS_TOKEN_TYPE:
                from rest_framework_simplejwt.authentication import JWTAuthentication

                result: tuple[Any, Any] | None = JWTAuthentication().authenticate(request)
                return result
        return JWTSessionAuthentication().authenticate(request)

    def authenticate_header(self, request: Request) -> str:
        from .authentication import bearer_challenge

        return bearer_challenge(request)
