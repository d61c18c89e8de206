"""Schema components: the package's serializers under prefixed names, and the bodies that exist
only in the schema (errors, token pairs, the JWK Set...), whose names carry the prefix already.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

from ..serializers import ApiKeySerializer

# --- component names: prefixed, so they never collide with a project's own ---------------------

COMPONENT_PREFIX = "JWTSessions"


class _PrefixedName(OpenApiSerializerExtension):
    def get_name(self, auto_schema: Any, direction: Any) -> str:
        target: Any = self.target_class
        return COMPONENT_PREFIX + str(target.__name__).removesuffix("Serializer")


# One extension per serializer: drf-spectacular matches the exact class, so a project's own
# LOGIN_SERIALIZER (a subclass or not) keeps the name the project gave it.
_NAMED_SERIALIZERS = (
    "LoginSerializer",
    "RefreshSerializer",
    "SessionSerializer",
    "ApiKeySerializer",
    "ApiKeyCreateSerializer",
    "ServiceTokenRequestSerializer",
)
for _serializer in _NAMED_SERIALIZERS:
    # Subclassing registers the extension; the class needs no other home.
    type(
        f"_{_serializer.removesuffix('Serializer')}Name",
        (_PrefixedName,),
        {"target_class": f"jwtsessions.serializers.{_serializer}"},
    )


# --- bodies that exist only in the schema ------------------------------------------------------


class JWTSessionsErrorSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField(help_text="Human-readable, in the request's language.")
    code = serializers.CharField(help_text="Stable machine-readable code.")


class JWTSessionsValidationErrorSerializer(JWTSessionsErrorSerializer):
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="The invalid fields and their messages.",
    )


class _TokenPairBase(serializers.Serializer[Any]):
    token_type = serializers.CharField(help_text="Always `Bearer`.")
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")
    session_id = serializers.CharField()


class JWTSessionsTokenPairSerializer(_TokenPairBase):
    access = serializers.CharField(help_text="The access token (JWT).")
    refresh = serializers.CharField(help_text="Single-use refresh token.")


class JWTSessionsCookieTokenPairSerializer(_TokenPairBase):
    """Cookie mode: the tokens travel only as HttpOnly cookies."""


class JWTSessionsServiceTokenSerializer(serializers.Serializer[Any]):
    access = serializers.CharField(help_text="The service token (JWT).")
    token_type = serializers.CharField(help_text="Always `Bearer`.")
    expires_in = serializers.IntegerField()
    scope = serializers.CharField(help_text="Space-separated scopes.")


class JWTSessionsApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The whole key: shown here once, never again.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class JWTSessionsJWKSerializer(serializers.Serializer[Any]):
    kty = serializers.CharField()
    kid = serializers.CharField()
    alg = serializers.CharField()
    use = serializers.CharField()


class JWTSessionsJWKSSerializer(serializers.Serializer[Any]):
    keys = JWTSessionsJWKSerializer(many=True)


class JWTSessionsCsrfTokenSerializer(serializers.Serializer[Any]):
    csrf_token = serializers.CharField()
