"""Request validation and response shapes of the endpoints."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from .models import Session


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
        fields = ["id", "created_at", "last_used_at", "expires_at", "ip_address", "user_agent", "current"]
        read_only_fields = fields

    def get_current(self, session: Session) -> bool:
        return bool(session.pk == self.context.get("current_session_id"))

    def get_last_used_at(self, session: Session) -> str:
        seen = self.context.get("last_seen", {}).get(session.pk)
        value = max(session.last_used_at, seen) if seen else session.last_used_at
        return serializers.DateTimeField().to_representation(value)
