"""The API-key endpoints (a user's keys: list, create, show, revoke) and the service-token
endpoint that exchanges a key for a short-lived token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from .. import apikeys, binding, scopes
from ..authentication import ApiKeyAuthentication
from ..exceptions import (
    InvalidRequest,
    InvalidScopeRequested,
    ReauthenticationRequired,
    ScopeDenied,
)
from ..models import ApiKey
from ..revocation import revoke_api_key
from ..serializers import ApiKeyCreateSerializer, ApiKeySerializer, ServiceTokenRequestSerializer
from ..settings import jwt_settings
from .base import JWTSessionsView, SessionAuthenticatedView, no_content, no_store
from .passwords import reauthenticate


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
            reauthenticate(request, data.get("password"))
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
        return no_store(Response(body, status=status.HTTP_201_CREATED))


def _verified_credential(request: Request) -> str | Callable[[str], bool]:
    if jwt_settings.API_KEY_REQUIRE_PASSWORD:
        return str(getattr(request.user, "password", ""))
    bound = getattr(getattr(request.auth, "state", None), "binding", "")
    if bound:
        return lambda stored: binding.matches(bound, stored)
    return lambda stored: True  # a session opened before bindings existed


def _check_grantable(user: Any, requested: Any) -> None:
    """400 ``invalid_scope`` for any scope outside ``API_KEY_SCOPES`` for ``user``."""
    try:
        scopes.check_grantable(user, requested)
    except scopes.InvalidScope as exc:
        raise InvalidScopeRequested(exc.scopes) from None


class ApiKeyDetailView(SessionAuthenticatedView):
    """GET one of the user's keys; DELETE revokes it at once. Another user's key is 404."""

    def _api_key(self, request: Request, key_id: str) -> ApiKey:
        # ASCII digits only, at most 18 of them: always a valid bigint, never a query error.
        if not (key_id.isascii() and key_id.isdigit() and len(key_id) <= 18):
            raise Http404
        owner: Any = request.user.pk
        api_key = ApiKey.objects.filter(pk=int(key_id), user_id=owner).first()
        if api_key is None:
            raise Http404
        return api_key

    def get(self, request: Request, key_id: str) -> Response:
        return Response(ApiKeySerializer(self._api_key(request, key_id)).data)

    def delete(self, request: Request, key_id: str) -> Response:
        revoke_api_key(
            self._api_key(request, key_id), reason="revoked_by_user", actor=request.user.pk
        )
        return no_content(delete_cookies=False)


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
        return no_store(Response(body))
