"""The token endpoints: login, refresh, logout (one session or all), and the CSRF token that
cookie-mode clients send back with them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, get_user_model
from django.core.exceptions import ValidationError
from django.middleware.csrf import get_token
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from rest_framework.request import Request
from rest_framework.response import Response

from .. import (
    binding,
    conventions,
    cookies,
    customization,
    sessions,
    simplejwt_migration,
    store,
    throttling,
    tokens,
)
from ..authentication import JWTSessionAuthentication, enforce_csrf, header_credential, refuse
from ..exceptions import InvalidRequest
from ..models import Session, is_session_id
from ..revocation import revoke_session, revoke_sessions, revoke_user_sessions
from ..serializers import RefreshSerializer
from ..settings import jwt_settings
from .base import OpenView, SessionAuthenticatedView, no_content, no_store
from .passwords import count_attempt


def _token_response(pair: sessions.TokenPair, *, with_cookies: bool) -> Response:
    """Login's and refresh's answer: the new pair (in cookies for browsers), never cached."""
    body: dict[str, Any] = {
        "access": pair.access,
        "refresh": pair.refresh,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "session_id": pair.session.pk,
    }
    if with_cookies:
        # Browsers get the tokens as HttpOnly cookies only: page scripts never see them.
        del body["access"], body["refresh"]
    response = Response(body)
    if with_cookies:
        cookies.set_auth_cookies(response, pair)
    return no_store(response)


class LoginView(OpenView):
    """POST ``{"username", "password"}``: a new session and its first token pair."""

    @property
    def request_serializer_class(self) -> Any:
        return customization.login_serializer_class()

    def post(self, request: Request) -> Response:
        if self.cookie_mode():
            # Setting cookies from a forged cross-site login would log the victim in as the
            # attacker (login CSRF).
            enforce_csrf(request)
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            raise InvalidRequest(serializer.errors)
        # Whatever the serializer validated is passed to authenticate() (the user model's
        # USERNAME_FIELD or "username", "password", and any field a custom backend takes).
        credentials = dict(serializer.validated_data)
        username = str(credentials.get("username") or credentials.get(_username_field()) or "")
        address = count_attempt(request, username, credentials)
        # On failure authenticate() itself sends user_login_failed (password masked). In a
        # transaction where rows can be locked: a hash upgrade's lock then lasts until Django's
        # own UPDATE of the hash is committed (binding.verification_transaction).
        with binding.verification_transaction():
            user = authenticate(request._request, **credentials)
        if user is None:
            # One answer for unknown user, wrong password and inactive user.
            raise refuse(request, "invalid_credentials")
        throttling.succeeded(username, address)
        pair = sessions.create_session(user, request._request, password=credentials.get("password"))
        # Django's own receiver updates last_login: one write at login, never per request.
        conventions.send_logged_in(request._request, user)
        response = _token_response(pair, with_cookies=self.cookie_mode())
        extra = customization.login_response_extra(serializer, user, pair.session)
        response.data = {**extra, **response.data}  # the contract's fields always win
        return response


class RefreshView(OpenView):
    """POST ``{"refresh"}`` (or the refresh cookie): rotate, and return a new pair."""

    request_serializer_class = RefreshSerializer

    def post(self, request: Request) -> Response:
        with_cookies = self.cookie_mode()
        if with_cookies:
            # The answer sets cookies, whether the token came from the cookie or the body: a
            # forged refresh must not plant another session's cookies either.
            enforce_csrf(request)
        token = self.validated(RefreshSerializer, request).get("refresh")
        if not token and with_cookies:
            token = request.COOKIES.get(jwt_settings.REFRESH_COOKIE)
        if not token:
            raise refuse(request, "refresh_invalid")
        try:
            if simplejwt_migration.accepts(token):
                pair = simplejwt_migration.exchange(token, request._request)
            else:
                pair = sessions.rotate(token, request._request)
        except store.Refusal as exc:
            raise refuse(request, exc.code) from None
        return _token_response(pair, with_cookies=with_cookies)


class LogoutView(OpenView):
    """POST: revoke the current session.

    An expired (but genuine) access token still names its session, so logout works after the
    access token expired, for ``LOGOUT_EXPIRED_TOKEN_GRACE`` after its ``exp``: a token leaked
    long ago can no longer end anyone's session. A bearer header that is present must be valid
    (401 otherwise), in cookie mode too. The cookies are deleted whenever the request got that
    far, so a broken cookie can never keep a browser from logging out.
    """

    def post(self, request: Request) -> Response:
        token = header_credential(request, JWTSessionAuthentication.keyword)
        with_cookies = self.cookie_mode()
        from_header = token is not None
        if token is None and with_cookies:
            enforce_csrf(request)
            token = request.COOKIES.get(jwt_settings.AUTH_COOKIE or "")
        claims, code = self._claims(token)
        if claims is None and (from_header or not with_cookies):
            # A credential the client chose to send is checked, never silently ignored: a
            # garbage header answered 204 would let a client believe it logged out.
            raise refuse(request, code if token else "not_authenticated")
        if claims is not None:
            # The token's signature binds sid to sub: revoke only that user's session.
            revoke_sessions(
                Session.objects.filter(pk=claims["sid"], user_id=claims["sub"]),
                reason="logout",
                actor=claims["sub"],
            )
        elif with_cookies:
            # No usable access cookie (a browser drops it when it expires): the logout cookie
            # still names the session.
            proven = sessions.session_of_logout_proof(
                request.COOKIES.get(cookies.logout_cookie_name())
            )
            if proven is not None:
                revoke_session(proven, reason="logout")
        return no_content(delete_cookies=with_cookies)

    @staticmethod
    def _claims(token: str | None) -> tuple[dict[str, Any] | None, str]:
        """The claims of a genuine access token fit for logout, or ``None`` and why not."""
        if not token:
            return None, "token_invalid"
        try:
            claims = tokens.decode(
                token,
                tokens.ACCESS_TOKEN_TYPE,
                required=("sub", "sid", "jti"),
                max_lifetime=jwt_settings.ACCESS_TOKEN_LIFETIME,
                allow_expired=True,
            )
        except tokens.TokenError as exc:
            return None, exc.code
        if not is_session_id(claims["sid"]) or not _is_user_id(claims["sub"]):
            return None, "token_invalid"  # signed, but never by us: no query with it
        grace = int(jwt_settings.LOGOUT_EXPIRED_TOKEN_GRACE.total_seconds())
        if tokens.now_seconds() >= claims["exp"] + grace:
            return None, "token_expired"
        return claims, ""


class LogoutAllView(SessionAuthenticatedView):
    """POST: revoke every session of the user, this one included."""

    def post(self, request: Request) -> Response:
        revoke_user_sessions(request.user.pk, reason="logout_all", actor=request.user.pk)
        return no_content(delete_cookies=self.cookie_mode())


def _username_field() -> str:
    return str(get_user_model().USERNAME_FIELD)


def _is_user_id(value: str) -> bool:
    try:
        get_user_model()._meta.pk.to_python(value)
    except (ValidationError, ValueError, TypeError):
        return False
    return True


@method_decorator(ensure_csrf_cookie, name="dispatch")
class CsrfTokenView(OpenView):
    """GET: ``{"csrf_token"}`` and the CSRF cookie, for single-page apps in cookie mode.

    Send the token back as the ``X-CSRFToken`` header (``CSRF_HEADER_NAME``) on every unsafe
    request made with the auth cookies, login and refresh included.
    """

    def get(self, request: Request) -> Response:
        return no_store(Response({"csrf_token": get_token(request._request)}))
