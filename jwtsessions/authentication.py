"""DRF authentication classes.

Each class returns ``None`` when the request does not carry its kind of credential, so several
can be listed; a credential of its kind that fails is a 401 with the contract's code and an
RFC 6750 ``WWW-Authenticate`` header. None of them writes to the database.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from datetime import timezone as dt_timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import BaseAuthentication, CSRFCheck
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request

from . import apikeys, store, tokens
from .authheaders import (
    API_KEY_SCHEME,
    api_key_credential,
    bearer_challenge,
    header_credential,
    refuse,
)
from .exceptions import AuthFailed
from .jwtformat import declared_type
from .models import Session
from .settings import jwt_settings

__all__ = [
    "API_KEY_SCHEME",
    "ApiKeyAuthentication",
    "JWTSessionAuthentication",
    "LazyUser",
    "ServiceTokenAuthentication",
    "SessionAuth",
    "api_key_credential",
    "bearer_challenge",
    "enforce_csrf",
    "header_credential",
    "refuse",
]

_ACCESS_CLAIMS = ("sub", "sid", "jti")


if TYPE_CHECKING:
    _LazyBase = SimpleLazyObject[Any]
else:
    _LazyBase = SimpleLazyObject


class LazyUser(_LazyBase):
    """The authenticated user, loaded from the database only when something needs more than
    its primary key: a warm-cache request that only checks ``is_authenticated`` costs no query.
    """

    def __init__(self, user_id: Any) -> None:
        model = get_user_model()
        pk = model._meta.pk.to_python(user_id)

        def load() -> Any:
            try:
                return model._default_manager.get(pk=pk)
            except model.DoesNotExist:
                # Deleted after this request was authenticated: a 401, not a 500.
                raise AuthFailed("user_inactive") from None

        super().__init__(load)
        self.__dict__["_jwtsessions_pk"] = pk

    @property
    def pk(self) -> Any:
        return self.__dict__["_jwtsessions_pk"]

    @property
    def id(self) -> Any:
        return self.__dict__["_jwtsessions_pk"]

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def __bool__(self) -> bool:
        # DRF's IsAuthenticated tests ``request.user and ...``: answer without a query.
        return True


@dataclasses.dataclass(frozen=True)
class SessionAuth:
    """``request.auth`` for a session access token."""

    token: str
    claims: dict[str, Any]
    state: store.SessionState
    from_cookie: bool = False

    @property
    def session_id(self) -> str:
        return self.state.session_id

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])

    @cached_property
    def session(self) -> Session:
        """The :class:`~jwtsessions.models.Session` row (one query, on first access)."""
        return Session.objects.get(pk=self.state.session_id)


def enforce_csrf(request: Request) -> None:
    """Django's CSRF check, as DRF's ``SessionAuthentication`` runs it for cookie credentials."""

    def _no_response(_: Any) -> None:  # pragma: no cover - never called by process_view
        return None

    check = CSRFCheck(_no_response)  # type: ignore[arg-type]
    check.process_request(request)
    reason = check.process_view(request, None, (), {})  # type: ignore[arg-type]
    if reason:
        detail = _("CSRF Failed: %(reason)s") % {"reason": reason}
        raise PermissionDenied({"detail": detail, "code": "csrf_failed"})


class JWTSessionAuthentication(BaseAuthentication):
    """``Authorization: Bearer <access token>``, or the ``AUTH_COOKIE`` cookie in cookie mode.

    The header wins when both are present. A cookie-authenticated request must pass Django's
    CSRF check; a header-authenticated one needs none (a browser never adds it by itself).
    """

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, SessionAuth] | None:
        token = header_credential(request, self.keyword)
        from_cookie = False
        if token is not None and _left_to_another_class(request, token, tokens.SERVICE_TOKEN_TYPE):
            return None
        if token is None:
            cookie_name = jwt_settings.AUTH_COOKIE
            token = request.COOKIES.get(cookie_name) if cookie_name else None
            if not token:
                return None
            from_cookie = True
        auth = self.authenticate_token(request, token, from_cookie=from_cookie)
        if from_cookie:
            enforce_csrf(request)
        return LazyUser(auth.state.user_id), auth

    def authenticate_token(
        self, request: Any, token: str, *, from_cookie: bool = False
    ) -> SessionAuth:
        """Verify an access token and its session; raise the contract's 401 otherwise."""
        try:
            claims = tokens.decode(
                token,
                tokens.ACCESS_TOKEN_TYPE,
                required=_ACCESS_CLAIMS,
                max_lifetime=jwt_settings.ACCESS_TOKEN_LIFETIME,
            )
        except tokens.TokenError as exc:
            raise refuse(request, exc.code) from None
        try:
            state = store.check_session(claims["sid"], claims["sub"], claims["jti"])
        except store.Refusal as exc:
            raise refuse(request, exc.code) from None
        return SessionAuth(token, claims, state, from_cookie)

    def authenticate_header(self, request: Request) -> str:
        return bearer_challenge(request)


# --- API keys and service tokens -------------------------------------------------------------


def _lists(request: Any, kind: type[BaseAuthentication]) -> bool:
    """Whether the view authenticating ``request`` also lists a class of ``kind``."""
    return any(isinstance(a, kind) for a in getattr(request, "authenticators", None) or ())


def _left_to_another_class(request: Any, token: str, other_type: str) -> bool:
    """Whether a bearer token declares ``other_type`` and a listed class handles that type.

    Both bearer classes share the ``Bearer`` scheme, so each looks at the unverified ``typ``
    before verifying anything: a token of the other kind is "not mine" (``None``) when the
    other class is listed, whatever the order; alone, a class refuses it (``token_invalid``).
    """
    if declared_type(token) != other_type:
        return False
    handler = (
        ServiceTokenAuthentication
        if other_type == tokens.SERVICE_TOKEN_TYPE
        else JWTSessionAuthentication
    )
    return _lists(request, handler)


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Api-Key <key>`` or ``X-API-Key: <key>``.

    ``request.user`` is the owner (loaded lazily: a warm-cache request runs no query) and
    ``request.auth`` an :class:`~jwtsessions.apikeys.ApiKeyAuth` with the key's public id and
    scopes. Revoked, expired, unknown or forged keys and keys of inactive owners are refused.
    """

    keyword = API_KEY_SCHEME

    def authenticate(self, request: Request) -> tuple[Any, apikeys.ApiKeyAuth] | None:
        raw = api_key_credential(request)
        if raw is None:
            return None
        try:
            state = apikeys.check_api_key(raw)
        except store.Refusal as exc:
            raise refuse(request, exc.code) from None
        expires = None
        if state.expires_at:
            expires = datetime.fromtimestamp(state.expires_at, tz=dt_timezone.utc)
        auth = apikeys.ApiKeyAuth(state.public_id, state.user_id, state.scopes, expires)
        return LazyUser(state.user_id), auth

    def authenticate_header(self, request: Request) -> str:
        # The contract gives every 401 the RFC 6750 form, whatever the credential.
        return bearer_challenge(request)


class ServiceTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <service token>``, verified without a session.

    Checks the signature, ``typ`` (service tokens only), claims and lifetime, then, in one
    cache round trip, the ``jti`` blacklist and the state of the key that obtained the token.
    A bearer token whose header declares a session access token is left to
    ``JWTSessionAuthentication`` (``None``), so both classes can serve one view when this one
    is listed first; alone, this class never accepts a session token.
    """

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, apikeys.ServiceTokenAuth] | None:
        token = header_credential(request, self.keyword)
        if token is None or _left_to_another_class(request, token, tokens.ACCESS_TOKEN_TYPE):
            return None
        try:
            claims = tokens.decode(
                token,
                tokens.SERVICE_TOKEN_TYPE,
                required=("sub", "jti"),
                max_lifetime=jwt_settings.SERVICE_TOKEN_LIFETIME,
            )
        except tokens.TokenError as exc:
            raise refuse(request, exc.code) from None
        subject, scope = claims["sub"], claims.get("scope", "")
        public_id = subject.removeprefix(apikeys.SERVICE_SUBJECT_PREFIX)
        scopes = apikeys.parse_scope(scope) if scope else ()
        if public_id == subject or not apikeys.codec.is_public_id(public_id) or scopes is None:
            raise refuse(request, "token_invalid")
        try:
            state = apikeys.check_service_token(public_id, claims["jti"])
        except store.Refusal as exc:
            raise refuse(request, exc.code) from None
        # An admin may have narrowed the key since: the token never exceeds the key.
        effective = tuple(s for s in scopes if s in state.scopes)
        auth = apikeys.ServiceTokenAuth(token, claims, public_id, state.user_id, effective)
        return LazyUser(state.user_id), auth

    def authenticate_header(self, request: Request) -> str:
        return bearer_challenge(request)
