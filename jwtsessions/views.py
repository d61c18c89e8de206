"""The endpoints of ``jwtsessions.urls``. Every refusal is ``{"detail", "code"}``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from django.contrib.auth import authenticate, get_user_model
from django.core.exceptions import ValidationError
from django.http import Http404
from django.middleware.csrf import get_token
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import ensure_csrf_cookie
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import (
    apikeys,
    binding,
    conventions,
    cookies,
    customization,
    scopes,
    sessions,
    simplejwt_migration,
    store,
    throttling,
    tokens,
)
from .authentication import (
    ApiKeyAuthentication,
    JWTSessionAuthentication,
    SessionAuth,
    bearer_challenge,
    enforce_csrf,
    header_credential,
    refuse,
)
from .exceptions import (
    InvalidRequest,
    InvalidScopeRequested,
    ReauthenticationRequired,
    ScopeDenied,
    TooManyAttempts,
    exception_handler,
)
from .models import ApiKey, Session, is_session_id
from .parsers import BoundedFormParser, BoundedJSONParser
from .revocation import revoke_api_key, revoke_session, revoke_sessions, revoke_user_sessions
from .serializers import (
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    RefreshSerializer,
    ServiceTokenRequestSerializer,
    SessionSerializer,
)
from .settings import jwt_settings


class JWTSessionsView(APIView):
    """Base of our views: JSON in and out, contract-shaped errors, a Bearer challenge on 401."""

    renderer_classes = [JSONRenderer]
    parser_classes = [BoundedJSONParser, BoundedFormParser]
    #: ``False`` mounts a header-mode copy of a view in a cookie-mode project (tokens in the
    #: body, no cookies, no CSRF), e.g. ``LoginView.as_view(use_cookies=False)`` for API clients.
    use_cookies: bool = True

    def cookie_mode(self) -> bool:
        """True when this view sets and reads the auth cookies."""
        return self.use_cookies and cookies.cookie_mode()

    #: The request body's serializer (the browsable API's form, the OpenAPI schema).
    request_serializer_class: Any = None

    def get_exception_handler(self) -> Any:
        return exception_handler

    def get_renderers(self) -> list[BaseRenderer]:
        # JSON, and DRF's browsable API when the project enables it.
        return conventions.renderers()

    def get_parsers(self) -> list[BaseParser]:
        return conventions.parsers(self.parser_classes)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # An unsupported method (TRACE...) is a 405 before authentication could make it a 401
        # (format_kwarg first: the 405 is rendered by the negotiated renderer).
        self.format_kwarg = self.get_format_suffix(**kwargs)
        conventions.refuse_unsupported_method(self, request)
        super().initial(request, *args, **kwargs)

    def permission_denied(
        self, request: Request, message: str | None = None, code: str | None = None
    ) -> NoReturn:
        if request.authenticators and not request.successful_authenticator:
            # Say which credential was sent and which one this endpoint needs.
            raise conventions.not_authenticated(self, request)
        super().permission_denied(request, message, code)

    def get_serializer(self, *args: Any, **kwargs: Any) -> serializers.BaseSerializer[Any]:
        """The request body's serializer: the browsable API renders it as the form."""
        serializer_class = self.request_serializer_class or serializers.Serializer
        context = {"request": self.request, "view": self}
        return serializer_class(*args, context=context, **kwargs)

    def get_authenticate_header(self, request: Request) -> str:
        # Also for views without authentication classes (login): a 401 must stay a 401.
        return bearer_challenge(request)

    def validated(self, serializer_class: Any, request: Request) -> dict[str, Any]:
        serializer = serializer_class(data=request.data)
        if not serializer.is_valid():
            raise InvalidRequest(serializer.errors)
        return dict(serializer.validated_data)


class SessionAuthenticatedView(JWTSessionsView):
    authentication_classes = [JWTSessionAuthentication]
    permission_classes = [IsAuthenticated]


def no_store(response: Response) -> Response:
    """Mark a response that carries a credential as never to be cached (RFC 6749 section 5.1):
    ``Cache-Control: no-store`` and, for HTTP/1.0 caches, ``Pragma: no-cache``."""
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def _token_response(pair: sessions.TokenPair, *, with_cookies: bool) -> Response:
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
        cookies.set_auth_cookies(response, pair)
        return no_store(response)
    return no_store(Response(body))


class LoginView(JWTSessionsView):
    """POST ``{"username", "password"}``: a new session and its first token pair."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

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
        ip = sessions.client_ip(request)
        # Counted before the password is checked: no burst gets more checks than the limit.
        wait = throttling.attempt(username, ip)
        if wait is not None:
            conventions.send_login_failed(request._request, credentials)
            raise TooManyAttempts(wait)
        # On failure authenticate() itself sends user_login_failed (password masked).
        user = authenticate(request._request, **credentials)
        if user is None:
            # One answer for unknown user, wrong password and inactive user.
            raise refuse(request, "invalid_credentials")
        throttling.succeeded(username, ip)
        pair = sessions.create_session(user, request._request)
        # Django's own receiver updates last_login: one write at login, never per request.
        conventions.send_logged_in(request._request, user)
        response = _token_response(pair, with_cookies=self.cookie_mode())
        extra = customization.login_response_extra(serializer, user, pair.session)
        response.data = {**extra, **response.data}  # the contract's fields always win
        return response


class RefreshView(JWTSessionsView):
    """POST ``{"refresh"}`` (or the refresh cookie): rotate, and return a new pair."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
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


class LogoutView(JWTSessionsView):
    """POST: revoke the current session.

    An expired (but genuine) access token still names its session, so logout works after the
    access token expired, for ``LOGOUT_EXPIRED_TOKEN_GRACE`` after its ``exp``: a token leaked
    long ago can no longer end anyone's session. A bearer header that is present must be valid
    (401 otherwise), in cookie mode too. The cookies are deleted whenever the request got that
    far, so a broken cookie can never keep a browser from logging out.
    """

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

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
        response = Response(status=status.HTTP_204_NO_CONTENT)
        if with_cookies:
            cookies.delete_auth_cookies(response)
        return response

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
        response = Response(status=status.HTTP_204_NO_CONTENT)
        if self.cookie_mode():
            cookies.delete_auth_cookies(response)
        return response


def _username_field() -> str:
    from django.contrib.auth import get_user_model

    return str(get_user_model().USERNAME_FIELD)


def _is_user_id(value: str) -> bool:
    try:
        get_user_model()._meta.pk.to_python(value)
    except (ValidationError, ValueError, TypeError):
        return False
    return True


def _user_id(request: Request) -> Any:
    """The authenticated user's primary key (known without loading the user)."""
    return request.user.pk


def _current(request: Request) -> SessionAuth:
    assert isinstance(request.auth, SessionAuth)
    return request.auth


class SessionListView(SessionAuthenticatedView):
    """GET: the user's active sessions, the current one marked."""

    def get(self, request: Request) -> Response:
        now = timezone.now()
        active = [
            s
            for s in Session.objects.filter(user_id=_user_id(request)).active(now)
            if s.status(now) == "active"
        ]
        context = {
            "current_session_id": _current(request).session_id,
            "last_seen": store.last_seen([s.pk for s in active]),
        }
        return Response(SessionSerializer(active, many=True, context=context).data)


class SessionDetailView(SessionAuthenticatedView):
    """GET one of the user's sessions; DELETE revokes it. Another user's session is 404."""

    def _session(self, request: Request, session_id: str) -> Session:
        if not is_session_id(session_id):
            raise Http404  # a NUL or junk id never reaches SQL
        session = Session.objects.filter(pk=session_id, user_id=_user_id(request)).first()
        if session is None:
            raise Http404
        return session

    def get(self, request: Request, session_id: str) -> Response:
        session = self._session(request, session_id)
        context = {
            "current_session_id": _current(request).session_id,
            "last_seen": store.last_seen([session.pk]),
        }
        return Response(SessionSerializer(session, context=context).data)

    def delete(self, request: Request, session_id: str) -> Response:
        session = self._session(request, session_id)
        revoke_session(session, reason="revoked_by_user", actor=request.user.pk)
        response = Response(status=status.HTTP_204_NO_CONTENT)
        if session.pk == _current(request).session_id and self.cookie_mode():
            cookies.delete_auth_cookies(response)
        return response


@method_decorator(ensure_csrf_cookie, name="dispatch")
class CsrfTokenView(JWTSessionsView):
    """GET: ``{"csrf_token"}`` and the CSRF cookie, for single-page apps in cookie mode.

    Send the token back as the ``X-CSRFToken`` header (``CSRF_HEADER_NAME``) on every unsafe
    request made with the auth cookies, login and refresh included.
    """

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        response = Response({"csrf_token": get_token(request._request)})
        no_store(response)
        return response


class JWKSView(JWTSessionsView):
    """GET: the public keys of the ring's asymmetric keys, for other services to verify with."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        response = Response(tokens.jwks())
        response["Cache-Control"] = "public, max-age=300"
        return response


# --- API keys and service tokens -------------------------------------------------------------


class ApiKeyListView(SessionAuthenticatedView):
    """GET: the user's keys that are not revoked. POST: create one; its key is shown only here."""

    request_serializer_class = ApiKeyCreateSerializer

    def get(self, request: Request) -> Response:
        owner: Any = request.user.pk
        keys = list(ApiKey.objects.filter(user_id=owner, revoked_at__isnull=True))
        # Listing is where the cached "last used" stamps reach the database (never a request).
        apikeys.persist_last_used(keys)
        return Response(ApiKeySerializer(keys, many=True).data)

    def post(self, request: Request) -> Response:
        data = self.validated(ApiKeyCreateSerializer, request)
        if jwt_settings.API_KEY_REQUIRE_PASSWORD:
            # A stolen 15-minute access token must not become a key that never expires.
            _reauthenticate(request, data.get("password"))
        _check_grantable(request.user, data["scopes"])
        # What the caller proved (the password's hash; without a password, the session's
        # binding): a password change or deactivation racing this request refuses it.
        verified = _verified_credential(request)
        try:
            api_key, key = apikeys.create_api_key(
                request.user,
                data["name"],
                data["scopes"],
                data["expires_at"],
                verified_password_hash=verified,
            )
        except apikeys.CredentialChanged:
            raise ReauthenticationRequired() from None
        body = dict(ApiKeySerializer(api_key).data)
        body["key"] = key
        response = Response(body, status=status.HTTP_201_CREATED)
        no_store(response)
        return response


def _verified_credential(request: Request) -> str | Callable[[str], bool]:
    if jwt_settings.API_KEY_REQUIRE_PASSWORD:
        return str(getattr(request.user, "password", ""))
    bound = getattr(getattr(request.auth, "state", None), "binding", "")
    if bound:
        return lambda stored: binding.matches(bound, stored)
    return lambda stored: True  # a session opened before bindings existed


def _reauthenticate(request: Request, password: Any) -> None:
    """Check the caller's current password, throttled and counted like a login.

    Missing or wrong: 403 ``reauthentication_required``; a wrong one counts as a failed login
    for (username, address), so a stolen access token cannot be used to guess the password.
    """
    if not isinstance(password, str) or not password:
        raise ReauthenticationRequired()
    user = request.user
    username = str(user.get_username())
    address = sessions.client_ip(request)
    wait = throttling.attempt(username, address)
    credentials = {"username": username, "password": password}
    if wait is not None:
        conventions.send_login_failed(request._request, credentials)
        raise TooManyAttempts(wait)
    if not user.check_password(password):
        # A failed login to everything that listens (django-axes, audit logs), password masked.
        conventions.send_login_failed(request._request, credentials)
        raise ReauthenticationRequired()
    throttling.succeeded(username, address)


def _check_grantable(user: Any, requested: Any) -> None:
    """400 ``invalid_scope`` for any scope outside ``API_KEY_SCOPES`` for ``user``."""
    try:
        scopes.check_grantable(user, requested)
    except scopes.InvalidScope as exc:
        raise InvalidScopeRequested(exc.scopes) from None


class ApiKeyDetailView(SessionAuthenticatedView):
    """GET one of the user's keys; DELETE revokes it at once. Another user's key is 404."""

    def _api_key(self, request: Request, key_id: int) -> ApiKey:
        owner: Any = request.user.pk
        api_key = ApiKey.objects.filter(pk=key_id, user_id=owner).first()
        if api_key is None:
            raise Http404
        return api_key

    def get(self, request: Request, key_id: int) -> Response:
        return Response(ApiKeySerializer(self._api_key(request, key_id)).data)

    def delete(self, request: Request, key_id: int) -> Response:
        revoke_api_key(
            self._api_key(request, key_id), reason="revoked_by_user", actor=request.user.pk
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class ServiceTokenView(JWTSessionsView):
    """POST ``{"scope"?}`` with an API key: a short-lived service token.

    ``scope`` (space-separated) may narrow the key's scopes, never widen them: a scope the key
    lacks is 403 ``insufficient_scope`` (as in the first release: the credential lacks it); one
    its owner may no longer grant (``API_KEY_SCOPES``) is 400 ``invalid_scope``. Without it the
    token carries the key's scopes that its owner may still grant.
    """

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated]
    request_serializer_class = ServiceTokenRequestSerializer

    def post(self, request: Request) -> Response:
        auth = request.auth
        assert isinstance(auth, apikeys.ApiKeyAuth)
        requested = self.validated(ServiceTokenRequestSerializer, request).get("scope")
        granted: tuple[str, ...] = auth.scopes
        if requested is not None:
            parsed = apikeys.parse_scope(requested)
            if parsed is None:
                raise InvalidRequest(detail=_("scope must be space-separated scope tokens."))
            lacking = [scope for scope in parsed if scope not in auth.scopes]
            if lacking:
                raise ScopeDenied()
            _check_grantable(request.user, parsed)
            granted = parsed
        else:
            # The key may predate a narrower API_KEY_SCOPES: never pass on what is no longer
            # grantable.
            allowed = scopes.grantable_scopes(request.user)
            if allowed is not None:
                granted = tuple(scope for scope in granted if scope in allowed)
        expires_ts = int(auth.expires_at.timestamp()) if auth.expires_at else 0
        state = apikeys.KeyState(auth.public_id, auth.user_id, expires_ts, auth.scopes)
        token, expires_in = apikeys.issue_service_token(state, granted)
        body = {
            "access": token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "scope": " ".join(granted),
        }
        response = Response(body)
        no_store(response)
        return response
