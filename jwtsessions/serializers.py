"""Request validation and response shapes of the endpoints."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from .apikeycodec import codec
from .models import ApiKey, Session
from .requestinfo import clean_text
from .scopes import is_valid_scope
from .settings import jwt_settings


class LoginSerializer(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=254, trim_whitespace=False)
    # Bounded: a multi-megabyte password would make the slow hash a denial of service.
    password = serializers.CharField(max_length=1024, trim_whitespace=False)


class RefreshSerializer(serializers.Serializer[Any]):
    refresh = serializers.CharField(max_length=512, required=False)


class SessionSerializer(serializers.ModelSerializer[Session]):
    current = serializers.SerializerMethodField()
    last_used_at = serializers.SerializerMethodField()

    class Meta:
        model = Session
        fields = [
            "id",
            "created_at",
            "last_used_at",
            "expires_at",
            "ip_address",
            "user_agent",
            "current",
        ]
        read_only_fields = fields

    def get_current(self, session: Session) -> bool:
        return bool(session.pk == self.context.get("current_session_id"))

    def get_last_used_at(self, session: Session) -> str:
        seen = self.context.get("last_seen", {}).get(session.pk)
        value = max(session.last_used_at, seen) if seen else session.last_used_at
        return serializers.DateTimeField().to_representation(value)


class ScopeField(serializers.CharField):
    """One scope: 1-64 printable ASCII characters, no space, quote or backslash (RFC 6749)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=64, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not is_valid_scope(value):
            raise serializers.ValidationError(
                _("A scope is 1-64 printable ASCII characters, no spaces, quotes or backslashes.")
            )
        return value


class ApiKeyCreateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)
    # The caller's current password (API_KEY_REQUIRE_PASSWORD): bounded like login's.
    password = serializers.CharField(
        max_length=1024, required=False, allow_blank=True, write_only=True, trim_whitespace=False
    )
    scopes = serializers.ListField(child=ScopeField(), required=False, default=list)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate_name(self, value: str) -> str:
        # Stored and shown in lists and the admin: no control characters (DRF refuses only NUL).
        cleaned = clean_text(value, 100).strip()
        if not cleaned:
            raise serializers.ValidationError("A name needs printable characters.")
        return cleaned

    def validate_scopes(self, value: list[str]) -> list[str]:
        limit = jwt_settings.MAX_API_KEY_SCOPES
        unique = list(dict.fromkeys(value))
        if len(unique) > limit:
            raise serializers.ValidationError(_("At most %(limit)d scopes.") % {"limit": limit})
        return unique

    def validate_expires_at(self, value: Any) -> Any:
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError(_("Must be in the future."))
        return value


class ApiKeySerializer(serializers.ModelSerializer[ApiKey]):
    """A key as listed: never its secret or digest."""

    prefix = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "created_at",
            "expires_at",
            "last_used_at",
            "status",
        ]
        read_only_fields = fields

    def get_prefix(self, api_key: ApiKey) -> str:
        return codec.display_prefix(api_key.public_id)

    def get_status(self, api_key: ApiKey) -> str:
        return api_key.status()


class ServiceTokenRequestSerializer(serializers.Serializer[Any]):
    scope = serializers.CharField(max_length=4096, required=False, trim_whitespace=False)
